"""Differential test: the sidecar's decisions against OpenClaw's own, for generated global configs.

For each config (tools.sessions.visibility, tools.agentToAgent.enabled and .allow with exact ids, case
variants and globs) the real gateway gets the config (hot reload) and is asked through `POST /tools/invoke`
what requester R may do to target T (shared/reference/tools-invoke-oracle.md); the sidecar's pure engine
(`decide`, `filter_sessions`) is asked the same with a policy file holding the same global keys and the
same agents. Normalised: allowed vs forbidden for sessions_history and sessions_send (on 2026.9 sent as
`mode: "notify"`, which starts no run; before, waiting for the reply, one run at a time), and the set of
visible keys for sessions_list.

Not compared, because OpenClaw decides them outside the session guard (documented in docs/reliability.md):
a subagent requester's sessions_send (its tool is not offered at all: HTTP 404) and a self-send (a
validation error, not a policy decision).
"""

from __future__ import annotations

import json
import random
import time
import uuid
from typing import Any

import anyio

from sidecar.mirror import SessionRow
from sidecar.policy import (
    NEWEST,
    Requester,
    StaticView,
    Usage,
    decide,
    filter_sessions,
    parse_policy,
    semantics_for,
)
from tests.reliability.support import Outcome, Progress, quiet, timed

AGENTS = ("main", "pa", "dev-1", "dev-2")
MAIN, PA, DEV1, SIDE, DEV2 = (
    "agent:main:main",
    "agent:pa:main",
    "agent:dev-1:main",
    "agent:dev-1:side",
    "agent:dev-2:main",
)

SEND_WAIT_S = 120  # how long a probe send on a release before 2026.9 waits for the target's reply

# Hand-picked first: the cells users trip over (case-sensitive exact ids, case-insensitive globs, the
# unset defaults, an empty list, agent-to-agent off). Then random ones.
FIXED: list[dict[str, Any]] = [
    {"visibility": "all", "enabled": True, "allow": ["main", "Dev-1", "PA"]},
    {"visibility": "all", "enabled": True, "allow": ["DEV-*", "main"]},
    {"visibility": None, "enabled": None, "allow": None},
    {"visibility": "tree", "enabled": True, "allow": ["*"]},
    {"visibility": "all", "enabled": True, "allow": []},
    {"visibility": "agent", "enabled": False, "allow": None},
    {"visibility": "all", "enabled": False, "allow": ["*"]},
    {"visibility": "self", "enabled": True, "allow": ["main", "pa", "dev-1", "dev-2"]},
    # A spawn depth of 1 makes main's child a leaf: OpenClaw takes its list, history and spawn away too.
    {"visibility": "all", "enabled": True, "allow": None, "maxSpawnDepth": 1},
]


def random_config(rng: random.Random) -> dict[str, Any]:
    visibility = rng.choice(["all", "all", "all", "self", "tree", "agent", None])
    enabled = rng.choice([True, True, False, None])
    kind = rng.choice(["none", "empty", "star", "exact", "exact", "case", "glob", "glob", "mixed"])
    ids = list(AGENTS)
    allow: list[str] | None
    if kind == "none":
        allow = None
    elif kind == "empty":
        allow = []
    elif kind == "star":
        allow = ["*"]
    elif kind == "exact":
        allow = rng.sample(ids, rng.randint(1, 3))
    elif kind == "case":
        allow = [rng.choice([a.upper(), a.title(), a, f" {a}"]) for a in rng.sample(ids, rng.randint(1, 3))]
    elif kind == "glob":
        allow = rng.sample(["dev-*", "DEV-*", "*-1", "p*", "*a*", "M*", "*", "d*-2"], rng.randint(1, 2))
    else:
        allow = rng.sample(ids, 1) + rng.sample(["dev-*", "PA", "Main", "*-2"], 1)
    return {"visibility": visibility, "enabled": enabled, "allow": allow}


