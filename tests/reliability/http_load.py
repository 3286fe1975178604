"""Concurrent streamable-HTTP clients against one `sidecar serve --transport http` on a real gateway.

Each client is the MCP SDK client (`Client(streamable_http_client(url, http_client=...))`) with an
`Authorization: Bearer` header, making a mix of allowed `sessions_list` / `sessions_history` calls and
denied `sessions_send` calls. Every call must answer as the policy says (0 errors), and the decision log
(`decisions` in the mirror) must hold exactly one row per call that reached `decide`: all of them.
A request without the token, or with a wrong one, must get HTTP 401.
"""

from __future__ import annotations

import json
import secrets
import subprocess
from pathlib import Path
from typing import Any

import anyio
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.reliability.kill_send import open_sessions
from tests.reliability.support import (
    HIERARCHY,
    LEAKS,
    Outcome,
    Progress,
    decision_count,
    free_port,
    integrity,
    quiet,
    record,
    sidecar_argv,
    sidecar_env,
    stop,
    text,
    timed,
    wait_listening,
    write_policy,
)

AGENT = "lead"  # hierarchy: sees and messages dev-1..dev-5, nobody else
READS = ["agent:dev-1:main", "agent:dev-2:main", "agent:lead:main"]
DENIED = ["agent:hr:main", "agent:finance:main", "agent:manager:main"]


def plan(client: int, calls: int) -> list[tuple[str, dict[str, Any], bool]]:
    """(tool, arguments, expected to be allowed) for one client: 40% list, 30% history, 30% denied send."""
    out = []
    for i in range(calls):
        slot = (i + client) % 10
        if slot < 4:
            out.append(("sessions_list", {"limit": 50}, True))
        elif slot < 7:
            out.append(("sessions_history", {"sessionKey": READS[i % len(READS)], "limit": 5}, True))
        else:
            out.append(
                (
                    "sessions_send",
                    {"sessionKey": DENIED[i % len(DENIED)], "message": f"c{client} m{i}"},
                    False,
                )
            )
    return out


async def unauthorised(url: str, token: str) -> dict[str, int]:
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    async with httpx2.AsyncClient(timeout=30) as http:
        none = await http.post(url, json=body)
        wrong = await http.post(url, json=body, headers={"Authorization": "Bearer " + "x" * len(token)})
        scheme = await http.post(url, json=body, headers={"Authorization": token})
    return {"no_token": none.status_code, "wrong_token": wrong.status_code, "no_scheme": scheme.status_code}


async def http_load(gw: Any, root: Path, *, clients: int, calls: int, progress: Progress = quiet) -> Outcome:
    """`clients` concurrent MCP clients x `calls` calls each against one HTTP sidecar for agent lead."""
    outcome = Outcome("concurrent HTTP clients", counts={"clients": clients, "calls_each": calls})
    token = secrets.token_urlsafe(32)
    LEAKS.secret(token)
    port = free_port()
    policy = json.loads(json.dumps(HIERARCHY["policy"]))
    policy["gateway"] = {"url": gw.url}
    path = write_policy(root, policy)
    env = sidecar_env(root, gw.token, SIDECAR_HTTP_TOKEN=token)
    db = root / "state" / AGENT / "mirror.db"
    url = f"http://127.0.0.1:{port}/mcp"
    logs = root / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    with timed(outcome), (logs / "serve-http.err").open("ab") as err:
        for key in READS:
            await open_sessions(gw, key.split(":")[1], [key])
        proc = subprocess.Popen(
            sidecar_argv(
                "serve", "--policy", str(path), "--agent", AGENT, "--transport", "http", "--port", str(port)
            ),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
            start_new_session=True,
        )
        try:
            await wait_listening(port)
            outcome.counts["unauthorised"] = statuses = await unauthorised(url, token)
            if set(statuses.values()) != {401}:
                outcome.fail(f"requests without the right bearer token got {statuses}, not 401")
            headers = {"Authorization": f"Bearer {token}"}
            # One call first, so the gateway connection and the first snapshot are in before the clock starts.
            async with (
                httpx2.AsyncClient(headers=headers, timeout=120) as http,
                Client(streamable_http_client(url, http_client=http)) as warm,
            ):
                with anyio.fail_after(120):
                    first = record(await warm.call_tool("sessions_list", {}))
                if first.is_error:
                    outcome.fail(f"warm-up list failed: {text(first)[:200]}")
                    return outcome
            before = decision_count(db)
            done = [0]
            errors: list[str] = []

            async def one_client(c: int) -> None:
                async with (
                    httpx2.AsyncClient(headers=headers, timeout=120) as http,
                    Client(streamable_http_client(url, http_client=http)) as client,
                ):
                    for tool, args, allowed in plan(c, calls):
                        try:
                            with anyio.fail_after(60):
                                result = await client.call_tool(tool, args)
                        except Exception as exc:
                            errors.append(f"client {c} {tool}: {type(exc).__name__}: {exc}")
                            continue
                        if done[0] % 50 == 0:
                            record(result)
                        done[0] += 1
                        body = text(result)
                        if allowed and result.is_error:
                            errors.append(f"client {c} {tool} {args}: unexpected error {body[:160]!r}")
                        elif not allowed and not (result.is_error and "[gate: " in body and "Fix:" in body):
                            errors.append(
                                f"client {c} {tool} {args}: not denied with a gate and fix: {body[:160]!r}"
                            )
                        if done[0] % max(1, clients * calls // 10) == 0:
                            progress(f"http load: {done[0]}/{clients * calls} calls, {len(errors)} errors")

            async with anyio.create_task_group() as tg:
                for c in range(clients):
                    tg.start_soon(one_client, c)
            after = decision_count(db)
        finally:
            code = stop(proc)
    total = clients * calls
    outcome.counts.update(
        calls=total,
        answered=done[0],
        errors=len(errors),
        decisions_logged=after - before,
        exit=code,
    )
    for e in errors:
        outcome.fail(e)
    if after - before != total:
        outcome.fail(f"decision log holds {after - before} rows for {total} calls")
    check = integrity(db)
    if check != "ok":
        outcome.fail(f"mirror integrity_check: {check}")
    return outcome
