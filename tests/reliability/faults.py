"""Fault injection at each I/O seam: a WebSocket dropped mid-frame, a full disk, no keyring, a locked mirror.

For each fault the question is the same: does the agent (or the operator at the command line) get an
error that says what is wrong and what to do, and is the mirror database still consistent afterwards
(`PRAGMA integrity_check`), and does the sidecar recover once the fault is gone?

Each probe returns a `Probe`; `clear` is judged by `clear_error` (the cause and a remedy are named, and it
is neither a traceback nor the SDK's bare "Error executing tool X"). Five of these probes found defects
(tests/reliability/test_defects.py), fixed in 7028ee3.
"""

from __future__ import annotations

import json
import random
import re
import secrets
import sqlite3
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import anyio
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.shared.exceptions import MCPError

from sidecar.mcp._server import build_server
from sidecar.mirror import Mirror, ServiceStore, journaled_decisions
from sidecar.policy import Requester, parse_policy
from sidecar.tools import SessionsService
from sidecar.tools._routing import GatewayPool
from tests.fakes import FakeGateway
from tests.reliability.fuzz import CRASH
from tests.reliability.kill_sync import SessionsGateway
from tests.reliability.proxy import CuttingProxy
from tests.reliability.support import (
    HIERARCHY,
    HIERARCHY_AGENTS,
    Outcome,
    Progress,
    count_delivered,
    integrity,
    query,
    quiet,
    record,
    served,
    sidecar_argv,
    sidecar_env,
    text,
    timed,
    write_policy,
)

# What a clear error names, per fault: the cause, and a remedy.
CAUSES = {
    "websocket": ("gateway",),
    "disk": ("disk", "full", "space"),
    "keyring": ("keyring",),
    "locked": ("locked",),
}
REMEDIES = {
    "websocket": ("check", "retry", "doctor", "reconnect"),
    "disk": ("free", "space", "delete", "disk"),
    "keyring": ("--token-store file", "secret service"),
    "locked": ("stop", "another sidecar", "sidecar_state_dir"),
}


def clear_error(kind: str, message: str) -> bool:
    low = message.lower()
    return (
        bool(message.strip())
        and "traceback" not in low
        and not CRASH.fullmatch(message)
        and any(c in low for c in CAUSES[kind])
        and any(r in low for r in REMEDIES[kind])
    )


@dataclass
class Probe:
    """One fault, injected once: what the sidecar said, and the state of the mirror afterwards."""

    fault: str
    how: str
    message: str = ""
    clear: bool = False
    integrity: str = "not checked"
    recovered: bool | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def intact(self) -> bool:
        return self.integrity == "ok"

    def row(self) -> dict[str, Any]:
        out = asdict(self)
        out["message"] = _gist(self.message)
        return out


def _gist(message: str) -> str:
    """The message on one line; for a traceback, its last line (the error), marked as a traceback."""
    lines = [
        line.strip()
        for line in message.splitlines()
        if line.strip() and not line.startswith("warning: storing the device key")
    ]
    if any(line.startswith(("Traceback", "+ Exception Group Traceback")) for line in lines):
        errors = [
            line for line in lines if re.match(r"^[|+\s]*[\w.]+(Error|Exception|Locked|Unavailable)\b", line)
        ]
        return "traceback ending in: " + (errors[-1] if errors else lines[-1]).lstrip("| ")[:280]
    return " ".join(" ".join(lines).split())[:300]


def _first_line(value: str) -> str:
    return next((line for line in value.splitlines() if line.strip()), "")


# -- a WebSocket dropped mid-frame ------------------------------------------------------------------------


