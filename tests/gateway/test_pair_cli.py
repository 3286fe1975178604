from __future__ import annotations

import io
import itertools
import os
import socket
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import keyring
import keyring.backends.fail
import pytest

from sidecar import cli
from sidecar.cli._gateway import PairOptions, pair

from .fake_gateway import FakeGateway, Rejection, pairing_rejection
from .memory_keyring import MemoryKeyring

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[2]


async def run_pair(gw_url: str, **kwargs: Any) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    kwargs.setdefault("retry_every", 0.01)
    with anyio.fail_after(10):
        code = await pair(PairOptions(gw_url, **kwargs), out, err)
    return code, out.getvalue(), err.getvalue()


async def test_a_gateway_that_approves_silently_pairs_at_once_and_stores_the_token(
    memory_keyring: MemoryKeyring,
) -> None:
    async with FakeGateway(issue_token="tok-issued-123") as gw:
        code, out, err = await run_pair(gw.url, agent="dev-1")
    assert code == 0, err
    assert "paired: agent dev-1" in out
    assert "device token stored in the keyring store" in out
    [entry] = memory_keyring.entries.values()
    assert "tok-issued-123" in entry
    assert "tok-issued-123" not in out + err
    assert gw.connects[0]["scopes"] == [
        "operator.read",
        "operator.write",
        "operator.admin",
        "operator.approvals",
        "operator.pairing",
    ]


async def test_pairing_required_prints_the_current_request_id_and_waits_for_approval(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    answers = iter([pairing_rejection("req-A"), pairing_rejection("req-A"), pairing_rejection("req-B"), None])
    monkeypatch.setenv("OPENCLAW_GATEWAY_TOKEN", "shared-xyz")
    async with FakeGateway(on_connect=lambda p: next(answers)) as gw:
        code, out, err = await run_pair(gw.url, agent="lead")
    assert code == 0, err
    assert out.count("openclaw devices approve req-A") == 1
    assert "superseded; new request req-B" in out
    assert "openclaw devices approve req-B" in out
    assert out.index("req-B") < out.index("paired: agent lead")
    assert "waiting for approval of req-A" in err
    assert all(c["auth"]["token"] == "shared-xyz" for c in gw.connects)
    assert "shared-xyz" not in out + err


async def test_the_wait_ends_with_a_fix_when_the_window_closes() -> None:
    ticks = itertools.count(0, 100)
    async with FakeGateway(on_connect=lambda p: pairing_rejection("req-late")) as gw:
        out, err = io.StringIO(), io.StringIO()
        code = await pair(
            PairOptions(gw.url, timeout=250, retry_every=0), out, err, clock=lambda: next(ticks)
        )
    assert code == 1
    assert "openclaw devices approve req-late" in out.getvalue()
    assert "Run this command again" in err.getvalue()
    assert "0:00 elapsed, 4:10 left" in err.getvalue()
    assert "3:20 elapsed, 0:50 left" in err.getvalue()


async def test_a_wrong_shared_token_fails_with_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    message = (
        "unauthorized: gateway token mismatch (use this gateway's gateway.auth.token or pair the device)"
    )
    reject = Rejection(
        {"code": "INVALID_REQUEST", "message": message, "details": {"code": "AUTH_TOKEN_MISMATCH"}},
        1008,
        message,
    )
    monkeypatch.setenv("GW_TOKEN", "wrong")
    async with FakeGateway(on_connect=lambda p: reject) as gw:
        code, _, err = await run_pair(gw.url, token_env="GW_TOKEN")
    assert code == 1
    assert "gateway token mismatch" in err
    assert "OPENCLAW_GATEWAY_TOKEN (or the variable named by --token-env)" in err


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"gateway": "http://127.0.0.1:18789"}, "not a ws:// or wss:// URL"),
        ({"gateway": "ws://192.168.1.20:18789"}, "refusing plain ws://"),
        ({"gateway": "ws://127.0.0.1:18789", "agent": "Dev 1"}, "must match"),
        ({"gateway": "ws://127.0.0.1:18789", "token_env": "SURELY_UNSET_VARIABLE"}, "not set"),
        ({"gateway": "ws://127.0.0.1:18789", "timeout": 0}, "--timeout"),
    ],
)
async def test_bad_input_exits_2_and_says_what_to_fix(options: dict[str, Any], message: str) -> None:
    out, err = io.StringIO(), io.StringIO()
    assert await pair(PairOptions(**options), out, err) == 2
    assert message in err.getvalue()


