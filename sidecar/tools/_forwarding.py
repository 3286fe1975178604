"""Forwarding errors in the decision log: an allowed call that then failed to reach its gateway.

The decision log records the decision when it is made, as `allowed`; if forwarding the call then fails
with a `GatewayFault`, a second row with outcome `error` says so, naming the same requester, tool,
target and gateways. The row is built from the decision's fields and the fault's class name only, never
from the fault's text or the call's arguments, so the log's promise (no message text) holds.

`CallContext.decide` notes each decision it lets through (`note_decided`) in a context variable that
belongs to the running call; `recording_errors` around a tool call reads it when a fault escapes.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from sidecar.policy import HOME, Decision
from sidecar.tools._errors import GatewayFault
from sidecar.tools._store import Store

__all__ = ["note_decided", "recording_errors"]

_DECIDED: ContextVar[Decision | None] = ContextVar("sidecar_forwarded_decision", default=None)


def note_decided(decision: Decision) -> None:
    """Remember the decision the running call is about to forward."""
    _DECIDED.set(decision)


@contextmanager
def recording_errors(store: Store) -> Iterator[None]:
    """Around one tool call: a `GatewayFault` after an allowed decision is logged as outcome `error`."""
    token = _DECIDED.set(None)
    try:
        yield
    except GatewayFault as fault:
        decision = _DECIDED.get()
        if decision is not None and decision.allowed:
            store.log_decision(
                requester_agent=decision.requester.agent_id,
                requester_session=decision.requester.session_key,
                tool=decision.tool,
                target=decision.target or decision.target_agent,
                outcome="error",
                gate=decision.gate,
                source=f"forwarding failed: {type(fault).__name__}",
                gateway=decision.target_gateway or HOME,
                requester_gateway=decision.requester.gateway,
                target_gateway=decision.target_gateway,
                side=decision.side,
                would_deny=decision.would_deny,
            )
        raise
    finally:
        _DECIDED.reset(token)
