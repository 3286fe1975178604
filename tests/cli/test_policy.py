"""`sidecar explain` and `sidecar policy show` against the scenarios our users described."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sidecar.cli import main

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


def scenario(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((SCENARIOS / f"{name}.json").read_text(encoding="utf-8"))
    return data


def write_policy(tmp_path: Path, policy: object, name: str = "policy.json5") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(policy, indent=2), encoding="utf-8")
    return path


def explain(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any]]:
    code = main(["explain", *argv, "--json"])
    out = capsys.readouterr().out
    return code, (json.loads(out) if code == 0 else {})


HIERARCHY = scenario("hierarchy")


@pytest.mark.parametrize(
    "case", HIERARCHY["expected"], ids=lambda c: f"{c['requester']}-{c['tool']}-{c['target']}"
)
def test_every_hierarchy_expectation_holds_through_the_cli(tmp_path, capsys, case) -> None:  # type: ignore[no-untyped-def]
    policy = write_policy(tmp_path, HIERARCHY["policy"])
    target = [case["target"]] if case["target"] else []
    code, out = explain(capsys, "--policy", str(policy), "--agent", case["requester"], case["tool"], *target)
    assert code == 0
    assert out["allowed"] is case["allowed"]
    assert out["gate"] == case.get("gate")
    if not case["allowed"]:
        assert out["message"] and out["source"] and out["fix"]


def test_a_scoped_list_says_it_is_scoped_and_how_many_rows_it_hid(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from sidecar.config import load_policy
    from sidecar.policy import Requester, StaticView, filter_sessions

    policy = load_policy(str(write_policy(tmp_path, HIERARCHY["policy"])))
    rows = [f"agent:{a}:main" for a in ("hr", "finance", "lead", "dev-1", "manager")] + [
        "agent:hr:cron:daily"
    ]
    scope = filter_sessions(policy, Requester.of("hr"), rows, StaticView())
    assert scope.visible == ("agent:hr:main",)
    assert scope.hidden == 5
    assert (
        scope.warning is not None and "5 session(s)" in scope.warning and "visibility=self" in scope.warning
    )


ALFRED = scenario("alfred-fleet")


@pytest.mark.parametrize("step", range(len(ALFRED["steps"])))
def test_every_alfred_fleet_step_decides_as_the_operator_expects(tmp_path, capsys, step) -> None:  # type: ignore[no-untyped-def]
    case = ALFRED["steps"][step]
    policy = write_policy(tmp_path, case["policy"])
    code, out = explain(
        capsys, "--policy", str(policy), "--agent", case["requester"], case["tool"], case["target"]
    )
    assert code == 0
    assert out["allowed"] is case["allowed"]
    assert out["gate"] == case.get("gate")


def test_alfred_defaults_make_policy_show_warn_and_name_the_unset_keys(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    policy = write_policy(tmp_path, ALFRED["steps"][0]["policy"])
    assert main(["policy", "show", "--policy", str(policy), "--agent", "aialfred"]) == 0
    out = capsys.readouterr().out
    assert "WARNING: aialfred can read and message every other agent's sessions" in out
    for key, default in (
        ("tools.sessions.visibility", '"all"'),
        ("tools.agentToAgent.enabled", "true"),
        ("tools.agentToAgent.allow", "[]"),
    ):
        assert f"{key} (unset: OpenClaw 2026.9.6 defaults to {default})" in " ".join(out.split())


def test_alfred_visibility_denial_names_the_tree_key_and_both_fixes(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    policy = write_policy(tmp_path, ALFRED["steps"][1]["policy"])
    _, out = explain(
        capsys, "--policy", str(policy), "--agent", "aialfred", "sessions_send", "agent:aialfred-pa:main"
    )
    assert out["message"] == (
        "Session send visibility is restricted. Set tools.sessions.visibility=all to allow cross-agent access; "
        "use tools.agentToAgent to restrict permitted agent pairs."
    )
    assert out["source"] == f'{policy}:4 tools.sessions.visibility = "tree"'
    assert 'agents.entries.aialfred.tools.sessions.sendVisibility: "all"' in out["fix"]
    assert 'widen tools.sessions.visibility to "all"' in out["fix"]


def test_alfred_allow_list_denial_explains_which_side_fails_and_the_corrected_list(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    policy = write_policy(tmp_path, ALFRED["steps"][2]["policy"])
    _, out = explain(
        capsys, "--policy", str(policy), "--agent", "aialfred", "sessions_send", "agent:aialfred-pa:main"
    )
    assert out["message"] == "Agent-to-agent messaging denied by tools.agentToAgent.allow."
    assert "the requester 'aialfred' does not match and the target 'aialfred-pa' matches" in out["fix"]
    assert "Both sides must match" in out["fix"]
    assert 'tools.agentToAgent.allow: ["aialfred-pa", "aialfred"]' in out["fix"]


def test_alfred_case_near_miss_is_pointed_out(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    policy = write_policy(tmp_path, ALFRED["steps"][4]["policy"])
    _, out = explain(
        capsys, "--policy", str(policy), "--agent", "aialfred", "sessions_send", "agent:aialfred-pa:main"
    )
    assert "'AiAlfred' does not match agent id 'aialfred': exact entries are case-sensitive" in out["fix"]


def test_explain_text_lists_every_gate_in_order_with_its_source(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    policy = write_policy(tmp_path, ALFRED["steps"][2]["policy"])
    assert (
        main(
            [
                "explain",
                "--policy",
                str(policy),
                "--agent",
                "aialfred",
                "sessions_send",
                "agent:aialfred-pa:main",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    gates = [
        "unknown-target",
        "sandbox",
        "visibility",
        "agent-to-agent",
        "allow-list",
        "receives-from",
        "spawn-allow",
    ]
    positions = [out.index(g) for g in gates]
    assert positions == sorted(positions)
    assert "FAIL  allow-list" in out and "DENIED at gate 'allow-list'" in out
    assert f"from {policy}:8 tools.agentToAgent.allow" in out


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--agent", "lead", "sessions_send", "agent:dev-1:main"], "no policy file given"),
        (
            ["--policy", "{p}", "--agent", "Lead!", "sessions_send", "agent:dev-1:main"],
            "not a valid agent id",
        ),
        (
            ["--policy", "{p}", "--agent", "ghost", "sessions_send", "agent:dev-1:main"],
            "agents.entries.ghost",
        ),
        (["--policy", "{p}", "--agent", "lead", "sessions_send"], "needs a TARGET"),
        (
            ["--policy", "{p}", "--agent", "lead", "--session", "agent:hr:main", "sessions_list"],
            "belongs to agent",
        ),
        (["--policy", "{missing}", "--agent", "lead", "sessions_list"], "policy file not found"),
    ],
)
def test_bad_input_exits_2_with_a_message_that_says_what_to_do(
    tmp_path, capsys, monkeypatch, argv, needle
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("SIDECAR_POLICY", raising=False)
    policy = write_policy(tmp_path, HIERARCHY["policy"])
    argv = [a.format(p=policy, missing=tmp_path / "nope.json5") for a in argv]
    assert main(["explain", *argv]) == 2
    assert needle in capsys.readouterr().err


def test_the_policy_can_come_from_the_environment(tmp_path, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("SIDECAR_POLICY", str(write_policy(tmp_path, HIERARCHY["policy"])))
    code, out = explain(capsys, "--agent", "lead", "sessions_send", "agent:dev-1:main")
    assert code == 0 and out["allowed"] is True


def test_the_console_script_runs_and_help_teaches_with_examples(tmp_path) -> None:  # type: ignore[no-untyped-def]
    policy = write_policy(tmp_path, HIERARCHY["policy"])
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "sidecar",
            "explain",
            "--policy",
            str(policy),
            "--agent",
            "dev-2",
            "sessions_history",
            "agent:lead:main",
            "--json",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["gate"] == "visibility"
    for cmd in (["explain", "--help"], ["policy", "show", "--help"]):
        helped = subprocess.run(
            [sys.executable, "-m", "sidecar", *cmd], capture_output=True, text=True, check=True
        )
        assert "examples:" in helped.stdout
