from __future__ import annotations

import datetime
import gc
import socket
import ssl
import tempfile
from pathlib import Path
from typing import Any

import anyio
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from websockets.asyncio.server import serve
from websockets.datastructures import Headers
from websockets.http11 import Response

from sidecar.gateway import (
    ALL_SCOPES,
    Backoff,
    ClientClosed,
    ConnectionLost,
    ConnectionRefused,
    DeviceIdentity,
    DeviceTokenMismatch,
    GatewayClient,
    HandshakeTimeout,
    HostNotFound,
    InsecureGatewayURL,
    InvalidRequest,
    PairingRequired,
    PayloadTooLarge,
    ProtocolMismatch,
    RequestInterrupted,
    RequestTimeout,
    ServiceRestart,
    SharedTokenMismatch,
    TickTimeout,
    TLSFailure,
    TokenStore,
    UpgradeRejected,
)
from sidecar.secrets import KeyringSecretStore

from .fake_gateway import FakeGateway, Rejection, Session, device_token_rejection, pairing_rejection
from .memory_keyring import MemoryKeyring

pytestmark = pytest.mark.anyio

FAST = Backoff(initial=0.01, cap=0.05)


def store() -> TokenStore:
    return TokenStore(KeyringSecretStore())


async def new_client(
    gw: FakeGateway, *, agent: str = "dev-1", tokens: TokenStore | None = None, **kwargs: Any
) -> GatewayClient:
    tokens = tokens or store()
    identity = await tokens.identity(gw.url, agent)
    kwargs.setdefault("backoff", FAST)
    return GatewayClient(gw.url, identity, tokens, agent, **kwargs)


async def test_connect_sends_a_signed_v4_connect_and_exposes_hello() -> None:
    async with FakeGateway() as gw, await new_client(gw, shared_token="shared-1") as client:
        assert client.hello is not None
        assert client.hello.session_defaults is not None
        assert client.hello.session_defaults.main_session_key == "agent:main:main"
        params = gw.connects[0]
        assert (params["minProtocol"], params["maxProtocol"]) == (3, 4)
        assert params["client"]["id"] == "gateway-client"
        assert params["client"]["mode"] == "cli"
        assert params["scopes"] == list(ALL_SCOPES)
        assert params["auth"] == {"token": "shared-1"}


async def test_the_issued_device_token_is_stored_and_used_on_the_next_connect(
    memory_keyring: MemoryKeyring,
) -> None:
    tokens = store()
    async with FakeGateway(issue_token="issued-token-A") as gw:
        async with await new_client(gw, tokens=tokens, shared_token="shared-1"):
            pass
        [entry] = memory_keyring.entries.values()
        assert "issued-token-A" in entry
        async with await new_client(gw, tokens=tokens):
            pass
        assert gw.connects[1]["auth"] == {"deviceToken": "issued-token-A"}
        assert gw.connects[1]["device"]["id"] == gw.connects[0]["device"]["id"]


async def test_each_agent_gets_its_own_device_identity(memory_keyring: MemoryKeyring) -> None:
    tokens = store()
    async with FakeGateway() as gw:
        a = await tokens.identity(gw.url, "dev-1")
        b = await tokens.identity(gw.url, "dev-2")
        assert a.device_id != b.device_id
        assert (await tokens.identity(gw.url + "/", "dev-1")).device_id == a.device_id
        assert len(memory_keyring.entries) == 2
        assert {service for service, _ in memory_keyring.entries} == {"openclaw-sessions-sidecar"}


async def test_a_hello_larger_than_the_websockets_default_limit_is_accepted() -> None:
    async with FakeGateway(hello_padding=3 * 1024 * 1024) as gw, await new_client(gw) as client:
        assert client.hello is not None


async def test_after_hello_incoming_frames_are_limited_to_max_payload() -> None:
    async def big_reply(session: Session, request: dict[str, Any]) -> None:
        await session.reply(request["id"], {"blob": "x" * 5000})

    async with FakeGateway(max_payload=4096, on_request=big_reply) as gw, await new_client(gw) as client:
        with anyio.fail_after(5), pytest.raises(RequestInterrupted) as info:
            await client.request("chat.history", {"sessionKey": "agent:main:main"})
        assert isinstance(info.value.cause, PayloadTooLarge)


