"""Hypothesis-generated tool calls and spoofed session keys through the in-memory MCP client.

Every call goes `Client(server)` → the real MCPServer tools → `SessionsService` → `FakeGateway` (tests/fakes),
with the hierarchy policy, for several requesters. Two things are checked on every call:

* no crash: the call returns (no exception escapes), and an error result is never the SDK's bare
  "Error executing tool X" (an UnexpectedToolError); every error names a gate and a fix, or says what is
  wrong with the arguments;
* no bypass: every RPC that touches a session's content (`agent`, `chat.history`, `sessions.create`) goes
  to a target the policy allows that requester (checked against `decide()` on each agent's main key, and
  against the service's own decision log for the exact key), and a denied call makes none at all.
"""

from __future__ import annotations

import contextlib
import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
import anyio.from_thread
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st
from mcp import Client

from sidecar.mcp._server import build_server
from sidecar.policy import Requester, StaticView, decide, parse_policy
from sidecar.tools import SessionsService
from sidecar.tools._routing import GatewayPool
from tests.fakes import FakeGateway, MemoryStore
from tests.reliability.support import HIERARCHY, HIERARCHY_AGENTS, Outcome, Progress, quiet, timed

TOOLS = ("sessions_list", "sessions_history", "sessions_send", "sessions_spawn")
REQUESTERS = ("lead", "manager", "hr", "research", "dev-2")
CRASH = re.compile(r"Error executing tool [\w.-]+(?:: Error executing tool [\w.-]+)*\s*")
# What the service says when the call itself is wrong (sidecar/service.py BadCall, routing, SDK lookups).
VALIDATION = (
    "validation error",
    "Unknown tool",
    "Provide either sessionKey or label",
    "Either sessionKey or label is required",
    "must not be empty",
    "cannot target the calling session",
    "Send rate limit reached",
    "Loop guard:",
    "No session found with label",
    "Multiple sessions found with label",
    "does not support",
    "Unknown gateway",
    "exists on several gateways",
)
LABELS = {  # label-shaped targets: each resolves (on the gateway) to some agent's main session
    "hr": "agent:hr:main",
    "finance-desk": "agent:finance:main",
    "research": "agent:research:main",
    "dev-1": "agent:dev-1:main",
    "lead-notes": "agent:lead:main",
    "main": "agent:manager:main",
}
STORE_LABELS = {"agent:finance:main": "finance-desk", "agent:dev-2:main": "dev-2-inbox"}
CONTENT_RPCS = ("agent", "chat.history", "sessions.create")


# Defects found by this suite and pinned by an xfail(strict=True) test (tests/reliability/test_defects.py):
# a call that hits one is counted under its name instead of failing the run, so the generated run keeps
# looking for new ones. Remove an entry when its defect is fixed. The one found so far (a send by label
# naming an unknown gateway got "No home gateway URL") was fixed in 7028ee3.
KNOWN_DEFECTS: dict[str, Callable[[str, Any, str], bool]] = {}


def known_defect(tool: str, args: Any, error: str) -> str | None:
    return next((name for name, hit in KNOWN_DEFECTS.items() if hit(tool, args, error)), None)


def classify(tool: str, result: Any) -> tuple[str, str]:
    """("ok" | "denied" | "invalid" | "crash" | "unclear", the error text)."""
    body = "".join(getattr(c, "text", "") or "" for c in result.content)
    if not result.is_error:
        return "ok", ""
    if CRASH.fullmatch(body):
        return "crash", body
    if "[gate: " in body and "Fix:" in body:
        return "denied", body
    if any(phrase in body for phrase in VALIDATION):
        return "invalid", body
    return "unclear", body


