"""Policy test cases: a JSON5 file that pins a fleet's intent, checked against the engine.

    [
      { agent: "lead", tool: "sessions_send", target: "agent:dev-1:main", expect: "allow" },
      { agent: "dev-2", tool: "sessions_history", target: "agent:lead:main", expect: "deny", gate: "visibility" },
    ]

The top level is that list, or an object `{ cases: [...] }`. Every case is validated before any runs,
and a bad one is reported with its file and line: a cases file that silently tests less than it says is
worse than none.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sidecar.policy._decide import decide
from sidecar.policy._decision import GATES, TOOLS, Decision, Requester, SessionView, Tool
from sidecar.policy._keys import MalformedKey, is_agent_id
from sidecar.policy._model import Policy
from sidecar.policy._operations import BUDGET_GATES, PAUSE_GATE
from sidecar.policy._schema import Document, PolicyError, parse_json5

Expect = Literal["allow", "deny"]
CASE_KEYS = ("agent", "session", "tool", "target", "expect", "gate", "name")
_REQUIRED = ("agent", "tool", "expect")
OPERATOR_GATES = (PAUSE_GATE, *BUDGET_GATES)
"""Gates decided on the agent's live state, not the policy alone: a case cannot expect them."""


@dataclass(frozen=True, slots=True)
class Case:
    """One expectation: this agent (in this session) calling this tool on this target is allowed or not."""

    line: int
    agent: str
    tool: Tool
    target: str | None
    expect: Expect
    session: str | None = None
    gate: str | None = None
    name: str | None = None


@dataclass(frozen=True, slots=True)
class CaseResult:
    case: Case
    decision: Decision

    @property
    def passed(self) -> bool:
        if self.decision.allowed != (self.case.expect == "allow"):
            return False
        return self.case.gate is None or self.case.gate == self.decision.gate

    @property
    def got(self) -> str:
        d = self.decision
        if d.would_deny:
            return f"allow (observe; would deny at {d.gate})"
        return "allow" if d.allowed else f"deny ({d.gate})"

    @property
    def wanted(self) -> str:
        c = self.case
        return c.expect if c.gate is None else f"{c.expect} ({c.gate})"


def parse_cases(text: str, path: str, policy: Policy) -> list[Case]:
    """Parse and validate a cases file against the policy it tests.

    Raises:
        PolicyError: with the cases file, the line of the bad case, the key and what is allowed there.
    """
    # parse_json5 insists on an object at the top; wrapping the text on its first line keeps every
    # error's line number, and lets the top level be the list itself or an object holding it.
    top = parse_json5("{cases:" + text + "\n}", path).data["cases"]
    if isinstance(top, dict):
        unknown = [k for k in top if k != "cases"]
        if unknown:
            raise PolicyError(path, _line_of_key(text, unknown[0]), unknown[0], "unknown key", "keys cases")
        items = top.get("cases")
        base = _opening(text, nested=True)
    else:
        items = top
        base = _opening(text, nested=False)
    if not isinstance(items, list):
        raise PolicyError(path, 1, "cases", "must be a list of cases", _SHAPE)
    if not items:
        raise PolicyError(path, 1, "cases", "the file has no cases", _SHAPE)
    lines = _element_lines(text, base)
    return [_case(item, path, lines[i] if i < len(lines) else 1, i, policy) for i, item in enumerate(items)]


def run_cases(policy: Policy, cases: Sequence[Case], view: SessionView) -> list[CaseResult]:
    """Decide every case with the engine, explain on, exactly as the sidecar would decide it."""
    results = []
    for case in cases:
        requester = Requester.of(case.agent, case.session, main_key=policy.main_key)
        decision = decide(policy, requester, case.tool, case.target, view, explain=True)
        results.append(CaseResult(case, decision))
    return results


_SHAPE = '[{agent, session?, tool, target, expect: "allow" | "deny", gate?, name?}, ...]'


