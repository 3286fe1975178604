"""The effective policy of one agent, every value carrying where it came from.

Resolution order for each value: the agent's own entry in the policy file, the policy file's sidecar-wide
value, the inherited openclaw.json, then the default of the OpenClaw release the policy is decided for
(`Policy.semantics`: the requester's gateway's release, else the newest supported one).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from sidecar.policy._keys import is_agent_id
from sidecar.policy._schema import (
    OPENCLAW_VISIBILITIES,
    SANDBOX_CLAMPS,
    SANDBOX_MODES,
    Document,
    PolicyError,
    json_kind,
)
from sidecar.policy._values import (
    HOME,
    OPENCLAW_DEFAULTS,
    SIDECAR_DEFAULTS,
    AgentPolicy,
    Origin,
    Peer,
    Resolved,
    Source,
)
from sidecar.policy._versions import NEWEST, Semantics

__all__ = [
    "HOME",
    "OPENCLAW_DEFAULTS",
    "SIDECAR_DEFAULTS",
    "AgentPolicy",
    "Peer",
    "Policy",
    "Resolved",
    "Source",
]


@dataclass
class Policy:
    """A validated policy file plus the openclaw.json it inherits from."""

    doc: Document
    openclaw: Document | None = None
    semantics: Semantics = NEWEST
    _cache: dict[str, AgentPolicy] = field(default_factory=dict, repr=False)
    # Answers the engine derives from this policy alone (a visibility verdict with its text, a session's
    # class), kept per Policy object: a reload builds a new Policy, so nothing outlives the file it came
    # from. Cleared when the gateway's defaults are adopted (they change what `main` means).
    memo: dict[Any, Any] = field(default_factory=dict, repr=False, compare=False)
    _pinned: dict[str, frozenset[str]] = field(default_factory=dict, repr=False, compare=False)

    @property
    def path(self) -> str:
        return self.doc.path

    def for_release(self, semantics: Semantics) -> Policy:
        """The same files decided under another OpenClaw release's semantics (a new Policy)."""
        if semantics is self.semantics:
            return self
        other = Policy(self.doc, self.openclaw, semantics)
        for name in ("default_agent", "main_key"):
            if name in self.__dict__:
                other.__dict__[name] = self.__dict__[name]
        return other

    def _default(self, key: str, fallback: Any = None) -> Resolved[Any]:
        value = self.semantics.defaults.get(key, fallback)
        return Resolved(value, Source("default", key, release=self.semantics.label))

    # -- agents -----------------------------------------------------------------------------------

    @cached_property
    def _entries(self) -> dict[str, tuple[Document, tuple[str, ...], dict[str, Any]]]:
        """Agent id -> (document, key path of its entry, entry). Policy entries win over openclaw.json."""
        found: dict[str, tuple[Document, tuple[str, ...], dict[str, Any]]] = {}
        for doc in (self.doc, self.openclaw):
            if doc is None:
                continue
            agents = doc.data.get("agents")
            if not isinstance(agents, dict):
                continue
            entries = agents.get("entries")
            if isinstance(entries, dict):
                for agent_id, entry in entries.items():
                    found.setdefault(agent_id, (doc, ("agents", "entries", agent_id), _obj(entry)))
            listed = agents.get("list")
            if isinstance(listed, list):
                for index, entry in enumerate(listed):
                    if isinstance(entry, dict) and isinstance(entry.get("id"), str):
                        found.setdefault(entry["id"], (doc, ("agents", "list", str(index)), entry))
        for agent_id, (doc, keys, _) in found.items():
            if not is_agent_id(agent_id):
                raise PolicyError(
                    doc.path,
                    doc.line_of(keys),
                    ".".join(keys),
                    f"{json.dumps(agent_id)} is not a valid agent id"
                    + (
                        f"; did you mean {json.dumps(agent_id.strip().lower())}?"
                        if is_agent_id(agent_id.strip().lower())
                        else ""
                    ),
                    "lowercase letters, digits, _ and -, up to 64 characters",
                )
        return found

    @cached_property
    def agent_ids(self) -> tuple[str, ...]:
        return tuple(self._entries)

    @cached_property
    def peers(self) -> tuple[Peer, ...]:
        gateway = _obj(self.doc.data.get("gateway"))
        found = []
        for name, spec in _obj(gateway.get("peers")).items():
            keys = ("gateway", "peers", name)
            line = self.doc.line_of(keys)
            where = ".".join(keys)
            if not is_agent_id(name) or name in (HOME, self.gateway_name):
                raise PolicyError(
                    self.doc.path,
                    line,
                    where,
                    f"{name!r} cannot name a peer",
                    f"lowercase letters, digits, _ and -, other than {HOME!r} and this host's own "
                    f"gateway.name ({self.gateway_name!r})",
                )
            sidecar, url, direct = spec.get("sidecar"), spec.get("url"), spec.get("direct") is True
            if direct and not url:
                raise PolicyError(self.doc.path, line, where, "direct: true needs the peer gateway's url")
            if not direct and not sidecar:
                raise PolicyError(
                    self.doc.path,
                    line,
                    where,
                    "a peer needs its sidecar's address"
                    + (
                        " (a gateway url alone would make this host hold a credential for that host's "
                        "gateway)"
                        if url
                        else ""
                    ),
                    'sidecar: "https://<host>:8766/peer" (that host decides inbound calls under its own '
                    'policy), or url: "wss://<host>:18789" with direct: true to pair this host with '
                    "the peer gateway itself (a warned opt-in)",
                )
            found.append(
                Peer(
                    name,
                    str(url or ""),
                    tuple(a.strip().lower() for a in spec.get("agents", ())),
                    bool(spec.get("allowInsecure", False)),
                    str(sidecar) if sidecar and not direct else None,
                    "direct" if direct else "sidecar",
                )
            )
        return tuple(found)

    @cached_property
    def gateway_name(self) -> str:
        """This host's own gateway as peers name it (`gateway.name`), e.g. in `jarvis@macbook`."""
        name = _obj(self.doc.data.get("gateway")).get("name")
        return name.strip().lower() if isinstance(name, str) and name.strip() else HOME

    @cached_property
    def gateway_names(self) -> tuple[str, ...]:
        return (HOME, *(p.name for p in self.peers))

    def peer(self, name: str) -> Peer | None:
        return next((p for p in self.peers if p.name == name), None)

    def gateway_of(self, name: str) -> str | None:
        """The canonical gateway name for `name` (this host's own `gateway.name` is `home`), else None."""
        # Exact names, as the policy spells them: `HOME` is not `home` (a typo should fail, not route).
        name = name.strip()
        if name in (HOME, self.gateway_name):
            return HOME
        return name if self.peer(name) is not None else None

    def pinned(self, gateway: str) -> frozenset[str]:
        """The agents the policy itself places on `gateway`: its own entries at home, a peer's `agents`."""
        held = self._pinned.get(gateway)
        if held is None:
            if gateway == HOME:
                held = frozenset(self.agent_ids)
            else:
                peer = self.peer(gateway)
                held = frozenset(peer.agents) if peer is not None else frozenset()
            self._pinned[gateway] = held
        return held

    @cached_property
    def known_agents(self) -> frozenset[str]:
        return frozenset(self.agent_ids) | {a for peer in self.peers for a in peer.agents}

    def with_gateway_defaults(self, default_agent: str, main_key: str) -> Policy:
        """This policy with the home gateway's own defaults (hello-ok sessionDefaults), so that `main` names
        the session the gateway will act on, whatever the policy file guessed. A new Policy: a built one is
        never changed (a call being decided keeps the policy it started with)."""
        if self.default_agent == default_agent and self.main_key == main_key:
            return self
        other = Policy(self.doc, self.openclaw, self.semantics)
        other.__dict__["default_agent"] = default_agent
        other.__dict__["main_key"] = main_key
        return other

    @cached_property
    def default_agent(self) -> str:
        for agent_id, (_, _, entry) in self._entries.items():
            if entry.get("default") is True:
                return agent_id
        return self.agent_ids[0] if self.agent_ids else "main"

    @cached_property
    def main_key(self) -> str:
        return str(self._global(("session", "mainKey"), "session.mainKey", str).value)

    @cached_property
    def mode(self) -> Resolved[str]:
        """The sidecar-wide mode (`mode` at the top of the policy file); agents may override it."""
        return self._global(("mode",), "mode", str, openclaw=False, default=SIDECAR_DEFAULTS["mode"])

    @cached_property
    def observed_agents(self) -> tuple[str, ...]:
        """The agents whose calls are decided in observe mode (would-be denials let through and logged)."""
        return tuple(a for a in self.agent_ids if self.for_agent(a).observing)

    @cached_property
    def limits(self) -> dict[str, int]:
        return {k: int(v) for k, v in _obj(self.doc.data.get("limits")).items()}

    def for_agent(self, agent_id: str) -> AgentPolicy:
        cached = self._cache.get(agent_id)
        if cached is None:
            cached = self._cache[agent_id] = self._resolve(agent_id)
        return cached

    # -- resolution -------------------------------------------------------------------------------

    def _resolve(self, agent_id: str) -> AgentPolicy:
        vis = self._agent_first(
            agent_id, ("tools", "sessions", "visibility"), "tools.sessions.visibility", str
        )
        if vis.source.origin == "openclaw" and vis.value not in OPENCLAW_VISIBILITIES:
            # OpenClaw treats an invalid visibility as its default rather than refusing to start.
            vis = Resolved(self.semantics.defaults["tools.sessions.visibility"], vis.source)
        send = self._agent_first(
            agent_id,
            ("tools", "sessions", "sendVisibility"),
            "tools.sessions.sendVisibility",
            str,
            openclaw=False,
        )
        if send.value is None:
            send = vis
        visible = self._agent_first(
            agent_id,
            ("tools", "sessions", "visibleAgents"),
            "tools.sessions.visibleAgents",
            tuple,
            openclaw=False,
            default=(),
        )
        return AgentPolicy(
            agent_id=agent_id,
            visibility=vis,
            send_visibility=send,
            visible_agents=visible,
            a2a_enabled=self._agent_first(
                agent_id, ("tools", "agentToAgent", "enabled"), "tools.agentToAgent.enabled", bool
            ),
            allow=self._agent_first(
                agent_id, ("tools", "agentToAgent", "allow"), "tools.agentToAgent.allow", tuple
            ),
            receives_from=self._agent_only(agent_id, ("tools", "agentToAgent", "receivesFrom")),
            spawn_allow=self._subagent_value(agent_id, "allowAgents", tuple),
            max_spawn_depth=self._subagent_value(agent_id, "maxSpawnDepth", int),
            max_children=self._subagent_value(agent_id, "maxChildrenPerAgent", int),
            require_agent_id=self._subagent_value(agent_id, "requireAgentId", bool),
            sandbox_mode=self._sandbox_value(agent_id, "mode", SANDBOX_MODES),
            sandbox_clamp=self._sandbox_value(agent_id, "sessionToolsVisibility", SANDBOX_CLAMPS),
            mode=self._sidecar_value(agent_id, ("mode",), str),
            sends_per_day=self._sidecar_value(agent_id, ("limits", "sendsPerDay"), int),
            spawns_per_hour=self._sidecar_value(agent_id, ("limits", "spawnsPerHour"), int),
            max_active_children=self._sidecar_value(agent_id, ("limits", "maxActiveChildren"), int),
            max_hops=self._sidecar_value(agent_id, ("limits", "maxHops"), int),
            sends_per_minute=self._sidecar_value(agent_id, ("limits", "sendsPerMinute"), int),
            acknowledge_open=self._acknowledged(agent_id),
        )

    def _sidecar_value(self, agent_id: str, keys: tuple[str, ...], kind: type) -> Resolved[Any]:
        """A sidecar-only key: the agent's entry, then the policy's sidecar-wide value, then our default."""
        name = ".".join(keys)
        return self._agent_first(agent_id, keys, name, kind, openclaw=False, default=SIDECAR_DEFAULTS[name])

    def _acknowledged(self, agent_id: str) -> Resolved[bool] | None:
        entry = self._agent_entry(agent_id)
        if entry is None or entry[0] is not self.doc:
            return None
        found = self._lookup(self.doc, entry[1], ("acknowledgeOpen",), "agent", bool)
        return found if found is not None and found.value else None

    def _agent_entry(self, agent_id: str) -> tuple[Document, tuple[str, ...], dict[str, Any]] | None:
        return self._entries.get(agent_id)

    def _lookup(
        self, doc: Document, base: tuple[str, ...], keys: tuple[str, ...], origin: Origin, kind: type
    ) -> Resolved[Any] | None:
        value: Any = doc.data
        for key in (*base, *keys):
            if isinstance(value, list) and key.isdigit() and int(key) < len(value):
                value = value[int(key)]
            elif isinstance(value, dict) and key in value:
                value = value[key]
            else:
                return None
        full = (*base, *keys)
        if not _is_kind(value, kind):
            raise doc.error(full, f"expected {_KIND_NAMES[kind]}, got {json_kind(value)}")
        if kind is tuple:
            value = tuple(value)
        return Resolved(value, Source(origin, ".".join(full), doc.path, doc.line_of(full)))

    def _agent_first(
        self,
        agent_id: str,
        keys: tuple[str, ...],
        default_key: str,
        kind: type,
        *,
        openclaw: bool = True,
        default: Any = None,
    ) -> Resolved[Any]:
        entry = self._agent_entry(agent_id)
        if entry is not None and entry[0] is self.doc:
            found = self._lookup(self.doc, entry[1], keys, "agent", kind)
            if found is not None:
                return found
        return self._global(keys, default_key, kind, openclaw=openclaw, default=default)

    def _global(
        self,
        keys: tuple[str, ...],
        default_key: str,
        kind: type,
        *,
        openclaw: bool = True,
        default: Any = None,
    ) -> Resolved[Any]:
        found = self._lookup(self.doc, (), keys, "sidecar", kind)
        if found is None and openclaw and self.openclaw is not None:
            found = self._lookup(self.openclaw, (), keys, "openclaw", kind)
        if found is not None:
            return found
        return self._default(default_key, default)

    def _agent_only(self, agent_id: str, keys: tuple[str, ...]) -> Resolved[tuple[str, ...] | None]:
        entry = self._agent_entry(agent_id)
        if entry is not None and entry[0] is self.doc:
            found = self._lookup(self.doc, entry[1], keys, "agent", tuple)
            if found is not None:
                return found
        return Resolved(
            None,
            Source("default", "agents.entries.<id>." + ".".join(keys), release=self.semantics.label),
        )

    def _subagent_value(self, agent_id: str, name: str, kind: type) -> Resolved[Any]:
        return self._layered(
            agent_id,
            ("subagents", name),
            ("agents", "defaults", "subagents", name),
            f"subagents.{name}",
            kind,
        )

    def _sandbox_value(self, agent_id: str, name: str, allowed: tuple[str, ...]) -> Resolved[Any]:
        found = self._layered(
            agent_id, ("sandbox", name), ("agents", "defaults", "sandbox", name), f"sandbox.{name}", str
        )
        if found.value not in allowed:
            src = found.source
            raise PolicyError(
                str(src.file),
                src.line,
                src.key,
                f"{json_kind(found.value)} is not allowed",
                ", ".join(allowed),
            )
        return found

    def _layered(
        self, agent_id: str, own: tuple[str, ...], defaults: tuple[str, ...], default_key: str, kind: type
    ) -> Resolved[Any]:
        """Per-agent entry, sidecar-wide default, then openclaw.json (its per-agent value, then its defaults)."""
        entry = self._agent_entry(agent_id)
        layers: list[tuple[Document, tuple[str, ...], tuple[str, ...], Origin]] = []
        if entry is not None and entry[0] is self.doc:
            layers.append((self.doc, entry[1], own, "agent"))
        layers.append((self.doc, (), defaults, "sidecar"))
        if self.openclaw is not None:
            oc_entry = _openclaw_entry(self.openclaw, agent_id)
            if oc_entry is not None:
                layers.append((self.openclaw, oc_entry, own, "openclaw"))
            layers.append((self.openclaw, (), defaults, "openclaw"))
        for doc, base, keys, origin in layers:
            found = self._lookup(doc, base, keys, origin, kind)
            if found is not None:
                return found
        return self._default(default_key)


def _openclaw_entry(doc: Document, agent_id: str) -> tuple[str, ...] | None:
    agents = _obj(doc.data.get("agents"))
    if isinstance(agents.get("entries"), dict) and agent_id in agents["entries"]:
        return ("agents", "entries", agent_id)
    listed = agents.get("list")
    if isinstance(listed, list):
        for index, entry in enumerate(listed):
            if isinstance(entry, dict) and entry.get("id") == agent_id:
                return ("agents", "list", str(index))
    return None


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


_KIND_NAMES: dict[type, str] = {
    tuple: "a list of strings",
    int: "a whole number",
    bool: "true or false",
    str: "a string",
}


def _is_kind(value: Any, kind: type) -> bool:
    if kind is tuple:
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, kind)
