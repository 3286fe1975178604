"""`sidecar status` and `down` refuse a policy file that is not there instead of ignoring it; the host
commands' help documents every option and exit code."""

from __future__ import annotations

from pathlib import Path

import pytest

from sidecar.cli import build_parser, main


@pytest.mark.parametrize("command", ["status", "down"])
def test_status_and_down_refuse_a_missing_policy_file_and_say_so(
    command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SIDECAR_STATE_DIR", str(tmp_path / "state"))
    code = main([command, "--policy", str(tmp_path / "team.json5")])
    err = capsys.readouterr().err
    assert code == 2
    assert f"sidecar {command}: " in err and "team.json5" in err and "not found" in err


def test_status_and_down_without_a_policy_still_act_on_the_host(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SIDECAR_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("SIDECAR_POLICY", raising=False)
    assert main(["status"]) == 3
    assert main(["down"]) == 0
    assert "not running" in capsys.readouterr().out


@pytest.mark.parametrize("command", ["host", "up"])
def test_every_option_of_host_and_up_has_help_text(command: str) -> None:
    parser = build_parser(command)
    sub = next(a for a in parser._actions if a.dest == "command").choices[command]  # type: ignore[attr-defined]
    bare = [a.option_strings[0] for a in sub._actions if a.option_strings and not a.help]
    assert not bare, bare


def test_the_host_help_documents_that_status_exits_3_when_no_host_runs() -> None:
    parser = build_parser("status")
    sub = next(a for a in parser._actions if a.dest == "command").choices["status"]  # type: ignore[attr-defined]
    assert "3 from status when no host is running" in " ".join(sub.format_help().split())
