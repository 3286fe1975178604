"""The four session tools for one agent: canonicalise, validate, decide locally, then forward.

Every call is decided by the pure policy engine over the session mirror before anything touches the
network. A denial raises `Denied` (the MCP layer turns it into a tool error the model can read); a
problem with the call itself raises `BadCall`; an infrastructure fault raises `GatewayFault`, which
names the remedy.
"""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import anyio

from sidecar.gateway import (
    ConnectionLost,
    GatewayAuthChanged,
    GatewayError,
    GatewayUnreachable,
    PayloadTooLarge,
    PolicyViolation,
    RequestTimeout,
    Unavailable,
)
from sidecar.policy import (
    Decision,
    MalformedKey,
    Policy,
    Requester,
    SessionView,
    Tool,
    canonical_key,
    decide,
    filter_sessions,
    is_agent_id,
)
from sidecar.tools import _guard, _history
from sidecar.tools._routing import HOME, GatewayLike, GatewayPool, RoutingError

SUBAGENT_NOTE = (
    "Auto-announce is push-based. After spawning children, do NOT call sessions_list, sessions_history, "
    "exec sleep, or any polling tool. Wait for the completion message."
)
REJECTED_SPAWN_KEYS = ("target", "transport", "channel", "to", "threadId", "thread_id", "replyTo", "reply_to")
DEDUPE_WINDOW_S = 600.0
RETRY_BUCKET_S = 120.0
SEND_ATTEMPTS = 6
RUN_ATTEMPTS = 3
# A dropped or refused connection and a restarting gateway are ridden out; a 1008 policy close, a changed
# gateway secret or an oversized frame are not (retrying cannot fix them).
RETRYABLE = (ConnectionLost, GatewayUnreachable, RequestTimeout, Unavailable)
FINAL = (PolicyViolation, GatewayAuthChanged, PayloadTooLarge)
log = logging.getLogger("sidecar")
_T = TypeVar("_T")


class Denied(Exception):
    """The policy refused the call; the decision says which gate, why, and the fix."""

    def __init__(self, decision: Decision) -> None:
        super().__init__(decision.message)
        self.decision = decision

    def text(self) -> str:
        d = self.decision
        return f"{d.message}\n[gate: {d.gate}] [decided by: {d.source}]\nFix: {d.fix}"


class BadCall(Exception):
    """The call itself is wrong (missing or conflicting arguments, a limit hit); the text says what to do."""


class GatewayFault(Exception):
    """The gateway could not be reached or refused the sidecar itself; the text names the remedy."""


class Store(Protocol):
    """What the service needs from the session mirror."""

    @property
    def view(self) -> SessionView: ...

    def rows(self, gateway: str | None = None) -> list[dict[str, Any]]: ...

    def get(self, key: str) -> dict[str, Any] | None: ...

    def upsert(self, row: dict[str, Any], gateway: str) -> None: ...

    def record_spawned_child(self, child_key: str, parent_key: str, agent: str, gateway: str) -> None: ...

    def log_decision(self, **fields: Any) -> None: ...

    def outbox_begin(self, key: str, **fields: Any) -> dict[str, Any]: ...

    def outbox_finish(
        self, key: str, status: str, run_id: str | None = None, error: str | None = None
    ) -> None: ...

    def outbox_pending(self) -> list[dict[str, Any]]: ...


