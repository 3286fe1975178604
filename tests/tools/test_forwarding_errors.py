"""An allowed call whose forwarding then fails is in the decision log as outcome `error`, and the row
holds no message text (only the decision's fields and the fault's class name)."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest

from sidecar.mirror import Mirror, ServiceStore
from sidecar.tools import GatewayFault, SessionsService, _send
from tests.tools.test_outage import AGENTS, DownGateway, service

pytestmark = pytest.mark.anyio
SECRET = "TOP-SECRET-MESSAGE-BODY-0451"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_a_send_the_gateway_never_took_is_logged_allowed_then_error_without_its_text(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_send, "SEND_MARGIN_S", 1.0)
    monkeypatch.setattr(_send, "RECORD_RESERVE_S", 0.3)
    svc, store = service("lead", DownGateway(agents=AGENTS, down=True))
    with anyio.fail_after(10), pytest.raises(GatewayFault):
        await svc.sessions_send(session_key="agent:dev-1:main", message=SECRET, timeout_seconds=0.5)
    sends = [d for d in store.decisions if d["tool"] == "sessions_send"]
    assert [d["outcome"] for d in sends] == ["allowed", "error"]
    error = sends[-1]
    assert error["target"] == "agent:dev-1:main" and error["requester_session"] == "agent:lead:main"
    assert error["source"] == "forwarding failed: GatewayFault"
    assert SECRET not in json.dumps(store.decisions)


async def test_a_denied_call_is_not_logged_again_as_an_error() -> None:
    svc, store = service("dev-1", DownGateway(agents=AGENTS, down=True))
    with anyio.fail_after(10), pytest.raises(Exception):  # noqa: B017 -- Denied, whatever its text
        await svc.sessions_send(session_key="agent:hr:main", message=SECRET, timeout_seconds=0.5)
    assert [d["outcome"] for d in store.decisions] == ["denied"]


async def test_the_error_row_reaches_the_decision_log_on_disk_without_the_message(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(_send, "SEND_MARGIN_S", 1.0)
    monkeypatch.setattr(_send, "RECORD_RESERVE_S", 0.3)
    gw = DownGateway(agents=AGENTS, down=True)
    svc, _ = service("lead", gw)
    mirror = Mirror.open(tmp_path / "mirror.db")
    try:
        store = ServiceStore(mirror)
        for key in gw.histories:
            store.upsert({"key": key, "updatedAt": 1, "kind": "other"}, "home")
        svc = SessionsService(svc.policy, svc.requester, store, svc.gateways)
        with anyio.fail_after(10), pytest.raises(GatewayFault):
            await svc.sessions_send(session_key="agent:dev-1:main", message=SECRET, timeout_seconds=0.5)
        rows = list(reversed(mirror.decisions.recent()))
        assert [(r.tool, r.outcome) for r in rows[-2:]] == [
            ("sessions_send", "allowed"),
            ("sessions_send", "error"),
        ]
        assert rows[-1].source == "forwarding failed: GatewayFault"
        assert SECRET not in repr(rows)
    finally:
        mirror.close()
