"""The policy file's shape, and strict validation that names the file, line, key and what is allowed.

The policy file uses OpenClaw's own key names (`tools.sessions.visibility`, `tools.agentToAgent.allow`,
`agents.entries.<id>`, `subagents.allowAgents`) plus a few per-agent extensions. Unknown keys are errors:
a typo that silently widens access is the failure this project exists to prevent.
"""

from __future__ import annotations

import copy
import difflib
import functools
import json
import re
from dataclasses import dataclass
from typing import Any, NoReturn

from sidecar.policy._syntax import diagnose

VISIBILITIES = ("self", "tree", "agent", "all", "scoped")
OPENCLAW_VISIBILITIES = ("self", "tree", "agent", "all")
SANDBOX_MODES = ("off", "non-main", "all")
SANDBOX_CLAMPS = ("spawned", "all")
MODES = ("enforce", "observe")

Spec = Any  # a nested description: "str" | "bool" | "int" | "patterns" | ("enum", ...) | dict | ("map", spec)

_SESSIONS = {
    "visibility": ("enum", *VISIBILITIES),
    "sendVisibility": ("enum", *VISIBILITIES),
    "visibleAgents": "patterns",
}
_SUBAGENTS = {
    "allowAgents": "patterns",
    "maxSpawnDepth": "int",
    "maxChildrenPerAgent": "int",
    "requireAgentId": "bool",
}
_SANDBOX = {"mode": ("enum", *SANDBOX_MODES), "sessionToolsVisibility": ("enum", *SANDBOX_CLAMPS)}
# Budgets per agent (sidecar-wide under the top-level `limits`, or per agent under its entry's `limits`).
_BUDGETS = {"sendsPerDay": "int", "spawnsPerHour": "int", "maxActiveChildren": "int"}
_AGENT = {
    "id": "str",
    "name": "str",
    "default": "bool",
    "acknowledgeOpen": "bool",
    "gateway": "str",
    "tools": {
        "sessions": _SESSIONS,
        "agentToAgent": {"enabled": "bool", "allow": "patterns", "receivesFrom": "patterns"},
    },
    "subagents": _SUBAGENTS,
    "sandbox": _SANDBOX,
    "mode": ("enum", *MODES),
    "limits": _BUDGETS,
}
POLICY_SCHEMA: dict[str, Spec] = {
    "$schema": "str",
    "openclawConfig": "str",
    "mode": ("enum", *MODES),
    "tools": {
        "sessions": _SESSIONS,
        "agentToAgent": {"enabled": "bool", "allow": "patterns"},
    },
    "agents": {
        "defaults": {"subagents": _SUBAGENTS, "sandbox": _SANDBOX},
        "entries": ("map", _AGENT),
        "list": ("list", _AGENT),
    },
    "session": {"mainKey": "str"},
    "gateway": {
        "url": "str",
        "name": "str",
        "allowInsecure": "bool",
        "peers": (
            "map",
            {
                "sidecar": "str",
                "url": "str",
                "direct": "bool",
                "agents": "patterns",
                "allowInsecure": "bool",
            },
        ),
    },
    "limits": {"maxHops": "int", "sendsPerMinute": "int", "replyBackTurns": "int", **_BUDGETS},
}


class PolicyError(ValueError):
    """The policy file (or the openclaw.json it names) cannot be used as written."""

    def __init__(
        self,
        file: str,
        line: int | None,
        key: str,
        problem: str,
        allowed: str = "",
        *,
        fix: str = "",
        source_line: str | None = None,
    ) -> None:
        where = f"{file}:{line}" if line else file
        text = f"{where}: {key}: {problem}" if key else f"{where}: {problem}"
        if source_line is not None and line:
            text += f"\n  {line:>4} | {source_line.rstrip()}"
        if allowed:
            text += f"\n  allowed here: {allowed}"
        if fix:
            text += f"\n  fix: {fix}"
        super().__init__(text)
        self.file = file
        self.line = line
        self.key = key
        self.problem = problem
        self.allowed = allowed
        self.fix = fix