async def test_an_outgoing_request_over_max_payload_fails_before_it_is_sent() -> None:
    async with FakeGateway(max_payload=4096) as gw, await new_client(gw) as client:
        with pytest.raises(PayloadTooLarge, match="at most 4096"):
            await client.request("chat.send", {"message": "x" * 5000})
        assert gw.requests == []


async def test_a_request_returns_its_payload_and_failures_are_typed() -> None:
    async def handler(session: Session, request: dict[str, Any]) -> None:
        if request["method"] == "nope":
            await session.reply(
                request["id"], ok=False, error={"code": "INVALID_REQUEST", "message": "unknown method: nope"}
            )
        else:
            await session.reply(request["id"], {"sessions": []})

    async with FakeGateway(on_request=handler) as gw, await new_client(gw) as client:
        assert await client.request("sessions.list", {"limit": 2}) == {"sessions": []}
        with pytest.raises(InvalidRequest, match="unknown method: nope"):
            await client.request("nope")


async def test_a_request_without_an_answer_times_out_with_the_per_call_limit() -> None:
    async def silent(session: Session, request: dict[str, Any]) -> None:
        return None

    async with FakeGateway(on_request=silent) as gw, await new_client(gw) as client:
        assert client.request_timeout == 10.0
        with anyio.fail_after(5), pytest.raises(RequestTimeout, match=r"within 0\.1 s"):
            await client.request("health", timeout=0.1)


async def test_silence_for_two_tick_intervals_is_a_dead_connection_and_triggers_a_reconnect() -> None:
    async def silent(session: Session, request: dict[str, Any]) -> None:
        return None

    async with FakeGateway(tick_ms=100, on_request=silent) as gw, await new_client(gw) as client:
        with anyio.fail_after(5), pytest.raises(RequestInterrupted) as info:
            await client.request("status")
        assert isinstance(info.value.cause, TickTimeout)
        with anyio.fail_after(5):
            await gw.wait_for_sessions(2)


async def test_a_gateway_restart_reconnects_and_the_next_call_succeeds() -> None:
    async with FakeGateway() as gw, await new_client(gw) as client:
        first_epoch = client.epoch
        await gw.current.ws.close(1012, "service restart")
        with anyio.fail_after(5):
            result = await client.request("health")
        assert result["connection"] == 2
        assert client.epoch == first_epoch + 1


async def test_a_call_in_flight_during_a_drop_fails_unless_it_is_idempotent() -> None:
    async def drop_first(session: Session, request: dict[str, Any]) -> None:
        if session.number == 1:
            await session.ws.close(1012, "service restart")
        else:
            await session.reply(request["id"], {"connection": session.number})

    async with FakeGateway(on_request=drop_first) as gw, await new_client(gw) as client:
        with anyio.fail_after(5), pytest.raises(RequestInterrupted) as info:
            await client.request("sessions.patch", {"key": "k"})
        assert isinstance(info.value.cause, ServiceRestart)
        assert "may or may not have applied" in str(info.value)

    async with FakeGateway(on_request=drop_first) as gw, await new_client(gw) as client:
        with anyio.fail_after(5):
            assert await client.request("sessions.list", idempotent=True) == {"connection": 2}
        assert [r["method"] for r in gw.requests] == ["sessions.list", "sessions.list"]


async def test_agent_returns_on_accept_and_agent_final_waits_for_the_second_answer() -> None:
    async def agent(session: Session, request: dict[str, Any]) -> None:
        key = request["params"]["idempotencyKey"]
        await session.reply(request["id"], {"runId": key, "status": "accepted", "acceptedAt": 1})
        await session.event("agent", {"runId": key, "stream": "lifecycle"}, seq=1)
        await session.reply(request["id"], {"runId": key, "status": "ok", "summary": "completed"})

    async with FakeGateway(on_request=agent) as gw, await new_client(gw) as client:
        with anyio.fail_after(5):
            accepted = await client.agent({"message": "hi", "sessionKey": "agent:dev-1:main"})
            final = await client.agent_final(accepted)
        assert accepted.payload["status"] == "accepted"
        assert accepted.run_id == accepted.idempotency_key == gw.requests[0]["params"]["idempotencyKey"]
        assert final == {"runId": accepted.run_id, "status": "ok", "summary": "completed"}


