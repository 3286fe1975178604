"""Every example policy in manifests/policies loads through the engine and scopes its role as described."""

from __future__ import annotations

from pathlib import Path

import pytest

from sidecar.config import load_policy
from sidecar.policy import Requester, StaticView, decide

POLICIES = Path(__file__).resolve().parents[2] / "manifests" / "policies"


@pytest.mark.parametrize("path", sorted(POLICIES.glob("*.json5")), ids=lambda p: p.stem)
def test_every_example_policy_loads_and_names_the_agent_it_serves(path: Path) -> None:
    policy = load_policy(str(path))
    served = path.read_text(encoding="utf-8").split("--agent ", 1)[1].split()[0]
    assert served in policy.agent_ids


@pytest.mark.parametrize(
    ("name", "agent", "tool", "target", "allowed"),
    [
        ("orchestrator", "manager", "sessions_send", "agent:coder:main", True),
        ("orchestrator", "coder", "sessions_history", "agent:writer:main", False),
        ("team-lead", "lead", "sessions_send", "agent:dev-2:main", True),
        ("team-lead", "dev-1", "sessions_send", "agent:lead:main", False),
        ("specialist", "dev-1", "sessions_send", "agent:lead:main", True),
        ("specialist", "dev-1", "sessions_history", "agent:lead:main", False),
        ("isolated", "manager", "sessions_send", "agent:research:main", False),
        ("isolated", "research", "sessions_history", "agent:manager:main", False),
        ("send-only-reporter", "reporter", "sessions_send", "agent:ops:main", True),
        ("send-only-reporter", "reporter", "sessions_history", "agent:ops:main", False),
        ("send-only-reporter", "manager", "sessions_send", "agent:ops:main", True),
        ("peer-fleet", "jarvis", "sessions_send", "agent:pepper:main", True),
        ("peer-fleet", "jarvis", "sessions_spawn", "ultron", True),
        ("peer-fleet", "jarvis", "sessions_send", "agent:friday:main", False),
        ("peer-fleet", "jarvis", "sessions_send", "agent:nobody:main", False),
    ],
)
def test_each_role_policy_does_what_its_comment_says(name, agent, tool, target, allowed) -> None:  # type: ignore[no-untyped-def]
    policy = load_policy(str(POLICIES / f"{name}.json5"))
    assert decide(policy, Requester.of(agent), tool, target, StaticView()).allowed is allowed