@dataclass
class Rig:
    """One requester's sidecar: the MCP server over a fake gateway and an in-memory store."""

    agent: str
    policy: Any
    gateway: FakeGateway
    store: MemoryStore
    service: SessionsService
    client: Any = None
    permitted: dict[str, set[str]] = field(default_factory=dict)

    @classmethod
    def build(cls, agent: str) -> Rig:
        gw = FakeGateway(agents=list(HIERARCHY_AGENTS))
        for a in HIERARCHY_AGENTS:
            gw.histories[f"agent:{a}:main"] = [{"role": "user", "content": f"hello {a}"}]
        gw.histories["agent:dev-1:subagent:kid"] = []
        gw.labels.update(LABELS)
        store = MemoryStore(agents=frozenset(HIERARCHY_AGENTS))
        for key in gw.histories:
            row: dict[str, Any] = {"key": key, "updatedAt": 1}
            if key in STORE_LABELS:
                row["label"] = STORE_LABELS[key]
            store.upsert(row, "home")
        store.parents["agent:dev-1:subagent:kid"] = "agent:dev-1:main"

        async def connect(name: str, url: str, insecure: bool) -> FakeGateway:
            return gw

        policy = parse_policy(json.dumps(HIERARCHY["policy"]), "hierarchy.json5")
        service = SessionsService(
            policy, Requester.of(agent), store, GatewayPool("ws://127.0.0.1:1", (), connect)
        )
        rig = cls(agent, policy, gw, store, service)
        # The agents each tool may reach, from the engine on each agent's main session (a plain view).
        view = StaticView(agents=frozenset(HIERARCHY_AGENTS))
        req = Requester.of(agent)
        for tool in ("sessions_history", "sessions_send"):
            rig.permitted[tool] = {
                a for a in HIERARCHY_AGENTS if decide(policy, req, tool, f"agent:{a}:main", view).allowed
            } | {agent}
        rig.permitted["sessions_spawn"] = {
            a for a in HIERARCHY_AGENTS if decide(policy, req, "sessions_spawn", a, view).allowed
        }
        return rig

    def bypasses(self, tool: str, calls_before: int, decisions_before: int, outcome: str) -> list[str]:
        """Content RPCs this call made that its decision (or the policy) does not allow."""
        allowed = {
            str(d.get("target"))
            for d in self.store.decisions[decisions_before:]
            if d.get("outcome") == "allowed"
        }
        found = []
        own = self.service.requester.session_key
        for method, params in self.gateway.calls[calls_before:]:
            if method not in CONTENT_RPCS:
                continue
            if outcome != "ok" and not (method == "chat.history" and params.get("sessionKey") == own):
                found.append(
                    f"{method} after a refused call: {params.get('sessionKey') or params.get('agentId')}"
                )
                continue
            if method == "sessions.create":
                agent = str(params.get("agentId"))
                if tool != "sessions_spawn" or agent not in self.permitted["sessions_spawn"]:
                    found.append(f"sessions.create for {agent!r} from {tool}")
                continue
            key = str(params.get("sessionKey"))
            if method == "chat.history" and key == own and tool == "sessions_send":
                continue  # the loop guard reads the requester's own session
            # A key without `agent:` belongs to the default agent (as the gateway reads it).
            agent = key.split(":")[1] if key.startswith("agent:") else self.policy.default_agent
            if tool not in ("sessions_history", "sessions_send") or agent not in self.permitted[tool]:
                found.append(f"{method} to {key!r} ({agent}) from {tool}")
            elif key not in allowed:
                found.append(f"{method} to {key!r}, which no allowed decision of this call named")
        return found


class Rigs:
    """A rig per requester, each with an MCP client connected in a blocking portal's event loop."""

    def __init__(self, requesters: tuple[str, ...] = REQUESTERS) -> None:
        self.requesters = requesters
        self.rigs: dict[str, Rig] = {}
        self._stack = contextlib.ExitStack()
        self.portal: anyio.from_thread.BlockingPortal | None = None

    def __enter__(self) -> Rigs:
        self.portal = self._stack.enter_context(anyio.from_thread.start_blocking_portal("asyncio"))
        for agent in self.requesters:
            rig = Rig.build(agent)
            rig.client = self._stack.enter_context(
                self.portal.wrap_async_context_manager(Client(build_server(rig.service)))
            )
            self.rigs[agent] = rig
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def call(self, outcome: Outcome, agent: str, tool: str, args: Any) -> str:
        """One call through MCP with every check; returns its class (ok/denied/invalid/crash/unclear)."""
        assert self.portal is not None
        rig = self.rigs[agent]
        calls, decisions = len(rig.gateway.calls), len(rig.store.decisions)
        outcome.add("calls")
        try:
            result = self.portal.call(_call_tool, rig.client, tool, args)
        except Exception as exc:
            error = f"raised {type(exc).__name__}: {exc}"
            kind, body = "crash", error
        else:
            kind, body = classify(tool, result)
        if kind in ("crash", "unclear"):
            defect = known_defect(tool, args, body)
            if defect is not None:
                kind = f"known_defect:{defect}"
            else:
                outcome.fail(f"{agent} {tool} {_short(args)}: {kind}: {body[:200]!r}")
        outcome.add(kind)
        for problem in rig.bypasses(tool, calls, decisions, kind):
            outcome.add("bypass")
            outcome.fail(f"BYPASS {agent} {tool} {_short(args)}: {problem}")
        return kind


