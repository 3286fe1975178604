"""Mistakes a policy can hold that still parse: agent ids in lists that can never match.

An exact entry in an allow or visibility list is compared with the gateway's agent ids verbatim (only
`*` globs ignore case), so `"Dev-1"` never matches `dev-1`, and `"dev-9"` matches nothing when no such
agent exists. Both load without complaint in OpenClaw; here they are warnings at load time, each with
its line and the replacement, and errors under `--strict`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sidecar.policy._keys import is_agent_id
from sidecar.policy._model import Policy
from sidecar.policy._schema import Document, PolicyError, did_you_mean

__all__ = ["PolicyWarning", "direct_peer_notes", "lint_policy"]

_ID_LISTS = frozenset({"allow", "visibleAgents", "receivesFrom", "allowAgents"})


@dataclass(frozen=True, slots=True)
class PolicyWarning:
    """One suspicious value: where it is, what is wrong, and the edit that fixes it."""

    file: str
    line: int | None
    key: str
    value: str
    problem: str
    fix: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.key}: {self.problem}\n  fix: {self.fix}"

    def as_error(self, doc: Document) -> PolicyError:
        return PolicyError(
            self.file, self.line, self.key, self.problem, fix=self.fix, source_line=doc.source_line(self.line)
        )


def _lists(value: Any, keys: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], list[Any]]]:
    if isinstance(value, dict):
        for key, item in value.items():
            here = (*keys, str(key))
            if key in _ID_LISTS and isinstance(item, list):
                yield here, item
            else:
                yield from _lists(item, here)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _lists(item, (*keys, str(index)))


def _line_of_item(doc: Document, keys: tuple[str, ...], item: str) -> int | None:
    line = doc.line_of(keys)
    if line is None:
        return None
    start = sum(len(row) + 1 for row in doc.text.splitlines()[: line - 1])
    match = re.compile(r"""(["'])""" + re.escape(item) + r"\1").search(doc.text, start)
    return line if match is None else doc.text.count("\n", 0, match.start()) + 1


def lint_policy(policy: Policy) -> tuple[PolicyWarning, ...]:
    """Every exact agent id in the policy file's lists that is not canonical or not a known agent."""
    doc = policy.doc
    known = sorted(policy.known_agents)
    found: list[PolicyWarning] = []
    for keys, items in _lists(doc.data, ()):
        dotted = ".".join(keys)
        for item in items:
            if not isinstance(item, str) or "*" in item or not item.strip():
                continue
            line = _line_of_item(doc, keys, item)
            shown = json.dumps(item)
            canonical = item.strip().lower()
            if "@" in item:
                # agent@gateway names an agent on a peer host; only its agent part can be checked here.
                agent_part, _, host = item.partition("@")
                if is_agent_id(agent_part) and host:
                    continue
                canonical = f"{agent_part.strip().lower()}@{host.strip().lower()}"
                found.append(
                    PolicyWarning(
                        doc.path,
                        line,
                        dotted,
                        item,
                        f"{shown} is not <agent id>@<gateway name> as the gateway stores ids (lowercase), so it "
                        "never matches",
                        f"replace {shown} with {json.dumps(canonical)} in {dotted}",
                    )
                )
                continue
            if not is_agent_id(item):
                if is_agent_id(canonical):
                    fix = f"replace {shown} with {json.dumps(canonical)} in {dotted}"
                    problem = (
                        f"{shown} is not an agent id as the gateway stores it (trimmed, lowercase), so it "
                        f"never matches; did you mean {json.dumps(canonical)}?"
                    )
                else:
                    fix = f"use an agent id (lowercase letters, digits, _ and -) or a * glob in {dotted}"
                    problem = f"{shown} is not a valid agent id, so it never matches"
                found.append(PolicyWarning(doc.path, line, dotted, item, problem, fix))
                continue
            if known and item not in policy.known_agents:
                guess = did_you_mean(item, known)
                if guess is not None:
                    fix = f"replace {shown} with {json.dumps(guess)} in {dotted}"
                else:
                    fix = f"correct it, or add agents.entries.{item}: {{}} if that agent exists"
                problem = f"{shown} is not an agent this policy knows (known: {', '.join(known[:12])}"
                problem += " …)" if len(known) > 12 else ")"
                if guess is not None:
                    problem += f"; did you mean {json.dumps(guess)}?"
                found.append(PolicyWarning(doc.path, line, dotted, item, problem, fix))
    return tuple(found)


def direct_peer_notes(policy: Policy) -> tuple[str, ...]:
    """One loud line per peer reached directly (`direct: true`): this host then holds an operator device on
    that host's gateway, and that host's operator has no say over what this host does there."""
    return tuple(
        f"{policy.path}: gateway.peers.{peer.name} has direct: true: this host pairs an operator device with "
        f"{peer.name}'s gateway ({peer.url}), so whoever controls this host can act there beyond {peer.name}'s "
        f"own policy; prefer sidecar: \"<url of {peer.name}'s sidecar>\" so {peer.name} decides its own agents"
        for peer in policy.peers
        if peer.mode == "direct"
    )
