"""`sessions_spawn`: a subagent run on this agent or an allowed one, its lineage recorded at once.

OpenClaw's `sessions.create` starts the run under the parent and depth we decided; the child is written
to the mirror as soon as the gateway confirms it (not before: a spawn that fails leaves no row), so the
parent's own policy sees it at once rather than when the gateway's event reaches the mirror.
Where `sessions.create` is missing (2026.3.x) or takes no depth and key (2026.4.x), the older sequence
OpenClaw's own tool uses does the same: `sessions.patch {key, spawnedBy, spawnDepth, label}` creates the
child under its parent, then `agent` starts the task on the `subagent` lane.
"""

from __future__ import annotations

import uuid
from typing import Any

from sidecar import telemetry
from sidecar.gateway import GatewayError
from sidecar.tools._context import CallContext
from sidecar.tools._errors import BadCall
from sidecar.tools._routing import HOME, GatewayLike

SUBAGENT_NOTE = (
    "Auto-announce is push-based. After spawning children, do NOT call sessions_list, sessions_history, "
    "exec sleep, or any polling tool. Wait for the completion message."
)
REJECTED_SPAWN_KEYS = ("target", "transport", "channel", "to", "threadId", "thread_id", "replyTo", "reply_to")


async def spawn(
    ctx: CallContext,
    *,
    task: str,
    agent_id: str | None = None,
    label: str | None = None,
    run_timeout_seconds: int | None = None,
    gateway: str | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    for rejected in REJECTED_SPAWN_KEYS:
        if extra and rejected in extra:
            raise BadCall(
                f'sessions_spawn does not support "{rejected}". Use "message" or "sessions_send" for channel '
                "delivery."
            )
    if not task.strip():
        raise BadCall("task must not be empty")
    await ctx.learn_peers(gateway)
    decision = ctx.decide("sessions_spawn", agent_id, gateway)
    name = decision.target_gateway or HOME
    target_agent = str(decision.target_agent)
    view = ctx.view()
    depth = view.depth_of(ctx.requester.session_key, ctx.requester.gateway) + 1
    limit = ctx.effective_policy().for_agent(ctx.requester.agent_id).max_spawn_depth.value
    child = f"agent:{target_agent}:subagent:{uuid.uuid4()}"
    idem = f"spawn-{uuid.uuid4()}"
    text = (
        f"[Subagent Context] You are running as a subagent (depth {depth}/{limit}). Results auto-announce "
        f"to your requester; do not busy-poll for status.\n\n[Subagent Task]: {task}"
    )
    params: dict[str, Any] = {
        "key": child,
        "agentId": target_agent,
        "parentSessionKey": ctx.requester.session_key,
        "spawnDepth": depth,
        "task": text,
        "idempotencyKey": idem,
    }
    if label:
        params["label"] = label
    if run_timeout_seconds is not None:
        params["timeoutMs"] = int(run_timeout_seconds) * 1000
    if ctx.via_sidecar(name):
        args: dict[str, Any] = {"agentId": target_agent, "task": text}
        if label:
            args["label"] = label
        if run_timeout_seconds is not None:
            args["runTimeoutSeconds"] = int(run_timeout_seconds)
        answer = await ctx.call_peer(name, "peer_spawn", args)
        remote = str(answer.get("childSessionKey") or child)
        # Ours although it runs there: the parent is this requester, at home.
        ctx.store.record_spawned_child(remote, ctx.requester.session_key, target_agent, name, HOME)
        return {
            "status": "accepted",
            "childSessionKey": remote,
            "runId": str(answer.get("runId") or idem),
            "mode": "run",
            "gateway": name,
            "note": SUBAGENT_NOTE,
        }
    client = await ctx.client(name)
    features = getattr(client, "features", None)
    adapter = getattr(features, "adapter", None)
    if adapter is not None and adapter.spawn_sequence == "patch-agent":
        with telemetry.span(
            "sidecar.forward", **{"gateway.method": "sessions.patch", "sidecar.gateway": name}
        ):
            run_id = await _patch_then_run(
                client, ctx, name, child, depth, text, idem, label, run_timeout_seconds
            )
        # Confirmed by the gateway: visible to our own policy now, before its event reaches the mirror.
        ctx.store.record_spawned_child(child, ctx.requester.session_key, target_agent, name)
        return {
            "status": "accepted",
            "childSessionKey": child,
            "runId": run_id,
            "mode": "run",
            "gateway": name,
            "note": SUBAGENT_NOTE,
        }
    forward = telemetry.span(
        "sidecar.forward", **{"gateway.method": "sessions.create", "sidecar.gateway": name}
    )
    with forward:
        created = await _create(client, ctx, name, params)
    created = created if isinstance(created, dict) else {}
    key = str(created.get("key") or child)
    # Confirmed by the gateway: visible to our own policy now, before its event reaches the mirror.
    ctx.store.record_spawned_child(key, ctx.requester.session_key, target_agent, name)
    return {
        "status": "accepted",
        "childSessionKey": key,
        "runId": str(created.get("runId") or idem),
        "mode": "run",
        "gateway": name,
        "note": SUBAGENT_NOTE,
    }


async def _create(client: GatewayLike, ctx: CallContext, name: str, params: dict[str, Any]) -> Any:
    try:
        created = await client.request("sessions.create", params, timeout=30)
    except GatewayError as exc:
        if "unknown parent session" not in str(exc):
            raise
        if name == HOME:
            # The requester's own session may not exist yet (an agent driven only through MCP).
            await client.request(
                "sessions.create",
                {"key": ctx.requester.session_key, "agentId": ctx.requester.agent_id},
                timeout=30,
            )
        else:
            # A peer gateway cannot know a parent that lives on another gateway: the lineage is ours.
            params.pop("parentSessionKey")
            params.pop("spawnDepth")
        created = await client.request("sessions.create", params, timeout=30)
    return created


async def _patch_then_run(
    client: Any,
    ctx: CallContext,
    name: str,
    child: str,
    depth: int,
    text: str,
    idem: str,
    label: str | None,
    run_timeout_seconds: int | None,
) -> str:
    """Spawn without `sessions.create`: the patch makes the child session with its lineage, the run
    starts the task in it. A peer gateway cannot know a parent that lives on another gateway, so there
    the lineage stays ours (mirror) and only the label is patched."""
    patch: dict[str, Any] = {"key": child}
    if name == HOME:
        patch |= {"spawnedBy": ctx.requester.session_key, "spawnDepth": depth}
    if label:
        patch["label"] = label
    await client.request("sessions.patch", patch, timeout=30)
    run: dict[str, Any] = {
        "message": text,
        "sessionKey": child,
        "idempotencyKey": idem,
        "deliver": False,
        "lane": "subagent",
    }
    if run_timeout_seconds is not None:
        run["timeout"] = int(run_timeout_seconds)
    accepted = await client.agent(run, timeout=30)
    return str(getattr(accepted, "run_id", None) or idem)
