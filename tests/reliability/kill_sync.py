"""`sidecar serve` killed with SIGKILL in the middle of its mirror snapshot, again and again.

The gateway is the scripted one from tests/gateway (a real socket and the real handshake, device signature
checked) answering the sync's RPCs from a few thousand gateway-shaped rows, one page at a time with a delay,
so the snapshot takes long enough to be killed at a random page. After each kill the file must pass
`PRAGMA integrity_check` and say `syncing`; the next `sidecar serve` must resume the snapshot (its first
page is not offset 0) and finish with exactly the gateway's rows.
"""

from __future__ import annotations

import random
import secrets
import signal
import subprocess
from pathlib import Path
from typing import Any

import anyio

from tests.gateway.fake_gateway import FakeGateway, Session
from tests.reliability.support import (
    LEAKS,
    Outcome,
    Progress,
    integrity,
    query,
    quiet,
    sidecar_argv,
    sidecar_env,
    stop,
    timed,
    write_policy,
)

PAGE = 1000  # sidecar.mirror.PAGE_SIZE: what `sidecar serve` asks for
AGENTS = ("main", "lead", "dev-1", "dev-2", "dev-3")
CLOCK = 1_795_000_000_000


class SessionsGateway:
    """The scripted gateway serving `sessions.list` pages (newest first) from `rows`, `delay` s per page."""

    def __init__(self, rows: int, delay: float, rng: random.Random) -> None:
        self.rng = rng
        self.delay = delay
        self.clock = CLOCK
        self.serial = 0
        self.rows: dict[str, dict[str, Any]] = {}
        for _ in range(rows):
            self.add()
        self.pages: list[tuple[int, int]] = []  # (connection, offset) of each snapshot page asked for
        self.answered = anyio.Event()
        self.watch: tuple[int, int] | None = None  # (connection, offset) whose answer sets `answered`
        self.device_token = secrets.token_urlsafe(24)
        LEAKS.secret(self.device_token)
        self.fake = FakeGateway(on_request=self._handle, issue_token=self.device_token)

    def add(self) -> None:
        self.serial += 1
        self.clock += 1
        agent = self.rng.choice(AGENTS)
        key = f"agent:{agent}:s{self.serial:06d}"
        row: dict[str, Any] = {
            "key": key,
            "kind": "direct",
            "agentId": agent,
            "sessionId": f"sid-{self.serial}",
            "updatedAt": self.clock,
            "displayName": key.rsplit(":", 1)[-1],
            "status": self.rng.choice(["done", "running", "failed"]),
            "lastMessagePreview": "PRIVATE-PREVIEW-TEXT",
        }
        if self.serial % 7 == 0:
            parent = self.rng.choice(list(self.rows) or [key])
            if parent != key:
                row["spawnedBy"] = parent
        self.rows[key] = row

    def churn(self, n: int) -> None:
        """What happens on a gateway between two sidecar runs: sessions end, start and change."""
        for key in self.rng.sample(sorted(self.rows), min(n, len(self.rows))):
            del self.rows[key]
        for _ in range(n):
            self.add()
        for key in self.rng.sample(sorted(self.rows), min(n, len(self.rows))):
            self.clock += 1
            self.rows[key] = {**self.rows[key], "updatedAt": self.clock, "status": "running"}

    async def __aenter__(self) -> SessionsGateway:
        await self.fake.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.fake.__aexit__(*exc)

    @property
    def url(self) -> str:
        return self.fake.url

    async def _handle(self, session: Session, request: dict[str, Any]) -> None:
        method, params, rid = request["method"], request.get("params") or {}, request["id"]
        if method == "agents.list":
            await session.reply(rid, {"defaultId": "main", "agents": [{"id": a, "name": a} for a in AGENTS]})
        elif method == "sessions.subscribe":
            await session.reply(rid, {"subscribed": True})
        elif method == "sessions.list":
            snapshot = "search" not in params and "label" not in params
            if snapshot:
                self.pages.append((session.number, int(params.get("offset", 0))))
                await anyio.sleep(self.delay)
            await session.reply(rid, self._page(params))
            if snapshot and self.watch == (session.number, int(params.get("offset", 0))):
                self.answered.set()
        elif method == "sessions.resolve":
            await session.reply(
                rid, ok=False, error={"code": "INVALID_REQUEST", "message": "No session found: scripted"}
            )
        elif method == "chat.history":
            await session.reply(rid, {"sessionKey": params.get("sessionKey"), "messages": []})
        else:
            await session.reply(
                rid, ok=False, error={"code": "INVALID_REQUEST", "message": f"unknown method: {method}"}
            )

    def _page(self, params: dict[str, Any]) -> dict[str, Any]:
        rows = sorted(self.rows.values(), key=lambda r: (-r["updatedAt"], r["key"]))
        if "search" in params:
            rows = [r for r in rows if str(params["search"]) in r["key"]]
        offset, limit = int(params.get("offset", 0)), int(params.get("limit", 100))
        page = rows[offset : offset + limit]
        more = offset + limit < len(rows)
        return {
            "ts": self.clock,
            "count": len(page),
            "totalCount": len(rows),
            "limitApplied": limit,
            "offset": offset,
            "nextOffset": offset + len(page) if more else None,
            "hasMore": more,
            "sessions": [{**r, "snapshotAt": self.clock} for r in page],
        }


