"""Sends through a peer host's sidecar (`_peer_send.py`): handed over under one key, queued while it is down."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from sidecar.policy import Requester
from sidecar.tools import Denied, GatewayFault
from sidecar.tools._context import remote_decision
from sidecar.tools._delivery import SEND_ATTEMPTS
from sidecar.tools._guard import Trace
from sidecar.tools._peer_send import PeerSends
from tests.fakes import FakeGateway, reply_text
from tests.tools.support import AGENTS, service

pytestmark = pytest.mark.anyio
BASE = {"runId": "k-1", "sessionKey": "agent:ops:main", "gateway": "lab"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def peer_sends(answers: list[Any]) -> tuple[PeerSends, Any, list[dict[str, Any]]]:
    """PeerSends whose peer answers each call with the next of `answers` (an exception is raised)."""
    svc, store = service("lead", FakeGateway(agents=AGENTS))
    calls: list[dict[str, Any]] = []

    async def call_peer(name: str, tool: str, args: dict[str, Any], timeout: float = 60.0) -> dict[str, Any]:
        calls.append(args)
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return dict(answer)

    svc.ctx.call_peer = call_peer  # type: ignore[method-assign]
    svc.ctx.via_sidecar = lambda gateway: gateway == "lab"  # type: ignore[method-assign]
    store.outbox_begin(
        "k-1",
        requester="agent:lead:main",
        target="agent:ops:main",
        gateway="lab",
        body="hi",
        hop=1,
        trace_id="t",
        created_at=0,
    )
    return PeerSends(svc.ctx), store, calls


async def test_a_peer_send_is_handed_over_under_the_sends_own_key_and_recorded_delivered() -> None:
    sends, store, calls = peer_sends([{"runId": "r-9", "status": "ok", "reply": "done"}])
    result = await sends.send("lab", "agent:ops:main", "k-1", "hi", 30.0, Trace.start("s"), BASE)
    assert calls[0]["idempotencyKey"] == "k-1" and "[sidecar-trace" in calls[0]["message"]
    assert result["status"] == "ok" and reply_text(result) == "done"
    assert store.outbox["k-1"]["status"] == "delivered" and not sends.in_flight


async def test_a_refusal_by_the_peer_fails_the_send_and_is_raised() -> None:
    refusal = remote_decision(
        Requester.of("lead"), "lab", {"gate": "receives-from", "message": "not from lead"}
    )
    sends, store, _ = peer_sends([Denied(refusal)])
    with pytest.raises(Denied):
        await sends.send("lab", "agent:ops:main", "k-1", "hi", 30.0, Trace.start("s"), BASE)
    assert store.outbox["k-1"]["status"] == "failed"


async def test_while_the_peer_is_down_the_send_is_queued_and_resumed_later(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def no_sleep(seconds: float) -> None:
        return None

    monkeypatch.setattr(anyio, "sleep", no_sleep)  # the hand-over backs off between attempts
    down = [GatewayFault("unreachable")] * SEND_ATTEMPTS
    sends, store, calls = peer_sends([*down, {"runId": "r-2"}])
    result = await sends.send("lab", "agent:ops:main", "k-1", "hi", 30.0, Trace.start("s"), BASE)
    assert result["status"] == "queued" and store.outbox["k-1"]["status"] == "pending"
    assert await sends.resume(older_than=0) == 1
    assert store.outbox["k-1"]["status"] == "delivered" and calls[-1]["timeoutSeconds"] == 0
