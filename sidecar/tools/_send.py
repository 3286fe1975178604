"""The send pipeline: trace, rate, outbox, dispatch, wait or settle, and resume after a restart.

One logical send has one idempotency key, written to the outbox before anything leaves. After a dropped
connection or a gateway restart the target's transcript is read for that key before anything is sent
again, so a send is delivered once however often the connection fails under it. Transcripts of releases
before 2026.9 carry no key: there the message's own trace stamp (body plus trailer) is looked for.

A send never outlives its `timeoutSeconds` plus `SEND_MARGIN_S`: every retry and every request is cut to
what is left of that budget, so with the gateway down the caller hears "unreachable" in that time. Every
send the model made is then in the outbox with what became of it: `failed` if it never left (nothing was
delivered), `pending` if the gateway accepted it but its delivery could not be confirmed in time (a
restarted sidecar settles those from the target's transcript).
"""

from __future__ import annotations

import hashlib
import logging
import math
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import anyio

from sidecar import telemetry
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
from sidecar.tools import _guard, _history
from sidecar.tools._context import CallContext
from sidecar.tools._errors import BadCall, Denied, GatewayFault
from sidecar.tools._lookup import decide_key, resolve_label
from sidecar.tools._routing import HOME, GatewayLike

DEDUPE_WINDOW_S = 600.0
SEND_MARGIN_S = 5.0
"""What a send may take beyond its timeoutSeconds (trace, outbox, dispatch); documented in README."""
RECORD_RESERVE_S = 2.0
"""Of the budget, what reading the agent's own session (for the trace) leaves for recording the send."""
MAX_WAIT_S = 3600.0
RETRY_BUCKET_S = 120.0
SEND_ATTEMPTS = 6
RUN_ATTEMPTS = 3
# A dropped or refused connection and a restarting gateway are ridden out; a 1008 policy close, a changed
# gateway secret or an oversized frame are not (retrying cannot fix them).
RETRYABLE = (ConnectionLost, GatewayUnreachable, RequestTimeout, Unavailable)
FINAL = (PolicyViolation, GatewayAuthChanged, PayloadTooLarge)
log = logging.getLogger("sidecar")
_T = TypeVar("_T")


@dataclass
class _Budget:
    """One send's time budget, and how far the send got (for the outbox and the error when it runs out)."""

    deadline: float
    wait: float
    idem: str | None = None
    accepted: bool = False

    def remaining(self) -> float:
        return self.deadline - anyio.current_time()


