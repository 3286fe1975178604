"""The policy file's shape, and strict validation that names the file, line, key and what is allowed.

The policy file uses OpenClaw's own key names (`tools.sessions.visibility`, `tools.agentToAgent.allow`,
`agents.entries.<id>`, `subagents.allowAgents`) plus a few per-agent extensions. Unknown keys are errors:
a typo that silently widens access is the failure this project exists to prevent.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from dataclasses import dataclass
from typing import Any

import json5

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

    def __init__(self, file: str, line: int | None, key: str, problem: str, allowed: str = "") -> None:
        where = f"{file}:{line}" if line else file
        text = f"{where}: {key}: {problem}" if key else f"{where}: {problem}"
        if allowed:
            text += f"\n  allowed here: {allowed}"
        super().__init__(text)
        self.file = file
        self.line = line
        self.key = key
        self.problem = problem
        self.allowed = allowed


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
        if match:
            raise PolicyError(path, int(match.group(1)), "", f"not valid JSON5: {match.group(2)}") from None
        raise PolicyError(path, None, "", f"not valid JSON5: {message}") from None
    if not isinstance(data, dict):
        raise PolicyError(path, 1, "", "the top level must be an object ({ ... })")
    return Document(path, text, data)


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
    dotted = ".".join(keys)
    if not isinstance(value, dict):
        raise PolicyError(doc.path, doc.line_of(keys), dotted, "must be an object", _describe(schema))
    for key, item in value.items():
        here = (*keys, str(key))
        if key not in schema:
            raise PolicyError(
                doc.path, doc.line_of(here), ".".join(here), "unknown key", "keys " + ", ".join(schema)
            )
        _check_value(doc, item, schema[key], here)


def _check_value(doc: Document, value: Any, spec: Spec, keys: tuple[str, ...]) -> None:
    dotted = ".".join(keys)

    def fail(problem: str) -> None:
        raise PolicyError(doc.path, doc.line_of(keys), dotted, problem, _describe(spec))

    if isinstance(spec, dict):
        _check_object(doc, value, spec, keys)
    elif isinstance(spec, tuple) and spec[0] == "map":
        if not isinstance(value, dict):
            fail("must be an object")
        for name, item in value.items():
            _check_object(doc, item, spec[1], (*keys, str(name)))
    elif isinstance(spec, tuple) and spec[0] == "list":
        if not isinstance(value, list):
            fail("must be a list")
        for index, item in enumerate(value):
            _check_object(doc, item, spec[1], (*keys, str(index)))
            if not isinstance(item.get("id"), str):
                raise PolicyError(
                    doc.path, doc.line_of(keys), f"{dotted}[{index}]", "needs an id", "a string"
                )
    elif isinstance(spec, tuple) and spec[0] == "enum":
        if value not in spec[1:]:
            fail(f"{value!r} is not allowed")
    elif spec == "str":
        if not isinstance(value, str):
            fail(f"{value!r} is not a string")
    elif spec == "bool":
        if not isinstance(value, bool):
            fail(f"{value!r} is not true or false")
    elif spec == "int":
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            fail(f"{value!r} is not a whole number ≥ 0")
    elif spec == "patterns" and (not isinstance(value, list) or not all(isinstance(v, str) for v in value)):
        fail(f"{value!r} is not a list of strings")
