"""The access matrix and recent decisions as one compact JSON document for the fleet page.

A hundred agents make 40,000 cells, and most of their texts repeat (one deciding key decides a whole
row), so every string is stored once in `strings` and cells refer to it by index:

    cells[tool][from * n + to] = [allowed, gate, source, message, fix, checks, wouldDeny]

`gate` indexes `gates` (-1 when allowed, unless `wouldDeny`: 1 when only observe mode allows the call,
and `gate` is the one enforce would refuse it at); `source`, `message` and `fix` index `strings` (-1 when
absent); `checks` indexes `checksets`, each a list of [gate, outcome, detail, [sources...]].

Most texts differ from cell to cell only by the two agents' ids ("set agents.entries.dev-3...").
Each is stored as a template with the caller's id as U+0001 and the target's as U+0002, which the page
puts back; a text the template would not give back exactly is stored as it is.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable
from typing import Any, Protocol

from sidecar.policy import GATE_LETTERS, GATES, Cell, Matrix

# Known gates keep their color and letter; a gate added later gets the next spare color and its initial.
GATE_COLORS = {
    "unknown-target": "#555d66",
    "sandbox": "#7d8793",
    "visibility": "#d64545",
    "agent-to-agent": "#e8841a",
    "allow-list": "#a8323e",
    "receives-from": "#8250c4",
    "spawn-allow": "#a86b12",
}
SPARE_COLORS = ("#1f7a8c", "#b0417a", "#6d6a1f", "#3b5bab", "#8c4a2f", "#4a7d3a", "#6b5b95", "#99582a")


def gate_style(gate: str, index: int) -> tuple[str, str]:
    """(letter, color) of a gate."""
    letter = GATE_LETTERS.get(gate) or gate[:1].upper()
    return letter, GATE_COLORS.get(gate) or SPARE_COLORS[index % len(SPARE_COLORS)]


class DecisionLike(Protocol):
    """What the page shows of one logged decision (the mirror's DecisionRecord fits)."""

    @property
    def id(self) -> int: ...
    @property
    def ts(self) -> float: ...
    @property
    def requester_agent(self) -> str: ...
    @property
    def tool(self) -> str: ...
    @property
    def target(self) -> str | None: ...
    @property
    def outcome(self) -> str: ...
    @property
    def gate(self) -> str | None: ...
    @property
    def source(self) -> str | None: ...


CALLER, TARGET = "\x01", "\x02"
_ID_CHARS = "a-z0-9_-"


class _Strings:
    def __init__(self) -> None:
        self.items: list[str] = []
        self._index: dict[str, int] = {}
        self._patterns: dict[str, re.Pattern[str]] = {}

    def _id(self, agent: str) -> re.Pattern[str]:
        found = self._patterns.get(agent)
        if found is None:
            found = self._patterns[agent] = re.compile(
                rf"(?<![{_ID_CHARS}]){re.escape(agent)}(?![{_ID_CHARS}])"
            )
        return found

    def template(self, text: str, caller: str, target: str) -> str:
        if CALLER in text or TARGET in text:
            return text
        out = self._id(caller).sub(CALLER, text)
        if target != caller:
            out = self._id(target).sub(TARGET, out)
        back = out.replace(CALLER, caller).replace(TARGET, target)
        return out if back == text else text

    def __call__(self, text: str | None, caller: str = "", target: str = "") -> int:
        if text is None:
            return -1
        if caller:
            text = self.template(text, caller, target)
        found = self._index.get(text)
        if found is None:
            found = self._index[text] = len(self.items)
            self.items.append(text)
        return found


def page_data(
    matrix: Matrix,
    *,
    recent: Iterable[DecisionLike] = (),
    generated: float | None = None,
    command: str | None = None,
    main_key: str = "main",
) -> dict[str, Any]:
    """Everything the page needs, with `recent` decisions newest first."""
    strings = _Strings()
    checksets: list[list[Any]] = []
    seen_checks: dict[str, int] = {}
    gate_index = {g: i for i, g in enumerate(GATES)}

    def checks_of(cell: Cell) -> int:
        if not cell.checks:
            return -1
        a, b = cell.from_agent, cell.to_agent
        rows = [
            [
                gate_index.get(c.gate, -1),
                c.outcome,
                strings(c.detail, a, b),
                [strings(s, a, b) for s in c.sources],
            ]
            for c in cell.checks
        ]
        key = json.dumps(rows)
        found = seen_checks.get(key)
        if found is None:
            found = seen_checks[key] = len(checksets)
            checksets.append(rows)
        return found

    n = len(matrix.agents)
    cells: list[list[list[int]]] = []
    for t, _ in enumerate(matrix.tools):
        block = matrix.cells[t * n * n : (t + 1) * n * n]
        cells.append(
            [
                [
                    int(c.allowed),
                    gate_index.get(c.gate, -1) if c.gate else -1,
                    strings(c.source, c.from_agent, c.to_agent),
                    strings(c.message, c.from_agent, c.to_agent),
                    strings(c.fix, c.from_agent, c.to_agent),
                    checks_of(c),
                    int(c.would_deny),
                ]
                for c in block
            ]
        )
    when = dt.datetime.now(dt.UTC) if generated is None else dt.datetime.fromtimestamp(generated, dt.UTC)
    return {
        "policy": matrix.policy,
        "mainKey": main_key,
        "generated": when.strftime("%Y-%m-%d %H:%M:%S UTC"),
        "command": command,
        "agents": list(matrix.agents),
        "tools": list(matrix.tools),
        "gates": list(GATES),
        "gateStyle": [list(gate_style(g, i)) for i, g in enumerate(GATES)],
        "strings": strings.items,
        "checksets": checksets,
        "cells": cells,
        "targets": [_target_kind(tool) for tool in matrix.tools],
        "recent": recent_data(recent),
    }


def recent_data(recent: Iterable[DecisionLike]) -> list[dict[str, Any]]:
    return [
        {
            "id": d.id,
            "ts": dt.datetime.fromtimestamp(d.ts, dt.UTC).strftime("%Y-%m-%d %H:%M:%S"),
            "from": d.requester_agent,
            "to": _agent_of(d.target),
            "target": d.target,
            "tool": d.tool,
            "outcome": d.outcome,
            "gate": d.gate,
            "source": d.source,
        }
        for d in recent
    ]


def _agent_of(target: str | None) -> str | None:
    if target is None:
        return None
    parts = target.split(":")
    return parts[1] if len(parts) >= 3 and parts[0] == "agent" else target


def _target_kind(tool: str) -> str:
    return {
        "sessions_list": "is its main session listed",
        "sessions_history": "read its main session",
        "sessions_send": "message its main session",
        "sessions_spawn": "spawn a subagent on it",
    }.get(tool, tool)


def to_json(data: dict[str, Any]) -> str:
    """Compact JSON safe to embed in a <script> element (no `</script>` or `<!--` can close it early)."""
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
