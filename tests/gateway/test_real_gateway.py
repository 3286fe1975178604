"""The client, pairing and the error model against the real pinned OpenClaw gateway (2026.9.6).

Secrets go to the in-memory keyring (conftest), which remembers every one of them, so the package's
leak scan (conftest, secret_scan.py) can look for each in everything these tests printed, logged and wrote.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterator
from typing import Any

import anyio
import anyio.to_thread
import pytest

from sidecar.cli._gateway import PairOptions, pair
from sidecar.gateway import (
    DeviceTokenMismatch,
    GatewayClient,
    MissingScope,
    PairingRequired,
    SharedTokenMismatch,
    SharedTokenMissing,
    TokenStore,
)
from sidecar.secrets import KeyringSecretStore

from .conftest import captured_outputs
from .secret_service import ROOT, SESSION_PREAMBLE, secret_service_or_skip, session_env

pytestmark = [pytest.mark.anyio, pytest.mark.gateway]

STRICT = {"gateway": {"nodes": {"pairing": {"autoApproveLocal": False}}}}
_agent_numbers: Iterator[int] = iter(range(1, 10_000))


def fresh_agent() -> str:
    """A label never used before in this run, so its keyring entry and device identity are new."""
    return f"gwtest-{os.getpid()}-{next(_agent_numbers)}"


@pytest.fixture(scope="module")
def strict_gateway(gateway_factory: Any) -> Any:
    """A second gateway that never approves silently; also the one these tests restart."""
    return gateway_factory("strict-pairing", agents=("main",), config_overrides=STRICT)


def tokens() -> TokenStore:
    return TokenStore(KeyringSecretStore())


async def client_for(gw: Any, agent: str, *, shared: bool, **kwargs: Any) -> GatewayClient:
    store = kwargs.pop("store", None) or tokens()
    identity = await store.identity(gw.url, agent)
    return GatewayClient(gw.url, identity, store, agent, shared_token=gw.token if shared else None, **kwargs)


async def openclaw(gw: Any, *args: str) -> Any:
    result = await anyio.to_thread.run_sync(lambda: gw.openclaw(*args, timeout=120))
    captured_outputs.append(result.stdout + result.stderr)
    assert result.returncode == 0, f"openclaw {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result


async def paired_devices(gw: Any) -> dict[str, Any]:
    listing = json.loads((await openclaw(gw, "devices", "list", "--json")).stdout)
    return {device["deviceId"]: device for device in listing["paired"]}


class WatchedOutput(io.StringIO):
    """A text stream a test can wait on: `await out.wait_for("...")` returns once the text was written."""

    def __init__(self) -> None:
        super().__init__()
        self._changed = anyio.Event()

    def write(self, text: str) -> int:
        written = super().write(text)
        self._changed.set()
        self._changed = anyio.Event()
        return written

    async def wait_for(self, needle: str) -> str:
        while needle not in self.getvalue():
            await self._changed.wait()
        return self.getvalue()


def request_id_in(text: str) -> str:
    line = next(line for line in text.splitlines() if "openclaw devices approve" in line)
    return line.split("openclaw devices approve", 1)[1].strip()


async def test_a_new_device_is_approved_silently_on_loopback_and_reconnects_on_its_stored_token(
    openclaw_gateway: Any,
) -> None:
    gw, agent, store = openclaw_gateway, fresh_agent(), tokens()
    with anyio.fail_after(120):
        async with await client_for(gw, agent, shared=True, store=store) as client:
            assert client.hello is not None
            assert client.hello.protocol == 4
            assert client.hello.policy.max_payload > 0
            assert client.hello.session_defaults is not None
            assert client.hello.session_defaults.main_session_key == "agent:main:main"
            await client.request("sessions.list", {"limit": 1})
        record = await store.load(gw.url, agent)
        assert record is not None and record.device_token
        assert set(record.scopes) >= {
            "operator.read",
            "operator.write",
            "operator.admin",
            "operator.approvals",
            "operator.pairing",
        }
        device = (await paired_devices(gw))[record.identity.device_id]
        assert device["clientId"] == "gateway-client"

        async with await client_for(gw, agent, shared=False, store=store) as client:
            assert client.hello is not None
            assert client.hello.auth.method == "device-token"
            assert "operator.admin" in client.hello.auth.scopes
            listing = await client.request("sessions.list", {"limit": 1})
            assert "sessions" in listing


async def test_agent_answers_twice_and_events_carry_seq(openclaw_gateway: Any) -> None:
    gw = openclaw_gateway
    with anyio.fail_after(120):
        async with await client_for(gw, fresh_agent(), shared=True) as client:
            stream = client.events()
            accepted = await client.agent(
                {
                    "agentId": "main",
                    "sessionKey": "agent:main:main",
                    "message": "gateway client test",
                    "deliver": False,
                }
            )
            assert accepted.payload["status"] == "accepted"
            assert accepted.run_id == accepted.idempotency_key
            final = await client.agent_final(accepted, timeout=90)
            assert final["status"] == "ok"
            texts = [p.get("text") for p in final["result"]["payloads"]]
            assert "echo: gateway client test" in texts
            names: set[str] = set()
            while not {"agent", "chat"} <= names:
                event = await stream.__anext__()
                names.add(event.event)
                if event.event in ("agent", "chat"):
                    assert isinstance(event.seq, int)
                    assert event.epoch == 1
            await stream.aclose()


async def test_a_wrong_or_missing_gateway_token_is_a_clear_error(openclaw_gateway: Any) -> None:
    gw = openclaw_gateway
    store = tokens()
    identity = await store.identity(gw.url, "wrong-token")
    with anyio.fail_after(60):
        with pytest.raises(SharedTokenMismatch) as wrong:
            await GatewayClient(
                gw.url, identity, store, "wrong-token", shared_token="not-the-token"
            ).connect()
        with pytest.raises(SharedTokenMissing) as missing:
            await GatewayClient(gw.url, identity, store, "wrong-token").connect()
    assert "OPENCLAW_GATEWAY_TOKEN" in str(wrong.value)
    assert "sidecar pair --gateway" in str(missing.value)
    assert gw.token not in str(wrong.value) + str(missing.value)


async def test_missing_scope_names_the_scope(openclaw_gateway: Any) -> None:
    gw = openclaw_gateway
    with anyio.fail_after(60):
        async with await client_for(gw, fresh_agent(), shared=True, scopes=("operator.read",)) as client:
            with pytest.raises(MissingScope) as info:
                await client.request("sessions.patch", {"key": "agent:main:main", "label": "nope"})
    # sessions.patch is "dynamic" in 2026.9.6: write first, admin for some fields.
    assert info.value.missing_scope in ("operator.write", "operator.admin")
    assert info.value.code == "FORBIDDEN"
    assert f"lacks {info.value.missing_scope}" in str(info.value)
    assert "sidecar pair" in str(info.value)


@pytest.mark.parametrize("how", ["revoke", "rotate"])
async def test_a_revoked_or_rotated_token_is_dropped_with_re_pair_advice_and_re_pairing_works(
    openclaw_gateway: Any,
    how: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gw, agent, store = openclaw_gateway, fresh_agent(), tokens()
    with anyio.fail_after(180):
        async with await client_for(gw, agent, shared=True, store=store):
            pass
        record = await store.load(gw.url, agent)
        assert record is not None and record.device_token
        await openclaw(gw, "devices", how, "--device", record.identity.device_id, "--role", "operator")

        with pytest.raises(DeviceTokenMismatch) as info:
            await (await client_for(gw, agent, shared=False, store=store)).connect()
        assert f"sidecar pair --gateway {gw.url} --agent {agent}" in str(info.value)
        after = await store.load(gw.url, agent)
        assert after is not None and after.device_token is None
        assert after.identity.device_id == record.identity.device_id

        monkeypatch.setenv("OPENCLAW_GATEWAY_TOKEN", gw.token)
        out, err = io.StringIO(), io.StringIO()
        assert await pair(PairOptions(gw.url, agent=agent), out, err) == 0, err.getvalue()
        captured_outputs.append(out.getvalue() + err.getvalue())
        async with await client_for(gw, agent, shared=False, store=store) as client:
            await client.request("sessions.list", {"limit": 1})


async def test_a_token_revoked_over_rpc_while_connected_stops_the_client_with_the_remediation(
    openclaw_gateway: Any,
) -> None:
    gw, agent, store = openclaw_gateway, fresh_agent(), tokens()
    with anyio.fail_after(180):
        async with await client_for(gw, agent, shared=True, store=store):
            pass
        record = await store.load(gw.url, agent)
        assert record is not None
        async with (
            await client_for(gw, agent, shared=False, store=store) as victim,
            await client_for(gw, fresh_agent(), shared=True) as admin,
        ):
            stream = victim.events()
            await admin.request(
                "device.token.revoke", {"deviceId": record.identity.device_id, "role": "operator"}
            )
            # The gateway drops the revoked device's socket; the reconnect is refused and ends the client.
            with pytest.raises(DeviceTokenMismatch):
                async for _ in stream:
                    pass
            assert isinstance(victim.failure, DeviceTokenMismatch)
            with pytest.raises(DeviceTokenMismatch, match="sidecar pair --gateway"):
                await victim.request("sessions.list", {"limit": 1})
        assert (await store.device_token(gw.url, agent, record.identity)) is None


async def test_pairing_waits_for_an_operator_approval_when_auto_approval_is_off(
    strict_gateway: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gw, agent, store = strict_gateway, fresh_agent(), tokens()
    monkeypatch.setenv("OPENCLAW_GATEWAY_TOKEN", gw.token)
    out, err = WatchedOutput(), io.StringIO()
    codes: list[int] = []

    async def run() -> None:
        codes.append(await pair(PairOptions(gw.url, agent=agent, retry_every=0.5), out, err))

    with anyio.fail_after(180):
        async with anyio.create_task_group() as tg:
            tg.start_soon(run)
            request_id = request_id_in(await out.wait_for("openclaw devices approve"))
            pending = json.loads((await openclaw(gw, "devices", "list", "--json")).stdout)["pending"]
            assert request_id in [p["requestId"] for p in pending]
            await openclaw(gw, "devices", "approve", request_id)
        captured_outputs.append(out.getvalue() + err.getvalue())
        assert codes == [0], err.getvalue()
        assert "paired: agent" in out.getvalue()
        assert "waiting for approval of" in err.getvalue()
        record = await store.load(gw.url, agent)
        assert record is not None and record.device_token
        async with await client_for(gw, agent, shared=False, store=store) as client:
            assert client.hello is not None and client.hello.auth.method == "device-token"

        await openclaw(gw, "devices", "remove", record.identity.device_id)
        with pytest.raises(PairingRequired) as info:
            await (await client_for(gw, agent, shared=True, store=store)).connect()
        assert info.value.request_id
        assert f"openclaw devices approve {info.value.request_id}" in str(info.value)


async def test_sidecar_pair_as_a_command_under_a_real_secret_service_waits_for_approval(
    strict_gateway: Any,
    tmp_path: Any,
) -> None:
    secret_service_or_skip()
    gw, agent = strict_gateway, fresh_agent()
    home = tmp_path / "home"
    home.mkdir()
    script = (
        SESSION_PREAMBLE + '"$PYTHON" -m sidecar pair --gateway "$GW_URL" --agent "$AGENT" --timeout 120\n'
    )
    env = session_env(home, GW_URL=gw.url, AGENT=agent, OPENCLAW_GATEWAY_TOKEN=gw.token)
    output = ""
    with anyio.fail_after(180):
        async with await anyio.open_process(
            ["dbus-run-session", "--", "sh", "-c", script], env=env, cwd=ROOT
        ) as proc:
            assert proc.stdout is not None
            async for chunk in proc.stdout:
                output += chunk.decode()
                if (
                    "openclaw devices approve" in output
                    and "\n" in output.split("openclaw devices approve", 1)[1]
                ):
                    break
            await openclaw(gw, "devices", "approve", request_id_in(output))
            async for chunk in proc.stdout:
                output += chunk.decode()
            code = await proc.wait()
    captured_outputs.append(output)
    assert code == 0, output
    assert f"paired: agent {agent}" in output
    assert "device token stored in the keyring store" in output
    assert gw.token not in output


async def test_a_gateway_restart_mid_session_reconnects_and_the_next_call_succeeds(
    strict_gateway: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gw, agent, store = strict_gateway, fresh_agent(), tokens()
    monkeypatch.setenv("OPENCLAW_GATEWAY_TOKEN", gw.token)
    with anyio.fail_after(240):
        out, err = WatchedOutput(), io.StringIO()
        async with anyio.create_task_group() as tg:
            tg.start_soon(pair, PairOptions(gw.url, agent=agent, retry_every=0.5), out, err)
            await openclaw(
                gw, "devices", "approve", request_id_in(await out.wait_for("openclaw devices approve"))
            )
        async with await client_for(gw, agent, shared=False, store=store) as client:
            await client.request("sessions.list", {"limit": 1})
            stream = client.events()
            await anyio.to_thread.run_sync(lambda: gw.restart(progress=False))
            listing = await client.request("sessions.list", {"limit": 1}, timeout=60)
            assert "sessions" in listing
            assert client.epoch >= 2
            assert client.failure is None
            await stream.aclose()
