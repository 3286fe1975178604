"""The harness's operator RPC against a scripted WebSocket server (no gateway needed)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from harness import Gateway, GatewayError, Toolchain
from harness.gateway import GatewayRpc
from websockets.exceptions import ConnectionClosed
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


class Alive:
    def __init__(self, alive: bool) -> None:
        self._alive = alive

    def alive(self) -> bool:
        return self._alive


def busy_gateway(tmp_path: Path, timeouts: int, alive: bool = True) -> tuple[Gateway, list[str], Server]:
    """A Gateway whose first `timeouts` connections are closed before the challenge (handshake timeout)."""
    opened: list[str] = []

    def handler(ws: ServerConnection) -> None:
        opened.append("open")
        if len(opened) <= timeouts:
            ws.close(1000)
            return
        scripted({}, [])(ws)

    server: Server = serve(handler, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    tools = Toolchain(bin_dir=tmp_path, node=tmp_path, npm=tmp_path, openclaw=tmp_path, install_dir=tmp_path)
    gw = Gateway(
        root=tmp_path,
        name="busy",
        agents=["main"],
        port=server.socket.getsockname()[1],
        token="t",
        tools=tools,
    )
    gw.gateway_proc = Alive(alive)  # type: ignore[assignment]
    return gw, opened, server


def test_a_connection_the_busy_gateway_closed_before_connect_is_opened_again(tmp_path: Path) -> None:
    gw, opened, server = busy_gateway(tmp_path, timeouts=2)
    try:
        with gw.rpc(timeout=10) as rpc:
            assert rpc.hello == {"protocol": 3}
    finally:
        server.shutdown()
    assert len(opened) == 3


def test_a_closed_handshake_is_not_retried_once_the_gateway_process_is_gone(tmp_path: Path) -> None:
    gw, opened, server = busy_gateway(tmp_path, timeouts=5, alive=False)
    try:
        with pytest.raises(ConnectionClosed):
            gw.rpc(timeout=10)
    finally:
        server.shutdown()
    assert len(opened) == 1
