"""The page's compact document gives back every cell's texts exactly, and embeds safely in HTML."""

from __future__ import annotations

import json
from pathlib import Path

from sidecar.fleet import page_data, render_html, to_json
from sidecar.policy import StaticView, access_matrix, parse_policy

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
HIERARCHY = json.loads((SCENARIOS / "hierarchy.json").read_text(encoding="utf-8"))
POLICY = parse_policy(json.dumps(HIERARCHY["policy"], indent=2), "hierarchy.json5")


def text(data: dict, index: int, a: str, b: str) -> str | None:  # type: ignore[type-arg]
    return None if index < 0 else data["strings"][index].replace("\x01", a).replace("\x02", b)


def test_every_templated_text_comes_back_exactly_as_the_engine_wrote_it() -> None:
    matrix = access_matrix(POLICY, StaticView(agents=POLICY.known_agents), explain=True)
    data = page_data(matrix)
    n = len(matrix.agents)
    for t, tool in enumerate(matrix.tools):
        for i, a in enumerate(matrix.agents):
            for j, b in enumerate(matrix.agents):
                cell = matrix.cell(a, b, tool)
                allowed, gate, source, message, fix, checks, would_deny = data["cells"][t][i * n + j]
                assert bool(would_deny) is cell.would_deny
                assert bool(allowed) is cell.allowed
                assert (data["gates"][gate] if gate >= 0 else None) == cell.gate
                assert text(data, source, a, b) == cell.source
                assert text(data, message, a, b) == cell.message
                assert text(data, fix, a, b) == cell.fix
                if cell.checks:
                    rows = data["checksets"][checks]
                    assert [text(data, r[2], a, b) for r in rows] == [c.detail for c in cell.checks]
                    assert [[text(data, s, a, b) for s in r[3]] for r in rows] == [
                        list(c.sources) for c in cell.checks
                    ]
    # One key decides whole rows: far fewer strings than cells.
    assert len(data["strings"]) < n * n


def test_embedded_data_cannot_close_its_script_element() -> None:
    hostile = {"policy": "</script><script>alert(1)</script><!--", "agents": []}
    assert "</script" not in to_json(hostile) and "<!--" not in to_json(hostile)
    assert json.loads(to_json(hostile)) == hostile


def test_the_page_loads_nothing_from_the_network() -> None:
    page = render_html(page_data(access_matrix(POLICY, StaticView())))
    assert "default-src 'none'" in page
    for needle in ("http://", "https://", "src=", "@import", "url("):
        assert needle not in page.replace('xmlns="http://www.w3.org', ""), needle


def test_a_gate_added_later_gets_its_own_letter_and_a_spare_color() -> None:
    from sidecar.fleet._data import GATE_COLORS, SPARE_COLORS, gate_style

    assert gate_style("visibility", 2) == ("V", GATE_COLORS["visibility"])
    letter, color = gate_style("pause", 7)
    assert letter == "P" and color in SPARE_COLORS
    data = page_data(access_matrix(POLICY, StaticView()))
    assert len(data["gateStyle"]) == len(data["gates"])
