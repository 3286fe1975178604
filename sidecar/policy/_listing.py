"""`filter_sessions`: the list guard over many rows, each verdict decided once per class of row."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sidecar.policy._decision import Requester, SessionView, Trace
from sidecar.policy._guard import guard, is_sandboxed, session_class
from sidecar.policy._keys import (
    MalformedKey,
    SessionKey,
    canonical_uncached,
    parse_agent_key,
    parse_canonical,
)
from sidecar.policy._model import HOME, Policy, Resolved
from sidecar.policy._sessions import class_denial


@dataclass(frozen=True, slots=True)
class ListScope:
    """What a scoped sessions_list shows, and how much it hid."""

    visible: tuple[str | tuple[str, str], ...]
    hidden: int
    mode: str
    source: str
    warning: str | None


class ListGuard:
    """The list guard of one requester under one policy, row by row: `visible(gateway, key)`.

    What a row's verdict depends on is worked out once (the requester's class, a sandbox clamp); each
    row's verdict then depends only on the row (its agent, kind, gateway, and whether the requester is it
    or spawned it, from the view), and is decided once per such class of row. A mirror may keep the
    verdicts of its rows and reuse them while `same_scope` holds: the same policy object, requester and
    class (a reloaded policy is a new object; a requester whose depth changed may be of another class).
    """

    __slots__ = (
        "_agent",
        "_owner_of",
        "_restrict",
        "_verdicts",
        "cls",
        "policy",
        "refused",
        "req_key",
        "requester",
        "view",
        "vis",
    )

    def __init__(self, policy: Policy, requester: Requester, view: SessionView) -> None:
        self.policy = policy
        self.requester = requester
        self.view = view
        self._agent = agent = policy.for_agent(requester.agent_id)
        self.req_key = req_key = (
            requester.key if requester.key.key else parse_agent_key(requester.session_key)
        )
        self.cls = session_class(policy, requester, view)
        self.refused = class_denial(policy, self.cls, "sessions_list") is not None
        self.vis = agent.visibility
        self._restrict = False
        if (
            not self.refused
            and is_sandboxed(agent, req_key, policy.main_key)
            and agent.sandbox_clamp.value == "spawned"
        ):
            self.vis = Resolved("tree", agent.sandbox_clamp.source)
            self._restrict = not req_key.is_subagent
        self._owner_of = view.owner_of
        self._verdicts: dict[tuple[str, str, bool, bool, bool], tuple[bool, bool]] = {}

    @property
    def mode(self) -> str:
        return self.vis.value

    @property
    def source(self) -> str:
        return self.vis.describe()

    def same_scope(self, other: object) -> bool:
        """Whether `other` decides every row as this guard does (so verdicts kept under it still hold)."""
        return (
            isinstance(other, ListGuard)
            and other.policy is self.policy
            and other.requester == self.requester
            and other.cls == self.cls
        )

    def visible(self, gateway: str, raw: str) -> bool:
        """Whether the row `raw` on `gateway` is shown (False: hidden and counted)."""
        if self.refused:
            return False
        requester, req_key = self.requester, self.req_key
        # A mirrored key is nearly always canonical already (parsed at once); otherwise the general path,
        # not through canonical_key's memo: a listing reads each mirrored key once, so a memo of 100k keys
        # would only be filled and emptied again.
        key = parse_canonical(raw)
        if key is None:
            policy = self.policy
            try:
                key = canonical_uncached(raw, req_key.key, policy.default_agent, policy.main_key)
            except MalformedKey:
                return False
        is_self = gateway == requester.gateway and key.key == req_key.key
        # The guard's verdict depends only on these facts of a row and on whether the requester spawned
        # it, so each combination is decided once (a 10k-row list otherwise builds thousands of identical
        # denials, fix text included), for an owned and an unowned row alike: where the two agree, the
        # row's owner need not be looked up at all.
        facts = (gateway, key.agent_id, key.is_subagent, key.is_incognito, is_self)
        verdicts = self._verdicts.get(facts)
        if verdicts is None:
            verdicts = self._verdicts[facts] = (
                self._verdict(key, gateway, is_self, False),
                self._verdict(key, gateway, is_self, not is_self),
            )
        unowned, owned = verdicts
        if unowned is owned:
            return unowned
        return owned if self._owner_of(key.key, gateway) == (requester.gateway, req_key.key) else unowned

    def _verdict(self, key: SessionKey, gateway: str, is_self: bool, owned: bool) -> bool:
        if self._restrict and not (is_self or owned):
            return False
        return (
            guard(
                self.policy, self._agent, self.requester, key, gateway, self.vis, "list", is_self, owned, _OFF
            )
            is None
        )

    def warning(self, hidden: int) -> str | None:
        """The note a list carries when it hid `hidden` rows."""
        if not hidden or self.refused:
            return None
        vis = self.vis.value
        return (
            f"Session visibility is restricted (effective tools.sessions.visibility={vis}"
            f"{' with agent-to-agent limits' if vis in ('all', 'scoped') else ''}). {hidden} session(s) "
            "outside that scope are omitted from results and count."
        )


_OFF = Trace(False)


def filter_sessions(
    policy: Policy, requester: Requester, keys: Iterable[str | tuple[str, str]], view: SessionView
) -> ListScope:
    """Apply the list guard to each row before anything is serialised; count what was hidden.

    A row is a home session key, or (gateway, key) for a row another gateway reported; `visible` holds
    the rows as given.
    """
    rows = ListGuard(policy, requester, view)
    visible: list[str | tuple[str, str]] = []
    hidden = 0
    shown = rows.visible
    for row in keys:
        gw, raw = (HOME, row) if isinstance(row, str) else row
        if shown(gw, raw):
            visible.append(row)
        else:
            hidden += 1
    return ListScope(tuple(visible), hidden, rows.mode, rows.source, rows.warning(hidden))
