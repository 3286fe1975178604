"""The client's table of calls in flight: answers reach their caller, a drop marks calls lost, a stop fails all."""

from __future__ import annotations

import anyio
import pytest

from sidecar.gateway import ClientClosed, ConnectionLost, GatewayError, RequestFailed, ResponseReceived
from sidecar.gateway._calls import Call, CallTable


def registered(table: CallTable, request_id: str, *, idempotent: bool = True) -> Call:
    call = Call("sessions.list", {}, idempotent)
    table.register(request_id, call)
    return call


def test_a_final_answer_reaches_its_call_and_leaves_the_table() -> None:
    table = CallTable()
    call = registered(table, "r1")
    assert not call.answered(until_accepted=False)
    table.settle(ResponseReceived("r1", {"sessions": []}))
    assert call.answered(until_accepted=False) and call.result == {"sessions": []}
    assert len(table) == 0


def test_an_acceptance_answers_only_a_caller_that_waits_for_acceptance() -> None:
    table = CallTable()
    call = registered(table, "r1")
    table.accept("r1", {"runId": "run-1", "status": "accepted"})
    assert call.answered(until_accepted=True) and not call.answered(until_accepted=False)
    assert call.first_payload() == {"runId": "run-1", "status": "accepted"}
    assert len(table) == 1  # the final answer is still to come


def test_a_failed_request_hands_its_error_to_the_caller() -> None:
    table = CallTable()
    call = registered(table, "r1")
    error = GatewayError("unknown method: sessions.nope")
    table.settle(RequestFailed("r1", error))
    assert call.error is error and len(table) == 0


def test_an_answer_for_a_call_nobody_waits_for_is_dropped() -> None:
    table = CallTable()
    call = registered(table, "r1")
    table.forget(call)
    table.settle(ResponseReceived("r1", {}))
    table.accept("r1", {})
    assert not call.answered(until_accepted=True)


def test_calls_on_a_dropped_connection_are_marked_lost_and_unsent() -> None:
    table = CallTable()
    on_wire, other = registered(table, "r1"), registered(table, "r2")
    lost = ConnectionLost("connection lost", "retry")
    table.lose(["r1"], lost)
    assert on_wire.lost is lost and on_wire.request_id is None
    assert other.lost is None and len(table) == 1


def test_a_stopped_client_fails_every_waiting_call() -> None:
    table = CallTable()
    calls = [registered(table, f"r{i}") for i in range(3)]
    closed = ClientClosed()
    table.fail_all(closed)
    assert all(call.error is closed for call in calls) and len(table) == 0


@pytest.mark.anyio
async def test_a_waiting_caller_wakes_when_its_call_changes() -> None:
    table = CallTable()
    call = registered(table, "r1")
    async with anyio.create_task_group() as tg:
        tg.start_soon(call.changed)
        await anyio.sleep(0)
        table.settle(ResponseReceived("r1", "ok"))
    assert call.result == "ok"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