def configs(count: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    out = [dict(c) for c in FIXED[:count]]
    while len(out) < count:
        out.append(random_config(rng))
    return out


def apply_to_gateway(config: dict[str, Any]) -> Any:
    def mutate(cfg: dict[str, Any]) -> None:
        tools = cfg.setdefault("tools", {})
        sessions = tools.setdefault("sessions", {})
        sessions.pop("visibility", None)
        if config["visibility"] is not None:
            sessions["visibility"] = config["visibility"]
        a2a = tools.setdefault("agentToAgent", {})
        for key in ("enabled", "allow"):
            a2a.pop(key, None)
            if config[key] is not None:
                a2a[key] = config[key]
        subagents = cfg.setdefault("agents", {}).setdefault("defaults", {}).setdefault("subagents", {})
        subagents.pop("maxSpawnDepth", None)
        if config.get("maxSpawnDepth") is not None:
            subagents["maxSpawnDepth"] = config["maxSpawnDepth"]

    return mutate


def sidecar_policy(config: dict[str, Any], agents: list[str], release: str | None = None) -> Any:
    """The sidecar's policy for `config`, decided under `release`'s semantics (default: the newest)."""
    tools: dict[str, Any] = {}
    if config["visibility"] is not None:
        tools["sessions"] = {"visibility": config["visibility"]}
    a2a = {k: config[k] for k in ("enabled", "allow") if config[k] is not None}
    if a2a:
        tools["agentToAgent"] = a2a
    doc: dict[str, Any] = {"tools": tools, "agents": {"entries": {a: {} for a in agents}}}
    if config.get("maxSpawnDepth") is not None:
        doc["agents"]["defaults"] = {"subagents": {"maxSpawnDepth": config["maxSpawnDepth"]}}
    return parse_policy(json.dumps(doc), "differential.json5").for_release(semantics_for(release))


def gateway_answer(gw: Any, tool: str, args: dict[str, Any], requester: str) -> tuple[str, Any]:
    """("allowed" | "forbidden" | "unavailable" | "error: ...", details) from POST /tools/invoke."""
    status, body = gw.invoke_tool_http(tool, args, requester, timeout=SEND_WAIT_S + 30)
    if status == 404:
        return "unavailable", body
    if status != 200:
        return f"error: HTTP {status} {json.dumps(body)[:120]}", body
    details = (body.get("result") or {}).get("details") or {}
    state = details.get("status")
    if state == "forbidden":
        return "forbidden", details
    if state == "error":
        return f"error: {details.get('error')}", details
    return "allowed", details


async def prepare(gw: Any, progress: Progress = quiet) -> dict[str, Any]:
    """The oracle's sessions: each agent's main, dev-1's side session and a subagent of main:main."""

    def setup() -> dict[str, Any]:
        with gw.rpc() as rpc:
            rows = rpc.request("sessions.list", {"limit": 1000}).get("sessions", [])
        have = {r["key"] for r in rows}
        for agent, key in (("main", MAIN), ("pa", PA), ("dev-1", DEV1), ("dev-2", DEV2), ("dev-1", SIDE)):
            if key not in have:
                gw.turn(agent, "hello", session_key=key, timeout=120)
        kid = next((r["key"] for r in rows if r.get("spawnedBy") == MAIN and ":subagent:" in r["key"]), None)
        if kid is None and gw.tools.version != NEWEST.version:
            # Before 2026.9 the child is made the way OpenClaw's own spawn tool makes it there:
            # sessions.patch with its lineage, then a run in it.
            kid = f"agent:main:subagent:{uuid.uuid4()}"
            with gw.rpc() as rpc:
                rpc.request("sessions.patch", {"key": kid, "spawnedBy": MAIN, "spawnDepth": 1})
            gw.turn("main", "hello", session_key=kid, timeout=120)
        if kid is None:
            gw.turn(
                "main",
                'CALL tool_call {"id": "sessions_spawn", "args": {"task": "count to two"}}',
                timeout=120,
            )
            deadline = time.monotonic() + 60
            while kid is None and time.monotonic() < deadline:
                with gw.rpc() as rpc:
                    rows = rpc.request("sessions.list", {"limit": 1000}).get("sessions", [])
                kid = next(
                    (r["key"] for r in rows if r.get("spawnedBy") == MAIN and ":subagent:" in r["key"]), None
                )
                time.sleep(0.5)
        if kid is None:
            raise RuntimeError("the subagent spawned by agent:main:main never appeared in sessions.list")
        return {"kid": kid}

    found = await anyio.to_thread.run_sync(setup)
    progress(f"differential: sessions ready (kid {found['kid']})")
    return found


def universe(gw: Any) -> tuple[list[str], StaticView]:
    """Every session the gateway holds, and the view (owners) the sidecar's mirror would build from it."""
    with gw.rpc() as rpc:
        rows = rpc.request("sessions.list", {"limit": 1000, "includeGlobal": True, "includeUnknown": True})
    keys, parents = [], {}
    for record in rows.get("sessions", []):
        row = SessionRow.from_gateway(record, "home", seen_at=0.0)
        keys.append(row.key)
        if row.parent_key:
            parents[row.key] = row.parent_key
    return keys, StaticView(agents=frozenset(gw.agents), parents=parents)


def compare_config(gw: Any, config: dict[str, Any], kid: str) -> dict[str, Any]:
    """Apply one config and compare every (requester, target, tool) cell; blocking."""
    gw.patch_config(apply_to_gateway(config))
    release = gw.tools.version
    policy = sidecar_policy(config, list(gw.agents), release)
    # 2026.9's `mode: "notify"` starts no run. Older releases ignore it: there an allowed send runs the
    # target, then its agent-to-agent announce step (see _settle), so it is sent waiting for the reply.
    newest = release == NEWEST.version
    send_args = {"mode": "notify"} if newest else {"timeoutSeconds": SEND_WAIT_S}
    # Either way the send waits (notify for 30 s by default), so on 2026.9 a send to the caller's own
    # session is OpenClaw's self-target refusal; older releases have no such rule.
    usage = Usage(send_waits=True)
    keys, view = universe(gw)
    requesters = [MAIN, PA, DEV1, SIDE, kid]
    targets = [MAIN, kid, PA, DEV1, SIDE, DEV2]
    cells = agree = 0
    disagreements: list[dict[str, Any]] = []
    skipped: dict[str, int] = {}
    for r_key in requesters:
        req = Requester.of(r_key.split(":")[1], r_key)
        for t_key in targets:
            for tool in ("sessions_history", "sessions_send"):
                if tool == "sessions_send" and t_key == r_key and not newest:
                    # No self-send rule before 2026.9, and a waited self-send there costs a whole run.
                    skipped["self-send"] = skipped.get("self-send", 0) + 1
                    continue
                args: dict[str, Any] = {"sessionKey": t_key}
                if tool == "sessions_history":
                    args["limit"] = 1
                else:
                    args.update(message="differential probe", **send_args)
                announced = 0 if newest else _announce_steps(gw)
                theirs, details = gateway_answer(gw, tool, args, r_key)
                if tool == "sessions_send" and not newest and details.get("status") == "ok":
                    _settle(gw, announced)
                sub = ":subagent:" in r_key
                if theirs == "unavailable" and sub and not newest:
                    # Before 2026.9 OpenClaw offers a subagent no session tool at all (HTTP 404): a tool
                    # policy outside the session guard.
                    skipped["subagent tool not offered"] = skipped.get("subagent tool not offered", 0) + 1
                    continue
                if theirs == "unavailable" and sub:
                    theirs = "forbidden"  # OpenClaw's fixed subagent deny: the tool is never offered
                if theirs.startswith("error: sessions_send cannot target the calling session"):
                    theirs = "forbidden"
                d = decide(policy, req, tool, t_key, view, usage=usage)  # type: ignore[arg-type]
                ours = "allowed" if d.allowed else "forbidden"
                cells += 1
                if ours == theirs:
                    agree += 1
                else:
                    disagreements.append(
                        {
                            "tool": tool,
                            "requester": r_key,
                            "target": t_key,
                            "openclaw": theirs,
                            "sidecar": ours,
                            "gate": d.gate,
                        }
                    )
        theirs, details = gateway_answer(gw, "sessions_list", {"limit": 200}, r_key)
        if theirs == "unavailable" and ":subagent:" in r_key and release != NEWEST.version:
            skipped["subagent tool not offered"] = skipped.get("subagent tool not offered", 0) + 1
            continue
        cells += 1
        if theirs == "unavailable":  # a leaf subagent: OpenClaw takes sessions_list away
            listed = decide(policy, req, "sessions_list", None, view)
            if not listed.allowed and listed.gate == "session-class":
                agree += 1
            else:
                disagreements.append({"tool": "sessions_list", "requester": r_key, "openclaw": theirs})
            continue
        gateway_keys = {s["key"] for s in details.get("sessions", [])} if theirs == "allowed" else set()
        ours_keys = set(filter_sessions(policy, req, keys, view).visible)
        if theirs == "allowed" and gateway_keys == ours_keys:
            agree += 1
        else:
            disagreements.append(
                {
                    "tool": "sessions_list",
                    "requester": r_key,
                    "openclaw": sorted(gateway_keys) if theirs == "allowed" else theirs,
                    "only_openclaw": sorted(gateway_keys - ours_keys),
                    "only_sidecar": sorted(ours_keys - gateway_keys),
                }
            )
    return {
        "config": config,
        "cells": cells,
        "agree": agree,
        "disagreements": disagreements,
        "skipped": skipped,
    }


def _announce_steps(gw: Any) -> int:
    return sum(1 for c in gw.stub_requests() if c.get("rule") == "announce-skip")


def _settle(gw: Any, announced_before: int, deadline: float = SEND_WAIT_S) -> None:
    """Wait until the announce step that follows an answered send on a release before 2026.9 has started.

    There a run pins the config it read at its start as the gateway's runtime config once it has resolved
    it, after awaits that take seconds on a busy gateway: a run still starting when the next config is
    hot-reloaded puts the previous one back, and the next config's probes are answered under it. So no run
    may be starting when the config changes. An answered send (status ok: its run has ended) is followed
    by exactly one more run, its agent-to-agent announce step (maxPingPongTurns 0), whose model call the
    stub answers ANNOUNCE_SKIP; once that call reached the model the run has read its config. (Sent
    without waiting, the announce step waits only 30 s for the target's run and is skipped after that,
    so whether it comes could not be known; and fired probes piled up runs faster than 2026.4.12 ran
    them, failing later probes with "gateway timeout".)
    """
    end = time.monotonic() + deadline
    while _announce_steps(gw) <= announced_before:
        if time.monotonic() > end:
            raise RuntimeError(f"no announce step reached the model within {deadline:.0f}s of a send's reply")
        time.sleep(0.1)


async def differential(
    gw: Any, *, count: int, seed: int | None = None, progress: Progress = quiet
) -> Outcome:
    """`count` configs (the hand-picked ones first, then random ones from `seed`) on a dedicated gateway."""
    seed = random.randrange(2**32) if seed is None else seed
    outcome = Outcome(
        "differential against OpenClaw", counts={"configs": 0, "cells": 0, "agree": 0, "seed": seed}
    )
    results = []
    with timed(outcome):
        original = gw.read_config().get("tools")
        found = await prepare(gw, progress)
        try:
            for n, config in enumerate(configs(count, seed)):
                res = await anyio.to_thread.run_sync(compare_config, gw, config, found["kid"])
                results.append(res)
                outcome.add("configs")
                outcome.add("cells", res["cells"])
                outcome.add("agree", res["agree"])
                for skip, k in res["skipped"].items():
                    outcome.add(f"skipped:{skip}", k)
                for d in res["disagreements"]:
                    outcome.fail(f"config {json.dumps(config)}: {json.dumps(d)}")
                progress(
                    f"differential {n + 1}/{count}: {res['agree']}/{res['cells']} agree "
                    f"({len(res['disagreements'])} disagreements) for {json.dumps(config)}"
                )
        finally:

            def restore(cfg: dict[str, Any]) -> None:
                cfg["tools"] = original

            await anyio.to_thread.run_sync(lambda: gw.patch_config(restore))
    outcome.counts["disagreements"] = outcome.counts["cells"] - outcome.counts["agree"]
    outcome.notes = [json.dumps(r) for r in results if r["disagreements"]]
    return outcome
