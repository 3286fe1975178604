"""The operator's gates: a pause, per-agent budgets, and observe mode.

These gates need facts the engine cannot know by itself (whether an operator paused the agent, how many
sends it made today, how many children are running). The caller counts them and passes a `Usage`; the
engine stays pure: no clock, no I/O, times arrive as epoch seconds and are only formatted.

Order: `pause` runs before every other gate (an operator's stop wins over everything, and observe mode
never lets a paused agent through). The budget gates run after the policy gates passed, so a call the
policy refuses anyway never counts as "over budget". A budget refuses at exactly its limit: with
`sendsPerDay: 100`, sends 1 to 100 pass and the 101st is refused.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sidecar.policy._model import AgentPolicy, Policy, Resolved

PAUSE_GATE = "pause"
# The send guards, checked after the policy gates passed and before the budgets: OpenClaw's refusal of a
# waiting send to the calling session itself, the loop guard (the hop a send would be, read from the
# trailer of the inter-session message that started this turn) and the per-minute send rate.
SEND_GUARD_GATES = ("self-target", "hop-limit", "rate-limit")
BUDGET_GATES = ("sends-per-day", "spawns-per-hour", "max-active-children")
# Gates that observe mode never lets through: the operator's stop, and a target that does not exist (there
# is nothing to forward to).
# session-class: OpenClaw's fixed subagent deny and the unverified caller are never the operator's to observe.
# self-target: the gateway refuses it anyway; hop-limit: a loop is what observe mode must not let run.
ALWAYS_ENFORCED = frozenset({PAUSE_GATE, "session-class", "unknown-target", "self-target", "hop-limit"})
DAY_S = 86_400.0
HOUR_S = 3_600.0


@dataclass(frozen=True, slots=True)
class Pause:
    """An operator's pause of one agent (`sidecar pause --agent ID`)."""

    since: float
    reason: str | None = None
    by: str | None = None


@dataclass(frozen=True, slots=True)
class Usage:
    """What the requester agent has used recently, counted by the caller across the whole agent.

    `*_reset_at` is when the oldest counted call leaves its window (epoch seconds), i.e. when the next
    call fits again; None when nothing is counted.
    """

    paused: Pause | None = None
    sends_today: int = 0
    sends_reset_at: float | None = None
    spawns_this_hour: int = 0
    spawns_reset_at: float | None = None
    active_children: int = 0
    sends_this_minute: int = 0
    minute_reset_at: float | None = None
    hop: int | None = None
    """The hop this send would be in its chain; None until the agent's own session was read."""
    send_waits: bool = True
    """Whether this send waits for a reply (timeoutSeconds != 0; OpenClaw's default waits 30 s)."""


Failure = tuple[str, str, str, str, tuple[Resolved[Any], ...]]  # gate, message, source, fix, values


def when(ts: float | None) -> str:
    """Epoch seconds as ISO 8601 UTC, to the second."""
    if ts is None:
        return "unknown"
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def pause_failure(agent_id: str, usage: Usage | None) -> Failure | None:
    if usage is None or usage.paused is None:
        return None
    pause = usage.paused
    reason = f": {pause.reason}" if pause.reason else " (no reason given)"
    by = f" by {pause.by}" if pause.by else ""
    return (
        PAUSE_GATE,
        f"Agent {agent_id} is paused by an operator{by} since {when(pause.since)}{reason}. Its session tools "
        "refuse every call until it is resumed; stop here and report to the user instead of retrying.",
        f"operator pause of {agent_id} (sidecar pause --agent {agent_id})",
        f"An operator resumes it with `sidecar resume --agent {agent_id}`; it takes effect on the next call.",
        (),
    )


def send_guard_failure(
    policy: Policy, agent: AgentPolicy, to_self: bool, usage: Usage | None
) -> Failure | None:
    """The first send guard that refuses: self-target, hop-limit, rate-limit (`to_self`: the target is the
    calling session on its own gateway)."""
    seen = usage or Usage()
    if to_self and seen.send_waits and policy.semantics.refuses_waiting_self_send:
        return (
            "self-target",
            "sessions_send cannot target the calling session; use your own reply instead",
            f"OpenClaw's sessions_send rule ({policy.semantics.label}): no waiting send to the calling session",
            "Answer in your own reply instead of sending to yourself; to queue a note to your own session "
            "without waiting for it, send with timeoutSeconds: 0.",
            (),
        )
    hops = agent.max_hops
    if seen.hop is not None and seen.hop > hops.value:
        return (
            "hop-limit",
            f"Loop guard: this send would be hop {seen.hop} of the chain that started this turn, over the "
            f"limit of {hops.value}. Answer the agent that wrote to you directly instead of forwarding again.",
            hops.describe(),
            f"Reply to the sender in your own turn. If chains longer than {hops.value} hops are intended, raise "
            f"limits.maxHops in {policy.path} (the change applies live).",
            (hops,),
        )
    rate = agent.sends_per_minute
    if seen.sends_this_minute >= rate.value:
        return (
            "rate-limit",
            f"Send rate limit reached: {agent.agent_id} made {seen.sends_this_minute} sends in the last minute "
            f"(limit {rate.value}). The next send fits at {when(seen.minute_reset_at)}.",
            rate.describe(),
            f"Batch what you have into one message and send it after {when(seen.minute_reset_at)}, or raise "
            f"limits.sendsPerMinute in {policy.path} (the change applies live).",
            (rate,),
        )
    return None


