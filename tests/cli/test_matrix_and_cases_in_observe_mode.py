"""Observe mode shows in `policy matrix` (every format) and in `policy test`: a call let through only
because its caller is observed is marked as such, with the gate enforce would deny it at."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sidecar.cli import main
from sidecar.fleet import page_data
from sidecar.policy import StaticView, access_matrix, parse_policy

DOC = {
    "tools": {"sessions": {"visibility": "self"}, "agentToAgent": {"enabled": True}},
    "agents": {"entries": {"lead": {"mode": "observe"}, "dev-1": {}}},
}


@pytest.fixture
def policy(tmp_path: Path) -> Path:
    path = tmp_path / "observe.json5"
    path.write_text(json.dumps(DOC), encoding="utf-8")
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().out


def test_a_matrix_json_cell_allowed_only_by_observe_mode_says_would_deny_and_names_the_gate(
    policy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = run(capsys, "policy", "matrix", "--policy", str(policy), "--format", "json", "--tool", "send")
    assert code == 0
    cells = {(c["from"], c["to"]): c for c in json.loads(out)["cells"]}
    assert cells["lead", "dev-1"] == {
        "from": "lead",
        "to": "dev-1",
        "tool": "sessions_send",
        "allowed": True,
        "gate": "visibility",
        "source": cells["lead", "dev-1"]["source"],
        "wouldDeny": True,
    }
    assert cells["dev-1", "lead"]["allowed"] is False and cells["dev-1", "lead"]["wouldDeny"] is False
    assert cells["lead", "lead"] | {"source": None} == {
        "from": "lead", "to": "lead", "tool": "sessions_send", "allowed": True, "gate": None,
        "source": None, "wouldDeny": False,
    }  # fmt: skip


def test_the_matrix_text_grid_marks_an_observed_cell_apart_from_allowed_and_denied(
    policy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = run(capsys, "policy", "matrix", "--policy", str(policy), "--tool", "send")
    assert code == 0
    grid = {
        line.split()[1]: line.split()[2:] for line in out.splitlines() if line.startswith(("  1 ", "  2 "))
    }
    assert grid == {"dev-1": ["+1", "V1"], "lead": ["~V1", "+1"]}
    assert "(1 only by observe mode: enforce would deny them)" in out
    assert "~ and a letter: allowed in observe mode" in out


def test_the_svg_and_the_page_data_mark_an_observed_cell(
    policy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, svg = run(capsys, "policy", "matrix", "--policy", str(policy), "--format", "svg", "--tool", "send")
    assert code == 0
    assert (
        "lead \u2192 dev-1 (sessions_send): allowed in observe mode; enforce would deny at visibility" in svg
    )
    assert 'stroke-dasharray="3 2"' in svg and ">~V<" in svg
    parsed = parse_policy(json.dumps(DOC), "observe.json5")
    matrix = access_matrix(parsed, StaticView(agents=parsed.known_agents), tools=("sessions_send",))
    data = page_data(matrix)
    i, j, n = matrix.agents.index("lead"), matrix.agents.index("dev-1"), len(matrix.agents)
    allowed, gate, *_, would_deny = data["cells"][0][i * n + j]
    assert (allowed, data["gates"][gate], would_deny) == (1, "visibility", 1)


def test_a_hidden_list_row_stays_denied_in_observe_mode_because_lists_are_still_filtered(
    policy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = run(capsys, "policy", "matrix", "--policy", str(policy), "--format", "json", "--tool", "list")
    assert code == 0
    cell = next(c for c in json.loads(out)["cells"] if (c["from"], c["to"]) == ("lead", "dev-1"))
    assert (cell["allowed"], cell["gate"], cell["wouldDeny"]) == (False, "visibility", False)


def test_policy_test_compares_the_enforced_outcome_and_shows_the_observed_gate(
    policy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cases = tmp_path / "cases.json5"
    cases.write_text(
        "[\n  {agent: 'lead', tool: 'sessions_send', target: 'agent:dev-1:main', expect: 'deny',"
        " gate: 'visibility'},\n]\n",
        encoding="utf-8",
    )
    code, out = run(capsys, "policy", "test", "--policy", str(policy), str(cases))
    assert code == 1
    assert "allow (observe; would deny at visibility)" in out
    assert "lead is in observe mode, so this call is let through; enforce would deny it at gate" in out
    code, out = run(capsys, "policy", "test", "--policy", str(policy), str(cases), "--json")
    result = json.loads(out)["results"][0]
    assert result["got"] == "allow (observe; would deny at visibility)" and result["passed"] is False
