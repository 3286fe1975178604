"""A built Policy never changes: the gateway's own defaults make a new one."""

from __future__ import annotations

import json

from sidecar.policy import parse_policy

POLICY = {"agents": {"entries": {"lead": {}, "dev-1": {}}}}


def test_the_gateways_defaults_make_a_new_policy_and_leave_the_built_one_as_it_was() -> None:
    built = parse_policy(json.dumps(POLICY), "team.json5")
    assert (built.default_agent, built.main_key) == ("lead", "main")
    adopted = built.with_gateway_defaults("dev-1", "home")
    assert adopted is not built
    assert (adopted.default_agent, adopted.main_key) == ("dev-1", "home")
    assert (built.default_agent, built.main_key) == ("lead", "main")
    assert adopted.with_gateway_defaults("dev-1", "home") is adopted  # nothing to change: the same one
