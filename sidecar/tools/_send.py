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

This module is the pipeline itself; getting the message in once (dispatch, retries within the budget,
transcript checks, settling after a restart) is `_delivery.py`, and handing a send to a peer host's
sidecar is `_peer_send.py`.
"""

from __future__ import annotations

import hashlib
import logging
import math
import uuid
from typing import Any

import anyio

from sidecar import telemetry
from sidecar.gateway import GatewayError, RequestTimeout, inter_session_run
from sidecar.tools import _guard, _history
from sidecar.tools._context import CallContext
from sidecar.tools._delivery import FINAL, RETRYABLE, Budget, Delivery, reply_of
from sidecar.tools._errors import BadCall, GatewayFault
from sidecar.tools._lookup import decide_key, resolve_label
from sidecar.tools._peer_send import PeerSends
from sidecar.tools._routing import HOME, GatewayLike

DEDUPE_WINDOW_S = 600.0
SEND_MARGIN_S = 5.0
"""What a send may take beyond its timeoutSeconds (trace, outbox, dispatch); documented in README."""
RECORD_RESERVE_S = 2.0
"""Of the budget, what reading the agent's own session (for the trace) leaves for recording the send."""
MAX_WAIT_S = 3600.0
RETRY_BUCKET_S = 120.0
RUN_ATTEMPTS = 3
log = logging.getLogger("sidecar")


class SendPipeline:
    """Sends for one agent; holds the agent's rate window."""

    def __init__(self, ctx: CallContext) -> None:
        self.ctx = ctx
        self.limiter = _guard.SendRateLimiter()
        self.delivery = Delivery(ctx)
        self.peers = PeerSends(ctx)

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
            # A peer's sidecar keeps the send in its own outbox and this one resumes it (`_peer_send.py`):
            # a peer send has its own attempts and is not cut to this budget.
            return await self._deliver(message, target, name, wait, Budget(math.inf, wait), facts)
        budget = Budget(anyio.current_time() + wait + SEND_MARGIN_S, wait, SEND_MARGIN_S)
        try:
            with anyio.fail_after(wait + SEND_MARGIN_S):
                return await self._deliver(message, target, name, wait, budget, facts)
        except TimeoutError:
            raise self.delivery.gave_up(budget, name, target, None) from None

    def _facts(self, wait: float) -> dict[str, Any]:
        """This send's facts for the engine's send guards: whether it waits, and the last minute's sends."""
        count, frees_in = self.limiter.recent()
        reset = self.ctx.clock() + frees_in if frees_in is not None else None
        return {"send_waits": wait > 0, "sends_this_minute": count, "minute_reset_at": reset}

    async def _deliver(
        self, message: str, target: str, name: str, wait: float, budget: Budget, facts: dict[str, Any]
    ) -> dict[str, Any]:
        unread: GatewayFault | None = None
        try:
            reserve = min(RECORD_RESERVE_S, (wait + SEND_MARGIN_S) / 3)
            trace = await self._next_trace(Budget(budget.deadline - reserve, wait))
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
            raise self.delivery.gave_up(budget, name, target, unread)
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
            return await self.peers.send(name, target, idem, message, wait, trace, base)
        baseline = None
        if wait > 0:

            async def history(client: GatewayLike) -> Any:
                return await client.request(
                    "chat.history", {"sessionKey": target, "limit": 50}, idempotent=True
                )

            before = await self.delivery.retrying(f"reading {target} before sending", history, name, budget)
            baseline = _history.latest_assistant_text((before or {}).get("messages", []))
        params = self.request_params(message, target, idem, trace)
        for attempt in range(RUN_ATTEMPTS):
            # A derived key only after the transcript proved the previous run never reached the target.
            key = idem if attempt == 0 else f"{idem}-r{attempt}"
            with telemetry.span("sidecar.forward", **{"gateway.method": "agent", "sidecar.gateway": name}):
                run_id = await self.delivery.dispatch(
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
                return await self.delivery.settle_after_restart(name, target, idem, params, base, budget)
            status = (waited or {}).get("status") if isinstance(waited, dict) else None
            if status != "error":
                break
            if await self.delivery.arrived(name, target, idem, params["message"], budget):
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
        reply = reply_of(waited)
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

    async def resume_peers(self, older_than: float = 20.0) -> int:
        """Deliver pending sends to sidecar peers that are not being sent right now (see `PeerSends.resume`)."""
        return await self.peers.resume(older_than)

    def _note_session(self, name: str, target: str, client: Any) -> None:
        """The run was accepted, so the target session exists. A gateway without session events
        (2026.3.x) would tell the mirror only at its next poll; record it now so sessions_list shows it."""
        features = getattr(client, "features", None)
        if features is None or features.has("sessions.subscribe"):
            return
        if self.ctx.store.get(target, name) is None:
            self.ctx.store.upsert({"key": target, "updatedAt": int(self.ctx.clock() * 1000)}, name)

    def request_params(self, message: str, target: str, idem: str, trace: _guard.Trace) -> dict[str, Any]:
        """The gateway `agent` request for one inter-agent message: direct, labelled as inter-session data."""
        stamped = _guard.stamp(message, trace, self.ctx.requester.agent_id)
        return inter_session_run(stamped, target, idem, self.ctx.requester.session_key)

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
                await self.delivery.dispatch(
                    str(entry["gateway"]), str(entry["target"]), key, params, check_first=True
                )
            except (GatewayFault, GatewayError) as exc:
                log.warning("could not resume send %s: %s", key, exc)
                continue
            self.ctx.store.outbox_finish(key, "delivered", run_id=key)
            resumed += 1
        return resumed

    async def _next_trace(self, budget: Budget | None = None) -> _guard.Trace:
        """Continue the trace of the message this agent is answering, or start one; refuse a runaway chain."""
        own = self.ctx.requester.session_key

        async def read(client: GatewayLike) -> Any:
            return await client.request("chat.history", {"sessionKey": own, "limit": 20}, idempotent=True)

        payload = await self.delivery.retrying("reading this agent's own session", read, HOME, budget)
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


__all__ = ["DEDUPE_WINDOW_S", "SEND_MARGIN_S", "SendPipeline"]
