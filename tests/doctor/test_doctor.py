"""`sidecar doctor`: every check's PASS/WARN/FAIL/SKIP with its fix, the JSON shape and the exit codes.

Unit tests run with an in-memory keyring and no gateway (or a scripted one on a loopback socket); the
real-gateway tests pair an agent with the session gateway and check that doctor sees it, and that no
token or key ever reaches doctor's output.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keyring
import keyring.backends.fail
import pytest
from websockets.asyncio.server import ServerConnection, serve

from sidecar import cli
from sidecar.doctor._gateways import check_gateway, check_pairing
from sidecar.doctor._local import ReadOnlySecrets, check_mirror, check_secret_store
from sidecar.gateway import TokenStore
from sidecar.mirror import Mirror
from sidecar.secrets import SERVICE, KeyringSecretStore
from tests.gateway import fake_gateway
from tests.gateway.fake_gateway import FakeGateway, device_token_rejection, pairing_rejection
from tests.gateway.memory_keyring import MemoryKeyring

ALL = ["operator.read", "operator.write", "operator.admin", "operator.approvals", "operator.pairing"]


class CountingKeyring(MemoryKeyring):
    """The in-memory keyring, counting every read: the backend check must make none."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def get_password(self, service: str, username: str) -> str | None:
        self.reads += 1
        return super().get_password(service, username)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def memory_keyring() -> Iterator[CountingKeyring]:
    previous = keyring.get_keyring()
    backend = CountingKeyring()
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        keyring.set_keyring(previous)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No gateway, policy or store from the developer's environment; state and data under tmp_path."""
    for name in list(os.environ):
        if name.startswith(("OPENCLAW_", "SIDECAR_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("SIDECAR_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def scoped_policy(tmp_path: Path, extra: str = "") -> Path:
    return write(
        tmp_path / "policy.json5",
        """{
  EXTRA
  tools: { sessions: { visibility: "self" }, agentToAgent: { enabled: false } },
  agents: { entries: { lead: { tools: { sessions: { visibility: "scoped", visibleAgents: ["dev-*"] } } },
                       "dev-1": {} } },
}""".replace("EXTRA", extra),
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def doctor(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(["doctor", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def doctor_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any]]:
    code, out, err = doctor(capsys, *argv, "--json")
    assert err == "", err
    return code, json.loads(out)


def by_name(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in report["checks"]}


# -- 1. policy ----------------------------------------------------------------------------------------


def test_a_policy_that_does_not_parse_fails_and_its_fix_is_the_policy_error(capsys, tmp_path) -> None:  # type: ignore[no-untyped-def]
    bad = write(tmp_path / "bad.json5", '{\n  tools: { sessions: { visibility: "everyone" } },\n}')
    code, report = doctor_json(capsys, "--policy", str(bad))
    check = by_name(report)["policy"]
    assert code == 1 and report["ok"] is False
    assert check["status"] == "FAIL"
    assert f"{bad}:2" in check["detail"]
    assert "tools.sessions.visibility" in check["fix"] and '"scoped"' in check["fix"]


def test_no_policy_at_all_fails_and_says_how_to_give_one(capsys) -> None:  # type: ignore[no-untyped-def]
    code, report = doctor_json(capsys)
    check = by_name(report)["policy"]
    assert code == 1
    assert (check["status"], check["detail"]) == ("FAIL", "no policy file given")
    assert "--policy FILE" in check["fix"] and "SIDECAR_POLICY" in check["fix"]


def test_an_agent_on_openclaws_defaults_warns_naming_the_unset_keys(capsys, tmp_path) -> None:  # type: ignore[no-untyped-def]
    policy = write(
        tmp_path / "open.json5",
        '{ agents: { entries: { alfred: {}, lead: { tools: { sessions: { visibility: "self" } } } } } }',
    )
    code, report = doctor_json(capsys, "--policy", str(policy))
    checks = by_name(report)
    alfred = checks["policy:alfred"]
    assert alfred["status"] == "WARN"
    assert "alfred can read and message every other agent's sessions" in alfred["detail"]
    assert "tools.sessions.visibility (unset" in alfred["detail"]
    assert "tools.agentToAgent.enabled (unset" in alfred["detail"]
    assert "agents.entries.alfred.tools.sessions.visibility" in alfred["fix"]
    assert str(policy) in alfred["fix"]
    assert checks["policy:lead"]["status"] == "PASS"
    assert code == 0, "a warning alone does not fail doctor"


def test_an_agent_missing_from_the_policy_fails_with_the_entry_to_add(capsys, tmp_path) -> None:  # type: ignore[no-untyped-def]
    code, report = doctor_json(capsys, "--policy", str(scoped_policy(tmp_path)), "--agent", "hr")
    check = by_name(report)["policy:hr"]
    assert code == 1
    assert check["status"] == "FAIL"
    assert "agents.entries.hr: {}" in check["fix"]


# -- 2. secret store ----------------------------------------------------------------------------------


def test_the_keyring_backend_is_checked_without_reading_any_entry(capsys, tmp_path, memory_keyring) -> None:  # type: ignore[no-untyped-def]
    memory_keyring.set_password(SERVICE, "lead@ws://127.0.0.1:18789", "a-real-secret")
    code, report = doctor_json(capsys, "--policy", str(scoped_policy(tmp_path)))
    check = by_name(report)["secret-store"]
    assert check["status"] == "PASS"
    assert "CountingKeyring is usable" in check["detail"]
    assert memory_keyring.reads == 0
    assert code == 0


def test_no_usable_keyring_fails_with_both_fixes(capsys, tmp_path) -> None:  # type: ignore[no-untyped-def]
    keyring.set_keyring(keyring.backends.fail.Keyring())
    code, report = doctor_json(capsys, "--policy", str(scoped_policy(tmp_path)))
    check = by_name(report)["secret-store"]
    assert code == 1
    assert check["status"] == "FAIL" and "No OS keyring is available" in check["detail"]
    assert "dbus-run-session" in check["fix"] and "--token-store file" in check["fix"]
    assert "\n" not in check["detail"]


def test_the_file_store_is_a_warning_that_it_is_weaker_and_a_loose_file_fails(
    tmp_path, memory_keyring
) -> None:  # type: ignore[no-untyped-def]
    secrets = tmp_path / "secrets.json"
    env = {"SIDECAR_TOKEN_STORE": "file", "SIDECAR_TOKEN_FILE": str(secrets)}
    check = check_secret_store(None, env)
    assert check.status == "WARN"
    assert "weaker than an OS keyring" in check.detail and "SIDECAR_TOKEN_STORE=file" in check.detail
    secrets.write_text('{"lead@ws://127.0.0.1:18789": "a-real-secret"}')
    secrets.chmod(0o644)
    loose = check_secret_store("file", env)
    assert (loose.status, loose.fix) == ("FAIL", f"chmod 600 {secrets}")
    assert "a-real-secret" not in loose.detail
    assert memory_keyring.reads == 0


# -- 3. gateway ---------------------------------------------------------------------------------------


def test_an_unreachable_gateway_fails_with_the_command_that_starts_it(capsys, tmp_path) -> None:  # type: ignore[no-untyped-def]
    url = f"ws://127.0.0.1:{free_port()}"
    started = time.monotonic()
    code, report = doctor_json(
        capsys, "--policy", str(scoped_policy(tmp_path)), "--agent", "lead", "--gateway", url
    )
    checks = by_name(report)
    assert code == 1
    assert checks["gateway"]["status"] == "FAIL"
    assert "nothing is listening on 127.0.0.1" in checks["gateway"]["detail"]
    assert "openclaw gateway run" in checks["gateway"]["fix"]
    assert checks["pairing"]["status"] == "SKIP"
    assert time.monotonic() - started < 5


def test_the_gateway_comes_from_the_policy_then_the_environment(capsys, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    port = free_port()
    policy = scoped_policy(tmp_path, f'gateway: {{ url: "ws://127.0.0.1:{port}" }},')
    _, report = doctor_json(capsys, "--policy", str(policy))
    assert f"127.0.0.1:{port}" in by_name(report)["gateway"]["detail"]
    other = free_port()
    monkeypatch.setenv("OPENCLAW_GATEWAY_URL", f"ws://127.0.0.1:{other}")
    _, report = doctor_json(capsys, "--policy", str(scoped_policy(tmp_path)))
    assert f"127.0.0.1:{other}" in by_name(report)["gateway"]["detail"]


def test_with_no_gateway_anywhere_the_check_is_skipped_unless_an_agent_needs_one(capsys, tmp_path) -> None:  # type: ignore[no-untyped-def]
    policy = str(scoped_policy(tmp_path))
    code, report = doctor_json(capsys, "--policy", policy)
    assert by_name(report)["gateway"]["status"] == "SKIP"
    assert code == 0
    code, report = doctor_json(capsys, "--policy", policy, "--agent", "lead")
    gateway = by_name(report)["gateway"]
    assert (gateway["status"], code) == ("FAIL", 1)
    assert "--gateway URL" in gateway["fix"] and "OPENCLAW_GATEWAY_URL" in gateway["fix"]


def test_plain_ws_to_another_host_fails_with_the_safe_alternatives(capsys, tmp_path) -> None:  # type: ignore[no-untyped-def]
    code, report = doctor_json(
        capsys, "--policy", str(scoped_policy(tmp_path)), "--gateway", "ws://192.0.2.10:18789"
    )
    check = by_name(report)["gateway"]
    assert code == 1 and check["status"] == "FAIL"
    assert "refusing plain ws://" in check["detail"] and "wss://" in check["fix"]


async def scripted_server(answer: dict[str, Any], close: tuple[int, str]) -> Any:
    """A WebSocket server that sends a challenge, then answers connect with `answer` and closes."""

    async def handle(ws: ServerConnection) -> None:
        await ws.send(
            json.dumps({"type": "event", "event": "connect.challenge", "payload": {"nonce": "n-1", "ts": 1}})
        )
        connect = json.loads(await ws.recv())
        assert "device" not in connect["params"] and "auth" not in connect["params"]
        await ws.send(json.dumps({"type": "res", "id": connect["id"], **answer}))
        await ws.close(*close)

    return await serve(handle, "127.0.0.1", 0)


@pytest.mark.anyio
async def test_a_gateway_that_speaks_another_protocol_fails_with_the_hint() -> None:
    mismatch = {"ok": False, "error": {"code": "INVALID_REQUEST", "message": "protocol mismatch",
                                       "details": {"code": "PROTOCOL_MISMATCH", "expectedProtocol": 5}}}  # fmt: skip
    async with await scripted_server(mismatch, (1002, "protocol mismatch")) as server:
        port = server.sockets[0].getsockname()[1]
        check = await check_gateway("gateway", f"ws://127.0.0.1:{port}", timeout=2)
    assert check.status == "FAIL"
    assert "protocol mismatch" in check.detail
    assert check.fix is not None and "protocol 5" in check.fix and "protocols 3 and 4" in check.fix


@pytest.mark.anyio
async def test_the_probe_carries_no_device_or_credential_and_an_auth_answer_means_the_protocol_fits() -> None:
    required = {"ok": False, "error": {"code": "NOT_PAIRED", "message": "device identity required",
                                       "details": {"code": "DEVICE_IDENTITY_REQUIRED"}}}  # fmt: skip
    async with await scripted_server(required, (1008, "device identity required")) as server:
        port = server.sockets[0].getsockname()[1]
        check = await check_gateway("gateway", f"ws://127.0.0.1:{port}", timeout=2)
    assert check.status == "PASS", check
    assert "accepts the protocols offered (3-4)" in check.detail


@pytest.mark.anyio
async def test_a_server_that_is_not_a_gateway_fails_with_the_hint() -> None:
    async def not_websocket(ws: ServerConnection) -> None:  # pragma: no cover - never upgraded
        pass

    def refuse(connection: ServerConnection, request: Any) -> Any:
        return connection.respond(404, "no such thing\n")

    async with serve(not_websocket, "127.0.0.1", 0, process_request=refuse) as server:
        port = server.sockets[0].getsockname()[1]
        check = await check_gateway("gateway", f"ws://127.0.0.1:{port}", timeout=2)
    assert check.status == "FAIL"
    assert "HTTP 404" in check.detail
    assert check.fix is not None and "OpenClaw gateway" in check.fix


@pytest.mark.anyio
async def test_a_gateway_that_never_answers_connect_fails_within_the_timeout() -> None:
    async with FakeGateway(send_challenge=False) as gw:
        started = time.monotonic()
        check = await check_gateway("gateway", gw.url, timeout=0.5)
    assert time.monotonic() - started < 3
    assert check.status == "FAIL" and "did not answer connect within 0.5 s" in check.detail
    assert check.fix is not None and "OpenClaw gateway" in check.fix


# -- 4. pairing (scripted gateway) --------------------------------------------------------------------


async def stored_device(url: str, agent: str, token: str | None = "tok-stored-1") -> KeyringSecretStore:
    secrets = KeyringSecretStore()
    store = TokenStore(secrets)
    identity = await store.identity(url, agent)
    if token is not None:
        await store.store_token(url, agent, identity, token, ALL)
    return secrets


@pytest.mark.anyio
async def test_an_agent_that_never_paired_fails_with_the_pair_command(memory_keyring) -> None:  # type: ignore[no-untyped-def]
    async with FakeGateway() as gw:
        check = await check_pairing("pairing", gw.url, "lead", KeyringSecretStore(), timeout=2)
        assert gw.connects == [], "doctor does not invent a device to find out"
    assert check.status == "FAIL" and "never paired" in check.detail
    assert check.fix is not None
    assert f"sidecar pair --gateway {gw.url} --agent lead" in check.fix
    assert "openclaw devices approve <requestId>" in check.fix
    assert memory_keyring.entries == {}


@pytest.mark.anyio
async def test_a_pending_pairing_fails_with_the_request_id_to_approve() -> None:
    async with FakeGateway(on_connect=lambda p: pairing_rejection("req-42")) as gw:
        secrets = await stored_device(gw.url, "lead", token=None)
        check = await check_pairing("pairing", gw.url, "lead", secrets, shared_token="shared-1", timeout=2)
    assert check.status == "FAIL"
    assert check.fix is not None
    assert "openclaw devices approve req-42" in check.fix
    assert f"sidecar pair --gateway {gw.url} --agent lead" in check.fix


@pytest.mark.anyio
async def test_a_paired_device_passes_and_nothing_is_written_to_the_store(memory_keyring) -> None:  # type: ignore[no-untyped-def]
    async with FakeGateway(issue_token="tok-reissued-2") as gw:
        secrets = await stored_device(gw.url, "lead")
        before = dict(memory_keyring.entries)
        check = await check_pairing("pairing", gw.url, "lead", secrets, timeout=2)
        assert gw.connects[0]["auth"] == {"deviceToken": "tok-stored-1"}
    assert check.status == "PASS", check
    assert "with every scope the sidecar uses" in check.detail
    assert memory_keyring.entries == before
    assert "tok-" not in check.detail


@pytest.mark.anyio
async def test_a_device_without_a_stored_token_warns_and_the_token_issued_now_is_dropped(
    memory_keyring,
) -> None:  # type: ignore[no-untyped-def]
    async with FakeGateway(issue_token="tok-issued-3") as gw:
        secrets = await stored_device(gw.url, "lead", token=None)
        before = dict(memory_keyring.entries)
        check = await check_pairing("pairing", gw.url, "lead", secrets, shared_token="shared-2", timeout=2)
    assert check.status == "WARN" and "approved it silently just now" in check.detail
    assert check.fix == f"Store one with: sidecar pair --gateway {gw.url} --agent lead"
    assert memory_keyring.entries == before
    assert not any("tok-issued-3" in v for v in memory_keyring.entries.values())


@pytest.mark.anyio
async def test_a_damaged_device_entry_fails_with_the_fix(memory_keyring) -> None:  # type: ignore[no-untyped-def]
    url = f"ws://127.0.0.1:{free_port()}"
    memory_keyring.set_password(SERVICE, f"lead@{url}", "{not json")
    check = await check_pairing("pairing", url, "lead", KeyringSecretStore(), timeout=1)
    assert check.status == "FAIL" and "is damaged" in check.detail
    assert check.fix is not None and "re-pair" in check.fix


@pytest.mark.anyio
async def test_a_device_paired_with_too_few_scopes_fails_with_remove_and_re_pair(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setitem(fake_gateway.HELLO["auth"], "scopes", ["operator.read"])
    async with FakeGateway() as gw:
        secrets = await stored_device(gw.url, "lead")
        check = await check_pairing("pairing", gw.url, "lead", secrets, timeout=2)
    assert check.status == "FAIL"
    assert "without operator.write, operator.admin" in check.detail
    assert check.fix is not None and "openclaw devices remove" in check.fix
    assert f"sidecar pair --gateway {gw.url} --agent lead" in check.fix


@pytest.mark.anyio
async def test_a_revoked_device_token_fails_with_its_hint_and_stays_stored(memory_keyring) -> None:  # type: ignore[no-untyped-def]
    async with FakeGateway(on_connect=lambda p: device_token_rejection()) as gw:
        secrets = await stored_device(gw.url, "lead")
        before = dict(memory_keyring.entries)
        check = await check_pairing("pairing", gw.url, "lead", ReadOnlySecrets(secrets), timeout=2)
    assert check.status == "FAIL" and "device token" in check.detail
    assert check.fix is not None and "Re-pair" in check.fix
    assert memory_keyring.entries == before, "doctor reports; it does not drop the token"


@pytest.mark.anyio
async def test_a_handshake_that_never_finishes_gives_up_within_the_timeout() -> None:
    async with FakeGateway(send_challenge=False) as gw:
        secrets = await stored_device(gw.url, "lead")
        started = time.monotonic()
        check = await check_pairing("pairing", gw.url, "lead", secrets, timeout=0.5)
    assert time.monotonic() - started < 3
    assert check.status == "FAIL" and "0.5 s" in check.detail


# -- 5. mirror ----------------------------------------------------------------------------------------


def test_a_missing_mirror_warns_that_sidecar_serve_starts_it(capsys, tmp_path) -> None:  # type: ignore[no-untyped-def]
    _, report = doctor_json(capsys, "--policy", str(scoped_policy(tmp_path)), "--agent", "lead")
    check = by_name(report)["mirror"]
    assert check["status"] == "WARN"
    assert "not synced yet, starts with `sidecar serve`" in check["detail"]
    assert "sidecar serve --policy" in check["fix"] and "--agent lead" in check["fix"]
    assert not (tmp_path / "state" / "lead").exists(), "doctor creates nothing"


def test_each_gateways_mirror_is_judged_live_stale_syncing_or_never_synced(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "mirror.db"
    now = 1_800_000_000.0
    with Mirror.open(path) as mirror:
        mirror.cursors.update("home", state="live", last_event=now - 10, rows=12)
        mirror.cursors.update("imac", state="live", last_event=now - 600, last_error="connection refused")
        mirror.cursors.update("studio", state="syncing", snapshot_offset=400)
    before = path.read_bytes()
    checks = {
        c.name: c for c in check_mirror(path, ["home", "imac", "studio", "lab"], "sidecar serve ...", now=now)
    }
    assert checks["mirror"].status == "PASS"
    assert checks["mirror:home"].status == "PASS" and "live, 12 sessions" in checks["mirror:home"].detail
    assert (
        checks["mirror:imac"].status == "WARN"
        and "stale (nothing heard for 10m" in checks["mirror:imac"].detail
    )
    assert "connection refused" in checks["mirror:imac"].detail
    assert "sidecar mirror sync" in (checks["mirror:imac"].fix or "")
    assert checks["mirror:studio"].status == "WARN" and "row 400" in checks["mirror:studio"].detail
    assert checks["mirror:lab"].status == "WARN" and "not synced yet" in checks["mirror:lab"].detail
    assert path.read_bytes() == before


def test_a_file_that_is_not_a_mirror_fails_with_the_fix(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = write(tmp_path / "mirror.db", "not sqlite at all, just text that is long enough " * 4)
    [check] = check_mirror(path, ["home"], "sidecar serve --agent lead")
    assert check.status == "FAIL"
    assert check.fix is not None and f"Move {path} aside" in check.fix


# -- 7. openclaw.json ---------------------------------------------------------------------------------


def test_a_governed_agent_that_kept_the_built_in_session_tools_is_reported_with_its_fix(
    capsys, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    config = write(tmp_path / "openclaw.json", json.dumps({"agents": {"entries": {"lead": {}, "dev-1": {}}}}))
    code, report = doctor_json(
        capsys, "--policy", str(scoped_policy(tmp_path)), "--openclaw-config", str(config)
    )
    audit = [c for c in report["checks"] if c["name"] == "openclaw-config"]
    builtin = [c for c in audit if "built-in" in c["detail"] and "lead" in c["detail"]]
    assert builtin and builtin[0]["status"] == "FAIL"
    assert "to tools.deny in openclaw.json: the global list closes them for every agent" in builtin[0]["fix"]
    assert code == 1


def test_the_policys_openclaw_config_is_audited_when_no_flag_names_one(capsys, tmp_path) -> None:  # type: ignore[no-untyped-def]
    write(tmp_path / "openclaw.json", json.dumps({"agents": {"entries": {"lead": {}}}}))
    policy = scoped_policy(tmp_path, 'openclawConfig: "openclaw.json",')
    _, report = doctor_json(capsys, "--policy", str(policy))
    audit = [c for c in report["checks"] if c["name"] == "openclaw-config"]
    assert any(c["status"] == "FAIL" and str(tmp_path / "openclaw.json") in c["detail"] for c in audit)


def test_an_openclaw_config_that_does_not_parse_fails_with_the_line(capsys, tmp_path) -> None:  # type: ignore[no-untyped-def]
    config = write(tmp_path / "openclaw.json", "{\n  agents: {\n")
    _, report = doctor_json(
        capsys, "--policy", str(scoped_policy(tmp_path)), "--openclaw-config", str(config)
    )
    [check] = [c for c in report["checks"] if c["name"] == "openclaw-config"]
    assert check["status"] == "FAIL" and "not valid JSON5" in check["fix"]


# -- output, order, exit codes ------------------------------------------------------------------------


def test_json_has_ok_and_every_check_with_name_status_detail_and_fix_in_order(capsys, tmp_path) -> None:  # type: ignore[no-untyped-def]
    url = f"ws://127.0.0.1:{free_port()}"
    _, report = doctor_json(
        capsys, "--policy", str(scoped_policy(tmp_path)), "--agent", "lead", "--gateway", url
    )
    assert set(report) == {"ok", "checks"}
    assert all(set(c) == {"name", "status", "detail", "fix"} for c in report["checks"])
    assert all(c["status"] in ("PASS", "WARN", "FAIL", "SKIP") for c in report["checks"])
    assert all(isinstance(c["detail"], str) and "\n" not in c["detail"] for c in report["checks"])
    names = [c["name"] for c in report["checks"]]
    assert names == [
        "policy", "policy:lead", "policy:dev-1", "secret-store", "gateway", "pairing", "mirror", "mode",
        "openclaw-config",
    ]  # fmt: skip
    failed = [c for c in report["checks"] if c["status"] == "FAIL"]
    assert failed and all(c["fix"] for c in failed)


def test_text_output_shows_each_status_and_the_fix_under_each_failure(capsys, tmp_path) -> None:  # type: ignore[no-untyped-def]
    url = f"ws://127.0.0.1:{free_port()}"
    code, out, _ = doctor(
        capsys, "--policy", str(scoped_policy(tmp_path)), "--agent", "lead", "--gateway", url
    )
    lines = out.splitlines()
    gateway = next(i for i, line in enumerate(lines) if line.startswith("FAIL  gateway"))
    assert lines[gateway + 1].strip().startswith("fix: Start the gateway")
    assert any(line.startswith("PASS  policy ") for line in lines)
    assert any(line.startswith("SKIP  pairing") for line in lines)
    assert lines[-1].startswith("1 failed, 1 warning, ")
    assert code == 1


def test_exit_0_when_nothing_fails_even_with_warnings(capsys, tmp_path) -> None:  # type: ignore[no-untyped-def]
    code, report = doctor_json(capsys, "--policy", str(scoped_policy(tmp_path)), "--agent", "lead")
    assert code == 1  # no gateway for an agent
    code, report = doctor_json(capsys, "--policy", str(scoped_policy(tmp_path)))
    assert (code, report["ok"]) == (0, True)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--agent", "Lead Dev"], "not a valid agent id"),
        (["--gateway", "http://127.0.0.1:18789"], "not a ws:// or wss:// URL"),
        (["--token-store", "vault"], "invalid choice"),
    ],
)
def test_bad_input_exits_2_and_says_what_to_fix(capsys, tmp_path, argv, message) -> None:  # type: ignore[no-untyped-def]
    try:
        code = cli.main(["doctor", "--policy", str(scoped_policy(tmp_path)), *argv])
    except SystemExit as exc:  # argparse's own usage errors
        code = exc.code  # type: ignore[assignment]
    captured = capsys.readouterr()
    assert code == 2
    assert message in captured.err
    assert captured.out == ""


def test_doctor_help_teaches_with_examples(capsys) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SystemExit) as exc:
        cli.main(["doctor", "--help"])
    out = capsys.readouterr().out
    assert exc.value.code == 0
    assert "sidecar doctor --policy manifests/policies/team.json5 --agent lead" in out
    assert '--openclaw-config "$OPENCLAW_CONFIG_PATH"' in out
    assert '"ok": bool' in out and "Exit codes: 0" in out
    for name in ("policy", "secret-store", "gateway", "pairing", "mirror", "peer:<name>", "openclaw-config"):
        assert name in out


# -- the real gateway ---------------------------------------------------------------------------------


@pytest.fixture
def file_store(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    secrets = tmp_path / "secrets" / "secrets.json"
    monkeypatch.setenv("SIDECAR_TOKEN_STORE", "file")
    monkeypatch.setenv("SIDECAR_TOKEN_FILE", str(secrets))
    return secrets


def secrets_in(path: Path) -> list[str]:
    """Every device token and private key in the file store."""
    found = []
    for entry in json.loads(path.read_text()).values():
        body = json.loads(entry)
        found += [body["privateKey"], *([body["deviceToken"]] if body.get("deviceToken") else [])]
    return found


def test_on_a_real_gateway_an_unpaired_agent_fails_with_the_pair_command(  # type: ignore[no-untyped-def]
    openclaw_gateway, capsys, tmp_path, monkeypatch, file_store
) -> None:
    gw = openclaw_gateway
    monkeypatch.setenv("OPENCLAW_GATEWAY_TOKEN", gw.token)
    policy = scoped_policy(tmp_path, f'gateway: {{ url: "{gw.url}" }},')
    code, out, err = doctor(capsys, "--policy", str(policy), "--agent", "lead", "--json")
    checks = by_name(json.loads(out))
    assert code == 1
    assert (
        checks["gateway"]["status"] == "PASS"
        and "accepts the protocols offered" in checks["gateway"]["detail"]
    )
    assert checks["pairing"]["status"] == "FAIL"
    assert f"sidecar pair --gateway {gw.url} --agent lead" in checks["pairing"]["fix"]
    assert "openclaw devices approve <requestId>" in checks["pairing"]["fix"]
    assert not file_store.exists(), "doctor neither creates nor stores a device"
    assert gw.token not in out + err


def test_on_a_real_gateway_a_paired_agent_passes_and_the_config_audit_reports_a_finding(  # type: ignore[no-untyped-def]
    openclaw_gateway, capsys, tmp_path, monkeypatch, file_store
) -> None:
    gw = openclaw_gateway
    monkeypatch.setenv("OPENCLAW_GATEWAY_TOKEN", gw.token)
    assert cli.main(["pair", "--gateway", gw.url, "--agent", "lead"]) == 0
    paired = capsys.readouterr()
    assert "paired: agent lead" in paired.out
    stored = file_store.read_bytes()
    policy = scoped_policy(tmp_path, f'gateway: {{ url: "{gw.url}" }},')

    code, out, err = doctor(
        capsys, "--policy", str(policy), "--agent", "lead", "--openclaw-config", str(gw.config_path), "--json"
    )
    checks = by_name(json.loads(out))
    assert checks["gateway"]["status"] == "PASS"
    assert checks["pairing"]["status"] == "PASS", checks["pairing"]
    assert "with every scope the sidecar uses" in checks["pairing"]["detail"]
    assert checks["secret-store"]["status"] == "WARN"
    audit = [c for c in json.loads(out)["checks"] if c["name"] == "openclaw-config"]
    assert any(c["status"] in ("FAIL", "WARN") and c["fix"] and "lead" in c["detail"] for c in audit), audit
    assert code == 1  # the audit's findings are failures

    text_code, text, text_err = doctor(
        capsys, "--policy", str(policy), "--agent", "lead", "--openclaw-config", str(gw.config_path)
    )
    assert text_code == code
    assert "PASS  pairing" in text
    everything = out + err + text + text_err
    for secret in [gw.token, *secrets_in(file_store)]:
        assert secret not in everything
    assert file_store.read_bytes() == stored, "doctor writes nothing to the store"


def test_an_openclaw_config_without_the_fragment_is_one_finding_per_cause_with_one_fix(
    capsys, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    config = write(tmp_path / "openclaw.json", json.dumps({"agents": {"entries": {"lead": {}, "dev-1": {}}}}))
    policy = scoped_policy(tmp_path)
    _, report = doctor_json(capsys, "--policy", str(policy), "--openclaw-config", str(config))
    audit = [c for c in report["checks"] if c["name"] == "openclaw-config"]
    builtin = [c for c in audit if "built-in" in c["detail"]]
    assert len(builtin) == 1, audit
    assert "lead" in builtin[0]["detail"] and "dev-1" in builtin[0]["detail"]
    assert f"Merge the output of `sidecar manifest openclaw --policy {policy}`" in builtin[0]["fix"]
    assert len(audit) <= 3, audit
