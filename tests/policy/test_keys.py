"""Session-key canonicalisation and the spoofing suite: no input reaches a session the policy refuses."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sidecar.policy import (
    MalformedKey,
    Requester,
    StaticView,
    canonical_key,
    decide,
    parse_policy,
    pattern_matches,
)
from sidecar.policy._keys import SessionKey, canonical_uncached, parse_canonical

POLICY = parse_policy(
    json.dumps(
        {
            "tools": {"sessions": {"visibility": "self"}, "agentToAgent": {"enabled": False}},
            "agents": {"entries": {"boss": {"default": True}, "dev-2": {}, "dev-3": {}}},
        }
    ),
    "spoof.json5",
)
DEV2 = Requester.of("dev-2")


def canon(raw: str) -> str:
    return canonical_key(raw, requester_key="agent:dev-2:main", default_agent="boss").key


@pytest.mark.parametrize(
    ("raw", "want"),
    [
        ("agent:dev-3:main", "agent:dev-3:main"),
        ("AGENT:Dev-3:MAIN", "agent:dev-3:main"),
        ("  agent:dev-3:main\t", "agent:dev-3:main"),
        ("agent:dev-3:subagent:AbC", "agent:dev-3:subagent:abc"),
        ("main", "agent:boss:main"),
        ("MAIN", "agent:boss:main"),
        ("current", "agent:dev-2:main"),
        ("global", "global"),
        ("cron:nightly", "cron:nightly"),
        ("agent:dev-3:main:extra", "agent:dev-3:main:extra"),
    ],
)
def test_keys_are_canonicalised_the_way_the_gateway_reads_them(raw: str, want: str) -> None:
    assert canon(raw) == want


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "agent:dev-3",
        "agent::main",
        "agent:dev-3::main",
        "agent:dev 3:main",
        "agent:dev-3:ma in",
        "agent:dev-3:main\nagent:boss:main",
        "agent:d\u0435v-3:main",  # Cyrillic e
        "\uff41gent:dev-3:main",  # fullwidth a
        "agent:dev\u20113:main",  # non-breaking hyphen
        "agent:dev-3:main\u200b",  # zero-width space
        "agent:-dev:main",
        "agent:" + "x" * 65 + ":main",
        "dev-3",
        "dev-3 main",
        "6f1c2a4e-1d2b-4c3d-8e9f-0a1b2c3d4e5f",
        "agent:dev-3:main\x00",
        "x" * 600,
    ],
)
def test_malformed_and_look_alike_keys_are_refused(raw: str) -> None:
    with pytest.raises(MalformedKey):
        canon(raw)


SPOOFS = [
    "agent:dev-3:main",
    "AGENT:DEV-3:MAIN",
    " agent:dev-3:main ",
    "agent:dev-3:main:",
    "agent:dev-3:main::x",
    "agent:agent:dev-3:main",
    "agent:dev-3",
    "agent:d\u0435v-3:main",
    "agent:dev-3:main\u200b",
    "dev-3",
    "dev-3:main",
    "main",
    "current",
    "agent:dev-2:main:agent:dev-3:main",
    "agent:dev-2:..:dev-3:main",
    "agent:dev-3:subagent:x",
    "agent:boss:main",
    "global",
    "unknown",
    "agent:DEV-3:main",
    "agent:*:main",
    "agent:dev-?:main",
    "agent:dev-3:main/../boss",
    "label:dev-3",
]


@pytest.mark.parametrize("raw", SPOOFS)
@pytest.mark.parametrize("tool", ["sessions_history", "sessions_send"])
def test_no_spoofed_key_reaches_another_agent(raw: str, tool: str) -> None:
    decision = decide(POLICY, DEV2, tool, raw, StaticView())  # type: ignore[arg-type]
    if decision.allowed:
        assert decision.target == "agent:dev-2:main"
        assert decision.target_agent == "dev-2"
    else:
        assert decision.gate in ("unknown-target", "visibility", "self-target")
        assert decision.message and decision.fix


@pytest.mark.parametrize("raw", SPOOFS)
def test_the_engine_decides_on_the_same_agent_the_gateway_would_act_on(raw: str) -> None:
    """A gateway model: trim, lowercase, agent from the second segment, else the default agent."""
    decision = decide(POLICY, DEV2, "sessions_history", raw, StaticView())
    if decision.target is None:
        return
    forwarded = decision.target.strip().lower()
    gateway_agent = forwarded.split(":")[1] if forwarded.startswith("agent:") else "boss"
    assert gateway_agent == decision.target_agent


@pytest.mark.parametrize(
    ("pattern", "agent", "want"),
    [
        ("dev-1", "dev-1", True),
        ("Dev-1", "dev-1", False),  # exact entries are case-sensitive
        ("DEV-*", "dev-1", True),  # globs are not
        ("*-1", "dev-1", True),
        ("d*v*1", "dev-1", True),
        ("d*x*1", "dev-1", False),
        ("*", "anything", True),
        ("", "dev-1", False),
        ("  ", "dev-1", False),
        (" dev-1 ", "dev-1", True),
        ("dev-1*", "dev-1", True),
        ("a*a", "a", False),
    ],
)
def test_allow_patterns_match_as_openclaw_does(pattern: str, agent: str, want: bool) -> None:
    assert pattern_matches(pattern, agent) is want


# -- the canonical fast path ------------------------------------------------------------------------

_KEY_CHARS = "abcAZ019_-:.@[]`{}~!/ \t\u00e9"


@settings(max_examples=3000, deadline=None)
@given(
    st.one_of(
        st.text(alphabet=_KEY_CHARS, max_size=30).map(lambda s: "agent:" + s),
        st.text(alphabet=_KEY_CHARS, max_size=30),
        st.sampled_from(
            [
                "agent:dev-1:main",
                "AGENT:dev-1:main",
                "agent:dev-1:Main",
                " agent:dev-1:main",
                "agent:dev-1:",
                "agent::main",
                "agent:dev-1::x",
                "agent:dev-1:x:",
                "agent:-x:main",
                "agent:dev-1:" + "x" * 506,
                "agent:dev-1:" + "x" * 501,
                "main",
                "current",
                "agent:dev-1:subagent:incognito-a",
            ]
        ),
    )
)
def test_the_canonical_fast_path_answers_as_the_general_path_or_not_at_all(raw: str) -> None:
    fast = parse_canonical(raw)
    try:
        general = canonical_uncached(raw, "agent:dev-2:main", "boss", "main")
    except MalformedKey:
        assert fast is None
        return
    if fast is not None:
        assert fast == general and type(fast) is SessionKey
        assert fast.is_subagent == general.is_subagent and fast.is_incognito == general.is_incognito
    else:
        assert not (raw.startswith("agent:") and raw == general.key), (
            "a canonical agent key missed the fast path"
        )
    assert canonical_key(raw, requester_key="agent:dev-2:main", default_agent="boss") == general
