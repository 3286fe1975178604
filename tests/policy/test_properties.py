"""The engine against a tiny reference model, plus the monotonicity and deny-wins properties."""

from __future__ import annotations

import dataclasses
import json
import os

from hypothesis import given, settings
from hypothesis import strategies as st

from sidecar.policy import Requester, StaticView, decide, parse_policy
from tests.policy.reference import AgentCfg, Cfg, ref_decide, to_policy

AGENTS = ["main", "ops", "dev-1", "dev-2", "qa"]
VIS = ["self", "tree", "agent", "all", "scoped"]
OC_VIS = ["self", "tree", "agent", "all"]
PATTERNS = ["main", "ops", "dev-1", "Dev-1", "dev-*", "DEV-*", "*-1", "*", "", " ops ", "q*a", "nobody"]
EXAMPLES = int(os.environ.get("SIDECAR_PROPERTY_EXAMPLES", "150"))
TOOLS = ("sessions_history", "sessions_send", "sessions_list")

opt = st.none() | st.just(None)
patterns = st.lists(st.sampled_from(PATTERNS), max_size=3)
agent_cfg = st.builds(
    AgentCfg,
    visibility=st.none() | st.sampled_from(VIS),
    send_visibility=st.none() | st.sampled_from(VIS),
    visible_agents=st.none() | patterns,
    a2a=st.none() | st.booleans(),
    allow=st.none() | patterns,
    receives_from=st.none() | patterns,
)
configs = st.builds(
    Cfg,
    visibility=st.none() | st.sampled_from(OC_VIS),
    a2a=st.none() | st.booleans(),
    allow=st.none() | patterns,
    agents=st.fixed_dictionaries({a: agent_cfg for a in AGENTS}),
)


def sessions() -> tuple[list[str], dict[str, str]]:
    """Every agent's main and a side session; subagents spawned across agents (cross-agent ownership)."""
    keys = [f"agent:{a}:{rest}" for a in AGENTS for rest in ("main", "side")]
    parents = {
        "agent:dev-1:subagent:k1": "agent:main:main",
        "agent:main:subagent:k2": "agent:main:main",
        "agent:qa:subagent:k3": "agent:ops:side",
        "agent:ops:side": "agent:ops:main",
    }
    keys += [k for k in parents if k not in keys]
    return [*keys, "agent:ghost:main"], parents


def engine(cfg: Cfg) -> tuple[object, StaticView]:
    policy = parse_policy(json.dumps(to_policy(cfg)), "generated.json5")
    _, parents = sessions()
    return policy, StaticView(agents=frozenset(), parents=parents)


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True)
@given(configs)
def test_the_engine_agrees_with_the_reference_model_on_every_generated_case(cfg: Cfg) -> None:
    policy, view = engine(cfg)
    keys, parents = sessions()
    requesters = [
        ("main", "agent:main:main"),
        ("ops", "agent:ops:side"),
        ("dev-1", "agent:dev-1:main"),
        ("main", "agent:main:subagent:k2"),
        ("qa", "agent:qa:main"),
    ]
    cases = 0
    for agent, req_key in requesters:
        requester = Requester.of(agent, req_key)
        for tool in ("sessions_history", "sessions_send"):
            for target in keys:
                got = decide(policy, requester, tool, target, view)  # type: ignore[arg-type]
                want = ref_decide(cfg, agent, req_key, tool, target, parents)
                assert (got.allowed, got.gate) == want, (agent, req_key, tool, target, got.message)
                cases += 1
    assert cases >= 70  # EXAMPLES x cases >= 10k generated decisions per run


def _allowed(cfg: Cfg, agent: str, req_key: str, tool: str, target: str) -> bool:
    policy, view = engine(cfg)
    return decide(policy, Requester.of(agent, req_key), tool, target, view).allowed  # type: ignore[arg-type]


def _with_visibility(cfg: Cfg, agent: str, vis: str) -> Cfg:
    agents = dict(cfg.agents)
    agents[agent] = dataclasses.replace(agents[agent], visibility=vis, send_visibility=None)
    return dataclasses.replace(cfg, agents=agents)


targets = st.sampled_from(sessions()[0][:-1])
requesters = st.sampled_from(
    [("main", "agent:main:main"), ("ops", "agent:ops:side"), ("main", "agent:main:subagent:k2")]
)


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True)
@given(configs, requesters, st.sampled_from(TOOLS[:2]), targets)
def test_wider_visibility_never_denies_what_a_narrower_one_allows(cfg, req, tool, target) -> None:  # type: ignore[no-untyped-def]
    agent, key = req
    at = {v: _allowed(_with_visibility(cfg, agent, v), agent, key, tool, target) for v in OC_VIS}
    assert not at["self"] or at["tree"]
    assert not at["self"] or at["agent"]
    assert not at["agent"] or at["all"]
    assert not at["tree"] or at["all"]


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True)
@given(configs, requesters, targets)
def test_a_requester_with_agent_to_agent_disabled_reaches_only_its_own_agent_and_its_spawned_children(
    cfg,
    req,
    target,  # type: ignore[no-untyped-def]
) -> None:
    agent, key = req
    agents = dict(cfg.agents)
    agents[agent] = dataclasses.replace(agents[agent], a2a=False)
    cfg = dataclasses.replace(cfg, agents=agents)
    for tool in TOOLS[:2]:
        if _allowed(cfg, agent, key, tool, target):
            owner = target.split(":")[1]
            assert owner == agent or sessions()[1].get(target) == key


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True)
@given(configs, requesters, targets)
def test_receives_from_empty_admits_no_sender_and_deny_wins(cfg, req, target) -> None:  # type: ignore[no-untyped-def]
    agent, key = req
    owner = target.split(":")[1]
    before = _allowed(cfg, agent, key, "sessions_send", target)
    agents = dict(cfg.agents)
    agents[owner] = dataclasses.replace(agents[owner], receives_from=[])
    after = _allowed(dataclasses.replace(cfg, agents=agents), agent, key, "sessions_send", target)
    assert not after or before
    if owner != agent:
        assert not after


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True)
@given(configs, requesters, st.sampled_from(TOOLS[:2]), targets)
def test_an_empty_global_allow_list_means_unset_as_in_openclaw(cfg, req, tool, target) -> None:  # type: ignore[no-untyped-def]
    agent, key = req
    empty = _allowed(dataclasses.replace(cfg, allow=[]), agent, key, tool, target)
    unset = _allowed(dataclasses.replace(cfg, allow=None), agent, key, tool, target)
    assert empty == unset


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True)
@given(configs, requesters, targets)
def test_list_shows_exactly_the_rows_history_may_read(cfg, req, target) -> None:  # type: ignore[no-untyped-def]
    from sidecar.policy import filter_sessions

    agent, key = req
    policy, view = engine(cfg)
    requester = Requester.of(agent, key)
    keys = sessions()[0][:-1]
    scope = filter_sessions(policy, requester, keys, view)
    readable = {k for k in keys if decide(policy, requester, "sessions_history", k, view).allowed}
    assert set(scope.visible) == readable
    assert scope.hidden == len(keys) - len(readable)
