"""Getting a send in once (`_delivery.py`): the transcript check, the reply, retries within the budget, giving up."""

from __future__ import annotations

import math

import anyio
import pytest

from sidecar.gateway import ConnectionLost
from sidecar.tools import GatewayFault
from sidecar.tools._delivery import Budget, already_delivered, reply_of
from sidecar.tools._guard import Trace, stamp
from tests.fakes import FakeGateway
from tests.tools.support import AGENTS, service

pytestmark = pytest.mark.anyio
TARGET = "agent:dev-1:main"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_a_message_is_found_delivered_by_its_idempotency_key_or_by_its_run_id() -> None:
    gw = FakeGateway(agents=AGENTS)
    gw.histories[TARGET] = [
        {"role": "user", "content": "x", "idempotencyKey": "k-1-r1:user"},
        {"role": "assistant", "content": "y", "__openclaw": {"runId": "k-2"}},
    ]
    assert await already_delivered(gw, TARGET, "k-1")
    assert await already_delivered(gw, TARGET, "k-2")
    assert not await already_delivered(gw, TARGET, "k-3")


async def test_without_keys_in_the_transcript_the_stamped_text_proves_delivery() -> None:
    gw = FakeGateway(agents=AGENTS)
    stamped = stamp("status?", Trace.start("seed"), "lead")
    gw.histories[TARGET] = [{"role": "user", "content": [{"type": "text", "text": stamped}]}]
    assert await already_delivered(gw, TARGET, "k-unrecorded", stamped)
    other = stamp("something else", Trace.start("seed"), "lead")
    assert not await already_delivered(gw, TARGET, "k-unrecorded", other)


def test_only_a_visible_terminal_reply_is_taken_as_the_reply() -> None:
    assert reply_of({"terminalReply": {"disposition": "visible", "text": "done"}}) == "done"
    assert reply_of({"terminalReply": {"disposition": "hidden", "text": "secret plan"}}) is None
    assert reply_of({"status": "ok"}) is None and reply_of(None) is None


async def test_a_dropped_connection_is_ridden_out_and_the_request_answered() -> None:
    gw = FakeGateway(agents=AGENTS, fail_next=[ConnectionLost("connection lost", "retry")])
    svc, _ = service("lead", gw)

    async def history(client: FakeGateway) -> object:
        return await client.request("chat.history", {"sessionKey": TARGET}, idempotent=True)

    with anyio.fail_after(10):
        answer = await svc.sends.delivery.retrying("reading", history, "home", Budget(math.inf, 1.0))
    assert answer == {"sessionKey": TARGET, "messages": []}


async def test_a_spent_budget_gives_up_with_a_fault_naming_the_remedy() -> None:
    gw = FakeGateway(agents=AGENTS)
    svc, _ = service("lead", gw)
    spent = Budget(anyio.current_time() - 1, 1.0)

    async def never(client: FakeGateway) -> None:
        raise AssertionError("no attempt is made once the budget is spent")

    with pytest.raises(GatewayFault, match="sidecar doctor --agent lead"):
        await svc.sends.delivery.retrying("reading", never, "home", spent)


def test_a_send_that_never_left_is_failed_in_the_outbox_and_one_that_was_accepted_stays_pending() -> None:
    svc, store = service("lead", FakeGateway(agents=AGENTS))
    for key, accepted in (("k-never", False), ("k-accepted", True)):
        store.outbox_begin(key, target=TARGET, gateway="home", body="hi", hop=1, trace_id="t", created_at=0.0)
        budget = Budget(0.0, 30.0, 5.0, idem=key, accepted=accepted)
        fault = svc.sends.delivery.gave_up(budget, "home", TARGET, None)
        assert "timeoutSeconds 30 + 5 s" in str(fault)
    assert store.outbox["k-never"]["status"] == "failed"
    assert store.outbox["k-accepted"]["status"] == "pending"