@dataclass
class SessionsService:
    policy: Policy
    requester: Requester
    store: Store
    gateways: GatewayPool
    clock: Callable[[], float] = time.time
    limiter: _guard.SendRateLimiter = field(init=False)

    def __post_init__(self) -> None:
        per_minute = self.policy.limits.get("sendsPerMinute", _guard.DEFAULT_SENDS_PER_MINUTE)
        self.limiter = _guard.SendRateLimiter(per_minute)

    # -- deciding -----------------------------------------------------------------------------------

    def _decide(self, tool: Tool, target: str | None, gateway: str = HOME) -> Decision:
        started = time.perf_counter_ns()
        decision = decide(self.policy, self.requester, tool, target, self._view())
        self.store.log_decision(
            requester_agent=self.requester.agent_id,
            requester_session=self.requester.session_key,
            tool=tool,
            target=decision.target or decision.target_agent or target,
            outcome="allowed" if decision.allowed else "denied",
            gate=decision.gate,
            source=decision.source,
            gateway=gateway,
            latency_us=(time.perf_counter_ns() - started) // 1000,
        )
        if not decision.allowed:
            raise Denied(decision)
        return decision

    async def _decide_key(self, tool: Tool, raw: str, gateway: str | None) -> tuple[Decision, str]:
        """Decide on a session key. Only when ownership could change a denial (the mirror has never seen
        the target, and visibility refused it) is the gateway asked about the target first."""
        key = self._canonical(raw)
        target_agent = key.split(":")[1] if key.startswith("agent:") else self.policy.default_agent
        name = self._route(target_agent, gateway)
        first = decide(self.policy, self.requester, tool, raw, self._view())
        if (
            first.gate == "visibility"
            and first.target is not None
            and is_agent_id(target_agent)
            and self.store.get(first.target) is None
        ):
            try:
                await self._ensure_known(first.target, name)
            except (GatewayFault, GatewayError) as exc:
                log.info("could not look up %s (%s); the denial stands", first.target, exc)
        return self._decide(tool, raw, name), name

    def _view(self) -> SessionView:
        return _KnownAgents(self.store.view, self.gateways.all_agents())

    def _canonical(self, raw: str) -> str:
        try:
            return canonical_key(
                raw,
                requester_key=self.requester.session_key,
                default_agent=self.policy.default_agent,
                main_key=self.policy.main_key,
            ).key
        except MalformedKey:
            return raw

    async def _client(self, name: str) -> GatewayLike:
        try:
            return await self.gateways.client(name)
        except RoutingError as exc:
            raise GatewayFault(str(exc)) from None

    def _route(self, agent_id: str, explicit: str | None) -> str:
        try:
            return self.gateways.route(agent_id, explicit)
        except RoutingError as exc:
            raise BadCall(str(exc)) from None

    async def _ensure_known(self, key: str, gateway: str) -> None:
        """A target the mirror does not hold is looked up on its gateway before the decision."""
        if self.store.get(key) is not None:
            return
        client = await self._client(gateway)
        found = await client.request("sessions.list", {"search": key, "limit": 20}, idempotent=True)
        for row in (found or {}).get("sessions", []) if isinstance(found, dict) else []:
            if isinstance(row, dict) and row.get("key") == key:
                self.store.upsert(row, gateway)

    # -- sessions_list ------------------------------------------------------------------------------

    async def sessions_list(
        self,
        *,
        kinds: list[str] | None = None,
        limit: int | None = None,
        active_minutes: int | None = None,
        gateway: str | None = None,
    ) -> dict[str, Any]:
        self._decide("sessions_list", None)
        freshness: dict[str, Any] = {"fresh": True}
        try:
            await self._client(self._route(self.requester.agent_id, gateway) if gateway else HOME)
        except (GatewayFault, GatewayError) as exc:
            # The mirror still answers; say plainly that it may be behind.
            freshness = {
                "fresh": False,
                "note": f"served from the local mirror; the gateway is unreachable: {exc}",
            }
        rows = self.store.rows(gateway)
        now_ms = self.clock() * 1000
        if active_minutes is not None:
            rows = [r for r in rows if (r.get("updatedAt") or 0) >= now_ms - active_minutes * 60_000]
        scope = filter_sessions(self.policy, self.requester, [r["key"] for r in rows], self._view())
        visible = set(scope.visible)
        shown = [
            {**r, "kind": _kind_of(str(r["key"]), self.policy.main_key)}
            for r in rows
            if r["key"] in visible and r["key"] not in ("unknown",)
        ]
        if kinds:
            wanted = {k.lower() for k in kinds}
            shown = [r for r in shown if r.get("kind", "other") in wanted]
        if limit is not None:
            shown = shown[:limit]
        return {
            "count": len(shown),
            "sessions": shown,
            "mirror": freshness,
            "visibility": {
                "mode": scope.mode,
                "restricted": scope.hidden > 0,
                "hidden": scope.hidden,
                "source": scope.source,
                "warning": scope.warning,
            },
        }

    # -- sessions_history ---------------------------------------------------------------------------

    async def sessions_history(
        self,
        *,
        session_key: str,
        limit: int | None = None,
        include_tools: bool = False,
        gateway: str | None = None,
    ) -> dict[str, Any]:
        decision, name = await self._decide_key("sessions_history", session_key, gateway)
        client = await self._client(name)
        params: dict[str, Any] = {"sessionKey": decision.target, "limit": min(limit or 200, 1000)}
        payload = await client.request("chat.history", params, idempotent=True)
        raw = payload.get("messages", []) if isinstance(payload, dict) else []
        clean = _history.sanitise(raw, include_tools=include_tools, source_session=str(decision.target))
        return {
            "sessionKey": decision.target,
            "gateway": name,
            "note": _history.UNTRUSTED_NOTE,
            "messages": clean.messages,
            "truncated": clean.truncated,
            "droppedMessages": clean.dropped_messages,
            "contentTruncated": clean.content_truncated,
            "contentRedacted": clean.content_redacted,
            "bytes": clean.bytes,
        }

    # -- sessions_send ------------------------------------------------------------------------------

    async def _resolve_label(self, label: str, agent_id: str | None, gateway: str | None) -> str:
        matches = [
            r["key"]
            for r in self.store.rows(gateway)
            if r.get("label") == label and (agent_id is None or r.get("agent") == agent_id)
        ]
        if len(matches) == 1:
            return str(matches[0])
        if len(matches) > 1:
            raise BadCall(f"Multiple sessions found with label: {label}. Pass sessionKey instead.")
        name = self._route(agent_id or self.requester.agent_id, gateway) if (agent_id or gateway) else HOME
        client = await self._client(name)
        params = {"label": label, **({"agentId": agent_id} if agent_id else {})}
        try:
            found = await client.request("sessions.resolve", params, idempotent=True)
        except Exception as exc:
            raise BadCall(f"No session found with label: {label}") from exc
        if not isinstance(found, dict) or not found.get("key"):
            raise BadCall(f"No session found with label: {label}")
        return str(found["key"])

    async def sessions_send(
        self,
        *,
        message: str,
        session_key: str | None = None,
        label: str | None = None,
        agent_id: str | None = None,
        timeout_seconds: float | None = None,
        gateway: str | None = None,
    ) -> dict[str, Any]:
        if session_key and label:
            raise BadCall("Provide either sessionKey or label (not both).")
        if not session_key and not label and not agent_id:
            raise BadCall("Either sessionKey or label is required")
        if not message.strip():
            raise BadCall("message must not be empty")
        if session_key is None and label is None and agent_id is not None:
            session_key = f"agent:{agent_id.strip().lower()}:{self.policy.main_key}"
        if label is not None:
            session_key = await self._resolve_label(label, agent_id, gateway)
        assert session_key is not None
        decision, name = await self._decide_key("sessions_send", session_key, gateway)
        target = str(decision.target)
        wait = 30.0 if timeout_seconds is None else max(0.0, float(timeout_seconds))
        if target == self.requester.session_key and wait > 0:
            raise BadCall("sessions_send cannot target the calling session; use your own reply instead")
        trace = await self._next_trace()
        try:
            self.limiter.acquire()
        except _guard.RateLimited as exc:
            raise BadCall(
                f"Send rate limit reached: {self.limiter.per_minute} sends per minute for "
                f"{self.requester.agent_id} (limits.sendsPerMinute in {self.policy.path}). Retry after "
                f"{exc.retry_after:.0f}s, or batch what you have into one message."
            ) from None
        idem = _idempotency_key(self.requester.session_key, name, target, message, trace)
        entry = self.store.outbox_begin(
            idem,
            requester=self.requester.session_key,
            target=target,
            gateway=name,
            body=message,
            hop=trace.hop,
            trace_id=trace.trace_id,
            created_at=self.clock(),
        )
        base = {
            "runId": idem,
            "sessionKey": target,
            "gateway": name,
            "trace": {"id": trace.trace_id, "hop": trace.hop},
        }
        if (
            entry.get("status") == "delivered"
            and self.clock() - float(entry.get("created_at") or 0) < DEDUPE_WINDOW_S
        ):
            return {
                **base,
                "status": "duplicate",
                "delivery": {"status": "delivered", "mode": "direct"},
                "note": "This exact message was already delivered to this session; it was not sent again.",
            }
        client = await self._client(name)
        baseline = None
        if wait > 0:
            before = await client.request(
                "chat.history", {"sessionKey": target, "limit": 50}, idempotent=True
            )
            baseline = _history.latest_assistant_text((before or {}).get("messages", []))
        params = self._send_params(message, target, idem, trace)
        for attempt in range(RUN_ATTEMPTS):
            # A derived key only after the transcript proved the previous run never reached the target.
            key = idem if attempt == 0 else f"{idem}-r{attempt}"
            run_id = await self._dispatch(name, target, idem, {**params, "idempotencyKey": key})
            client = await self._client(name)
            if wait == 0:
                self.store.outbox_finish(idem, "delivered", run_id=run_id)
                return {
                    **base,
                    "runId": run_id,
                    "status": "accepted",
                    "delivery": {"status": "accepted", "mode": "direct"},
                }
            try:
                waited = await client.request(
                    "agent.wait", {"runId": run_id, "timeoutMs": int(wait * 1000)}, timeout=wait + 2
                )
            except RequestTimeout:
                waited = {"status": "timeout"}
            except FINAL:
                raise
            except RETRYABLE:
                # The gateway went away while the target was answering. A restarted gateway no longer knows
                # the run, so waiting again would hang: settle delivery from the transcript instead.
                return await self._settle_after_restart(name, target, idem, params, base)
            status = (waited or {}).get("status") if isinstance(waited, dict) else None
            if status != "error":
                break

            async def arrived(client: GatewayLike) -> bool:
                return await _already_delivered(client, target, idem)

            if await self._retrying(f"checking delivery to {target}", arrived, name):
                break
            # Accepted, then failed before the message entered the session (a gateway still recovering
            # sessions after a restart answers so): nothing reached the target, so send it again.
            log.info("run %s failed before delivery (%s); sending again", run_id, (waited or {}).get("error"))
        else:
            self.store.outbox_finish(idem, "failed", error=str((waited or {}).get("error") or "agent error"))
            return {
                **base,
                "runId": run_id,
                "status": "error",
                "error": str((waited or {}).get("error") or "agent error"),
                "delivery": {"status": "failed", "mode": "direct"},
            }
        self.store.outbox_finish(idem, "delivered", run_id=run_id)
        if status == "timeout":
            return {
                **base,
                "runId": run_id,
                "status": "timeout",
                "error": f"no reply within {wait:.0f}s",
                "delivery": {"status": "delivered", "mode": "direct"},
            }
        if status != "ok":
            return {
                **base,
                "runId": run_id,
                "status": "error",
                "error": str((waited or {}).get("error") or "agent error"),
                "delivery": {"status": "delivered", "mode": "direct"},
            }
        reply = _reply_of(waited)
        if reply is None:
            after = await client.request("chat.history", {"sessionKey": target, "limit": 50}, idempotent=True)
            latest = _history.latest_assistant_text((after or {}).get("messages", []))
            reply = latest if latest != baseline else None
        result = {
            **base,
            "runId": run_id,
            "status": "ok",
            "delivery": {"status": "delivered", "mode": "direct"},
        }
        if reply is not None:
            result["reply"] = reply
        return result

    async def _retrying(self, what: str, op: Callable[[GatewayLike], Awaitable[_T]], name: str) -> _T:
        """Run `op` against gateway `name`, riding out a dropped connection or a gateway restart."""
        last: Exception | None = None
        for attempt in range(1, SEND_ATTEMPTS + 1):
            try:
                return await op(await self._client(name))
            except FINAL:
                raise
            except RETRYABLE as exc:
                last = exc
                log.info("%s: attempt %d failed (%s); retrying", what, attempt, exc)
                await anyio.sleep(min(0.5 * 2**attempt, 8.0))
        raise GatewayFault(
            f"{what} failed after {SEND_ATTEMPTS} attempts ({last}). Check the gateway with `sidecar doctor`."
        )

    async def _dispatch(
        self, name: str, target: str, idem: str, params: dict[str, Any], *, check_first: bool = False
    ) -> str:
        """Start the run once. After a dropped connection or a gateway restart the gateway may or may not
        have the message (its replay cache does not survive a restart), so look in the target's transcript
        for our idempotency key before sending again."""
        tried = check_first

        async def once(client: GatewayLike) -> str:
            nonlocal tried
            if tried and await _already_delivered(client, target, idem):
                return idem
            tried = True
            accepted = await client.agent(params, resend=False)
            return str(getattr(accepted, "run_id", idem))

        try:
            return await self._retrying(f"sending to {target}", once, name)
        except Exception as exc:
            self.store.outbox_finish(idem, "failed", error=type(exc).__name__)
            if isinstance(exc, GatewayFault):
                raise GatewayFault(
                    f"{exc} The send is recorded as failed in the outbox (`sidecar outbox`); send it again once "
                    "the gateway is back."
                ) from None
            raise

    async def _settle_after_restart(
        self, name: str, target: str, idem: str, params: dict[str, Any], base: dict[str, Any]
    ) -> dict[str, Any]:
        async def check(client: GatewayLike) -> bool:
            return await _already_delivered(client, target, idem)

        if not await self._retrying(f"checking delivery to {target}", check, name):
            # Accepted but lost with the gateway: send it again under the same key (at least once).
            await self._dispatch(name, target, idem, params)
        self.store.outbox_finish(idem, "delivered", run_id=idem)
        return {
            **base,
            "status": "interrupted",
            "delivery": {"status": "delivered", "mode": "direct"},
            "note": "The gateway restarted while the target was answering. The message was delivered once; "
            "read its reply later with sessions_history.",
        }

    def _send_params(self, message: str, target: str, idem: str, trace: _guard.Trace) -> dict[str, Any]:
        """The gateway `agent` request for one inter-agent message: direct, labelled as inter-session data."""
        return {
            "message": _guard.stamp(message, trace, self.requester.agent_id),
            "sessionKey": target,
            "idempotencyKey": idem,
            "deliver": False,
            "channel": "webchat",
            "lane": "nested",
            "extraSystemPrompt": (
                "Agent-to-agent message context:\n"
                f"Agent 1 (requester) session: {self.requester.session_key}.\n"
                f"Agent 2 (target) session: {target}."
            ),
            "inputProvenance": {
                "kind": "inter_session",
                "sourceSessionKey": self.requester.session_key,
                "sourceChannel": "webchat",
                "sourceTool": "sessions_send",
            },
        }

    async def resume_pending(self) -> int:
        """Deliver sends a previous run of this sidecar wrote to the outbox but did not finish.

        Each goes out under its original idempotency key, after the target's transcript shows it did not
        arrive; sends older than the dedupe window are marked failed rather than delivered late.
        """
        resumed = 0
        for entry in self.store.outbox_pending():
            key, body = str(entry["idempotency_key"]), entry.get("body")
            if body is None or self.clock() - float(entry.get("created_at") or 0) > DEDUPE_WINDOW_S:
                self.store.outbox_finish(
                    key, "failed", error="expired: the sidecar was down too long to resend"
                )
                continue
            trace = _guard.Trace(str(entry.get("trace_id") or ""), int(entry.get("hop") or 1))
            params = self._send_params(str(body), str(entry["target"]), key, trace)
            try:
                await self._dispatch(
                    str(entry["gateway"]), str(entry["target"]), key, params, check_first=True
                )
            except (GatewayFault, GatewayError) as exc:
                log.warning("could not resume send %s: %s", key, exc)
                continue
            self.store.outbox_finish(key, "delivered", run_id=key)
            resumed += 1
        return resumed

    async def _next_trace(self) -> _guard.Trace:
        """Continue the trace of the message this agent is answering, or start one; refuse a runaway chain."""
        own = self.requester.session_key

        async def read(client: GatewayLike) -> Any:
            return await client.request("chat.history", {"sessionKey": own, "limit": 20}, idempotent=True)

        payload = await self._retrying("reading this agent's own session", read, HOME)
        messages = payload.get("messages", []) if isinstance(payload, dict) else []
        inbound = _guard.inbound_trace(messages)
        anchor = _guard.turn_seed(messages)
        if inbound:
            trace = inbound.next()
        elif anchor:
            trace = _guard.Trace.start(anchor)
        else:
            # No turn to anchor to (a client outside OpenClaw): a short time bucket still folds retries.
            trace = _guard.Trace.start(f"{own}@{int(self.clock() // RETRY_BUCKET_S)}")
        limit = self.policy.limits.get("maxHops", _guard.DEFAULT_MAX_HOPS)
        if trace.hop > limit:
            raise BadCall(
                f"Loop guard: this send would be hop {trace.hop} of chain {trace.trace_id}, over the limit of "
                f"{limit} (limits.maxHops in {self.policy.path}). Answer the agent that wrote to you directly "
                "instead of forwarding again."
            )
        return trace

    # -- sessions_spawn -----------------------------------------------------------------------------

    async def sessions_spawn(
        self,
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
        target_agent = (agent_id or self.requester.agent_id).strip().lower()
        name = self._route(target_agent, gateway)
        decision = self._decide("sessions_spawn", agent_id, name)
        target_agent = str(decision.target_agent)
        view = self._view()
        depth = view.depth_of(self.requester.session_key) + 1
        limit = self.policy.for_agent(self.requester.agent_id).max_spawn_depth.value
        child = f"agent:{target_agent}:subagent:{uuid.uuid4()}"
        idem = f"spawn-{uuid.uuid4()}"
        text = (
            f"[Subagent Context] You are running as a subagent (depth {depth}/{limit}). Results auto-announce "
            f"to your requester; do not busy-poll for status.\n\n[Subagent Task]: {task}"
        )
        params: dict[str, Any] = {
            "key": child,
            "agentId": target_agent,
            "parentSessionKey": self.requester.session_key,
            "spawnDepth": depth,
            "task": text,
            "idempotencyKey": idem,
        }
        if label:
            params["label"] = label
        if run_timeout_seconds is not None:
            params["timeoutMs"] = int(run_timeout_seconds) * 1000
        # Visible to our own policy at once, before the gateway's event reaches the mirror.
        self.store.record_spawned_child(child, self.requester.session_key, target_agent, name)
        client = await self._client(name)
        try:
            created = await client.request("sessions.create", params, timeout=30)
        except GatewayError as exc:
            if "unknown parent session" not in str(exc):
                raise
            if name == HOME:
                # The requester's own session may not exist yet (an agent driven only through MCP).
                await client.request(
                    "sessions.create",
                    {"key": self.requester.session_key, "agentId": self.requester.agent_id},
                    timeout=30,
                )
            else:
                # A peer gateway cannot know a parent that lives on another gateway: the lineage is ours.
                params.pop("parentSessionKey")
                params.pop("spawnDepth")
            created = await client.request("sessions.create", params, timeout=30)
        created = created if isinstance(created, dict) else {}
        key = str(created.get("key") or child)
        if key != child:
            self.store.record_spawned_child(key, self.requester.session_key, target_agent, name)
        return {
            "status": "accepted",
            "childSessionKey": key,
            "runId": str(created.get("runId") or idem),
            "mode": "run",
            "gateway": name,
            "note": SUBAGENT_NOTE,
        }


@dataclass(frozen=True)
class _KnownAgents:
    """The mirror's view plus every agent any gateway reported."""

    inner: SessionView
    extra: frozenset[str]

    def parent_of(self, key: str) -> str | None:
        return self.inner.parent_of(key)

    def has_agent(self, agent_id: str) -> bool:
        return agent_id in self.extra or self.inner.has_agent(agent_id)

    def depth_of(self, key: str) -> int:
        return self.inner.depth_of(key)

    def active_children(self, key: str) -> int:
        return self.inner.active_children(key)


def _idempotency_key(requester: str, gateway: str, target: str, message: str, trace: _guard.Trace) -> str:
    """One logical send, one key: the same message to the same session in reply to the same inbound message."""
    digest = hashlib.sha256(
        "\x1f".join((requester, gateway, target, message, trace.trace_id, str(trace.hop))).encode("utf-8")
    ).hexdigest()
    return str(uuid.UUID(digest[:32]))


async def _already_delivered(client: GatewayLike, target: str, idem: str) -> bool:
    """Whether the target's transcript already holds the message sent under `idem`."""
    payload = await client.request("chat.history", {"sessionKey": target, "limit": 100}, idempotent=True)
    for message in (payload or {}).get("messages", []) if isinstance(payload, dict) else []:
        if not isinstance(message, dict):
            continue
        meta = message.get("__openclaw")
        meta = meta if isinstance(meta, dict) else {}
        if str(message.get("idempotencyKey", "")).startswith(idem) or meta.get("runId") == idem:
            return True
    return False


def _kind_of(key: str, main_key: str) -> str:
    """The tool-facing kind: main, group, cron, hook, node or other."""
    rest = key.split(":", 2)[2] if key.startswith("agent:") and key.count(":") >= 2 else key
    if rest == main_key:
        return "main"
    if ":group:" in f":{rest}" or ":channel:" in f":{rest}":
        return "group"
    for prefix in ("cron", "hook", "node"):
        if rest.startswith((f"{prefix}:", f"{prefix}-")):
            return prefix
    return "other"


def _reply_of(waited: Any) -> str | None:
    terminal = waited.get("terminalReply") if isinstance(waited, dict) else None
    if isinstance(terminal, dict) and terminal.get("disposition") == "visible" and terminal.get("text"):
        return str(terminal["text"])
    return None
