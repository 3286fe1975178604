"""The real gateway killed (SIGKILL) mid-send, again and again, under one long-lived `sidecar serve`.

Each round sends one uniquely marked message with `sessions_send` (waiting for the reply) and kills the
gateway at a different moment, then restarts it:

* `in-flight`: once the stub model has the message (the `SLOW <s>:` rule holds the reply back);
* `while-down`: before the send starts (the sidecar must wait for the gateway and send once);
* `random`: at a random moment in the first seconds of the send (before the run is accepted, while it
  runs, or while the sidecar waits for the reply).

The figure that matters is how often each marker reached the target's transcript: exactly once, never
zero (lost) and never twice (duplicated). Every outbox entry must end `delivered`.
"""

from __future__ import annotations

import random
import secrets
from pathlib import Path
from typing import Any

import anyio

from tests.reliability.support import (
    Outcome,
    Progress,
    count_delivered,
    integrity,
    query,
    quiet,
    served,
    sidecar_env,
    text,
    timed,
    wait_for_model_call,
    write_policy,
)

MODES = ("in-flight", "while-down", "random")


async def open_sessions(gw: Any, agent: str, keys: list[str]) -> None:
    """Make sure each target session exists on the gateway (one turn each)."""
    with gw.rpc() as rpc:
        existing = {r["key"] for r in rpc.request("sessions.list", {"limit": 500}).get("sessions", [])}
    for key in keys:
        if key not in existing:
            await anyio.to_thread.run_sync(lambda k=key: gw.turn(agent, "open", session_key=k, timeout=120))


async def kill_mid_send(
    gw: Any,
    root: Path,
    *,
    rounds: int,
    agent: str = "ops",
    seed: int | None = None,
    progress: Progress = quiet,
) -> Outcome:
    """`rounds` sends from `agent`'s sidecar to two of its own sessions, the gateway killed in each."""
    seed = random.randrange(2**32) if seed is None else seed
    rng = random.Random(seed)
    run = secrets.token_hex(3)
    targets = [f"agent:{agent}:inbox-a", f"agent:{agent}:inbox-b"]
    outcome = Outcome("gateway killed mid-send", counts={"rounds": 0, "seed": seed})
    markers: list[tuple[str, str]] = []
    with timed(outcome):
        await open_sessions(gw, agent, targets)
        policy = write_policy(
            root,
            {
                "gateway": {"url": gw.url},
                "tools": {"sessions": {"visibility": "all"}, "agentToAgent": {"enabled": True}},
                "agents": {"entries": {a: {} for a in gw.agents}},
                "limits": {"sendsPerMinute": 600},
            },
        )
        async with served(policy, agent, sidecar_env(root, gw.token)) as client:
            with anyio.fail_after(180):
                warm = await client.call_tool(
                    "sessions_send",
                    {"sessionKey": targets[0], "message": f"warm up {run}", "timeoutSeconds": 60},
                )
            if warm.is_error:
                outcome.fail(f"warm-up send failed: {text(warm)[:300]}")
                return outcome
            for n in range(rounds):
                mode, target = MODES[n % len(MODES)], targets[n % len(targets)]
                marker = f"kill-{run}-{n:03d}"
                markers.append((target, marker))
                result: dict[str, Any] = {}

                async def send(body: str, target: str = target, result: dict[str, Any] = result) -> None:
                    result["r"] = await client.call_tool(
                        "sessions_send", {"sessionKey": target, "message": body, "timeoutSeconds": 90}
                    )

                with anyio.fail_after(420):
                    if mode == "while-down":
                        gw.kill()
                        async with anyio.create_task_group() as tg:
                            tg.start_soon(send, marker)
                            await anyio.sleep(rng.uniform(0, 2))
                            await anyio.to_thread.run_sync(lambda: gw.restart(progress=False))
                    else:
                        hold = rng.uniform(3, 6)
                        async with anyio.create_task_group() as tg:
                            tg.start_soon(send, f"SLOW {hold:.1f}: {marker}")
                            if mode == "in-flight":
                                await wait_for_model_call(gw, marker)
                            else:
                                await anyio.sleep(rng.uniform(0, hold + 1.5))
                            gw.kill()
                            await anyio.to_thread.run_sync(lambda: gw.restart(progress=False))
                answer = result["r"]
                status = "error" if answer.is_error else str((answer.structured_content or {}).get("status"))
                outcome.add(f"status:{status}")
                outcome.add(f"mode:{mode}")
                if answer.is_error:
                    outcome.fail(f"round {n} ({mode}): the send failed: {text(answer)[:300]}")
                seen = await _settled(gw, target, marker)
                outcome.counts["rounds"] = n + 1
                progress(f"kill-mid-send {n + 1}/{rounds} ({mode}): {status}, delivered {seen}x")
        # Counted again at the end: a run the gateway replayed after a restart would show up by now.
        lost = dup = 0
        for target, marker in markers:
            seen = await anyio.to_thread.run_sync(count_delivered, gw, target, marker)
            if seen == 0:
                lost += 1
                outcome.fail(f"{marker}: lost (not in {target})")
            elif seen > 1:
                dup += 1
                outcome.fail(f"{marker}: delivered {seen} times to {target}")
        outcome.counts.update(
            sends=len(markers), lost=lost, duplicated=dup, exactly_once=len(markers) - lost - dup
        )
        db = root / "state" / agent / "mirror.db"
        outbox = dict(query(db, "SELECT status, count(*) FROM outbox GROUP BY status"))
        outcome.counts["outbox"] = outbox
        if set(outbox) - {"delivered"}:
            outcome.fail(f"outbox entries not delivered: {outbox}")
        check = integrity(db)
        if check != "ok":
            outcome.fail(f"mirror integrity_check: {check}")
    return outcome


async def _settled(gw: Any, target: str, marker: str, deadline: float = 60) -> int:
    """The marker's count in the target's transcript once it is there (or after `deadline` seconds)."""
    with anyio.move_on_after(deadline):
        while True:
            seen = await anyio.to_thread.run_sync(count_delivered, gw, target, marker)
            if seen:
                return int(seen)
            await anyio.sleep(0.5)
    return 0