class SendPipeline:
    """Sends for one agent; holds the agent's rate window."""

    def __init__(self, ctx: CallContext) -> None:
        self.ctx = ctx
        self.limiter = _guard.SendRateLimiter()
        self.in_flight: set[str] = set()

    async def send(
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
            session_key = f"agent:{agent_id.strip().lower()}:{self.ctx.policy.main_key}"
        if label is not None:
            session_key = await resolve_label(self.ctx, label, agent_id, gateway)
        assert session_key is not None
        wait = 30.0 if timeout_seconds is None else min(MAX_WAIT_S, max(0.0, float(timeout_seconds)))
        # The engine decides twice: first on what is known here (a refusal never touches the network),
        # then, once this agent's own session gave the send's hop, finally; only that one is logged.
        facts = self._facts(wait)
        decision, name = await decide_key(
            self.ctx, "sessions_send", session_key, gateway, facts=facts, final=False
        )
        target = str(decision.target)
        if self.ctx.via_sidecar(name):
            # A peer's sidecar keeps the send in its own outbox and this one resumes it (see _to_peer):
            # a peer send has its own attempts and is not cut to this budget.
            return await self._deliver(message, target, name, wait, _Budget(math.inf, wait), facts)
        budget = _Budget(anyio.current_time() + wait + SEND_MARGIN_S, wait)
        try:
            with anyio.fail_after(wait + SEND_MARGIN_S):
                return await self._deliver(message, target, name, wait, budget, facts)
        except TimeoutError:
            raise self._gave_up(budget, name, target, None) from None

    def _facts(self, wait: float) -> dict[str, Any]:
        """This send's facts for the engine's send guards: whether it waits, and the last minute's sends."""
        count, frees_in = self.limiter.recent()
        reset = self.ctx.clock() + frees_in if frees_in is not None else None
        return {"send_waits": wait > 0, "sends_this_minute": count, "minute_reset_at": reset}

    async def _deliver(
        self, message: str, target: str, name: str, wait: float, budget: _Budget, facts: dict[str, Any]
    ) -> dict[str, Any]:
        unread: GatewayFault | None = None
        try:
            reserve = min(RECORD_RESERVE_S, (wait + SEND_MARGIN_S) / 3)
            trace = await self._next_trace(_Budget(budget.deadline - reserve, wait))
        except GatewayFault as exc:
            # Without this agent's own session the hop count is unknown, so nothing may leave; the send is
            # still recorded (under a trace of its own) so the outbox shows it.
            unread = exc
            trace = _guard.Trace.start(
                f"{self.ctx.requester.session_key}@{int(self.ctx.clock() // RETRY_BUCKET_S)}"
            )
        self.ctx.decide(
            "sessions_send",
            target,
            name,
            facts={**facts, "hop": None if unread is not None else trace.hop},
        )
        self.limiter.record()
        idem = _idempotency_key(self.ctx.requester.session_key, name, target, message, trace)
        entry = self.ctx.store.outbox_begin(
            idem,
            requester=self.ctx.requester.session_key,
            target=target,
            gateway=name,
            body=message,
            hop=trace.hop,
            trace_id=trace.trace_id,
            created_at=self.ctx.clock(),
        )
        budget.idem = idem
        if unread is not None and entry.get("status") == "pending":
            raise self._gave_up(budget, name, target, unread)
        base = {
            "runId": idem,
            "sessionKey": target,
            "gateway": name,
            "trace": {"id": trace.trace_id, "hop": trace.hop},
        }
        if (
            entry.get("status") == "delivered"
            and self.ctx.clock() - float(entry.get("created_at") or 0) < DEDUPE_WINDOW_S
        ):
            return {
                **base,
                "status": "duplicate",
                "delivery": {"status": "delivered", "mode": "direct"},
                "note": "This exact message was already delivered to this session; it was not sent again.",
            }
        if self.ctx.via_sidecar(name):
            return await self._to_peer(name, target, idem, message, wait, trace, base)
        baseline = None
        if wait > 0:

            async def history(client: GatewayLike) -> Any:
                return await client.request(
                    "chat.history", {"sessionKey": target, "limit": 50}, idempotent=True
                )

            before = await self._retrying(f"reading {target} before sending", history, name, budget)
            baseline = _history.latest_assistant_text((before or {}).get("messages", []))
        params = self.request_params(message, target, idem, trace)
        for attempt in range(RUN_ATTEMPTS):
            # A derived key only after the transcript proved the previous run never reached the target.
            key = idem if attempt == 0 else f"{idem}-r{attempt}"
            with telemetry.span("sidecar.forward", **{"gateway.method": "agent", "sidecar.gateway": name}):
                run_id = await self._dispatch(
                    name, target, idem, {**params, "idempotencyKey": key}, budget=budget
                )
            budget.accepted = True
            client = await self.ctx.client(name)
            self._note_session(name, target, client)
            if wait == 0:
                self.ctx.store.outbox_finish(idem, "delivered", run_id=run_id)
                return {
                    **base,
                    "runId": run_id,
                    "status": "accepted",
                    "delivery": {"status": "accepted", "mode": "direct"},
                }
            # The run waits at most what is left of the budget, less a second for the answer to arrive.
            wait_s = max(0.0, min(wait, budget.remaining() - 1.0))
            try:
                with telemetry.span(
                    "sidecar.wait", **{"gateway.method": "agent.wait", "sidecar.run_id": run_id}
                ):
                    waited = await client.request(
                        "agent.wait", {"runId": run_id, "timeoutMs": int(wait_s * 1000)}, timeout=wait_s + 1
                    )
            except RequestTimeout:
                waited = {"status": "timeout"}
            except FINAL:
                raise
            except RETRYABLE:
                # The gateway went away while the target was answering. A restarted gateway no longer knows
                # the run, so waiting again would hang: settle delivery from the transcript instead.
                return await self._settle_after_restart(name, target, idem, params, base, budget)
            status = (waited or {}).get("status") if isinstance(waited, dict) else None
            if status != "error":
                break

            async def arrived(client: GatewayLike) -> bool:
                return await _already_delivered(client, target, idem, params["message"])

            if await self._retrying(f"checking delivery to {target}", arrived, name, budget):
                break
            # Accepted, then failed before the message entered the session (a gateway still recovering
            # sessions after a restart answers so): nothing reached the target, so send it again.
            log.info("run %s failed before delivery (%s); sending again", run_id, (waited or {}).get("error"))
        else:
            self.ctx.store.outbox_finish(
                idem, "failed", error=str((waited or {}).get("error") or "agent error")
            )
            return {
                **base,
                "runId": run_id,
                "status": "error",
                "error": str((waited or {}).get("error") or "agent error"),
                "delivery": {"status": "failed", "mode": "direct"},
            }
        self.ctx.store.outbox_finish(idem, "delivered", run_id=run_id)
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
        if reply is None and budget.remaining() > 0:
            with anyio.move_on_after(budget.remaining()):
                after = await client.request(
                    "chat.history", {"sessionKey": target, "limit": 50}, idempotent=True
                )
                latest = _history.latest_assistant_text((after or {}).get("messages", []))
                reply = latest if latest != baseline else None
        result = {
            **base,
            "runId": run_id,
            "status": "ok",
            "delivery": {"status": "delivered", "mode": "direct"},
        }
        if reply is not None:
            result["reply"] = _history.enveloped_reply(reply, target)
            result["note"] = _history.UNTRUSTED_NOTE
        return result

    async def _to_peer(
        self,
        name: str,
        target: str,
        idem: str,
        message: str,
        wait: float,
        trace: _guard.Trace,
        base: dict[str, Any],
    ) -> dict[str, Any]:
        """Hand the send to the peer's sidecar under the same idempotency key. That host decides it again,
        queues it in its own outbox and looks for the key in its transcript, so a resend after it died is
        delivered once; while it stays down the send stays pending here and is resumed later."""
        args = {
            "sessionKey": target,
            "message": _guard.stamp(message, trace, self.ctx.requester.agent_id),
            "idempotencyKey": idem,
            "timeoutSeconds": wait,
            "traceId": trace.trace_id,
            "hop": trace.hop,
        }
        self.in_flight.add(idem)
        try:
            answer = await self._peer_attempts(name, target, idem, args, wait)
        finally:
            self.in_flight.discard(idem)
        if answer is None:
            return {
                **base,
                "status": "queued",
                "delivery": {"status": "pending", "mode": "peer"},
                "note": f"{name}'s sidecar is unreachable; the message stays in the outbox and is delivered once "
                "when it is back (`sidecar outbox` shows it). Sending the same message again does not "
                "duplicate it.",
            }
        self.ctx.store.outbox_finish(idem, "delivered", run_id=str(answer.get("runId") or idem))
        status = str(answer.get("status") or "accepted")
        result: dict[str, Any] = {
            **base,
            "status": "ok" if status == "duplicate" else status,
            "delivery": {"status": "delivered", "mode": "peer"},
        }
        if status == "duplicate":
            result["note"] = f"{name} already had this message; it was delivered once."
        if answer.get("error"):
            result["error"] = str(answer["error"])
        if answer.get("reply"):
            reply = answer["reply"]
            text = reply.get("data", {}).get("content") if isinstance(reply, dict) else reply
            result["reply"] = _history.enveloped_reply(str(text), target)
            result["note"] = " ".join(filter(None, (result.get("note"), _history.UNTRUSTED_NOTE)))
        return result

    async def _peer_attempts(
        self, name: str, target: str, idem: str, args: dict[str, Any], wait: float
    ) -> dict[str, Any] | None:
        last: Exception | None = None
        for attempt in range(1, SEND_ATTEMPTS + 1):
            try:
                return await self.ctx.call_peer(name, "peer_send", args, timeout=wait + 30)
            except Denied:
                self.ctx.store.outbox_finish(idem, "failed", error=f"refused by {name}")
                raise
            except GatewayFault as exc:
                last = exc
                log.info("sending to %s on %s: attempt %d failed (%s); retrying", target, name, attempt, exc)
                await anyio.sleep(min(0.5 * 2**attempt, 8.0))
        log.warning("send %s to %s stays pending: %s", idem, name, last)
        return None

    async def resume_peers(self, older_than: float = 20.0) -> int:
        """Deliver pending sends to sidecar peers that are not being sent right now (the peer was down)."""
        resumed = 0
        for entry in self.ctx.store.outbox_pending():
            name, key = str(entry["gateway"]), str(entry["idempotency_key"])
            if not self.ctx.via_sidecar(name) or key in self.in_flight or entry.get("body") is None:
                continue
            mine = (self.ctx.requester.session_key, self.ctx.requester.gateway)
            if (entry.get("requester"), entry.get("requester_gateway", HOME)) != mine:
                continue  # another session's send: Runtime.writers resumes it as that session
            if self.ctx.clock() - float(entry.get("created_at") or 0) < older_than:
                continue
            trace = _guard.Trace(str(entry.get("trace_id") or ""), int(entry.get("hop") or 1))
            args = {
                "sessionKey": str(entry["target"]),
                "message": _guard.stamp(str(entry["body"]), trace, self.ctx.requester.agent_id),
                "idempotencyKey": key,
                "timeoutSeconds": 0,
                "traceId": trace.trace_id,
                "hop": trace.hop,
            }
            self.in_flight.add(key)
            try:
                answer = await self.ctx.call_peer(name, "peer_send", args)
            except Denied:
                self.ctx.store.outbox_finish(key, "failed", error=f"refused by {name}")
                continue
            except GatewayFault as exc:
                log.info("resuming send %s to %s: %s", key, name, exc)
                continue
            finally:
                self.in_flight.discard(key)
            self.ctx.store.outbox_finish(key, "delivered", run_id=str(answer.get("runId") or key))
            resumed += 1
        return resumed

    def _note_session(self, name: str, target: str, client: Any) -> None:
        """The run was accepted, so the target session exists. A gateway without session events
        (2026.3.x) would tell the mirror only at its next poll; record it now so sessions_list shows it."""
        features = getattr(client, "features", None)
        if features is None or features.has("sessions.subscribe"):
            return
        if self.ctx.store.get(target, name) is None:
            self.ctx.store.upsert({"key": target, "updatedAt": int(self.ctx.clock() * 1000)}, name)

    async def _retrying(
        self,
        what: str,
        op: Callable[[GatewayLike], Awaitable[_T]],
        name: str,
        budget: _Budget | None = None,
    ) -> _T:
        """Run `op` against gateway `name`, riding out a dropped connection or a gateway restart, within
        `budget` when given (each attempt is cut to what is left of it)."""
        last: Exception | None = None
        for attempt in range(1, SEND_ATTEMPTS + 1):
            left = None if budget is None else budget.remaining()
            if left is not None and left <= 0:
                break
            try:
                with anyio.fail_after(left):
                    return await op(await self.ctx.client(name))
            except FINAL:
                raise
            except TimeoutError:
                last = last or RequestTimeout(what, left or 0)
                break
            except RETRYABLE as exc:
                last = exc
                log.debug("%s: attempt %d failed (%s); retrying", what, attempt, exc)
                pause = min(0.5 * 2**attempt, 8.0)
                if budget is not None:
                    pause = min(pause, max(0.0, budget.remaining()))
                await anyio.sleep(pause)
        url = self.ctx.gateways.url_of(name) or name
        why = f" ({last})" if last is not None else " in time"
        raise GatewayFault(f"{what} failed: the gateway {url} did not answer{why}. {self._remedy(name)}")

    def _remedy(self, name: str) -> str:
        url = self.ctx.gateways.url_of(name) or name
        agent = self.ctx.requester.agent_id
        return (
            f"Check it with `sidecar doctor --agent {agent} --gateway {url}`. If the gateway now listens at "
            f"another address, restart this sidecar with --gateway NEW_URL (or set gateway.url in "
            f"{self.ctx.policy.path}) and pair there once: `sidecar pair --gateway NEW_URL --agent {agent}`."
        )

    def _gave_up(self, budget: _Budget, name: str, target: str, cause: Exception | None) -> GatewayFault:
        """The error (and outbox state) for a send whose time budget ran out."""
        spent = f"timeoutSeconds {budget.wait:g} + {SEND_MARGIN_S:g} s"
        why = f" ({cause})" if cause is not None else ""
        if budget.idem is not None and not budget.accepted:
            self.ctx.store.outbox_finish(budget.idem, "failed", error="gateway unreachable; not sent")
            return GatewayFault(
                f"sessions_send to {target} was not sent: the gateway did not answer within {spent}{why}. "
                f"Nothing was delivered; the outbox records it as failed (`sidecar outbox --agent "
                f"{self.ctx.requester.agent_id}`, run id {budget.idem}). Send it again once the gateway is back."
            )
        if budget.idem is not None:
            return GatewayFault(
                f"sessions_send to {target}: the gateway accepted the message but did not confirm delivery "
                f"within {spent}{why}. The outbox keeps it pending (run id {budget.idem}); a restarted sidecar "
                "checks the target's transcript and settles it. Do not send it again; read the reply later with "
                "sessions_history."
            )
        return GatewayFault(f"sessions_send to {target} gave up after {spent}{why}. {self._remedy(name)}")

    async def _dispatch(
        self,
        name: str,
        target: str,
        idem: str,
        params: dict[str, Any],
        *,
        check_first: bool = False,
        budget: _Budget | None = None,
    ) -> str:
        """Start the run once. After a dropped connection or a gateway restart the gateway may or may not
        have the message (its replay cache does not survive a restart), so look in the target's transcript
        for our idempotency key before sending again."""
        tried = check_first

        async def once(client: GatewayLike) -> str:
            nonlocal tried
            if tried and await _already_delivered(client, target, idem, params.get("message")):
                return idem
            tried = True
            accepted = await client.agent(params, resend=False)
            return str(getattr(accepted, "run_id", idem))

        try:
            return await self._retrying(f"sending to {target}", once, name, budget)
        except Exception as exc:
            self.ctx.store.outbox_finish(idem, "failed", error=type(exc).__name__)
            if isinstance(exc, GatewayFault):
                raise GatewayFault(
                    f"{exc} Nothing was delivered; the send is recorded as failed in the outbox (`sidecar "
                    f"outbox --agent {self.ctx.requester.agent_id}`); send it again once the gateway is back."
                ) from None
            raise

    async def _settle_after_restart(
        self,
        name: str,
        target: str,
        idem: str,
        params: dict[str, Any],
        base: dict[str, Any],
        budget: _Budget | None = None,
    ) -> dict[str, Any]:
        async def check(client: GatewayLike) -> bool:
            return await _already_delivered(client, target, idem, params.get("message"))

        try:
            delivered = await self._retrying(f"checking delivery to {target}", check, name, budget)
        except GatewayFault as exc:
            if budget is None:
                raise
            # Accepted, then the gateway went away: the outbox keeps it pending for a restart to settle.
            raise self._gave_up(budget, name, target, exc) from None
        if not delivered:
            # Accepted but lost with the gateway: send it again under the same key (at least once).
            await self._dispatch(name, target, idem, params, budget=budget)
        self.ctx.store.outbox_finish(idem, "delivered", run_id=idem)
        return {
            **base,
            "status": "interrupted",
            "delivery": {"status": "delivered", "mode": "direct"},
            "note": "The gateway restarted while the target was answering. The message was delivered once; "
            "read its reply later with sessions_history.",
        }

    def request_params(self, message: str, target: str, idem: str, trace: _guard.Trace) -> dict[str, Any]:
        """The gateway `agent` request for one inter-agent message: direct, labelled as inter-session data."""
        return {
            "message": _guard.stamp(message, trace, self.ctx.requester.agent_id),
            "sessionKey": target,
            "idempotencyKey": idem,
            "deliver": False,
            "channel": "webchat",
            "lane": "nested",
            "extraSystemPrompt": (
                "Agent-to-agent message context:\n"
                f"Agent 1 (requester) session: {self.ctx.requester.session_key}.\n"
                f"Agent 2 (target) session: {target}."
            ),
            "inputProvenance": {
                "kind": "inter_session",
                "sourceSessionKey": self.ctx.requester.session_key,
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
        for entry in self.ctx.store.outbox_pending():
            key, body = str(entry["idempotency_key"]), entry.get("body")
            if self.ctx.via_sidecar(str(entry["gateway"])):
                continue  # resume_peers delivers these, under the same key
            mine = (self.ctx.requester.session_key, self.ctx.requester.gateway)
            if (entry.get("requester"), entry.get("requester_gateway", HOME)) != mine:
                continue  # another session's send: Runtime.writers resumes it as that session
            if body is None or self.ctx.clock() - float(entry.get("created_at") or 0) > DEDUPE_WINDOW_S:
                self.ctx.store.outbox_finish(
                    key, "failed", error="expired: the sidecar was down too long to resend"
                )
                continue
            trace = _guard.Trace(str(entry.get("trace_id") or ""), int(entry.get("hop") or 1))
            params = self.request_params(str(body), str(entry["target"]), key, trace)
            try:
                await self._dispatch(
                    str(entry["gateway"]), str(entry["target"]), key, params, check_first=True
                )
            except (GatewayFault, GatewayError) as exc:
                log.warning("could not resume send %s: %s", key, exc)
                continue
            self.ctx.store.outbox_finish(key, "delivered", run_id=key)
            resumed += 1
        return resumed

    async def _next_trace(self, budget: _Budget | None = None) -> _guard.Trace:
        """Continue the trace of the message this agent is answering, or start one; refuse a runaway chain."""
        own = self.ctx.requester.session_key

        async def read(client: GatewayLike) -> Any:
            return await client.request("chat.history", {"sessionKey": own, "limit": 20}, idempotent=True)

        payload = await self._retrying("reading this agent's own session", read, HOME, budget)
        messages = payload.get("messages", []) if isinstance(payload, dict) else []
        inbound = _guard.inbound_trace(messages)
        anchor = _guard.turn_seed(messages)
        if inbound:
            trace = inbound.next()
        elif anchor:
            trace = _guard.Trace.start(anchor)
        else:
            # No turn to anchor to (a client outside OpenClaw): a short time bucket still folds retries.
            trace = _guard.Trace.start(f"{own}@{int(self.ctx.clock() // RETRY_BUCKET_S)}")
        return trace


def _idempotency_key(requester: str, gateway: str, target: str, message: str, trace: _guard.Trace) -> str:
    """One logical send, one key: the same message to the same session in reply to the same inbound message."""
    digest = hashlib.sha256(
        "\x1f".join((requester, gateway, target, message, trace.trace_id, str(trace.hop))).encode("utf-8")
    ).hexdigest()
    return str(uuid.UUID(digest[:32]))


async def _already_delivered(client: GatewayLike, target: str, idem: str, stamped: Any = None) -> bool:
    """Whether the target's transcript already holds the message sent under `idem` (by its key where the
    release records it, else by the stamped text `stamped` itself)."""
    payload = await client.request("chat.history", {"sessionKey": target, "limit": 100}, idempotent=True)
    for message in (payload or {}).get("messages", []) if isinstance(payload, dict) else []:
        if not isinstance(message, dict):
            continue
        meta = message.get("__openclaw")
        meta = meta if isinstance(meta, dict) else {}
        if str(message.get("idempotencyKey", "")).startswith(idem) or meta.get("runId") == idem:
            return True
        if isinstance(stamped, str) and _guard.carries(message, stamped):
            return True
    return False


def _reply_of(waited: Any) -> str | None:
    terminal = waited.get("terminalReply") if isinstance(waited, dict) else None
    if isinstance(terminal, dict) and terminal.get("disposition") == "visible" and terminal.get("text"):
        return str(terminal["text"])
    return None
