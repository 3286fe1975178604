"""Sends to a peer host through its own sidecar: handed over under the send's idempotency key, resumed later.

The peer's sidecar decides the send again under its own policy, queues it in its own outbox and looks for
the key in the target's transcript, so a resend after it died is delivered once. While it stays down the
send stays pending in this outbox and `PeerSends.resume` hands it over again; a refusal there is final.
"""

from __future__ import annotations

import logging
from typing import Any

import anyio

from sidecar.tools import _guard, _history
from sidecar.tools._context import CallContext
from sidecar.tools._delivery import SEND_ATTEMPTS
from sidecar.tools._errors import Denied, GatewayFault
from sidecar.tools._routing import HOME

log = logging.getLogger("sidecar")


class PeerSends:
    """One agent's sends to sidecar peers, and which of them are being handed over right now."""

    def __init__(self, ctx: CallContext) -> None:
        self.ctx = ctx
        self.in_flight: set[str] = set()

    def _args(self, target: str, message: str, idem: str, trace: _guard.Trace, wait: float) -> dict[str, Any]:
        return {
            "sessionKey": target,
            "message": _guard.stamp(message, trace, self.ctx.requester.agent_id),
            "idempotencyKey": idem,
            "timeoutSeconds": wait,
            "traceId": trace.trace_id,
            "hop": trace.hop,
        }

    async def send(
        self,
        name: str,
        target: str,
        idem: str,
        message: str,
        wait: float,
        trace: _guard.Trace,
        base: dict[str, Any],
    ) -> dict[str, Any]:
        """Hand the send to the peer's sidecar under the same idempotency key; `queued` while it is down."""
        args = self._args(target, message, idem, trace, wait)
        self.in_flight.add(idem)
        try:
            answer = await self._attempts(name, target, idem, args, wait)
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

    async def _attempts(
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

    async def resume(self, older_than: float = 20.0) -> int:
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
            args = self._args(str(entry["target"]), str(entry["body"]), key, trace, 0)
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


__all__ = ["PeerSends"]
