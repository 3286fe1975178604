"""`sidecar outbox` lists sends with their run ids and states, and never prints a message body."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sidecar.cli import main
from sidecar.mirror import Mirror


def seeded(tmp_path: Path) -> Path:
    path = tmp_path / "mirror.db"
    with Mirror.open(path) as mirror:
        for key, target in (
            ("k-ok", "agent:dev-1:main"),
            ("k-bad", "agent:dev-2:main"),
            ("k-wait", "agent:hr:main"),
        ):
            mirror.outbox.add(
                idempotency_key=key,
                send_id=key,
                requester="agent:lead:main",
                target=target,
                gateway="home",
                body=f"secret body {key}",
            )
        mirror.outbox.delivered("k-ok", run_id="run-1")
        mirror.outbox.failed("k-bad", "ConnectionRefused")
    return path


def test_outbox_lists_every_state_with_run_ids_and_exits_1_when_a_send_failed(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    db = seeded(tmp_path)
    assert main(["outbox", "--db", str(db)]) == 1
    out = capsys.readouterr().out
    assert "delivered" in out and "run-1" in out and "failed" in out and "ConnectionRefused" in out
    assert "pending" in out and "secret body" not in out


def test_outbox_filters_by_status_and_prints_json(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    db = seeded(tmp_path)
    assert main(["outbox", "--db", str(db), "--status", "delivered", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["idempotency_key"], r["run_id"]) for r in rows] == [("k-ok", "run-1")]
    assert all("body" not in r for r in rows)


@pytest.mark.parametrize("argv", [["outbox"], ["outbox", "--db", "/nonexistent/mirror.db"]])
def test_outbox_bad_input_says_what_to_pass(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    assert "sidecar outbox:" in capsys.readouterr().err
