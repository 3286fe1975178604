"""`filter_sessions`: the list guard over many rows, each verdict decided once per class of row."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sidecar.policy._decision import Requester, SessionView, Trace
from sidecar.policy._guard import guard, is_sandboxed, session_class
from sidecar.policy._keys import MalformedKey, canonical_key, parse_agent_key
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


def filter_sessions(
    policy: Policy, requester: Requester, keys: Iterable[str | tuple[str, str]], view: SessionView
) -> ListScope:
    """Apply the list guard to each row before anything is serialised; count what was hidden.

    A row is a home session key, or (gateway, key) for a row another gateway reported; `visible` holds
    the rows as given.
    """
    agent = policy.for_agent(requester.agent_id)
    req_key = requester.key if requester.key.key else parse_agent_key(requester.session_key)
    vis = agent.visibility
    if class_denial(policy, session_class(policy, requester, view), "sessions_list") is not None:
        hidden = sum(1 for _ in keys)
        return ListScope((), hidden, vis.value, vis.describe(), None)
    restrict = False
    if is_sandboxed(agent, req_key, policy.main_key) and agent.sandbox_clamp.value == "spawned":
        vis = Resolved("tree", agent.sandbox_clamp.source)
        restrict = not req_key.is_subagent
    off = Trace(False)
    visible: list[str | tuple[str, str]] = []
    hidden = 0
    verdicts: dict[tuple[str, str, bool, bool, bool, bool], bool] = {}
    for row in keys:
        gw, raw = (HOME, row) if isinstance(row, str) else row
        try:
            key = canonical_key(
                raw, requester_key=req_key.key, default_agent=policy.default_agent, main_key=policy.main_key
            )
        except MalformedKey:
            hidden += 1
            continue
        is_self = gw == requester.gateway and key.key == req_key.key
        owned = not is_self and view.owner_of(key.key, gw) == (requester.gateway, req_key.key)
        if restrict and not (is_self or owned):
            hidden += 1
            continue
        # The guard's verdict depends only on these facts of a row, so decide each combination once
        # (a 10k-row list otherwise builds thousands of identical denials, fix text included).
        facts = (gw, key.agent_id, key.is_subagent, key.is_incognito, is_self, owned)
        verdict = verdicts.get(facts)
        if verdict is None:
            verdict = verdicts[facts] = (
                guard(policy, agent, requester, key, gw, vis, "list", is_self, owned, off) is None
            )
        if verdict:
            visible.append(row)
        else:
            hidden += 1
    warning = None
    if hidden:
        warning = (
            f"Session visibility is restricted (effective tools.sessions.visibility={vis.value}"
            f"{' with agent-to-agent limits' if vis.value in ('all', 'scoped') else ''}). {hidden} session(s) "
            "outside that scope are omitted from results and count."
        )
    return ListScope(tuple(visible), hidden, vis.value, vis.describe(), warning)
