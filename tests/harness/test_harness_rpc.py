"""The harness's operator RPC against a scripted WebSocket server (no gateway needed)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from harness import GatewayError
from harness.gateway import GatewayRpc
from websockets.sync.server import Server, ServerConnection, serve


def scripted(answers: dict[str, list[dict[str, Any]]], asked: list[str]) -> Any:
    """A handler: challenge, ok connect, then each method's answers in order (the last one repeats)."""

    def handler(ws: ServerConnection) -> None:
        ws.send(
            json.dumps({"type": "event", "event": "connect.challenge", "payload": {"nonce": "n", "ts": 1}})
        )
        for raw in ws:
            req = json.loads(raw)
            asked.append(req["method"])
            if req["method"] == "connect":
                res: dict[str, Any] = {"ok": True, "payload": {"protocol": 3}}
            else:
                queue = answers[req["method"]]
                res = queue.pop(0) if len(queue) > 1 else queue[0]
            ws.send(json.dumps({"type": "res", "id": req["id"], **res}))

    return handler


@pytest.fixture
def gateway() -> Iterator[tuple[dict[str, list[dict[str, Any]]], list[str], str]]:
    answers: dict[str, list[dict[str, Any]]] = {}
    asked: list[str] = []
    server: Server = serve(scripted(answers, asked), "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield answers, asked, f"ws://127.0.0.1:{server.socket.getsockname()[1]}"
    finally:
        server.shutdown()
        thread.join(5)


STARTING = {
    "ok": False,
    "error": {
        "code": "UNAVAILABLE",
        "message": "chat.history unavailable during gateway startup",
        "retryable": True,
        "retryAfterMs": 20,
    },
}


def test_a_read_refused_during_gateway_startup_is_asked_again_until_served(gateway: Any) -> None:
    answers, asked, url = gateway
    answers["chat.history"] = [STARTING, STARTING, {"ok": True, "payload": {"messages": [{"role": "user"}]}}]
    with GatewayRpc(url, "t") as rpc:
        payload = rpc.request("chat.history", {"sessionKey": "agent:main:main"})
    assert payload == {"messages": [{"role": "user"}]}
    assert asked == ["connect", "chat.history", "chat.history", "chat.history"]


def test_a_refusal_that_is_not_retryable_fails_at_once(gateway: Any) -> None:
    answers, asked, url = gateway
    answers["sessions.list"] = [{"ok": False, "error": {"code": "INVALID_REQUEST", "message": "bad offset"}}]
    with GatewayRpc(url, "t") as rpc, pytest.raises(GatewayError, match="bad offset"):
        rpc.request("sessions.list", {"offset": 5})
    assert asked == ["connect", "sessions.list"]


def test_a_gateway_that_stays_unavailable_fails_within_the_timeout(gateway: Any) -> None:
    answers, asked, url = gateway
    answers["chat.history"] = [STARTING]
    with GatewayRpc(url, "t") as rpc, pytest.raises(GatewayError, match="during gateway startup"):
        rpc.request("chat.history", {"sessionKey": "agent:main:main"}, timeout=0.5)
    assert 3 <= asked.count("chat.history") <= 30