async def _call_tool(client: Any, tool: str, args: Any) -> Any:
    with anyio.fail_after(30):
        return await client.call_tool(tool, args)


def _short(value: Any) -> str:
    return json.dumps(value, default=repr, ensure_ascii=True)[:160]


# -- strategies ---------------------------------------------------------------------------------------

CONFUSABLES = {
    "a": "\u0430",
    "e": "\u0435",
    "o": "\u043e",
    "i": "\u0456",
    "-": "\u2011",
    "c": "\u0441",
    "p": "\u0440",
}
WHITESPACE = (" ", "\t", "\n", "\r", "\u00a0", "\u200b", "\u2028", "\x00", "\x0b")


def _flip_case(s: str, i: int) -> str:
    i %= max(1, len(s))
    return s[:i] + s[i:].swapcase() if s else s


def _insert(s: str, i: int, what: str) -> str:
    i %= len(s) + 1
    return s[:i] + what + s[i:]


def _confusable(s: str, i: int) -> str:
    spots = [j for j, ch in enumerate(s) if ch in CONFUSABLES]
    if not spots:
        return s + "\u0435"
    j = spots[i % len(spots)]
    return s[:j] + CONFUSABLES[s[j]] + s[j + 1 :]


def _fullwidth(s: str, i: int) -> str:
    spots = [j for j, ch in enumerate(s) if "!" <= ch <= "~"]
    if not spots:
        return s
    j = spots[i % len(spots)]
    return s[:j] + chr(ord(s[j]) + 0xFEE0) + s[j + 1 :]


MUTATORS: dict[str, Callable[[str, int], str]] = {
    "case": _flip_case,
    "upper": lambda s, i: s.upper(),
    "space": lambda s, i: _insert(s, i, WHITESPACE[i % len(WHITESPACE)]),
    "pad": lambda s, i: WHITESPACE[i % 3] + s + WHITESPACE[(i + 1) % 3],
    "confusable": _confusable,
    "fullwidth": _fullwidth,
    "colon": lambda s, i: _insert(s, i, ":"),
    "colons": lambda s, i: _insert(s, i, "::"),
    "trailing-colon": lambda s, i: s + ":" * (1 + i % 2),
    "agent-prefix": lambda s, i: "agent:" + s,
    "AGENT-prefix": lambda s, i: "AGENT:" + s if i % 2 else "Agent:" + s,
    "strip-prefix": lambda s, i: s.split(":", 1)[1] if ":" in s else s,
    "bare-id": lambda s, i: s.split(":")[1] if s.count(":") >= 2 else s,
    "chain": lambda s, i: f"agent:{('lead', 'hr', 'dev-1', 'manager')[i % 4]}:main:{s}",
    "suffix": lambda s, i: s + (":main", "/../main", ":subagent:x", "%3Amain", "*")[i % 5],
    "glob": lambda s, i: s.replace(s.split(":")[1], "*") if s.count(":") >= 2 else "*",
    "percent": lambda s, i: s.replace(":", "%3A", 1 + i % 2),
}

AGENT_KEYS = [f"agent:{a}:main" for a in HIERARCHY_AGENTS]
SPECIAL = [
    "main",
    "current",
    "MAIN",
    "Current",
    "global",
    "unknown",
    "cron:nightly",
    "label:hr",
    "hr",
    "dev-1",
]


@st.composite
def spoofed(draw: Any, bases: list[str] | None = None) -> str:
    """A real target key put through one to three mutations."""
    value = draw(st.sampled_from(bases or AGENT_KEYS))
    for name in draw(st.lists(st.sampled_from(sorted(MUTATORS)), min_size=1, max_size=3)):
        value = MUTATORS[name](value, draw(st.integers(0, 64)))
    return value


def json_values() -> st.SearchStrategy[Any]:
    leaves = (
        st.none()
        | st.booleans()
        | st.integers(min_value=-(2**70), max_value=2**70)
        | st.floats(allow_nan=True, allow_infinity=True)
        | st.text(max_size=30)
    )
    return st.recursive(
        leaves,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
        max_leaves=6,
    )


def session_refs() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.sampled_from(AGENT_KEYS + SPECIAL + ["agent:dev-1:subagent:kid", "agent:lead:subagent:nope"]),
        spoofed(),
        st.text(max_size=40),
        st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=60),
        st.builds(
            lambda a, r: f"agent:{a}:{r}",
            st.sampled_from([*HIERARCHY_AGENTS, "nobody", "*"]),
            st.text(max_size=12),
        ),
        st.text(min_size=400, max_size=700),
        json_values(),
    )