async def websocket_drops(gw: Any, root: Path, *, rounds: int, progress: Progress = quiet) -> Outcome:
    """`sidecar serve` behind a proxy that cuts the gateway's next frame in half, `rounds` times during a
    history read and `rounds` times during a send; then every connection cut until the sidecar gives up
    with an MCP error; then the proxy heals. Calls must recover, sends must arrive exactly once."""
    outcome = Outcome("WebSocket dropped mid-frame", counts={"rounds": rounds})
    agent = gw.agents[0]
    own = f"agent:{agent}:main"
    run = secrets.token_hex(3)
    with timed(outcome):
        async with CuttingProxy(gw.port) as proxy:
            policy = write_policy(
                root,
                {
                    "gateway": {"url": proxy.url},
                    "tools": {"sessions": {"visibility": "all"}, "agentToAgent": {"enabled": True}},
                    "agents": {"entries": {a: {} for a in gw.agents}},
                },
            )
            env = sidecar_env(root, gw.token)
            async with served(policy, agent, env) as client:
                with anyio.fail_after(120):
                    warm = await client.call_tool("sessions_history", {"sessionKey": own, "limit": 5})
                if warm.is_error:
                    outcome.fail(f"warm-up history failed: {text(warm)[:200]}")
                    return outcome
                for n in range(rounds):
                    cut = proxy.arm()
                    with anyio.fail_after(90):
                        read = await client.call_tool("sessions_history", {"sessionKey": own, "limit": 20})
                    if read.is_error:
                        outcome.fail(f"history {n} after a mid-frame drop: {text(read)[:200]}")
                    else:
                        outcome.add("history_recovered")
                    outcome.add("cuts", 1 if cut.is_set() else 0)
                    marker = f"ws-drop-{run}-{n}"
                    cut = proxy.arm()
                    with anyio.fail_after(120):
                        sent = await client.call_tool(
                            "sessions_send", {"sessionKey": own, "message": marker, "timeoutSeconds": 0}
                        )
                    outcome.add("cuts", 1 if cut.is_set() else 0)
                    if sent.is_error:
                        outcome.fail(f"send {n} after a mid-frame drop: {text(sent)[:200]}")
                    delivered = await _delivered(gw, own, marker)
                    if delivered != 1:
                        outcome.fail(f"send {n}: delivered {delivered} times, not once")
                    else:
                        outcome.add("sends_exactly_once")
                    progress(f"websocket drops {n + 1}/{rounds}: {proxy.cuts} cuts so far")
                # Every connection cut at its first big frame: the call must fail, clearly and in time.
                proxy.always = True
                proxy.arm()
                started = time.monotonic()
                probe = Probe("websocket", "every connection cut mid-frame (hello or first response)")
                try:
                    with anyio.fail_after(120):
                        result = await client.call_tool("sessions_history", {"sessionKey": own, "limit": 20})
                    probe.message = text(result) if result.is_error else "(the call succeeded)"
                except MCPError as exc:
                    probe.message = str(exc)
                except TimeoutError:
                    probe.message = "(no answer within 120 s)"
                probe.details["seconds"] = round(time.monotonic() - started, 1)
                probe.clear = clear_error("websocket", probe.message)
                proxy.always = False
                with anyio.fail_after(120):
                    while True:  # the client reconnects with backoff; give it a few tries
                        again = await client.call_tool("sessions_history", {"sessionKey": own, "limit": 5})
                        if not again.is_error or time.monotonic() - started > 100:
                            break
                        await anyio.sleep(2)
                probe.recovered = not again.is_error
                outcome.counts["connections"] = proxy.connections
            probe.integrity = integrity(root / "state" / agent / "mirror.db")
        outcome.counts["probe"] = probe.row()
        if not probe.clear:
            outcome.fail(f"persistent drops: unclear error {probe.message[:200]!r}")
        if not probe.recovered:
            outcome.fail("persistent drops: no recovery once the proxy healed")
        if not probe.intact:
            outcome.fail(f"persistent drops: integrity_check {probe.integrity}")
    return outcome


async def _delivered(gw: Any, key: str, marker: str) -> int:
    """How often `marker` reached `key`, once the gateway has written it (bounded wait)."""
    deadline = time.monotonic() + 30
    while True:
        n = await anyio.to_thread.run_sync(count_delivered, gw, key, marker)
        if n or time.monotonic() > deadline:
            return n
        await anyio.sleep(0.3)


