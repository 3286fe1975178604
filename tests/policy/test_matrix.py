"""The access matrix: every cell is the engine's own decision, in the documented JSON shape."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sidecar.cli import main
from sidecar.policy import (
    TOOLS,
    Requester,
    StaticView,
    Usage,
    access_matrix,
    decide,
    filter_sessions,
    parse_policy,
    render_matrix_text,
)

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
HIERARCHY = json.loads((SCENARIOS / "hierarchy.json").read_text(encoding="utf-8"))
POLICY = parse_policy(json.dumps(HIERARCHY["policy"], indent=2), "hierarchy.json5")
VIEW = StaticView(agents=POLICY.known_agents)


def test_every_cell_is_what_decide_says_for_that_pair() -> None:
    matrix = access_matrix(POLICY, VIEW)
    assert matrix.agents == tuple(sorted(POLICY.known_agents)) and matrix.tools == TOOLS
    assert len(matrix.cells) == 4 * 10 * 10
    for cell in matrix.cells:
        req = Requester.of(cell.from_agent)
        if cell.tool == "sessions_list":
            scope = filter_sessions(POLICY, req, [f"agent:{cell.to_agent}:main"], VIEW)
            assert cell.allowed is bool(scope.visible)
            continue
        target = cell.to_agent if cell.tool == "sessions_spawn" else f"agent:{cell.to_agent}:main"
        # A send cell is the send that does not wait (the diagonal would otherwise be OpenClaw's self-target).
        usage = Usage(send_waits=False) if cell.tool == "sessions_send" else None
        d = decide(POLICY, req, cell.tool, target, VIEW, usage=usage)
        assert (cell.allowed, cell.gate, cell.source) == (d.allowed, d.gate, d.source)


def test_the_scenarios_expectations_show_in_the_matrix() -> None:
    matrix = access_matrix(POLICY, VIEW)
    for case in HIERARCHY["expected"]:
        if case["tool"] == "sessions_list" or "nobody" in str(case["target"]):
            continue
        cell = matrix.cell(case["requester"], case["target"].split(":")[1], case["tool"])
        assert cell.allowed is case["allowed"]
        assert cell.gate == case.get("gate")


def test_json_format_has_exactly_the_documented_shape(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "h.json5"
    path.write_text(json.dumps(HIERARCHY["policy"]), encoding="utf-8")
    assert main(["policy", "matrix", "--policy", str(path), "--format", "json", "--tool", "send"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"agents", "tools", "cells"}
    assert out["tools"] == ["sessions_send"] and len(out["cells"]) == 100
    assert all(
        set(c) == {"from", "to", "tool", "allowed", "gate", "source", "wouldDeny"} for c in out["cells"]
    )
    blocked = next(c for c in out["cells"] if c["from"] == "manager" and c["to"] == "research")
    assert blocked["allowed"] is False and blocked["gate"] == "receives-from"
    assert blocked["source"].endswith("agents.entries.research.tools.agentToAgent.receivesFrom = []")


def test_the_text_grid_marks_each_cell_and_footnotes_its_deciding_key() -> None:
    text = render_matrix_text(access_matrix(POLICY, VIEW, tools=("sessions_send",)))
    rows = {line.split()[1]: line.split()[2:] for line in text.splitlines() if line[:3].strip().isdigit()}
    assert rows["manager"][-1].startswith("R")  # research refuses the manager (receivesFrom)
    note = rows["manager"][-1][1:]
    assert f"[{note}] hierarchy.json5:" in text and "receivesFrom = []" in text
    assert rows["lead"][0].startswith("+") and rows["dev-2"][0].startswith("V")
    assert "23 of 100 allowed" in text


def test_an_unknown_tool_is_bad_input(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "h.json5"
    path.write_text(json.dumps(HIERARCHY["policy"]), encoding="utf-8")
    assert main(["policy", "matrix", "--policy", str(path), "--tool", "sessions_read"]) == 2
    assert "is not a session tool" in capsys.readouterr().err