async def test_agent_is_retried_across_a_drop_with_the_same_idempotency_key() -> None:
    async def agent(session: Session, request: dict[str, Any]) -> None:
        if session.number == 1:
            await session.ws.close(1012, "service restart")
            return
        key = request["params"]["idempotencyKey"]
        await session.reply(request["id"], {"runId": key, "status": "accepted"})
        await session.reply(request["id"], {"runId": key, "status": "ok"})

    async with FakeGateway(on_request=agent) as gw, await new_client(gw) as client:
        with anyio.fail_after(5):
            accepted = await client.agent({"message": "hi", "idempotencyKey": "key-1"})
            assert (await client.agent_final(accepted))["status"] == "ok"
        assert [r["params"]["idempotencyKey"] for r in gw.requests] == ["key-1", "key-1"]


async def test_events_stream_name_payload_seq_and_connection_epoch() -> None:
    seen: list[str] = []
    async with FakeGateway() as gw, await new_client(gw, on_event=lambda e: seen.append(e.event)) as client:
        stream = client.events()
        await gw.current.event("tick", {"ts": 1}, seq=5)
        await gw.current.event("session.message", {"sessionKey": "agent:main:main"})
        with anyio.fail_after(5):
            first = await stream.__anext__()
            second = await stream.__anext__()
        assert (first.event, first.payload, first.seq, first.epoch) == ("tick", {"ts": 1}, 5, 1)
        assert (second.event, second.seq) == ("session.message", None)
        assert seen == ["tick", "session.message"]
        await gw.current.ws.close(1012, "restart")
        with anyio.fail_after(5):
            await gw.wait_for_sessions(2)
            await client.request("health")
        await gw.current.event("tick", {"ts": 2}, seq=1)
        with anyio.fail_after(5):
            third = await stream.__anext__()
        assert (third.seq, third.epoch) == (1, 2)
    with anyio.fail_after(5):
        assert [event async for event in stream] == []


async def test_a_shutdown_event_with_a_restart_hint_is_followed_by_a_reconnect() -> None:
    async with FakeGateway() as gw, await new_client(gw) as client:
        await gw.current.event("shutdown", {"reason": "config change", "restartExpectedMs": 10})
        await gw.current.ws.close(1012, "service restart")
        with anyio.fail_after(5):
            assert (await client.request("health"))["connection"] == 2


async def test_pairing_required_raises_with_the_request_id_and_approve_command() -> None:
    async with FakeGateway(on_connect=lambda p: pairing_rejection("abc-123")) as gw:
        client = await new_client(gw)
        with pytest.raises(PairingRequired) as info:
            await client.connect()
        assert info.value.request_id == "abc-123"
        assert "openclaw devices approve abc-123" in str(info.value)


async def test_a_close_without_a_response_still_yields_the_pairing_request_id() -> None:
    reject = Rejection(None, 1008, "pairing required: scope upgrade pending (requestId: r-9)")
    async with FakeGateway(on_connect=lambda p: reject) as gw:
        with pytest.raises(PairingRequired) as info:
            await (await new_client(gw)).connect()
        assert info.value.request_id == "r-9"


@pytest.mark.parametrize(
    ("rejection", "expected"),
    [
        (
            Rejection(
                {
                    "code": "INVALID_REQUEST",
                    "message": "unauthorized: gateway token mismatch (x)",
                    "details": {"code": "AUTH_TOKEN_MISMATCH"},
                },
                1008,
                "unauthorized: gateway token mismatch",
            ),
            SharedTokenMismatch,
        ),
        (
            Rejection(
                {
                    "code": "INVALID_REQUEST",
                    "message": "protocol mismatch",
                    "details": {"code": "PROTOCOL_MISMATCH", "expectedProtocol": 5},
                },
                1002,
                "protocol mismatch",
            ),
            ProtocolMismatch,
        ),
        (Rejection(None, 1002, "protocol mismatch"), ProtocolMismatch),
    ],
)
async def test_a_rejected_handshake_raises_its_typed_error(
    rejection: Rejection, expected: type[Exception]
) -> None:
    async with FakeGateway(on_connect=lambda p: rejection) as gw:
        with pytest.raises(expected):
            await (await new_client(gw)).connect()