# -- the mirror full or locked under a running server (in process) --------------------------------------


def _mirror_server(db: Path, busy_timeout: float) -> tuple[Any, Mirror]:
    gw = FakeGateway(agents=list(HIERARCHY_AGENTS))
    for a in HIERARCHY_AGENTS:
        gw.histories[f"agent:{a}:main"] = [{"role": "user", "content": f"hello {a}"}]
    mirror = Mirror.open(db, busy_timeout=busy_timeout)
    store = ServiceStore(mirror)
    for key in gw.histories:
        store.upsert({"key": key, "updatedAt": 1}, "home")

    async def connect(name: str, url: str, insecure: bool) -> FakeGateway:
        return gw

    policy = parse_policy(json.dumps(HIERARCHY["policy"]), "hierarchy.json5")
    service = SessionsService(
        policy, Requester.of("lead"), store, GatewayPool("ws://127.0.0.1:1", (), connect)
    )
    return build_server(service), mirror


async def _call(client: Client, tool: str, args: dict[str, Any]) -> tuple[bool, str]:
    """(ok, text): a protocol error counts as an error with its message."""
    try:
        with anyio.fail_after(60):
            result = record(await client.call_tool(tool, args))
    except MCPError as exc:
        return False, str(exc)
    return not result.is_error, text(result)


async def full_mirror(root: Path, *, rounds: int, progress: Progress = quiet) -> list[Probe]:
    """`rounds` times: cap the mirror at its current size (`PRAGMA max_page_count`, i.e. SQLITE_FULL on
    the next page), call until a call fails, check the file, lift the cap, call again."""
    db = root / "full" / "mirror.db"
    server, mirror = _mirror_server(db, busy_timeout=1.0)
    probes = []
    tools = [("sessions_history", {"sessionKey": "agent:dev-1:main"}), ("sessions_list", {})]
    try:
        async with Client(server) as client:
            for n in range(rounds):
                probe = Probe(
                    "disk", "PRAGMA max_page_count = page_count (SQLITE_FULL), tool calls until one fails"
                )
                with mirror.reading() as conn:
                    conn.execute(f"PRAGMA max_page_count = {mirror.pragma('page_count')}")
                for i in range(2000):
                    ok, message = await _call(client, *tools[i % 2])
                    if not ok:
                        probe.message, probe.details["calls_before_full"] = message, i
                        break
                probe.clear = clear_error("disk", probe.message)
                probe.integrity = integrity(db)
                with mirror.reading() as conn:
                    conn.execute("PRAGMA max_page_count = 4294967294")
                probe.recovered = (await _call(client, *tools[0]))[0]
                probes.append(probe)
                progress(f"full mirror {n + 1}/{rounds}: {_first_line(probe.message)[:80]!r}")
    finally:
        mirror.close()
    return probes


async def locked_mirror_call(root: Path) -> Probe:
    """Another connection holds `BEGIN EXCLUSIVE` on the mirror while the agent calls a tool."""
    db = root / "locked-call" / "mirror.db"
    server, mirror = _mirror_server(db, busy_timeout=0.5)
    probe = Probe("locked", "another connection holds BEGIN EXCLUSIVE during a tool call")
    try:
        async with Client(server) as client:
            in_db = "SELECT count(*) FROM decisions"
            before = query(db, in_db)[0][0]
            other = sqlite3.connect(db, isolation_level=None)
            other.execute("BEGIN EXCLUSIVE")
            try:
                ok, message = await _call(client, "sessions_list", {})
                # The call's decision is acknowledged in the journal; the database cannot take it yet.
                journaled = journaled_decisions(db)
            finally:
                other.execute("ROLLBACK")
                other.close()
            mirror.decisions.flush()
            logged = query(db, in_db)[0][0] - before
            probe.details.update(served=ok, journaled_while_locked=journaled, logged_after=logged)
            # Served, and its decision in the log once the lock lifted; or refused with the fix.
            probe.clear = (ok and journaled >= 1 and logged == 1) or (
                not ok and clear_error("locked", message)
            )
            probe.message = (
                f"served while locked; its decision journaled ({journaled}), in the log after the lock lifted"
                if ok
                else message
            )
            probe.integrity = integrity(db)
            probe.recovered = (await _call(client, "sessions_list", {}))[0]
    finally:
        mirror.close()
    return probe