def _cursor(db: Path) -> tuple[str, int, int] | None:
    """(state, snapshot_offset, snapshot_gen) of the home gateway's sync cursor."""
    try:
        found = query(
            db, "SELECT state, snapshot_offset, snapshot_gen FROM sync_cursor WHERE gateway = 'home'"
        )
    except Exception:
        return None
    return (str(found[0][0]), int(found[0][1]), int(found[0][2])) if found else None


def _keys(db: Path) -> set[str]:
    return {str(r[0]) for r in query(db, "SELECT key FROM sessions WHERE gateway = 'home'")}


async def kill_mid_sync(
    root: Path,
    *,
    rounds: int,
    rows: int = 12_000,
    page_delay: float = 0.12,
    seed: int | None = None,
    progress: Progress = quiet,
) -> Outcome:
    """`rounds` times: start `sidecar serve`, SIGKILL it at a random page of its snapshot, check the file,
    start it again and let the snapshot resume and finish; then the gateway changes a little."""
    seed = random.randrange(2**32) if seed is None else seed
    rng = random.Random(seed)
    outcome = Outcome("sidecar killed mid-sync", counts={"rounds": 0, "rows": rows, "seed": seed})
    root.mkdir(parents=True, exist_ok=True)
    db = root / "state" / "main" / "mirror.db"
    shared = secrets.token_urlsafe(24)
    env = sidecar_env(root, shared)
    logs = root / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    with timed(outcome):
        async with SessionsGateway(rows, page_delay, rng) as gw:
            policy = write_policy(root, {"gateway": {"url": gw.url}, "agents": {"entries": {"main": {}}}})

            def start(tag: str) -> subprocess.Popen[bytes]:
                with (logs / f"serve-{tag}.err").open("ab") as err:
                    return subprocess.Popen(
                        sidecar_argv("serve", "--policy", str(policy), "--agent", "main"),
                        env=env,
                        stdin=subprocess.PIPE,  # held open: the stdio server waits for a client
                        stdout=subprocess.DEVNULL,
                        stderr=err,
                        start_new_session=True,
                    )

            for n in range(rounds):
                pages = -(-len(gw.rows) // PAGE)
                target = rng.randrange(1, max(2, pages - 2))
                connection = len(gw.fake.sessions) + 1
                gw.watch, gw.answered = (connection, target * PAGE), anyio.Event()
                proc = start(f"{n}-killed")
                try:
                    with anyio.fail_after(120):
                        await gw.answered.wait()
                    # Killed while it writes the page it just got, or while it waits for the next one.
                    await anyio.sleep(rng.uniform(0, page_delay * 1.5))
                    proc.send_signal(signal.SIGKILL)
                    code = await anyio.to_thread.run_sync(proc.wait)
                finally:
                    stop(proc)
                if code != -signal.SIGKILL:
                    outcome.fail(f"round {n}: the sidecar exited with {code} before the kill")
                    continue
                outcome.add("kills")
                check = integrity(db)
                if check != "ok":
                    outcome.fail(f"round {n}: integrity_check after SIGKILL at page {target}: {check}")
                cursor = _cursor(db)
                if cursor is None or cursor[0] != "syncing":
                    outcome.fail(f"round {n}: after the kill the cursor is {cursor}, not syncing")
                # Offset 0 while syncing: every page was in and the kill came before the sweep; the next
                # run then takes a fresh snapshot, which is as correct (and rare: a window of one write).
                after_last_page = cursor is not None and cursor[1] == 0
                resume_from, killed_gen = (cursor[1], cursor[2]) if cursor else (0, -1)

                connection = len(gw.fake.sessions) + 1
                proc = start(f"{n}-resumed")
                try:
                    want = set(gw.rows)
                    with anyio.fail_after(180):
                        while True:
                            cursor = _cursor(db)
                            if cursor is not None and cursor[0] == "live":
                                break
                            if proc.poll() is not None:
                                raise RuntimeError(f"the sidecar exited with {proc.returncode}")
                            await anyio.sleep(0.1)
                finally:
                    code = stop(proc)
                # Resumed: the same snapshot generation goes on, from one page before the cursor's point
                # (offset 0 when only the first page was in); a fresh snapshot would be a new generation.
                firsts = [offset for conn, offset in gw.pages if conn == connection]
                gen = cursor[2] if cursor else None
                if after_last_page and gen == killed_gen + 1 and firsts[:1] == [0]:
                    outcome.add("fresh_after_last_page")
                elif gen != killed_gen or not firsts or firsts[0] != max(0, resume_from - PAGE):
                    outcome.fail(
                        f"round {n}: not resumed: generation {killed_gen} -> {gen}, first page {firsts[:1]}, "
                        f"the cursor said {resume_from}"
                    )
                else:
                    outcome.add("resumed")
                check = integrity(db)
                held = _keys(db)
                if check != "ok":
                    outcome.fail(f"round {n}: integrity_check after the resumed sync: {check}")
                if held != want:
                    outcome.fail(
                        f"round {n}: the mirror holds {len(held)} rows, the gateway {len(want)} "
                        f"({len(want - held)} missing, {len(held - want)} extra)"
                    )
                else:
                    outcome.add("rows_matched")
                outcome.counts["rounds"] = n + 1
                progress(
                    f"kill-mid-sync {n + 1}/{rounds}: killed at page {target}, resumed at {firsts[:1]}, "
                    f"{len(held)}/{len(want)} rows"
                )
                gw.churn(max(1, len(gw.rows) // 100))
    outcome.counts["final_rows"] = len(_keys(db)) if db.exists() else 0
    return outcome
