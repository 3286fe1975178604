"""`sidecar policy test`: the table, the exit codes, and every example policy's own cases."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from sidecar.cli import main

REPO = Path(__file__).resolve().parents[2]
POLICIES = REPO / "manifests" / "policies"


@pytest.mark.parametrize("policy", sorted(POLICIES.glob("*.json5")), ids=lambda p: p.stem)
def test_every_example_policy_ships_cases_that_pass(policy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cases = POLICIES / "cases" / policy.name
    assert cases.is_file(), f"{policy.name} has no cases file at {cases.relative_to(REPO)}"
    code = main(["policy", "test", "--policy", str(policy), str(cases)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "FAIL" not in out and "result: all" in out
    # The header of each cases file shows the command that runs it.
    assert (
        f"--policy manifests/policies/{policy.name} manifests/policies/cases/{policy.name}"
        in cases.read_text()
    )


def test_a_failing_case_exits_1_with_the_deciding_key_and_fix(tmp_path: Path) -> None:
    cases = tmp_path / "c.json5"
    cases.write_text(
        '[\n  {agent: "dev-1", tool: "sessions_send", target: "agent:lead:main", expect: "allow"},\n]\n'
    )
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "sidecar",
            "policy",
            "test",
            "--policy",
            str(POLICIES / "team-lead.json5"),
            str(cases),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert f"FAIL  {cases}:2" in done.stdout
    assert "decided by: " in done.stdout and "team-lead.json5:5 tools.sessions.visibility" in done.stdout
    assert "fix: " in done.stdout


def test_bad_input_exits_2_naming_the_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cases = tmp_path / "c.json5"
    cases.write_text(
        '[\n  {agent: "lead", tool: "sessions_send", target: "agent:dev-1:main", expect: "alow"},\n]\n'
    )
    assert main(["policy", "test", "--policy", str(POLICIES / "team-lead.json5"), str(cases)]) == 2
    err = capsys.readouterr().err
    assert f"{cases}:2: cases[0].expect: 'alow' is not allowed" in err


def test_a_missing_cases_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policy", "test", "--policy", str(POLICIES / "team-lead.json5"), str(tmp_path / "no")]) == 2
    assert "cases file not found" in capsys.readouterr().err


def test_json_output_has_one_result_per_case_with_its_decision(capsys: pytest.CaptureFixture[str]) -> None:
    name = "isolated.json5"
    code = main(
        ["policy", "test", "--policy", str(POLICIES / name), str(POLICIES / "cases" / name), "--json"]
    )
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert all(r["passed"] for r in out["results"])
    first = out["results"][0]
    assert first["decision"]["gate"] == "receives-from" and first["decision"]["source"]
