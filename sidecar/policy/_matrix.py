"""The access matrix: every agent against every agent for each tool, each cell decided by the engine.

A cell (from, to, tool) is the decision on `from`'s main session calling `tool` on `to`: its main
session for sessions_history and sessions_send, the agent itself for sessions_spawn, and for
sessions_list whether `to`'s main session would be listed or hidden. Cells are exactly what `explain`
would say, so a picture of the matrix is never a second opinion.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sidecar.policy._decide import decide
from sidecar.policy._decision import TOOLS, Check, Decision, Requester, SessionView, Tool
from sidecar.policy._keys import main_key_of
from sidecar.policy._listing import filter_sessions
from sidecar.policy._model import Policy
from sidecar.policy._operations import Usage

_NO_WAIT = Usage(send_waits=False)
# One letter per gate for text grids; allowed cells are "+".
GATE_LETTERS = {
    "session-class": "C",
    "unknown-target": "?",
    "sandbox": "B",
    "visibility": "V",
    "agent-to-agent": "A",
    "allow-list": "L",
    "receives-from": "R",
    "spawn-allow": "S",
}


@dataclass(frozen=True, slots=True)
class Cell:
    from_agent: str
    to_agent: str
    tool: Tool
    allowed: bool
    gate: str | None
    source: str | None
    message: str | None = None
    fix: str | None = None
    target: str | None = None
    checks: tuple[Check, ...] = ()
    would_deny: bool = False
    """Allowed only because the caller is in observe mode; `gate` names the gate that would refuse it."""

    def as_dict(self) -> dict[str, Any]:
        """The documented `--format json` shape of one cell."""
        return {
            "from": self.from_agent,
            "to": self.to_agent,
            "tool": self.tool,
            "allowed": self.allowed,
            "gate": self.gate,
            "source": self.source,
            "wouldDeny": self.would_deny,
        }


@dataclass(frozen=True)
class Matrix:
    agents: tuple[str, ...]
    tools: tuple[Tool, ...]
    cells: tuple[Cell, ...]
    policy: str

    def cell(self, from_agent: str, to_agent: str, tool: Tool) -> Cell:
        index = self.agents.index
        n = len(self.agents)
        return self.cells[(self.tools.index(tool) * n + index(from_agent)) * n + index(to_agent)]

    def as_dict(self) -> dict[str, Any]:
        return {
            "agents": list(self.agents),
            "tools": list(self.tools),
            "cells": [c.as_dict() for c in self.cells],
        }


def access_matrix(
    policy: Policy,
    view: SessionView,
    *,
    tools: Sequence[Tool] = TOOLS,
    agents: Iterable[str] | None = None,
    explain: bool = False,
) -> Matrix:
    """Decide every (from, to, tool) cell, tool-major then from then to (the order of `cells`).

    `explain` keeps each cell's message, fix and per-gate checks (for the HTML page).
    """
    ids = tuple(sorted(policy.known_agents if agents is None else set(agents)))
    cells: list[Cell] = []
    for tool in tools:
        for source in ids:
            requester = Requester.of(source, main_key=policy.main_key)
            for target in ids:
                cells.append(_cell(policy, view, requester, tool, target, explain))
    return Matrix(ids, tuple(tools), tuple(cells), policy.path)


def _cell(
    policy: Policy, view: SessionView, requester: Requester, tool: Tool, to: str, explain: bool
) -> Cell:
    if tool == "sessions_list":
        key = main_key_of(to, policy.main_key)
        scope = filter_sessions(policy, requester, [key], view)
        if scope.visible:
            return Cell(requester.agent_id, to, tool, True, None, scope.source, target=key)
        # The row is hidden: the history decision on it names the gate and key that hid it. Observe
        # mode lets calls through but not rows: the list stays filtered, so the cell stays denied.
        decision = decide(policy, requester, "sessions_history", key, view, explain=explain)
        if decision.would_deny:
            decision = decision._replace(allowed=False, would_deny=False)
        return _from_decision(requester.agent_id, to, tool, decision, explain, fallback=scope.source)
    target = to if tool == "sessions_spawn" else main_key_of(to, policy.main_key)
    # Who may message whom: an agent's send to its own main session is judged as one that does not wait
    # (a waiting one is OpenClaw's self-target refusal whatever the policy says).
    usage = _NO_WAIT if tool == "sessions_send" else None
    decision = decide(policy, requester, tool, target, view, explain=explain, usage=usage)
    return _from_decision(requester.agent_id, to, tool, decision, explain)


def _from_decision(
    source: str, to: str, tool: Tool, d: Decision, explain: bool, fallback: str | None = None
) -> Cell:
    return Cell(
        source,
        to,
        tool,
        d.allowed,
        d.gate if not d.allowed or d.would_deny else None,
        d.source or fallback,
        d.message if explain else None,
        d.fix if explain else None,
        d.target or d.target_agent,
        d.checks,
        d.would_deny,
    )


def mark(cell: Cell) -> str:
    """A cell's mark in text grids: + allowed, ~ and the gate's letter when only observe mode allows
    it, else the letter of the gate that denied it."""
    letter = GATE_LETTERS.get(cell.gate or "") or (cell.gate or "x")[:1].upper()
    if cell.would_deny:
        return f"~{letter}"
    return "+" if cell.allowed else letter


def render_matrix_text(matrix: Matrix) -> str:
    """One grid per tool (rows: caller, columns: target), each cell a mark and the footnote of its key."""
    out = [f"Access matrix of {matrix.policy}: row = calling agent, column = target agent", ""]
    numbers = {a: str(i + 1) for i, a in enumerate(matrix.agents)}
    corner = "from \\ to"
    name_width = max([len(corner), *(len(a) + len(numbers[a]) + 1 for a in matrix.agents)])
    for tool in matrix.tools:
        notes: dict[str, int] = {}
        grid = []
        for a in matrix.agents:
            marks = []
            for b in matrix.agents:
                c = matrix.cell(a, b, tool)
                note = notes.setdefault(c.source or "(no source)", len(notes) + 1)
                marks.append(f"{mark(c)}{note}")
            grid.append((f"{numbers[a]} {a}", marks))
        col = max(4, *(len(m) for _, row in grid for m in row), *(len(n) for n in numbers.values()))
        out.append(f"{tool}")
        header = "  ".join(numbers[b].rjust(col) for b in matrix.agents)
        out.append(f"  {corner:<{name_width}}  {header}")
        for name, marks in grid:
            out.append(f"  {name:<{name_width}}  " + "  ".join(m.rjust(col) for m in marks))
        row = [matrix.cell(a, b, tool) for a in matrix.agents for b in matrix.agents]
        allowed, observed = sum(c.allowed for c in row), sum(c.would_deny for c in row)
        only = f" ({observed} only by observe mode: enforce would deny them)" if observed else ""
        out.append(f"  {allowed} of {len(matrix.agents) ** 2} allowed{only}. Decided by:")
        out += [f"    [{n}] {text}" for text, n in notes.items()]
        out.append("")
    legend = ", ".join(f"{letter} {gate}" for gate, letter in GATE_LETTERS.items())
    out.append(
        f"+ allowed; denied at the gate: {legend}; ~ and a letter: allowed in observe mode, would be denied "
        "at that gate. The number is the deciding key below each grid."
    )
    return "\n".join(out)
