"""The send pipeline (`_send.py`): decide, trace, rate, outbox, dispatch, wait; and resume after a restart."""

from __future__ import annotations

import anyio
import pytest

from sidecar.tools import BadCall, Denied
from tests.fakes import FakeGateway, reply_text
from tests.tools.support import AGENTS, service

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def agent_calls(gw: FakeGateway) -> list[dict[str, object]]:
    return [params for method, params in gw.calls if method == "agent"]


async def test_a_denied_send_never_reaches_the_gateway() -> None:
    gw = FakeGateway(agents=AGENTS)
    svc, store = service("dev-1", gw)
    with pytest.raises(Denied):
        await svc.sessions_send(session_key="agent:hr:main", message="payroll?")
    assert agent_calls(gw) == [] and store.outbox == {}
    assert store.decisions[-1]["outcome"] == "denied"


async def test_an_allowed_send_is_delivered_once_and_returns_the_targets_reply() -> None:
    gw = FakeGateway(agents=AGENTS)
    svc, store = service("lead", gw)
    result = await svc.sessions_send(session_key="agent:dev-1:main", message="status?")
    assert result["status"] == "ok" and reply_text(result) == "echo: status?"
    assert result["delivery"] == {"status": "delivered", "mode": "direct"}
    [sent] = agent_calls(gw)
    assert sent["deliver"] is False and sent["inputProvenance"]["sourceTool"] == "sessions_send"  # type: ignore[index]
    [entry] = store.outbox.values()
    assert entry["status"] == "delivered" and entry["body"] is None


async def test_the_same_message_sent_twice_in_one_turn_is_not_sent_again() -> None:
    gw = FakeGateway(agents=AGENTS)
    svc, _ = service("lead", gw)
    first = await svc.sessions_send(session_key="agent:dev-1:main", message="status?", timeout_seconds=0)
    again = await svc.sessions_send(session_key="agent:dev-1:main", message="status?", timeout_seconds=0)
    assert first["status"] == "accepted" and again["status"] == "duplicate"
    assert again["runId"] == first["runId"] and len(agent_calls(gw)) == 1


async def test_a_send_to_the_calling_session_itself_is_refused_at_the_self_target_gate() -> None:
    gw = FakeGateway(agents=AGENTS)
    svc, _ = service("lead", gw)
    with pytest.raises(Denied, match="cannot target the calling session") as info:
        await svc.sessions_send(session_key="agent:lead:main", message="me?")
    assert info.value.decision.gate == "self-target"
    assert agent_calls(gw) == []


@pytest.mark.parametrize(
    ("arguments", "problem"),
    [
        ({"session_key": "agent:dev-1:main", "label": "x"}, "not both"),
        ({}, "sessionKey or label is required"),
        ({"session_key": "agent:dev-1:main", "message": "  "}, "must not be empty"),
    ],
)
async def test_a_malformed_send_is_refused_before_anything_is_decided(
    arguments: dict[str, str], problem: str
) -> None:
    gw = FakeGateway(agents=AGENTS)
    svc, store = service("lead", gw)
    with pytest.raises(BadCall, match=problem):
        await svc.sessions_send(**{"message": "hi", **arguments})
    assert store.decisions == [] and gw.calls == []


async def test_a_run_that_failed_before_delivery_is_sent_again_under_a_derived_key() -> None:
    gw = FakeGateway(agents=AGENTS, lose_next_runs=1)
    svc, store = service("lead", gw)
    result = await svc.sessions_send(session_key="agent:dev-1:main", message="again?")
    first, second = agent_calls(gw)
    assert second["idempotencyKey"] == f"{first['idempotencyKey']}-r1"
    assert result["status"] == "ok"
    [entry] = store.outbox.values()
    assert entry["status"] == "delivered"


async def test_a_pending_send_left_by_a_previous_run_is_resumed_once() -> None:
    gw = FakeGateway(agents=AGENTS)
    svc, store = service("lead", gw)
    store.outbox_begin(
        "k-left",
        requester="agent:lead:main",
        target="agent:dev-1:main",
        gateway="home",
        body="left behind",
        hop=1,
        trace_id="t-1",
        created_at=svc.clock(),
    )
    assert await svc.resume_pending() == 1
    assert store.outbox["k-left"]["status"] == "delivered"
    assert [c["idempotencyKey"] for c in agent_calls(gw)] == ["k-left"]
    assert await svc.resume_pending() == 0


async def test_a_pending_send_older_than_the_dedupe_window_is_failed_not_delivered_late() -> None:
    gw = FakeGateway(agents=AGENTS)
    svc, store = service("lead", gw)
    store.outbox_begin(
        "k-old",
        requester="agent:lead:main",
        target="agent:dev-1:main",
        gateway="home",
        body="stale",
        hop=1,
        trace_id="t",
        created_at=0.0,
    )
    assert await svc.resume_pending() == 0
    assert store.outbox["k-old"]["status"] == "failed" and agent_calls(gw) == []


async def test_a_send_that_would_exceed_the_hop_limit_is_refused_as_a_loop() -> None:
    gw = FakeGateway(agents=AGENTS)
    svc, _ = service("lead", gw)
    limit = svc.policy.for_agent("lead").max_hops.value
    trailer = f"[sidecar-trace id=0123abcd hop={limit} from=manager]"
    # As the gateway records a message another agent's sidecar sent (inter-session provenance).
    provenance = {
        "kind": "inter_session",
        "sourceSessionKey": "agent:manager:main",
        "sourceTool": "sessions_send",
    }
    gw.histories["agent:lead:main"] = [
        {"role": "user", "content": f"do it\n\n{trailer}", "provenance": provenance}
    ]
    with anyio.fail_after(5), pytest.raises(Denied, match="Loop guard") as info:
        await svc.sessions_send(session_key="agent:dev-1:main", message="forward")
    assert info.value.decision.gate == "hop-limit"
    assert agent_calls(gw) == []