def _maybe(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly a value of the right shape, sometimes anything at all."""
    return st.integers(0, 19).flatmap(lambda n: json_values() if n == 0 else valid)


def _args(
    params: dict[str, st.SearchStrategy[Any]], required: tuple[str, ...] = ()
) -> st.SearchStrategy[dict[str, Any]]:
    """Arguments for one tool: the required ones nearly always there, each optional one half the time."""
    extras = st.dictionaries(
        st.sampled_from(
            ["target", "channel", "to", "threadId", "agent", "from", "requester", "__proto__", "x"]
        ),
        json_values(),
        max_size=2,
    )
    return st.builds(
        lambda base, extra: {**extra, **base},
        st.integers(0, 49).flatmap(
            lambda n: st.fixed_dictionaries(
                {k: _maybe(v) for k, v in params.items() if k in required and n},
                optional={k: _maybe(v) for k, v in params.items() if k not in required or not n},
            )
        ),
        st.one_of(st.just({}), st.just({}), st.just({}), extras),
    )


GATEWAYS = st.integers(0, 3).flatmap(
    lambda n: st.just("home") if n else st.sampled_from(["HOME", "imac", "", " home "]) | st.text(max_size=10)
)
AGENT_IDS = st.sampled_from([*HIERARCHY_AGENTS, "nobody", "HR", " hr", "dev-*", "*", ""]) | st.text(
    max_size=70
)
MESSAGES = st.text(max_size=200) | st.sampled_from(["hi", "SLOW 1: hi", "x" * 100_001, "\x00", "   "])
TIMEOUTS = st.sampled_from([0, 0.0, 30, -1, 3601, 1e309]) | st.floats(min_value=0, max_value=5)

ARGS = {
    "sessions_list": _args(
        {
            "kinds": st.lists(
                st.sampled_from(["main", "group", "cron", "hook", "node", "other", "MAIN", ""]), max_size=3
            ),
            "limit": st.integers(-5, 1005),
            "activeMinutes": st.integers(-5, 10**6),
            "messageLimit": st.integers(-1, 25),
            "gateway": GATEWAYS,
        }
    ),
    "sessions_history": _args(
        {
            "sessionKey": session_refs(),
            "limit": st.integers(-5, 1005),
            "includeTools": st.booleans(),
            "gateway": GATEWAYS,
        },
        ("sessionKey",),
    ),
    "sessions_send": _args(
        {
            "sessionKey": session_refs(),
            "label": st.sampled_from(sorted(LABELS) + sorted(STORE_LABELS.values())) | st.text(max_size=20),
            "agentId": AGENT_IDS,
            "message": MESSAGES,
            "timeoutSeconds": st.just(0) | TIMEOUTS,
            "gateway": GATEWAYS,
        },
        ("message",),
    ),
    "sessions_spawn": _args(
        {
            "task": MESSAGES,
            "agentId": AGENT_IDS,
            "label": st.text(max_size=20),
            "runTimeoutSeconds": st.integers(-5, 100_000),
            "gateway": GATEWAYS,
        },
        ("task",),
    ),
}
KNOWN_CALLS = st.tuples(st.sampled_from(REQUESTERS), st.sampled_from(TOOLS)).flatmap(
    lambda pair: st.tuples(st.just(pair[0]), st.just(pair[1]), ARGS[pair[1]])
)
UNKNOWN_CALLS = st.tuples(
    st.sampled_from(REQUESTERS),
    st.sampled_from(["sessions_delete", "sessions_list ", "Sessions_Send", ""]),
    st.dictionaries(st.text(max_size=10), json_values(), max_size=3),
)
CALLS = st.integers(0, 24).flatmap(lambda n: UNKNOWN_CALLS if n == 0 else KNOWN_CALLS)


def _progress_every(outcome: Outcome, total: int, progress: Progress, label: str) -> Callable[[], None]:
    step = max(1, total // 20)

    def tick() -> None:
        n = int(outcome.counts.get("calls", 0))
        if n % step == 0:
            progress(f"{label}: {n}/{total} calls, {len(outcome.failures)} failures")

    return tick


def fuzz_arguments(*, examples: int, seed: int | None = None, progress: Progress = quiet) -> Outcome:
    """`examples` generated calls (random requester, tool and arguments) through MCP; blocking."""
    seed = random.randrange(2**32) if seed is None else seed
    outcome = Outcome("generated tool arguments", counts={"seed": seed, "calls": 0})
    tick = _progress_every(outcome, examples, progress, "fuzz")
    with timed(outcome), Rigs() as rigs:

        @hypothesis_seed(seed)
        @settings(
            max_examples=examples,
            deadline=None,
            database=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(call=CALLS)
        def one(call: tuple[str, str, Any]) -> None:
            agent, tool, args = call
            rigs.call(outcome, agent, tool, args)
            tick()

        one()
    return outcome


def spoof_forms(key: str, requester: str) -> list[str]:
    """The hand-written spoofs of one target key (case, look-alikes, whitespace, colons, prefixes, labels)."""
    agent = key.split(":")[1]
    forms = [key, key.upper(), key.title(), f" {key} ", f"\t{key}\n", key.replace(":", " : "), key + ":",
             key + "::x", key.replace(":main", "::main"), "agent:" + key, "AGENT:" + key[6:],
             key.replace(agent, agent.upper()), agent, f"{agent}:main", f"label:{agent}",
             f"agent:{requester}:main:{key}", f"agent:{requester}:..:{agent}:main", key + "/../main",
             key + "\u200b", "\u200b" + key, key.replace("e", "\u0435", 1), key.replace("a", "\u0430", 1),
             key.replace("-", "\u2011"), "\uff41" + key[1:], key.replace(":", "%3A"),
             key.replace(agent, "*"), key.replace(agent, agent[:-1] + "?"), key + "\x00", key.replace(":", "\uff1a"),
             "main", "current", "MAIN", " current ", "global", "unknown"]  # fmt: skip
    return list(dict.fromkeys(forms))


def spoofing(*, generated: int, seed: int | None = None, progress: Progress = quiet) -> Outcome:
    """The spoofing suite end to end: every hand-written form of every denied target, for history, send by
    key, by label and by agentId, then `generated` random mutations; blocking."""
    seed = random.randrange(2**32) if seed is None else seed
    outcome = Outcome("spoofed targets through MCP", counts={"seed": seed, "calls": 0})
    requesters = ("lead", "hr", "dev-2", "research")
    with timed(outcome), Rigs(requesters) as rigs:
        denied: dict[str, list[str]] = {}
        for agent in requesters:
            rig = rigs.rigs[agent]
            denied[agent] = [
                f"agent:{a}:main"
                for a in HIERARCHY_AGENTS
                if a not in rig.permitted["sessions_history"] or a not in rig.permitted["sessions_send"]
            ]
            for key in denied[agent]:
                for form in spoof_forms(key, agent):
                    for tool, args in (
                        ("sessions_history", {"sessionKey": form}),
                        ("sessions_send", {"sessionKey": form, "message": "spoof", "timeoutSeconds": 0}),
                        ("sessions_send", {"label": form, "message": "spoof by label", "timeoutSeconds": 0}),
                    ):
                        rigs.call(outcome, agent, tool, args)
                target = key.split(":")[1]
                for agent_id in (target, target.upper(), f" {target} ", target + "\u200b", f"agent:{target}"):
                    rigs.call(
                        outcome,
                        agent,
                        "sessions_send",
                        {"agentId": agent_id, "message": "x", "timeoutSeconds": 0},
                    )
                    rigs.call(outcome, agent, "sessions_spawn", {"agentId": agent_id, "task": "x"})
            for label in LABELS:
                rigs.call(
                    outcome,
                    agent,
                    "sessions_send",
                    {"label": label, "message": "by label", "timeoutSeconds": 0},
                )
        outcome.counts["hand_written"] = outcome.counts["calls"]
        progress(f"spoofing: {outcome.counts['calls']} hand-written calls, {len(outcome.failures)} failures")
        if generated:
            strategy = st.sampled_from(requesters).flatmap(
                lambda a: st.tuples(
                    st.just(a),
                    st.sampled_from(["sessions_history", "sessions_send"]),
                    spoofed(denied[a] or AGENT_KEYS),
                )
            )

            @hypothesis_seed(seed)
            @settings(
                max_examples=generated,
                deadline=None,
                database=None,
                phases=[Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            @given(case=strategy)
            def one(case: tuple[str, str, str]) -> None:
                agent, tool, key = case
                args: dict[str, Any] = {"sessionKey": key}
                if tool == "sessions_send":
                    args.update(message="spoof", timeoutSeconds=0)
                rigs.call(outcome, agent, tool, args)

            one()
    outcome.counts["bypasses"] = int(outcome.counts.get("bypass", 0))
    return outcome