@dataclass(frozen=True)
class Document:
    """A parsed JSON5 file that can point back at the line of any key path."""

    path: str
    text: str
    data: dict[str, Any]

    def line_of(self, keys: tuple[str, ...]) -> int | None:
        pos = 0
        found = None
        for key in keys:
            if key.isdigit():
                continue
            pattern = re.compile(r"""(?:^|[\s{,])(?:"%s"|'%s'|%s)\s*:""" % ((re.escape(key),) * 3))
            match = pattern.search(self.text, pos)
            if match is None:
                return found
            pos = match.end()
            found = self.text.count("\n", 0, match.start() + 1) + 1
        return found

    def source_line(self, line: int | None) -> str | None:
        """The text of a 1-based line, to show beside an error about it."""
        lines = self.text.splitlines()
        return lines[line - 1] if line is not None and 0 < line <= len(lines) else None

    def error(self, keys: tuple[str, ...], problem: str, allowed: str = "", fix: str = "") -> PolicyError:
        """A PolicyError about the value at `keys`, quoting the line that holds it."""
        line = self.line_of(keys)
        return PolicyError(
            self.path, line, ".".join(keys), problem, allowed, fix=fix, source_line=self.source_line(line)
        )


class _Duplicate(ValueError):
    pass


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise _Duplicate
    return out


@functools.lru_cache(maxsize=8)
def _loads(text: str) -> Any:
    # Most policy files that start a server are plain JSON (generated ones always are): the C JSON parser
    # takes 0.1 ms where json5 takes 15-40 ms, and json5 then gives the same answer. A file it refuses,
    # or one with a duplicate key, goes to json5, whose errors carry the line. `load_policy` and
    # `parse_policy` read the same text, so the last few answers are kept (callers get a copy).
    try:
        return json.loads(text, object_pairs_hook=_unique)
    except ValueError:
        import json5  # only for a file that is not plain JSON (15-40 ms to import)

        return json5.loads(text, allow_duplicate_keys=False)


def parse_json5(text: str, path: str) -> Document:
    """Parse JSON5 text, turning syntax errors into a PolicyError with the line.

    Raises:
        PolicyError: the text is not JSON5, or its top level is not an object.
    """
    try:
        data = copy.deepcopy(_loads(text))
    except ValueError as exc:
        message = str(exc)
        match = re.match(r"<string>:(\d+) (.*)", message)
        reported, detail = (int(match.group(1)), match.group(2)) if match else (None, message)
        if "Duplicate key" in detail:
            raise PolicyError(path, reported, "", f"not valid JSON5: {detail}") from None
        found = diagnose(text, reported, detail)
        problem = f"not valid JSON5: {found.problem}"
        if found.line != reported and reported is not None:
            problem += f" (the parser stopped at line {reported}: {detail})"
        shown = Document(path, text, {}).source_line(found.line)
        raise PolicyError(path, found.line, "", problem, fix=found.hint, source_line=shown) from None
    if not isinstance(data, dict):
        raise PolicyError(path, 1, "", f"the top level must be an object ({{ ... }}), not {json_kind(data)}")
    return Document(path, text, data)


def json_kind(value: Any) -> str:
    """A value described in JSON's terms (never Python's): `a list ["a"]`, `the string "x"`, `true`."""
    shown = json.dumps(value, ensure_ascii=False)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    if value is None:
        return "null"
    if isinstance(value, bool):
        return shown
    if isinstance(value, str):
        return f"the string {shown}"
    if isinstance(value, int | float):
        return f"the number {shown}"
    if isinstance(value, list):
        return f"a list {shown}"
    if isinstance(value, dict):
        return f"an object {shown}"
    return shown


def did_you_mean(word: str, choices: list[str] | tuple[str, ...]) -> str | None:
    """The closest choice to a misspelt word (case-insensitive), or None."""
    lowered = {c.lower(): c for c in choices}
    if word.lower() in lowered:
        return lowered[word.lower()]
    close = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.6)
    return lowered[close[0]] if close else None


