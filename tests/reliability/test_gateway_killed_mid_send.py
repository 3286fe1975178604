"""The real gateway killed mid-send (in flight, while down, at a random moment): 0 lost, 0 duplicated.

The soak (scripts/soak) runs the same scenario 50 times; see tests/reliability/kill_send.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.reliability.kill_send import kill_mid_send

pytestmark = [pytest.mark.anyio, pytest.mark.gateway]


@pytest.mark.every_version
async def test_a_gateway_killed_mid_send_three_ways_loses_and_duplicates_no_message(
    reliability_gateway: Any, tmp_path: Path
) -> None:
    outcome = await kill_mid_send(reliability_gateway, tmp_path, rounds=3)
    assert outcome.ok, outcome.report()
    assert (outcome.counts["lost"], outcome.counts["duplicated"], outcome.counts["exactly_once"]) == (0, 0, 3)
    assert outcome.counts["outbox"] == {"delivered": 4}  # the warm-up and the three rounds