async def test_a_device_token_mismatch_drops_the_stored_token_and_says_how_to_re_pair(
    memory_keyring: MemoryKeyring,
) -> None:
    tokens = store()
    async with FakeGateway(issue_token="soon-revoked") as gw:
        async with await new_client(gw, tokens=tokens, shared_token="s"):
            pass
        gw.on_connect = lambda p: device_token_rejection() if "deviceToken" in (p.get("auth") or {}) else None
        with pytest.raises(DeviceTokenMismatch, match="sidecar pair --gateway"):
            await (await new_client(gw, tokens=tokens)).connect()
        [entry] = memory_keyring.entries.values()
        assert "soon-revoked" not in entry
        gw.issue_token = "fresh"
        async with await new_client(gw, tokens=tokens, shared_token="s"):
            pass
        assert "fresh" in next(iter(memory_keyring.entries.values()))


async def test_a_revoked_token_on_reconnect_fails_every_later_call_with_the_remediation() -> None:
    tokens = store()
    async with FakeGateway(issue_token="t1") as gw, await new_client(gw, tokens=tokens) as client:
        gw.on_connect = lambda p: device_token_rejection()
        await gw.current.ws.close(1012, "restart")
        with anyio.fail_after(5), pytest.raises(DeviceTokenMismatch):
            await client.request("health")
        assert isinstance(client.failure, DeviceTokenMismatch)
        with pytest.raises(DeviceTokenMismatch):
            await client.request("health")
        with anyio.fail_after(5), pytest.raises(DeviceTokenMismatch):
            await client.events().__anext__()


async def test_closing_the_client_fails_pending_calls_and_ends_event_streams() -> None:
    arrived = anyio.Event()

    async def silent(session: Session, request: dict[str, Any]) -> None:
        arrived.set()

    async with FakeGateway(on_request=silent) as gw:
        client = await new_client(gw)
        await client.connect()
        stream = client.events()
        failures: list[BaseException] = []

        async def call() -> None:
            try:
                await client.request("status")
            except ClientClosed as exc:
                failures.append(exc)

        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                tg.start_soon(call)
                await arrived.wait()
                await client.close()
            assert [event async for event in stream] == []
        assert len(failures) == 1
        with pytest.raises(ClientClosed):
            await client.request("health")


def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def connect_to(url: str, **kwargs: Any) -> None:
    tokens = store()
    identity = DeviceIdentity.generate()
    await GatewayClient(url, identity, tokens, "dev-1", **kwargs).connect()


async def test_a_closed_port_is_connection_refused() -> None:
    with pytest.raises(ConnectionRefused, match="Start the gateway"):
        await connect_to(f"ws://127.0.0.1:{unused_port()}")


async def test_an_unresolvable_host_is_host_not_found() -> None:
    with anyio.fail_after(20), pytest.raises(HostNotFound):
        await connect_to("wss://gateway.invalid:18789")


async def test_wss_to_a_plain_websocket_server_is_a_tls_failure() -> None:
    async with FakeGateway() as gw:
        with anyio.fail_after(10), pytest.raises(TLSFailure):
            await connect_to(gw.url.replace("ws://", "wss://"))


async def test_an_http_server_that_refuses_the_upgrade_is_named() -> None:
    def not_found(connection: Any, request: Any) -> Response:
        return Response(404, "Not Found", Headers(), b"nope")

    async with serve(lambda ws: ws.wait_closed(), "127.0.0.1", 0, process_request=not_found) as server:
        port = server.sockets[0].getsockname()[1]
        with pytest.raises(UpgradeRejected, match="HTTP 404"):
            await connect_to(f"ws://127.0.0.1:{port}")


