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

from sidecar.policy._syntax import diagnose, key_lines

VISIBILITIES = ("self", "tree", "agent", "all", "scoped")
OPENCLAW_VISIBILITIES = ("self", "tree", "agent", "all")
SANDBOX_MODES = ("off", "non-main", "all")
SANDBOX_CLAMPS = ("spawned", "all")
MODES = ("enforce", "observe")

Spec = Any  # a nested description: "str" | "bool" | "int" | "patterns" | ("enum", ...) | dict | ("map", spec)

# Keys that were accepted once but never read: refused with what to use instead, not silently kept.
# ("retired", problem, fix); the fix may name {value} (the value written) and {agent} (the entry's id).
_RETIRED_REPLY_BACK_TURNS = (
    "retired",
    "is not read: the sidecar delivers a sessions_send as one run of the target, and no reply-back turns "
    "follow it, so there is nothing for it to limit",
    "remove it; message chains are limited by limits.maxHops and their rate by limits.sendsPerMinute",
)
_RETIRED_AGENT_GATEWAY = (
    "retired",
    "is not read: every agent in this policy's agents is placed on this host's own gateway, whatever "
    "this says",
    "remove it; an agent on another host is listed in gateway.peers.{value}.agents instead of in agents "
    "(move {agent} there), and its own settings such as receivesFrom go in that host's policy "
    "(docs/operations.md#peers)",
)

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
    "gateway": _RETIRED_AGENT_GATEWAY,
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
    "limits": {
        "maxHops": "int",
        "sendsPerMinute": "int",
        "replyBackTurns": _RETIRED_REPLY_BACK_TURNS,
        **_BUDGETS,
    },
    # The decision log's retention (ours): rows older than maxAgeDays, and the oldest past maxRows, go.
    "decisions": {"maxAgeDays": "count", "maxRows": "count"},
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
            raise _duplicate_key(text, path, detail) from None
        found = diagnose(text, reported, detail)
        problem = f"not valid JSON5: {found.problem}"
        if found.line != reported and reported is not None:
            problem += f" (the parser stopped at line {reported}: {detail})"
        shown = Document(path, text, {}).source_line(found.line)
        raise PolicyError(path, found.line, "", problem, fix=found.hint, source_line=shown) from None
    if not isinstance(data, dict):
        raise PolicyError(path, 1, "", f"the top level must be an object ({{ ... }}), not {json_kind(data)}")
    return Document(path, text, data)


def _duplicate_key(text: str, path: str, detail: str) -> PolicyError:
    """The parser names a duplicate key but not where: find both lines in the text."""
    seen: dict[tuple[str, ...], int] = {}
    for key in key_lines(text):
        first = seen.get(key.path)
        if first is None:
            seen[key.path] = key.line
        else:
            dotted = _dotted(key.path)
            return PolicyError(
                path,
                key.line,
                dotted,
                f"Duplicate key {json.dumps(key.path[-1])}, written at {path}:{first} and {path}:{key.line}; "
                "a JSON5 reader keeps only one of them, so the other is silently ignored",
                fix=f"keep one {key.path[-1]} (merge the two if both hold settings you want) and delete the other",
                source_line=Document(path, text, {}).source_line(key.line),
            )
    return PolicyError(path, None, "", f"not valid JSON5: {detail}", fix="remove the repeated key")


def _dotted(keys: tuple[str, ...]) -> str:
    """`agents.list[0].id` for a key path with list indexes."""
    out = ""
    for key in keys:
        out += f"[{key}]" if key.isdigit() else (f".{key}" if out else key)
    return out


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
    if schema is POLICY_SCHEMA:
        _check_agent_ids(doc)