def validate(doc: Document, schema: dict[str, Spec] = POLICY_SCHEMA) -> None:
    """Check every key and value of a policy document against the schema.

    Raises:
        PolicyError: naming the first unknown key or wrong value, with its line and what is allowed.
    """
    _check_object(doc, doc.data, schema, ())


def _describe(spec: Spec) -> str:
    if isinstance(spec, dict):
        return "an object with keys " + ", ".join(spec)
    if isinstance(spec, tuple) and spec[0] == "enum":
        return "one of " + ", ".join(f'"{v}"' for v in spec[1:])
    if isinstance(spec, tuple) and spec[0] == "map":
        return "an object keyed by agent or peer name"
    if isinstance(spec, tuple) and spec[0] == "list":
        return "a list of agent objects, each with an id"
    return {
        "str": "a string",
        "bool": "true or false",
        "int": "a whole number ≥ 0",
        "patterns": 'a list of agent ids or "*" globs, e.g. ["dev-1", "dev-*"]',
    }[spec]


def _check_object(doc: Document, value: Any, schema: dict[str, Spec], keys: tuple[str, ...]) -> None:
    if not isinstance(value, dict):
        raise doc.error(keys, f"must be an object, not {json_kind(value)}", _describe(schema))
    for key, item in value.items():
        here = (*keys, str(key))
        if key not in schema:
            guess = did_you_mean(str(key), tuple(schema))
            where = ".".join(keys) or "the top level"
            raise doc.error(
                here,
                "unknown key" + (f": did you mean {guess}?" if guess else ""),
                "keys " + ", ".join(schema),
                fix=f"rename it to {guess}" if guess else f"remove it, or use one of the keys {where} takes",
            )
        _check_value(doc, item, schema[key], here)


def _check_value(doc: Document, value: Any, spec: Spec, keys: tuple[str, ...]) -> None:
    dotted = ".".join(keys)

    def fail(problem: str, fix: str = "") -> NoReturn:
        raise doc.error(keys, problem, _describe(spec), fix=fix)

    if isinstance(spec, dict):
        _check_object(doc, value, spec, keys)
    elif isinstance(spec, tuple) and spec[0] == "map":
        if not isinstance(value, dict):
            fail(f"must be an object, not {json_kind(value)}")
        for name, item in value.items():
            _check_object(doc, item, spec[1], (*keys, str(name)))
    elif isinstance(spec, tuple) and spec[0] == "list":
        if not isinstance(value, list):
            fail(f"must be a list, not {json_kind(value)}")
        for index, item in enumerate(value):
            _check_object(doc, item, spec[1], (*keys, str(index)))
            if not isinstance(item.get("id"), str):
                raise PolicyError(
                    doc.path, doc.line_of(keys), f"{dotted}[{index}]", "needs an id", "a string"
                )
    elif isinstance(spec, tuple) and spec[0] == "enum":
        if value not in spec[1:]:
            options = [str(v) for v in spec[1:]]
            guess = did_you_mean(value, options) if isinstance(value, str) else None
            if isinstance(value, list) and len(value) == 1 and value[0] in options:
                guess = value[0]
            fail(
                f"{json_kind(value)} is not allowed"
                + (f": did you mean {json.dumps(guess)}?" if guess else ""),
                f"write {keys[-1]}: {json.dumps(guess)}" if guess else "",
            )
    elif spec == "str":
        if not isinstance(value, str):
            fail(f"expected a string, got {json_kind(value)}")
    elif spec == "bool":
        if not isinstance(value, bool):
            fix = (
                f"write {keys[-1]}: {value.strip().lower()}"
                if isinstance(value, str) and value.strip().lower() in ("true", "false")
                else ""
            )
            fail(f"expected true or false, got {json_kind(value)}", fix)
    elif spec == "int":
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            fail(f"expected a whole number ≥ 0, got {json_kind(value)}")
    elif spec == "patterns":
        if isinstance(value, str):
            fail(
                f"expected a list of strings, got {json_kind(value)}",
                f"write {keys[-1]}: [{json.dumps(value)}]",
            )
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            fail(f"expected a list of strings, got {json_kind(value)}")