async def test_without_a_usable_keyring_pairing_fails_and_names_both_fixes() -> None:
    keyring.set_keyring(keyring.backends.fail.Keyring())
    out, err = io.StringIO(), io.StringIO()
    assert await pair(PairOptions("ws://127.0.0.1:18789"), out, err) == 1
    assert "dbus-run-session" in err.getvalue()
    assert "--token-store file" in err.getvalue()


async def test_an_unreachable_gateway_fails_with_exit_1() -> None:
    async with FakeGateway() as gw:
        url = gw.url
    code, _, err = await run_pair(url)
    assert code == 1
    assert "refused the connection" in err


def test_pair_help_shows_examples(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["pair", "--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    assert "examples:" in text
    assert "sidecar pair --gateway ws://127.0.0.1:18789 --agent dev-1" in text
    assert "openclaw devices approve <requestId>" in text


def test_pair_without_a_gateway_resolves_it_as_serve_does_and_says_from_where(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as probe:  # a port nothing listens on: pair fails fast, after saying its sources
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("OPENCLAW_GATEWAY_URL", f"ws://127.0.0.1:{port}")
    monkeypatch.setenv("SIDECAR_TOKEN_STORE", "file")
    monkeypatch.setenv("SIDECAR_TOKEN_FILE", str(tmp_path / "secrets.json"))
    assert cli.main(["pair", "--agent", "dev-1", "--timeout", "1"]) == 1
    err = capsys.readouterr().err
    assert f"gateway ws://127.0.0.1:{port} (from $OPENCLAW_GATEWAY_URL)" in err
    assert "token store file (from $SIDECAR_TOKEN_STORE)" in err


async def test_the_sidecar_command_pairs_with_the_file_store_and_warns(tmp_path: Path) -> None:
    secrets = tmp_path / "store" / "secrets.json"
    env = {
        **os.environ,
        "SIDECAR_TOKEN_STORE": "file",
        "SIDECAR_TOKEN_FILE": str(secrets),
        "OPENCLAW_GATEWAY_TOKEN": "shared-file",
    }
    async with FakeGateway(issue_token="file-token-1") as gw:
        with anyio.fail_after(30):
            result = await anyio.run_process(
                [sys.executable, "-m", "sidecar", "pair", "--gateway", gw.url, "--agent", "dev-2"],
                env=env,
                cwd=ROOT,
                check=False,
            )
    out, err = result.stdout.decode(), result.stderr.decode()
    assert result.returncode == 0, err
    assert "paired: agent dev-2" in out
    assert "not in an OS keyring" in err
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o600
    assert stat.S_IMODE(secrets.parent.stat().st_mode) == 0o700
    assert "file-token-1" in secrets.read_text()
    assert "file-token-1" not in out + err
    assert (
        subprocess.run(
            [sys.executable, "-m", "sidecar", "pair", "--help"], capture_output=True, check=False, cwd=ROOT
        ).returncode
        == 0
    )


async def test_a_first_pairing_without_the_shared_token_says_which_variable_to_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    message = "unauthorized: gateway token missing (provide gateway auth token)"
    reject = Rejection(
        {"code": "INVALID_REQUEST", "message": message, "details": {"code": "AUTH_TOKEN_MISSING"}},
        1008,
        message,
    )
    monkeypatch.delenv("OPENCLAW_GATEWAY_TOKEN", raising=False)
    async with FakeGateway(on_connect=lambda p: reject) as gw:
        code, _, err = await run_pair(gw.url)
    assert code == 1
    assert "export OPENCLAW_GATEWAY_TOKEN" in err