def _check_agent_ids(doc: Document) -> None:
    """An agent defined twice (twice in agents.list, or in agents.entries and agents.list) is an error:
    only one of the two entries would be read, and the other's restrictions silently dropped."""
    agents = doc.data.get("agents")
    if not isinstance(agents, dict):
        return
    defined: list[tuple[str, tuple[str, ...]]] = []
    if isinstance(agents.get("entries"), dict):
        defined += [(str(a), ("agents", "entries", str(a))) for a in agents["entries"]]
    if isinstance(agents.get("list"), list):
        defined += [
            (item["id"], ("agents", "list", str(index), "id"))
            for index, item in enumerate(agents["list"])
            if isinstance(item, dict) and isinstance(item.get("id"), str)
        ]
    lines = {key.path: key.line for key in reversed(key_lines(doc.text))}
    first: dict[str, tuple[str, tuple[str, ...]]] = {}
    for agent_id, keys in defined:
        canonical = agent_id.strip().lower()
        if canonical not in first:
            first[canonical] = (agent_id, keys)
            continue
        was_id, was_keys = first[canonical]
        was, now = lines.get(was_keys), lines.get(keys)
        shown = json.dumps(agent_id) + (f" (as {json.dumps(was_id)})" if was_id != agent_id else "")
        raise PolicyError(
            doc.path,
            now,
            _dotted(keys),
            f"agent {shown} is defined twice: at {doc.path}:{was} ({_dotted(was_keys)}) and at "
            f"{doc.path}:{now} ({_dotted(keys)}); only the first would be read and the other's settings "
            "silently ignored",
            fix=f"merge the two into one entry for {canonical} and delete the other",
            source_line=doc.source_line(now),
        )


def _retired(spec: Spec) -> bool:
    return isinstance(spec, tuple) and spec[0] == "retired"


def _keys(schema: dict[str, Spec]) -> tuple[str, ...]:
    """The keys an object takes (retired ones are refused, so never offered)."""
    return tuple(k for k, v in schema.items() if not _retired(v))


def _describe(spec: Spec) -> str:
    if isinstance(spec, dict):
        return "an object with keys " + ", ".join(_keys(spec))
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
        "count": "a whole number ≥ 1",
        "patterns": 'a list of agent ids or "*" globs, e.g. ["dev-1", "dev-*"]',
    }[spec]


def _check_object(doc: Document, value: Any, schema: dict[str, Spec], keys: tuple[str, ...]) -> None:
    if not isinstance(value, dict):
        raise doc.error(keys, f"must be an object, not {json_kind(value)}", _describe(schema))
    for key, item in value.items():
        here = (*keys, str(key))
        if key not in schema:
            guess = did_you_mean(str(key), _keys(schema))
            where = ".".join(keys) or "the top level"
            raise doc.error(
                here,
                "unknown key" + (f": did you mean {guess}?" if guess else ""),
                "keys " + ", ".join(_keys(schema)),
                fix=f"rename it to {guess}" if guess else f"remove it, or use one of the keys {where} takes",
            )
        _check_value(doc, item, schema[key], here)


def _shown(value: Any) -> str:
    return value if isinstance(value, str) and value.strip() else "<name>"


def _entry_id(doc: Document, keys: tuple[str, ...]) -> str:
    """The agent whose entry holds `keys` (agents.entries.<id>... or agents.list[i]...)."""
    if keys[:2] == ("agents", "entries") and len(keys) > 2:
        return keys[2]
    if keys[:2] == ("agents", "list") and len(keys) > 2:
        item = doc.data["agents"]["list"][int(keys[2])]
        return str(item.get("id")) if isinstance(item, dict) else "this agent"
    return "this agent"


def _check_value(doc: Document, value: Any, spec: Spec, keys: tuple[str, ...]) -> None:
    dotted = ".".join(keys)

    def fail(problem: str, fix: str = "") -> NoReturn:
        raise doc.error(keys, problem, _describe(spec), fix=fix)

    if isinstance(spec, dict):
        _check_object(doc, value, spec, keys)
    elif _retired(spec):
        raise doc.error(keys, spec[1], fix=spec[2].format(value=_shown(value), agent=_entry_id(doc, keys)))
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
    elif spec in ("int", "count"):
        least = 1 if spec == "count" else 0
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            fail(f"expected a whole number ≥ {least}, got {json_kind(value)}")
    elif spec == "patterns":
        if isinstance(value, str):
            fail(
                f"expected a list of strings, got {json_kind(value)}",
                f"write {keys[-1]}: [{json.dumps(value)}]",
            )
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            fail(f"expected a list of strings, got {json_kind(value)}")
