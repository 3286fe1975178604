"""A gateway that does not answer: a send ends within its budget and is in the outbox; a spawn leaves no row;
the list says the mirror is not fresh. Unit level, over a fake that behaves like a client whose connection
is down (the real gateway version is tests/e2e/test_gateway_outage.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import anyio
import pytest

from sidecar.gateway import ConnectionLost
from sidecar.tools import GatewayFault, _send
from tests.fakes import FakeGateway
from tests.tools.support import AGENTS, service

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class DownGateway(FakeGateway):
    """Answers like a GatewayClient whose connection dropped: every request waits, then is not sent."""

    connected: bool = True
    down: bool = False
    waited: list[float] = field(default_factory=list)

    async def request(
        self, method: str, params: Any = None, *, timeout: float | None = None, idempotent: bool = False
    ) -> Any:
        if self.down:
            await self._unanswered(timeout)
        return await super().request(method, params, timeout=timeout, idempotent=idempotent)

    async def agent(self, params: Any, *, timeout: float | None = None, resend: bool = True) -> Any:
        if self.down:
            await self._unanswered(timeout)
        return await super().agent(params, timeout=timeout, resend=resend)

    async def _unanswered(self, timeout: float | None) -> None:
        limit = 10.0 if timeout is None else timeout
        self.waited.append(limit)
        await anyio.sleep(limit)
        raise ConnectionLost("request was not sent: the gateway connection is down", "check the gateway")


async def test_a_send_to_a_gateway_that_does_not_answer_fails_within_its_budget_and_is_in_the_outbox(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_send, "SEND_MARGIN_S", 1.0)
    monkeypatch.setattr(_send, "RECORD_RESERVE_S", 0.3)
    gw = DownGateway(agents=AGENTS, down=True)
    svc, store = service("lead", gw)
    started = anyio.current_time()
    with anyio.fail_after(10), pytest.raises(GatewayFault) as caught:
        await svc.sessions_send(session_key="agent:dev-1:main", message="hello?", timeout_seconds=0.5)
    assert anyio.current_time() - started <= 0.5 + 1.0 + 0.3
    assert "not sent" in str(caught.value) and "outbox" in str(caught.value)
    [entry] = store.outbox.values()
    assert entry["status"] == "failed" and entry["target"] == "agent:dev-1:main"
    assert not [c for c in gw.calls if c[0] == "agent"]


async def test_a_send_accepted_before_the_gateway_went_away_stays_pending_with_a_clear_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_send, "SEND_MARGIN_S", 1.0)
    gw = DownGateway(agents=AGENTS)
    svc, store = service("lead", gw)
    real_agent = gw.agent

    async def accepted_then_gone(params: Any, *, timeout: float | None = None, resend: bool = True) -> Any:
        result = await real_agent(params, timeout=timeout, resend=resend)
        gw.down = True
        return result

    gw.agent = accepted_then_gone  # type: ignore[method-assign]
    with anyio.fail_after(10), pytest.raises(GatewayFault) as caught:
        await svc.sessions_send(session_key="agent:dev-1:main", message="hello?", timeout_seconds=0.5)
    [entry] = store.outbox.values()
    assert entry["status"] == "pending"
    assert "did not confirm delivery" in str(caught.value) and "Do not send it again" in str(caught.value)


async def test_a_spawn_the_gateway_never_confirmed_leaves_no_row() -> None:
    gw = DownGateway(agents=AGENTS, fail_next=[ConnectionLost("connection lost", "retry")])
    svc, store = service("manager", gw)
    before = set(store.sessions)
    with anyio.fail_after(10), pytest.raises(ConnectionLost):
        await svc.sessions_spawn(task="write a test", agent_id="manager")
    assert set(store.sessions) == before
    assert not [k for k in store.parents if ":subagent:" in k]


async def test_a_spawn_the_gateway_confirmed_is_visible_at_once() -> None:
    gw = DownGateway(agents=AGENTS)
    svc, store = service("manager", gw)
    with anyio.fail_after(10):
        out = await svc.sessions_spawn(task="write a test", agent_id="manager")
    assert store.parents[out["childSessionKey"]] == "agent:manager:main"


async def test_the_list_says_the_mirror_is_not_fresh_the_moment_the_connection_is_down() -> None:
    gw = DownGateway(agents=AGENTS)
    svc, _ = service("manager", gw)
    assert (await svc.sessions_list())["mirror"]["fresh"] is True
    gw.connected = False
    listed = await svc.sessions_list()
    assert listed["mirror"]["fresh"] is False
    assert "down" in listed["mirror"]["note"]
    assert listed["count"] > 0
