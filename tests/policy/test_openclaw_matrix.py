"""The decision matrix measured on a real OpenClaw 2026.9.6 gateway (shared/reference/tools-invoke-oracle.md).

Every cell was observed through the gateway's own tools; the engine must reproduce each one with the
policy file saying nothing beyond the global keys OpenClaw itself has.
"""

from __future__ import annotations

import json

import pytest

from sidecar.policy import Requester, StaticView, decide, parse_policy

MAIN, KID, PA, DEV1, SIDE, DEV2 = (
    "agent:main:main",
    "agent:main:subagent:6f1c",
    "agent:pa:main",
    "agent:dev-1:main",
    "agent:dev-1:side",
    "agent:dev-2:main",
)
TARGETS = (MAIN, KID, PA, DEV1, SIDE, DEV2)
VIEW = StaticView(parents={KID: MAIN})
# Cell codes from the oracle: OK, E1 (self-send, a validation error rather than policy), E2/E3 self,
# E4/E5 cross-agent visibility, E6 tree, E7/E8 agent-to-agent disabled, E9/E10 allow list.
GATE = {
    "OK": None,
    "E2": "visibility",
    "E4": "visibility",
    "E6": "visibility",
    "E7": "agent-to-agent",
    "E9": "allow-list",
}
ALL4 = ["main", "pa", "dev-1", "dev-2"]

ROWS = [
    ({"visibility": "all", "allow": ALL4}, MAIN, "OK OK OK OK OK OK"),
    ({"visibility": "self"}, MAIN, "OK E2 E4 E4 E4 E4"),
    ({"visibility": "self"}, DEV1, "E4 E4 E4 OK E2 E4"),
    ({"visibility": "tree"}, MAIN, "OK OK E4 E4 E4 E4"),
    ({"visibility": "tree"}, DEV1, "E4 E4 E4 OK OK E4"),
    ({"visibility": "tree"}, KID, "E6 OK E4 E4 E4 E4"),
    ({"visibility": "agent"}, KID, "OK OK E4 E4 E4 E4"),
    ({"visibility": "agent"}, DEV1, "E4 E4 E4 OK OK E4"),
    ({"enabled": False}, MAIN, "OK OK E7 E7 E7 E7"),
    ({"allow": ["main", "pa"]}, MAIN, "OK OK OK E9 E9 E9"),
    ({"allow": ["main", "pa"]}, DEV1, "E9 E9 E9 OK OK E9"),
    ({"allow": ["dev-*"]}, DEV1, "E9 E9 E9 OK OK OK"),
    ({"allow": ["dev-*"]}, MAIN, "OK OK E9 E9 E9 E9"),
    ({"allow": ["main", "dev-*"]}, "agent:pa:main", "E9 E9 OK E9 E9 E9"),
    ({"allow": ["main", "dev-*"]}, MAIN, "OK OK E9 OK OK OK"),
    ({"allow": ["*"]}, MAIN, "OK OK OK OK OK OK"),
]


def _policy(row: dict[str, object]) -> dict[str, object]:
    tools: dict[str, object] = {}
    if "visibility" in row:
        tools["sessions"] = {"visibility": row["visibility"]}
    a2a = {k: row[k] for k in ("enabled", "allow") if k in row}
    if a2a:
        tools["agentToAgent"] = a2a
    return {"tools": tools, "agents": {"entries": {a: {} for a in ALL4}}}


@pytest.mark.parametrize(("config", "requester", "cells"), ROWS)
def test_each_cell_of_the_measured_openclaw_matrix_is_reproduced(config, requester, cells) -> None:  # type: ignore[no-untyped-def]
    policy = parse_policy(json.dumps(_policy(config)), "matrix.json5")
    agent = requester.split(":")[1]
    req = Requester.of(agent, requester)
    for target, cell in zip(TARGETS, cells.split(), strict=True):
        tools = ["sessions_history"]
        if req.session_key.split(":")[2] != "subagent" and target != requester:
            tools.append("sessions_send")  # subagents have no sessions_send; self-send is E1 (validation)
        for tool in tools:
            got = decide(policy, req, tool, target, VIEW)
            assert (got.allowed, got.gate) == (cell == "OK", GATE[cell]), (config, requester, target, tool)


@pytest.mark.parametrize(
    ("config", "requester", "target", "tool", "message"),
    [
        (
            {"visibility": "self"},
            MAIN,
            KID,
            "sessions_history",
            "Session history visibility is restricted to the current session (tools.sessions.visibility=self).",
        ),
        (
            {"visibility": "self"},
            MAIN,
            KID,
            "sessions_send",
            "Session send visibility is restricted to the current session (tools.sessions.visibility=self).",
        ),
        (
            {"visibility": "self"},
            MAIN,
            PA,
            "sessions_history",
            "Session history visibility is restricted. Set tools.sessions.visibility=all to allow cross-agent "
            "access; use tools.agentToAgent to restrict permitted agent pairs.",
        ),
        (
            {"visibility": "self"},
            MAIN,
            PA,
            "sessions_send",
            "Session send visibility is restricted. Set tools.sessions.visibility=all to allow cross-agent "
            "access; use tools.agentToAgent to restrict permitted agent pairs.",
        ),
        (
            {"visibility": "tree"},
            KID,
            MAIN,
            "sessions_history",
            "Session history visibility is restricted to the current session tree (tools.sessions.visibility=tree).",
        ),
        (
            {"enabled": False},
            MAIN,
            PA,
            "sessions_history",
            "Agent-to-agent history is disabled. Set tools.agentToAgent.enabled=true to allow cross-agent access.",
        ),
        (
            {"enabled": False},
            MAIN,
            PA,
            "sessions_send",
            "Agent-to-agent messaging is disabled. Set tools.agentToAgent.enabled=true to allow cross-agent sends.",
        ),
        (
            {"allow": ["main", "pa"]},
            MAIN,
            DEV1,
            "sessions_history",
            "Agent-to-agent history denied by tools.agentToAgent.allow.",
        ),
        (
            {"allow": ["main", "pa"]},
            MAIN,
            DEV1,
            "sessions_send",
            "Agent-to-agent messaging denied by tools.agentToAgent.allow.",
        ),
    ],
)
def test_denials_carry_openclaws_exact_strings(config, requester, target, tool, message) -> None:  # type: ignore[no-untyped-def]
    policy = parse_policy(json.dumps(_policy(config)), "matrix.json5")
    got = decide(policy, Requester.of(requester.split(":")[1], requester), tool, target, VIEW)
    assert got.message == message