def send_guard_details(
    policy: Policy, agent: AgentPolicy, to_self: bool, usage: Usage | None
) -> list[tuple[str, str, Resolved[Any] | None]]:
    """Pass lines for `explain`, one per send guard."""
    seen = usage or Usage()
    if not policy.semantics.refuses_waiting_self_send:
        own = f"{policy.semantics.label} lets a send reach the calling session"
    elif to_self:
        own = "the calling session, but this send does not wait (timeoutSeconds: 0)"
    else:
        own = "not the calling session"
    hops = agent.max_hops
    hop = (
        f"hop {seen.hop} of at most {hops.value}"
        if seen.hop is not None
        else f"at most {hops.value} hops; the hop is read from this agent's own session when it sends"
    )
    rate = agent.sends_per_minute
    return [
        ("self-target", own, None),
        ("hop-limit", hop, hops),
        ("rate-limit", f"{seen.sends_this_minute} of {rate.value} sends in the last minute", rate),
    ]


def _budget_fix(policy: Policy, agent: AgentPolicy, key: str, value: Resolved[int | None]) -> str:
    where = (
        value.source.key
        if value.source.origin in ("agent", "sidecar")
        else f"agents.entries.{agent.agent_id}.limits.{key}"
    )
    return f"Wait until the window frees up, or raise {where} in {policy.path} (the change applies live)."


def send_budget_failure(policy: Policy, agent: AgentPolicy, usage: Usage | None) -> Failure | None:
    limit = agent.sends_per_day
    if limit.value is None or usage is None or usage.sends_today < limit.value:
        return None
    return (
        "sends-per-day",
        f"Daily send budget reached: {agent.agent_id} made {usage.sends_today} sends in the last 24 hours "
        f"(limit {limit.value}). The next send fits at {when(usage.sends_reset_at)}, when the oldest one "
        "leaves the 24-hour window.",
        limit.describe(),
        _budget_fix(policy, agent, "sendsPerDay", limit),
        (limit,),
    )


def spawn_budget_failure(policy: Policy, agent: AgentPolicy, usage: Usage | None) -> Failure | None:
    if usage is None:
        return None
    per_hour = agent.spawns_per_hour
    if per_hour.value is not None and usage.spawns_this_hour >= per_hour.value:
        return (
            "spawns-per-hour",
            f"Hourly spawn budget reached: {agent.agent_id} spawned {usage.spawns_this_hour} subagents in the "
            f"last hour (limit {per_hour.value}). The next spawn fits at {when(usage.spawns_reset_at)}, when "
            "the oldest one leaves the one-hour window.",
            per_hour.describe(),
            _budget_fix(policy, agent, "spawnsPerHour", per_hour),
            (per_hour,),
        )
    most = agent.max_active_children
    if most.value is not None and usage.active_children >= most.value:
        return (
            "max-active-children",
            f"Active children budget reached: {agent.agent_id} has {usage.active_children} subagent runs "
            f"still active across all its sessions (limit {most.value}). It frees up as soon as one of them "
            "ends; wait for a completion message instead of spawning more.",
            most.describe(),
            _budget_fix(policy, agent, "maxActiveChildren", most),
            (most,),
        )
    return None


def budget_details(
    tool: str, agent: AgentPolicy, usage: Usage | None
) -> list[tuple[str, str, Resolved[Any]]]:
    """Pass lines for `explain`: each budget gate that applies to `tool`, with the count against it."""
    seen = usage or Usage()
    rows: list[tuple[str, str, Resolved[Any]]] = []
    if tool == "sessions_send":
        rows.append(
            (
                "sends-per-day",
                _count(seen.sends_today, agent.sends_per_day, "sends in 24 h"),
                agent.sends_per_day,
            )
        )
    if tool == "sessions_spawn":
        rows.append(
            (
                "spawns-per-hour",
                _count(seen.spawns_this_hour, agent.spawns_per_hour, "spawns in the last hour"),
                agent.spawns_per_hour,
            )
        )
        rows.append(
            (
                "max-active-children",
                _count(seen.active_children, agent.max_active_children, "active children"),
                agent.max_active_children,
            )
        )
    return rows


def _count(used: int, limit: Resolved[int | None], what: str) -> str:
    if limit.value is None:
        return f"no limit set ({used} {what})"
    return f"{used} of {limit.value} {what}"
