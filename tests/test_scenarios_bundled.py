"""The scenarios bundled in scenarios/ are our users' own stories; keep them identical to the shared copies."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "scenarios"


def test_the_four_scenarios_are_bundled() -> None:
    names = sorted(p.stem for p in (REPO / "scenarios").glob("*.json"))
    assert names == ["alfred-fleet", "hierarchy", "siblings", "three-gateways"]


@pytest.mark.skipif(not SHARED.exists(), reason="shared/ is not beside this checkout")
@pytest.mark.parametrize("name", ["alfred-fleet", "hierarchy", "siblings", "three-gateways"])
def test_bundled_scenarios_match_the_shared_reference(name: str) -> None:
    ours = json.loads((REPO / "scenarios" / f"{name}.json").read_text(encoding="utf-8"))
    theirs = json.loads((SHARED / f"{name}.json").read_text(encoding="utf-8"))
    assert ours == theirs