# -- the same faults at the command line (subprocesses) -------------------------------------------------


def _holds(exc: BaseException, kind: type[BaseException]) -> bool:
    if isinstance(exc, kind):
        return True
    if isinstance(exc, BaseExceptionGroup):
        return any(_holds(e, kind) for e in exc.exceptions)
    return False


def _serve_until_exit(
    argv: list[str], env: dict[str, str], log: Path, timeout: float = 60
) -> tuple[int | None, str]:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as err:
        proc = subprocess.Popen(argv, env=env, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=err)
        try:
            code: int | None = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
            code = None
        finally:
            if proc.stdin is not None:
                proc.stdin.close()
    return code, log.read_text(encoding="utf-8", errors="replace")


def _seed_mirror(db: Path) -> None:
    with Mirror.open(db) as mirror:
        ServiceStore(mirror).upsert({"key": "agent:main:main", "updatedAt": 1}, "home")


def keyring_unavailable(root: Path) -> list[Probe]:
    """`sidecar serve` and `sidecar pair` with keyring's fail backend and no file store chosen."""
    env = sidecar_env(root / "keyring", PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring")
    del env["SIDECAR_TOKEN_STORE"]
    policy = write_policy(
        root / "keyring", {"gateway": {"url": "ws://127.0.0.1:9"}, "agents": {"entries": {"main": {}}}}
    )
    db = Path(env["SIDECAR_STATE_DIR"]) / "main" / "mirror.db"
    _seed_mirror(db)
    probes = []
    for how, argv in (
        (
            "sidecar serve, keyring.backends.fail",
            sidecar_argv("serve", "--policy", str(policy), "--agent", "main"),
        ),
        (
            "sidecar pair, keyring.backends.fail",
            sidecar_argv("pair", "--gateway", "ws://127.0.0.1:9", "--agent", "main"),
        ),
    ):
        code, err = _serve_until_exit(argv, env, root / "keyring" / "logs" / f"{argv[3]}.err", timeout=60)
        probe = Probe("keyring", how, message=err.strip(), details={"exit": code})
        probe.clear = code not in (0, None) and clear_error("keyring", err)
        probe.integrity = integrity(db)
        probes.append(probe)
    return probes


def locked_mirror_startup(root: Path) -> Probe:
    """`sidecar serve` started while another connection holds `BEGIN EXCLUSIVE` on its mirror."""
    env = sidecar_env(root / "locked-start")
    policy = write_policy(
        root / "locked-start", {"gateway": {"url": "ws://127.0.0.1:9"}, "agents": {"entries": {"main": {}}}}
    )
    db = Path(env["SIDECAR_STATE_DIR"]) / "main" / "mirror.db"
    _seed_mirror(db)
    other = sqlite3.connect(db, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        argv = sidecar_argv("serve", "--policy", str(policy), "--agent", "main")
        code, err = _serve_until_exit(argv, env, root / "locked-start" / "logs" / "serve.err", timeout=60)
    finally:
        other.execute("ROLLBACK")
        other.close()
    probe = Probe("locked", "sidecar serve started on a mirror held by BEGIN EXCLUSIVE", message=err.strip())
    probe.details["exit"] = code
    probe.clear = code not in (0, None) and clear_error("locked", err)
    probe.integrity = integrity(db)
    return probe


# `sidecar serve` under a file-size limit: every file it writes stops growing at `limit` bytes (EFBIG,
# which SQLite reports as a disk I/O error), like a full disk for this process only.
FSIZE_WRAPPER = (
    "import os, resource, sys; lim = int(sys.argv[1]); resource.setrlimit(resource.RLIMIT_FSIZE, (lim, lim)); "
    "os.execv(sys.executable, [sys.executable, '-m', 'sidecar', *sys.argv[2:]])"
)


async def full_disk_serve(
    root: Path, *, limit: int = 256 * 1024, rows: int = 6000, answer_within: float = 45
) -> Probe:
    """`sidecar serve` whose first snapshot cannot fit (RLIMIT_FSIZE), asked for a list by an MCP client."""
    probe = Probe(
        "disk", f"sidecar serve under RLIMIT_FSIZE={limit // 1024} KiB, first snapshot of {rows} sessions"
    )
    base = root / "fsize"
    async with SessionsGateway(rows, 0.0, random.Random(7)) as gw:
        env = sidecar_env(base, secrets.token_urlsafe(24))
        policy = write_policy(
            base, {"gateway": {"url": gw.url}, "agents": {"entries": {"main": {}, "dev-1": {}}}}
        )
        params = StdioServerParameters(
            command=sys.executable,
            args=["-c", FSIZE_WRAPPER, str(limit), "serve", "--policy", str(policy), "--agent", "main"],
            env=env,
        )
        errlog = base / "logs" / "serve.err"
        errlog.parent.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        with errlog.open("w", encoding="utf-8") as err:
            try:
                async with Client(stdio_client(params, errlog=err)) as client:
                    with anyio.fail_after(answer_within):
                        _ok, probe.message = await _call(client, "sessions_list", {})
                    probe.details["answered"] = True
            except Exception as exc:  # no answer in time, or the server went away: what did it say?
                probe.details["answered"] = False
                probe.message = (
                    f"(no answer within {answer_within:.0f} s)"
                    if _holds(exc, TimeoutError)
                    else f"(client: {type(exc).__name__}: {exc})"
                )
        probe.details["seconds"] = round(time.monotonic() - started, 1)
        stderr = errlog.read_text(encoding="utf-8", errors="replace")
        probe.details["stderr"] = " ".join(_first_line(line) for line in stderr.splitlines()[-3:])[:300]
        probe.details["traceback"] = "Traceback" in stderr
        said = probe.message if probe.details["answered"] else stderr
        probe.clear = clear_error("disk", said) and not probe.details["traceback"]
        if not probe.details["answered"]:
            probe.message += f"; stderr: {_gist(stderr)}"
    probe.integrity = integrity(base / "state" / "main" / "mirror.db")
    return probe


async def run_all(root: Path, *, disk_rounds: int, progress: Progress = quiet) -> Outcome:
    """Every fault probe except the WebSocket one (which needs a real gateway)."""
    outcome = Outcome("faults: disk, keyring, lock")
    probes: list[Probe] = []
    with timed(outcome):
        probes += await full_mirror(root, rounds=disk_rounds, progress=progress)
        probes.append(await full_disk_serve(root))
        progress(f"full disk (serve): {_first_line(probes[-1].message)[:80]!r}")
        probes += await anyio.to_thread.run_sync(keyring_unavailable, root)
        probes.append(await locked_mirror_call(root))
        probes.append(await anyio.to_thread.run_sync(locked_mirror_startup, root))
    outcome.counts["probes"] = [p.row() for p in probes]
    for p in probes:
        outcome.add("probes_run")
        outcome.add("clear" if p.clear else "unclear")
        outcome.add("intact" if p.intact else "corrupt")
        if not p.intact:
            outcome.fail(f"{p.fault} ({p.how}): integrity_check {p.integrity}")
        if not p.clear:
            outcome.fail(f"{p.fault} ({p.how}): unclear error {_gist(p.message)[:200]!r}")
        if p.recovered is False:
            outcome.fail(f"{p.fault} ({p.how}): no recovery once the fault was gone")
    return outcome
