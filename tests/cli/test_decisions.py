"""`sidecar decisions export` and `tail`: one audit record per decision, linked to its trace and run,
and never a message body or a token."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from sidecar.cli import main
from sidecar.mirror import AUDIT_FIELDS, Mirror, ServiceStore, SessionRow
from sidecar.policy import Requester, parse_policy
from sidecar.tools import Denied, GatewayPool, SessionsService
from tests.fakes import FakeGateway

REPO = Path(__file__).resolve().parents[2]
BODY = "AUDIT-EXPORT-SECRET-BODY-7f3a"
TOKEN = "gw-token-AUDIT-EXPORT-9c1e5b"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def drive(db: Path) -> dict[str, str]:
    """A real SessionsService over a file mirror: one allowed send, one denied send, one spawn."""
    hierarchy = json.loads((REPO / "scenarios" / "hierarchy.json").read_text("utf-8"))
    policy = parse_policy(json.dumps(hierarchy["policy"]), "hierarchy.json5")
    agents = sorted(policy.agent_ids)
    gw = FakeGateway(agents=agents)
    with Mirror.open(db) as mirror:
        mirror.set_agents("home", agents)
        for agent in agents:
            gw.histories[f"agent:{agent}:main"] = []
            mirror.apply([SessionRow(key=f"agent:{agent}:main", gateway="home", agent=agent, seen_at=1.0)])

        async def connect(name: str, url: str, insecure: bool) -> FakeGateway:
            return gw

        service = SessionsService(
            policy, Requester.of("lead"), ServiceStore(mirror), GatewayPool("ws://127.0.0.1:1", (), connect)
        )
        sent = await service.sessions_send(session_key="agent:dev-1:main", message=BODY, timeout_seconds=0)
        with pytest.raises(Denied):
            await service.sessions_send(session_key="agent:hr:main", message=BODY, timeout_seconds=0)
        await service.sessions_spawn(task=BODY, agent_id="lead")
    return {"runId": sent["runId"], "traceId": sent["trace"]["id"]}


@pytest.mark.anyio
async def test_export_has_one_record_per_decision_linked_to_its_run_and_never_a_body_or_token(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENCLAW_GATEWAY_TOKEN", TOKEN)
    db = tmp_path / "lead" / "mirror.db"
    with anyio.fail_after(20):
        sent = await drive(db)
    assert main(["decisions", "export", "--db", str(db), "--format", "jsonl"]) == 0
    out = capsys.readouterr().out
    assert BODY not in out and TOKEN not in out
    records = [json.loads(line) for line in out.splitlines()]
    assert [(r["tool"], r["outcome"]) for r in records] == [
        ("sessions_send", "allowed"),
        ("sessions_send", "denied"),
        ("sessions_spawn", "allowed"),
    ]
    assert all(set(AUDIT_FIELDS) <= set(r) for r in records)
    send, denied, _ = records
    assert (send["requester"], send["requesterSession"], send["target"]) == (
        "lead",
        "agent:lead:main",
        "agent:dev-1:main",
    )
    assert (send["runId"], send["traceId"]) == (sent["runId"], sent["traceId"])
    assert send["source"].startswith("hierarchy.json5:")
    assert (denied["gate"], denied["runId"]) == ("visibility", None)
    assert "visibleAgents" in denied["source"]
    # Nothing on disk the export read from holds the token either.
    assert TOKEN.encode() not in b"".join(p.read_bytes() for p in db.parent.iterdir() if p.is_file())


@pytest.mark.anyio
async def test_export_since_skips_older_decisions(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "lead" / "mirror.db"
    with Mirror.open(db) as mirror:
        for ts, target in ((1000.0, "agent:dev-1:main"), (2_000_000_000.0, "agent:dev-2:main")):
            mirror.decisions.record(
                requester_agent="lead", requester_session="agent:lead:main", tool="sessions_history",
                target=target, outcome="allowed", source="x", ts=ts,
            )  # fmt: skip
    assert main(["decisions", "export", "--db", str(db), "--since", "2030-01-01T00:00"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["target"] for r in records] == ["agent:dev-2:main"]
    assert records[0]["time"] == "2033-05-18T03:33:20.000Z"


def test_bad_input_is_exit_2_with_what_to_do(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["decisions", "export"]) == 2
    assert "pass --agent ID" in capsys.readouterr().err
    assert main(["decisions", "export", "--db", str(tmp_path / "none.db")]) == 2
    assert "no mirror at" in capsys.readouterr().err
    with Mirror.open(tmp_path / "m.db"):
        pass
    assert main(["decisions", "tail", "--db", str(tmp_path / "m.db"), "--since", "yesterday"]) == 2
    assert "give a duration" in capsys.readouterr().err


def test_tail_follows_decisions_as_another_process_makes_them(tmp_path: Path) -> None:
    db = tmp_path / "lead" / "mirror.db"
    with Mirror.open(db) as mirror:
        mirror.decisions.record(
            requester_agent="lead", requester_session="agent:lead:main", tool="sessions_list",
            target=None, outcome="allowed", source="old",
        )  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    tail = subprocess.Popen(
        [sys.executable, "-m", "sidecar", "decisions", "tail", "--db", str(db), "--format", "jsonl", "-n", "1", "--count", "3"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        assert tail.stdout is not None
        first = json.loads(tail.stdout.readline())
        assert first["source"] == "old"
        with Mirror.open(db) as mirror:
            for target in ("agent:dev-1:main", "agent:dev-2:main"):
                mirror.decisions.record(
                    requester_agent="lead", requester_session="agent:lead:main", tool="sessions_send",
                    target=target, outcome="denied", gate="visibility", source="new",
                )  # fmt: skip
        rest = [json.loads(tail.stdout.readline()) for _ in range(2)]
        assert [r["target"] for r in rest] == ["agent:dev-1:main", "agent:dev-2:main"]
        assert tail.wait(timeout=20) == 0
    finally:
        if tail.poll() is None:
            tail.kill()
            tail.wait()
        for stream in (tail.stdout, tail.stderr):
            if stream is not None:
                stream.close()
