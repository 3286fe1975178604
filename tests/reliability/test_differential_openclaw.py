"""The sidecar's decisions equal OpenClaw's for generated global configs (POST /tools/invoke as the oracle).

CI compares 8 configs (the hand-picked ones: case variants, globs, unset defaults, an empty allow list,
agent-to-agent off) on every supported release, each against its own gateway and semantics; the soak adds
random ones. See tests/reliability/differential.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.reliability.differential import FIXED, configs, differential, sidecar_policy

pytestmark = [pytest.mark.anyio, pytest.mark.gateway]


@pytest.mark.every_version
async def test_for_nine_configs_every_history_send_and_list_decision_matches_openclaw(
    reliability_gateway: Any,
) -> None:
    # Requesters: main and named sessions of several agents and a subagent of main (an orchestrator, and a
    # leaf in the last config), every send included: self-sends and the subagent's (OpenClaw never offers
    # it sessions_send).
    outcome = await differential(reliability_gateway, count=9)
    assert outcome.ok, outcome.report()
    assert outcome.counts["configs"] == 9 and outcome.counts["disagreements"] == 0
    # 2026.9 answers every cell; older releases offer a subagent no session tool (skipped, not compared).
    assert outcome.counts["cells"] >= (8 * 50 if reliability_gateway.tools.version == "2026.9.6" else 8 * 45)


def test_the_generated_configs_start_with_the_hand_picked_ones_then_vary() -> None:
    picked = configs(20, seed=3)
    assert picked[: len(FIXED)] == FIXED
    assert len({repr(c) for c in picked}) > len(FIXED) + 5
    for config in picked:
        policy = sidecar_policy(config, ["main", "pa", "dev-1", "dev-2"])  # every one is a valid policy
        assert policy.default_agent == "main"
