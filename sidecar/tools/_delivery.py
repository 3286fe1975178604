"""Getting one send's message into the target session once, within the send's time budget.

`Delivery` starts the gateway `agent` run and rides out a dropped connection or a restarting gateway,
each attempt cut to what is left of the budget. After a drop the gateway may or may not have the message
(its replay cache does not survive a restart), so the target's transcript is read for the send's
idempotency key before anything is sent again (`already_delivered`). A send whose gateway went away while
the target was answering is settled from that transcript. What cannot be done in time becomes one
`GatewayFault` that says what became of the send, with the outbox entry to match (`gave_up`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import anyio

from sidecar.gateway import (
    ConnectionLost,
    GatewayAuthChanged,
    GatewayUnreachable,
    PayloadTooLarge,
    PolicyViolation,
    RequestTimeout,
    Unavailable,
    sent_under,
)
from sidecar.tools import _guard
from sidecar.tools._context import CallContext
from sidecar.tools._errors import GatewayFault
from sidecar.tools._routing import GatewayLike

SEND_ATTEMPTS = 6
# A dropped or refused connection and a restarting gateway are ridden out; a 1008 policy close, a changed
# gateway secret or an oversized frame are not (retrying cannot fix them).
RETRYABLE = (ConnectionLost, GatewayUnreachable, RequestTimeout, Unavailable)
FINAL = (PolicyViolation, GatewayAuthChanged, PayloadTooLarge)
log = logging.getLogger("sidecar")
_T = TypeVar("_T")


@dataclass
class Budget:
    """One send's time budget (`wait` plus `margin`), and how far the send got (for the outbox and the
    error when it runs out)."""

    deadline: float
    wait: float
    margin: float = 0.0
    idem: str | None = None
    accepted: bool = False

    def remaining(self) -> float:
        return self.deadline - anyio.current_time()


class Delivery:
    """Dispatch, retry, check and settle for one agent's sends to gateways (not to sidecar peers)."""

    def __init__(self, ctx: CallContext) -> None:
        self.ctx = ctx

    async def retrying(
        self,
        what: str,
        op: Callable[[GatewayLike], Awaitable[_T]],
        name: str,
        budget: Budget | None = None,
    ) -> _T:
        """Run `op` against gateway `name`, riding out a dropped connection or a gateway restart, within
        `budget` when given (each attempt is cut to what is left of it)."""
        last: Exception | None = None
        # Within a finite budget the gateway gets every chance the budget allows (a restarted 2026.9
        # gateway can answer UNAVAILABLE for half a minute); without one, SEND_ATTEMPTS bound the tries.
        bounded = budget is not None and math.isfinite(budget.deadline)
        attempt = 0
        while bounded or attempt < SEND_ATTEMPTS:
            attempt += 1
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
                pause = min(0.5 * 2 ** min(attempt, 5), 8.0)
                if budget is not None:
                    pause = min(pause, max(0.0, budget.remaining()))
                await anyio.sleep(pause)
        url = self.ctx.gateways.url_of(name) or name
        why = f" ({last})" if last is not None else " in time"
        raise GatewayFault(f"{what} failed: the gateway {url} did not answer{why}. {self.remedy(name)}")

    def remedy(self, name: str) -> str:
        url = self.ctx.gateways.url_of(name) or name
        agent = self.ctx.requester.agent_id
        return (
            f"Check it with `sidecar doctor --agent {agent} --gateway {url}`. If the gateway now listens at "
            f"another address, restart this sidecar with --gateway NEW_URL (or set gateway.url in "
            f"{self.ctx.policy.path}) and pair there once: `sidecar pair --gateway NEW_URL --agent {agent}`."
        )

    def gave_up(self, budget: Budget, name: str, target: str, cause: Exception | None) -> GatewayFault:
        """The error (and outbox state) for a send whose time budget ran out."""
        spent = f"timeoutSeconds {budget.wait:g} + {budget.margin:g} s"
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
        return GatewayFault(f"sessions_send to {target} gave up after {spent}{why}. {self.remedy(name)}")

    async def dispatch(
        self,
        name: str,
        target: str,
        idem: str,
        params: dict[str, Any],
        *,
        check_first: bool = False,
        budget: Budget | None = None,
    ) -> str:
        """Start the run once. After a dropped connection or a gateway restart the gateway may or may not
        have the message (its replay cache does not survive a restart), so look in the target's transcript
        for our idempotency key before sending again."""
        tried = check_first

        async def once(client: GatewayLike) -> str:
            nonlocal tried
            if tried and await already_delivered(client, target, idem, params.get("message")):
                return idem
            tried = True
            accepted = await client.agent(params, resend=False)
            return str(getattr(accepted, "run_id", idem))

        try:
            return await self.retrying(f"sending to {target}", once, name, budget)
        except Exception as exc:
            self.ctx.store.outbox_finish(idem, "failed", error=type(exc).__name__)
            if isinstance(exc, GatewayFault):
                raise GatewayFault(
                    f"{exc} Nothing was delivered; the send is recorded as failed in the outbox (`sidecar "
                    f"outbox --agent {self.ctx.requester.agent_id}`); send it again once the gateway is back."
                ) from None
            raise

    async def arrived(self, name: str, target: str, idem: str, stamped: Any, budget: Budget | None) -> bool:
        """Whether the target's transcript holds the send, read with retries within `budget`."""

        async def check(client: GatewayLike) -> bool:
            return await already_delivered(client, target, idem, stamped)

        return await self.retrying(f"checking delivery to {target}", check, name, budget)

    async def settle_after_restart(
        self,
        name: str,
        target: str,
        idem: str,
        params: dict[str, Any],
        base: dict[str, Any],
        budget: Budget | None = None,
    ) -> dict[str, Any]:
        """The gateway went away while the target was answering: a restarted gateway no longer knows the
        run, so delivery is settled from the transcript (and the message sent again if it is not there)."""
        try:
            delivered = await self.arrived(name, target, idem, params.get("message"), budget)
        except GatewayFault as exc:
            if budget is None:
                raise
            # Accepted, then the gateway went away: the outbox keeps it pending for a restart to settle.
            raise self.gave_up(budget, name, target, exc) from None
        if not delivered:
            # Accepted but lost with the gateway: send it again under the same key (at least once).
            await self.dispatch(name, target, idem, params, budget=budget)
        self.ctx.store.outbox_finish(idem, "delivered", run_id=idem)
        return {
            **base,
            "status": "interrupted",
            "delivery": {"status": "delivered", "mode": "direct"},
            "note": "The gateway restarted while the target was answering. The message was delivered once; "
            "read its reply later with sessions_history.",
        }


async def already_delivered(client: GatewayLike, target: str, idem: str, stamped: Any = None) -> bool:
    """Whether the target's transcript already holds the message sent under `idem` (by its key where the
    release records it, else by the stamped text `stamped` itself)."""
    payload = await client.request("chat.history", {"sessionKey": target, "limit": 100}, idempotent=True)
    for message in (payload or {}).get("messages", []) if isinstance(payload, dict) else []:
        if sent_under(message, idem):
            return True
        if isinstance(stamped, str) and _guard.carries(message, stamped):
            return True
    return False


def reply_of(waited: Any) -> str | None:
    """The target's visible final reply from an `agent.wait` answer, when the release includes it."""
    terminal = waited.get("terminalReply") if isinstance(waited, dict) else None
    if isinstance(terminal, dict) and terminal.get("disposition") == "visible" and terminal.get("text"):
        return str(terminal["text"])
    return None


__all__ = ["FINAL", "RETRYABLE", "SEND_ATTEMPTS", "Budget", "Delivery", "already_delivered", "reply_of"]
