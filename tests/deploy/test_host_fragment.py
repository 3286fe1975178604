"""`sidecar manifest openclaw` for the multi-session host: HTTP servers, the plugin, denies; no secret in it."""

from __future__ import annotations

import json
from pathlib import Path

import json5
import pytest

from sidecar.cli import main
from sidecar.deploy import PLUGIN_DIR, PLUGIN_ID, audit_openclaw_config
from sidecar.host import agent_token, load_or_create_key
from sidecar.policy import parse_policy

POLICY = {"agents": {"entries": {"lead": {}, "dev-1": {}}}}


@pytest.fixture
def team(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SIDECAR_STATE_DIR", str(tmp_path / "state"))
    path = tmp_path / "team.json5"
    path.write_text(json.dumps(POLICY), encoding="utf-8")
    return path


def test_the_fragment_points_every_agent_at_its_host_endpoint_with_the_token_from_the_environment(
    team: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dotenv = tmp_path / "openclaw" / ".env"
    dotenv.parent.mkdir()
    dotenv.write_text("OTHER=kept\nSIDECAR_TOKEN_LEAD=stale\n", encoding="utf-8")
    code = main(["manifest", "openclaw", "--policy", str(team), "--port", "9100", "--env-file", str(dotenv)])
    out, err = capsys.readouterr()
    assert code == 0, err
    fragment = json5.loads(out)
    lead = fragment["mcp"]["servers"]["sessions-lead"]
    assert lead["url"] == "http://127.0.0.1:9100/agents/lead/mcp" and lead["transport"] == "streamable-http"
    assert lead["headers"] == {"Authorization": "Bearer ${SIDECAR_TOKEN_LEAD}"}
    assert fragment["mcp"]["servers"]["sessions-dev-1"]["headers"]["Authorization"].endswith(
        "${SIDECAR_TOKEN_DEV_1}"
    )
    key_file = tmp_path / "state" / "host" / "attest.key"
    plugin = fragment["plugins"]["entries"][PLUGIN_ID]
    assert fragment["plugins"]["load"]["paths"] == [str(PLUGIN_DIR)]
    assert plugin == {
        "enabled": True,
        "config": {"keyFile": str(key_file), "servers": {"sessions-lead": "lead", "sessions-dev-1": "dev-1"}},
    }
    assert "sessions-dev-1__*" in fragment["agents"]["entries"]["lead"]["tools"]["deny"]
    assert "sessions_send" in fragment["agents"]["entries"]["lead"]["tools"]["deny"]
    # the tokens went to the dotenv file (0600), never to stdout
    key = load_or_create_key(key_file)
    lines = dotenv.read_text(encoding="utf-8").splitlines()
    assert "OTHER=kept" in lines and f"SIDECAR_TOKEN_LEAD={agent_token(key, 'lead')}" in lines
    assert "SIDECAR_TOKEN_LEAD=stale" not in lines and dotenv.stat().st_mode & 0o777 == 0o600
    assert agent_token(key, "lead") not in out + err and key.hex() not in out + err
    # and the audit takes the host entries for the agents' own sidecars
    assert audit_openclaw_config(fragment, parse_policy(json.dumps(POLICY), str(team))) == []


def test_the_audit_refuses_a_literal_endpoint_token(team: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["manifest", "openclaw", "--policy", str(team)]) == 0
    fragment = json5.loads(capsys.readouterr().out)
    fragment["mcp"]["servers"]["sessions-lead"]["headers"]["Authorization"] = "Bearer abc123"
    findings = audit_openclaw_config(fragment, parse_policy(json.dumps(POLICY), str(team)))
    assert [f.code for f in findings] == ["literal-endpoint-token"]