def _case(item: Any, path: str, line: int, index: int, policy: Policy) -> Case:
    where = f"cases[{index}]"

    def fail(key: str, problem: str, allowed: str) -> PolicyError:
        return PolicyError(path, line, f"{where}.{key}" if key else where, problem, allowed)

    if not isinstance(item, dict):
        raise fail("", "each case must be an object", _SHAPE)
    for key in item:
        if key not in CASE_KEYS:
            near = difflib.get_close_matches(str(key), CASE_KEYS, n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            raise fail(str(key), f"unknown key{hint}", "keys " + ", ".join(CASE_KEYS))
    for key in _REQUIRED:
        if key not in item:
            raise fail(key, "is missing", _SHAPE)
    for key in CASE_KEYS:
        if key in item and item[key] is not None and not isinstance(item[key], str):
            raise fail(key, f"{item[key]!r} is not a string", "a string")
    agent, tool, expect = item["agent"], item["tool"], item["expect"]
    if not is_agent_id(agent):
        raise fail("agent", f"{agent!r} is not an agent id", "lowercase letters, digits, _ and -")
    if agent not in policy.known_agents:
        known = ", ".join(sorted(policy.known_agents)) or "none"
        raise fail("agent", f"{agent!r} is not an agent of {policy.path}", f"one of {known}")
    if tool not in TOOLS:
        guess = tool if tool.startswith("sessions_") else f"sessions_{tool}"
        hint = f" (did you mean {guess!r}?)" if guess in TOOLS else ""
        raise fail("tool", f"{tool!r} is not a session tool{hint}", ", ".join(TOOLS))
    if expect not in ("allow", "deny"):
        raise fail("expect", f"{expect!r} is not allowed", '"allow" or "deny"')
    gate = item.get("gate")
    if gate is not None:
        if expect != "deny":
            raise fail("gate", 'a gate only makes sense with expect: "deny"', "remove gate, or expect deny")
        if gate not in GATES:
            raise fail("gate", f"{gate!r} is not a gate", ", ".join(GATES))
        if gate in OPERATOR_GATES:
            raise fail(
                "gate",
                f"{gate!r} depends on the agent's live state (an operator's pause, its counts against its "
                "budgets), which a case cannot set: policy test decides without it, so this case could "
                f"never pass. Check it on the agent's machine with `sidecar explain --agent {agent} ...`, "
                "or drop the case",
                "a policy gate: " + ", ".join(g for g in GATES if g not in OPERATOR_GATES),
            )
    target = item.get("target")
    if tool == "sessions_list" and target is not None:
        raise fail("target", "sessions_list takes no target", "omit target (or null)")
    if tool in ("sessions_history", "sessions_send") and not target:
        raise fail("target", f"{tool} needs a target session key", f'e.g. "agent:{agent}:main"')
    session = item.get("session")
    try:
        Requester.of(agent, session, main_key=policy.main_key)
    except MalformedKey as exc:
        raise fail("session", str(exc), f'a session key of {agent}, e.g. "agent:{agent}:main"') from None
    return Case(line, agent, tool, target, expect, session, gate, item.get("name"))


def _line_of_key(text: str, key: str) -> int | None:
    return Document("", text, {}).line_of((key,))


def _opening(text: str, *, nested: bool) -> int:
    """Offset just past the `[` that opens the cases list (the top-level one, or the value of `cases:`)."""
    depth = 0
    for pos, ch in _structure(text):
        if ch in "[{":
            depth += 1
            if ch == "[" and depth == (2 if nested else 1):
                return pos + 1
        elif ch in "]}":
            depth -= 1
    return 0


def _element_lines(text: str, start: int) -> list[int]:
    """The line on which each element of the list opened at `start` begins."""
    lines: list[int] = []
    depth = 0
    expecting = True
    for pos, ch in _structure(text, start):
        if ch in "]}" and depth == 0:
            break
        if ch in "[{":
            if depth == 0 and expecting:
                lines.append(text.count("\n", 0, pos) + 1)
                expecting = False
            depth += 1
        elif ch in "]}":
            depth -= 1
        elif ch == "," and depth == 0:
            expecting = True
    return lines


def _structure(text: str, start: int = 0) -> Iterator[tuple[int, str]]:
    """(offset, char) for each structural character of JSON5 text, skipping strings and comments."""
    i, n = start, len(text)
    while i < n:
        ch = text[i]
        if ch in "\"'":
            i += 1
            while i < n and text[i] != ch:
                i += 2 if text[i] == "\\" else 1
        elif text.startswith("//", i):
            i = text.find("\n", i)
            i = n if i < 0 else i
        elif text.startswith("/*", i):
            i = text.find("*/", i + 2)
            i = n if i < 0 else i + 1
        elif ch in "[]{},":
            yield i, ch
        i += 1


def render_results(results: Sequence[CaseResult], cases_path: str, policy: Policy) -> str:
    """A pass/fail table; every failure is followed by what decided it and the fix."""
    rows = [
        (
            "PASS" if r.passed else "FAIL",
            f"{cases_path}:{r.case.line}",
            r.case.agent if r.case.session is None else r.case.session,
            r.case.tool,
            r.case.target or "-",
            r.wanted,
            r.got,
        )
        for r in results
    ]
    header = ("", "case", "agent", "tool", "target", "expected", "got")
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    out = [f"{len(results)} case(s) from {cases_path} against {policy.path}", "", line(header)]
    for row, result in zip(rows, results, strict=True):
        out.append(line(row))
        if result.case.name:
            out.append(f"{'':6}{result.case.name}")
        if not result.passed:
            d = result.decision
            out.append(f"{'':6}decided by: {d.source}")
            if d.would_deny:
                out.append(
                    f"{'':6}observe:    {d.requester.agent_id} is in observe mode, so this call is let "
                    f"through; enforce would deny it at gate '{d.gate}'"
                )
            if not d.allowed or d.would_deny:
                out.append(f"{'':6}message:    {d.message}")
                out.append(f"{'':6}fix:        {d.fix}")
    failed = sum(not r.passed for r in results)
    verdict = f"all {len(results)} cases pass" if not failed else f"{failed} of {len(results)} cases FAIL"
    out += ["", f"result: {verdict}"]
    return "\n".join(out)