async def test_a_server_that_never_sends_the_challenge_is_a_handshake_timeout() -> None:
    async with FakeGateway(send_challenge=False) as gw:
        with anyio.fail_after(5), pytest.raises(HandshakeTimeout):
            await connect_to(gw.url, handshake_timeout=0.2)


def test_plain_ws_to_a_remote_host_is_refused_unless_explicitly_allowed() -> None:
    identity = DeviceIdentity.generate()
    with pytest.raises(InsecureGatewayURL, match="wss://"):
        GatewayClient("ws://10.1.2.3:18789", identity, store(), "dev-1")
    client = GatewayClient("ws://10.1.2.3:18789", identity, store(), "dev-1", allow_insecure=True)
    assert client.url == "ws://10.1.2.3:18789"
    assert GatewayClient("wss://gw.example.com/", identity, store(), "dev-1").url == "wss://gw.example.com"


def test_client_repr_names_url_and_agent_but_no_secret() -> None:
    client = GatewayClient(
        "ws://127.0.0.1:1", DeviceIdentity.generate(), store(), "dev-1", shared_token="sek-r-e-t"
    )
    assert "sek-r-e-t" not in repr(client)
    assert "dev-1" in repr(client)


def test_backoff_doubles_from_one_second_to_a_thirty_second_cap_with_jitter() -> None:
    steady = Backoff(jitter=0.0).delays()
    assert [next(steady) for _ in range(7)] == [1, 2, 4, 8, 16, 30, 30]
    low, high = Backoff().delays(lambda: 0.0), Backoff().delays(lambda: 1.0)
    assert [round(next(low), 3) for _ in range(3)] == [0.8, 1.6, 3.2]
    assert [round(next(high), 3) for _ in range(7)][-2:] == [30, 30]


def self_signed_context() -> ssl.SSLContext:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with tempfile.TemporaryDirectory() as tmp:
        cert_path, key_path = Path(tmp) / "cert.pem", Path(tmp) / "key.pem"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        context.load_cert_chain(cert_path, key_path)
    return context


async def test_an_untrusted_certificate_is_a_tls_failure() -> None:
    async with serve(lambda ws: ws.wait_closed(), "127.0.0.1", 0, ssl=self_signed_context()) as server:
        port = server.sockets[0].getsockname()[1]
        with anyio.fail_after(10), pytest.raises(TLSFailure, match="CERTIFICATE_VERIFY_FAILED"):
            await connect_to(f"wss://localhost:{port}")


async def test_a_subscriber_that_closes_its_stream_is_released_cleanly() -> None:
    async with FakeGateway() as gw, await new_client(gw) as client:
        stream = client.events()
        await stream.aclose()
        await gw.current.event("tick", {"ts": 1}, seq=1)
        with anyio.fail_after(5):
            await client.request("health")
        del stream
        gc.collect()


async def test_a_gateway_still_starting_is_waited_for_within_the_handshake_budget() -> None:
    starting = Rejection(
        {
            "code": "UNAVAILABLE",
            "message": "connect unavailable during gateway startup",
            "retryable": True,
            "retryAfterMs": 20,
            "details": {"reason": "startup-sidecars"},
        },
        1013,
        "gateway starting",
    )
    answers = iter([starting, starting, None])
    async with FakeGateway(on_connect=lambda p: next(answers)) as gw:
        with anyio.fail_after(5):
            async with await new_client(gw) as client:
                assert client.hello is not None
        assert len(gw.connects) == 3


async def test_a_call_made_while_the_gateway_is_down_names_the_outage_not_a_slow_reply() -> None:
    async with FakeGateway() as gw:
        client = await new_client(gw, backoff=Backoff(initial=0.01, cap=0.02))
        await client.connect()
        gw.on_connect = lambda p: Rejection(None, 1012, "service restart")
        await gw.current.ws.close(1012, "service restart")
        with anyio.fail_after(5), pytest.raises(ConnectionLost, match="was not sent: the gateway connection"):
            await client.request("health", timeout=0.3)
        await client.close()
