"""The fleet page in a real headless Chromium: it renders offline, a click explains a cell, and it stays
usable at a hundred agents. Screenshots are kept in the test's output directory."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import anyio
import pytest

from sidecar.cli import main
from tests.fleet.chromium import CHROMIUM, chromium

pytestmark = pytest.mark.anyio
SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def needs_chromium() -> None:
    if shutil.which(CHROMIUM) is None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("chromium is missing: scripts/ensure-chromium installs it (scripts/test runs it)")
        pytest.skip("chromium is not installed: run scripts/ensure-chromium")


def page_of(tmp_path: Path, policy: dict[str, Any], name: str) -> Path:
    source = tmp_path / f"{name}.json5"
    source.write_text(json.dumps(policy, indent=2), encoding="utf-8")
    out = tmp_path / f"{name}.html"
    assert main(["policy", "matrix", "--policy", str(source), "--format", "html", "-o", str(out)]) == 0
    return out


def keep(shot: Path) -> None:
    print(f"screenshot: {shot}")


async def test_the_hierarchy_page_renders_offline_and_a_click_explains_the_cell(tmp_path: Path) -> None:
    hierarchy = json.loads((SCENARIOS / "hierarchy.json").read_text(encoding="utf-8"))
    page_file = page_of(tmp_path, hierarchy["policy"], "hierarchy")
    with anyio.fail_after(60):
        async with chromium() as page:
            await page.open(page_file.as_uri())
            await page.wait_for("document.querySelectorAll('#grid td[data-i]').length === 100")
            assert page.requests == [page_file.as_uri()], "the page must load nothing but itself"
            assert page.errors == []
            tabs = await page.evaluate(
                "[...document.querySelectorAll('#tabs button')].map(b => b.textContent)"
            )
            assert tabs == [
                "sessions_list24/100",
                "sessions_history24/100",
                "sessions_send23/100",
                "sessions_spawn10/100",
            ]

            await page.click("#tabs button[data-t='2']")  # sessions_send
            agents = await page.evaluate(
                "JSON.parse(document.getElementById('fleet-data').textContent).agents"
            )
            i, j = agents.index("lead"), agents.index("hr")
            await page.click(f"#grid td[data-i='{i}'][data-j='{j}'] b")
            text = await page.wait_for(
                "document.querySelector('#detail h2') && document.getElementById('detail').innerText"
            )
            assert "lead \u2192 hr" in text
            assert "DENIED at gate 'visibility'" in text
            assert "agents.entries.lead.tools.sessions.visibleAgents" in text
            assert "fix" in text and "every gate" in text.lower()
            assert (
                f"sidecar explain --policy {tmp_path / 'hierarchy.json5'} --agent lead sessions_send agent:hr:main"
                in text
            )
            assert await page.evaluate("document.querySelector('#grid td.sel') !== null")
            keep(await page.screenshot(tmp_path / "hierarchy-send-lead-hr.png"))

            # The manager may not message research: receivesFrom decides, and the page says so.
            m, r = agents.index("manager"), agents.index("research")
            await page.click(f"#grid td[data-i='{m}'][data-j='{r}'] b")
            text = await page.evaluate("document.getElementById('detail').innerText")
            assert "DENIED at gate 'receives-from'" in text
            assert "agents.entries.research.tools.agentToAgent.receivesFrom" in text


def hundred_agents() -> dict[str, Any]:
    entries: dict[str, Any] = {
        "manager": {
            "tools": {"sessions": {"visibility": "all"}, "agentToAgent": {"enabled": True, "allow": ["*"]}}
        }
    }
    for team in range(9):
        entries[f"lead{team}"] = {
            "tools": {
                "sessions": {"visibility": "scoped", "visibleAgents": [f"team{team}-*"]},
                "agentToAgent": {"enabled": True, "allow": [f"team{team}-*"]},
            }
        }
        for dev in range(10):
            entries[f"team{team}-{dev}"] = {}
    return {
        "tools": {"sessions": {"visibility": "self"}, "agentToAgent": {"enabled": False}},
        "agents": {"entries": entries},
    }


async def test_a_hundred_agent_page_filters_groups_and_still_explains(tmp_path: Path) -> None:
    page_file = page_of(tmp_path, hundred_agents(), "hundred")
    size = page_file.stat().st_size
    assert size < 6_000_000, f"the page is {size} bytes"
    with anyio.fail_after(300):  # a loaded 2-core box renders 10,000 cells slowly
        async with chromium() as page:
            await page.open(page_file.as_uri())
            await page.wait_for("document.querySelectorAll('#grid tbody tr').length > 0")
            assert page.errors == []
            assert await page.evaluate("document.querySelectorAll('#grid td[data-i]').length") == 100 * 100
            keep(await page.screenshot(tmp_path / "hundred-all.png"))

            # Collapse team3: its ten rows and columns become one aggregate row and column.
            await page.click("#grid thead th[data-group='team3']")
            assert await page.evaluate("document.querySelectorAll('#grid td.agg').length") == 2 * 91 - 1
            # Filter to one team and its lead: a readable 11 x 11 grid.
            await page.click("#grid thead th[data-group='team3']")
            await page.type("#filter", "team4-* lead4")
            await page.wait_for("document.querySelectorAll('#grid td[data-i]').length === 121")
            rows = await page.evaluate(
                "[...document.querySelectorAll('#grid tbody th')].map(t => t.innerText.replace(/[\u25be\u25b8]/g, ''))"
            )
            assert rows == ["lead4", *(f"team4-{d}" for d in range(10))]
            await page.click("#tabs button[data-t='2']")
            agents = await page.evaluate(
                "JSON.parse(document.getElementById('fleet-data').textContent).agents"
            )
            await page.click(
                f"#grid td[data-i='{agents.index('lead4')}'][data-j='{agents.index('team4-7')}'] b"
            )
            text = await page.wait_for(
                "document.querySelector('#detail h2') && document.getElementById('detail').innerText"
            )
            assert "lead4 \u2192 team4-7" in text and "ALLOWED" in text
            assert "agents.entries.lead4.tools.agentToAgent.allow" in text
            await page.click(
                f"#grid td[data-i='{agents.index('team4-7')}'][data-j='{agents.index('lead4')}'] b"
            )
            text = await page.evaluate("document.getElementById('detail').innerText")
            assert "DENIED at gate 'visibility'" in text
            keep(await page.screenshot(tmp_path / "hundred-filtered.png"))


async def test_the_svg_picture_renders_every_cell_with_its_deciding_key(tmp_path: Path) -> None:
    hierarchy = json.loads((SCENARIOS / "hierarchy.json").read_text(encoding="utf-8"))
    source = tmp_path / "hierarchy.json5"
    source.write_text(json.dumps(hierarchy["policy"], indent=2), encoding="utf-8")
    out = tmp_path / "hierarchy.svg"
    assert main(["policy", "matrix", "--policy", str(source), "--format", "svg", "-o", str(out)]) == 0
    with anyio.fail_after(60):
        async with chromium() as page:
            await page.open(out.as_uri())
            titles = await page.evaluate(
                "[...document.querySelectorAll('rect > title')].map(t => t.textContent)"
            )
            assert len(titles) == 4 * 100
            assert any(
                t.startswith("manager \u2192 research (sessions_send): denied at receives-from")
                and "agents.entries.research.tools.agentToAgent.receivesFrom" in t
                for t in titles
            )
            keep(await page.screenshot(tmp_path / "hierarchy-svg.png", full=True))
