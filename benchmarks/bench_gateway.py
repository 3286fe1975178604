"""End-to-end benchmarks against a real OpenClaw gateway (started with scripts/harness, stopped in `finally`).

Phase A, a gateway holding a handful of sessions:
  * cold start and RSS: `sidecar serve` spawned by the MCP SDK client over stdio, spawn → first tool call
    served, VmRSS after it; the bare echo server (benchmarks/echo_server.py) the same way;
  * a denied `sessions_send` over stdio against the echo tool over stdio (same SDK, same client);
  * a forwarded read: `sessions_history` of an allowed session through the sidecar (over stdio, and
    in-process on the sidecar's own connection) against `chat.history` sent directly over WebSocket on
    that same connection. (`sessions_list` is served from the mirror, so it is not a forwarded call.)
Phase B, after `sessions.create` has filled the gateway to `LIST_SESSIONS` sessions:
  * `sessions_list` from the mirror (which the sidecar synced from that gateway) against the gateway's own
    `sessions.list` over WebSocket, both for one 100-row page and for every row.

Every latency is timed call by call, interleaved across the series it is compared with, best of 3 rounds.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
from mcp import Client, StdioServerParameters

from benchmarks import _stats
from benchmarks._stats import Stat

REPO = Path(__file__).resolve().parents[1]
SCRIPTS = REPO / "scripts"
HIERARCHY = json.loads((REPO / "scenarios" / "hierarchy.json").read_text(encoding="utf-8"))
GATEWAY_AGENTS = ["main", *HIERARCHY["policy"]["agents"]["entries"]]
READ_TARGET = "agent:dev-1:main"  # lead may read it (visibleAgents dev-*)
DENIED_TARGET = "agent:hr:main"  # lead may not send to it (visibility: scoped, hr not listed)
LIST_SESSIONS = 10_000
FILL_BUDGET_S = 600.0  # per 10,000 sessions: sessions.create runs at 21-51/s on a 2-core box


class FillShort(RuntimeError):
    """The gateway could not be filled to the size the run announces: the run fails instead of reporting."""


def fill_budget(sessions: int, quick: bool) -> float:
    explicit = os.environ.get("BENCH_FILL_BUDGET_S")
    if explicit:
        return float(explicit)
    return 45.0 if quick else FILL_BUDGET_S * max(1.0, sessions / 10_000)


def harness() -> Any:
    # A gateway holding 100k sessions, on a shared 2-core box, can take minutes to report ready.
    os.environ.setdefault("HARNESS_READY_TIMEOUT_S", "900")
    if str(SCRIPTS) not in sys.path:
        sys.path.insert(0, str(SCRIPTS))
    import harness as h

    return h


def unavailable() -> str | None:
    """Why the gateway benchmarks cannot run here, or None when node 24 + openclaw are installed."""
    try:
        tools = harness().find_openclaw()
    except Exception as exc:
        return f"could not look for the OpenClaw toolchain: {exc}"
    if tools is None:
        return "node 24 + openclaw are not installed (run scripts/gateway install)"
    return None


# -- processes ---------------------------------------------------------------------------------------


def children() -> set[int]:
    me = os.getpid()
    out = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat[stat.rindex(")") + 2 :].split()[1]) == me:
                out.add(int(entry.name))
    return out


def vm_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


@dataclass
class Served:
    client: Client
    pid: int


@asynccontextmanager
async def serve(params: StdioServerParameters) -> AsyncIterator[Served]:
    before = children()
    async with Client(params) as client:
        new = children() - before
        if len(new) != 1:
            raise RuntimeError(f"expected one new child process, found {sorted(new)}")
        yield Served(client, new.pop())


def text_of(result: Any) -> str:
    return "".join(getattr(c, "text", "") for c in result.content)


@contextlib.contextmanager
def environ(**values: str) -> Iterator[None]:
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


class Bench:
    """One gateway, a policy file and the environments of the sidecars that talk to it."""

    def __init__(self, root: Path, gw: Any) -> None:
        self.root = root
        self.gw = gw
        policy = json.loads(json.dumps(HIERARCHY["policy"]))
        policy["gateway"] = {"url": gw.url}
        self.policy = root / "policy.json5"
        self.policy.write_text(json.dumps(policy, indent=2), encoding="utf-8")
        # The same policy pointing at a port nothing listens on: startup without any gateway work.
        policy["gateway"] = {"url": f"ws://127.0.0.1:{harness().free_port()}"}
        self.policy_unreachable = root / "policy-unreachable.json5"
        self.policy_unreachable.write_text(json.dumps(policy, indent=2), encoding="utf-8")

    def sidecar_env(self, name: str) -> dict[str, str]:
        base = self.root / name
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENCLAW_", "SIDECAR_"))}
        env.update(
            SIDECAR_STATE_DIR=str(base / "state"),
            SIDECAR_TOKEN_STORE="file",
            SIDECAR_TOKEN_FILE=str(base / "secrets.json"),
            XDG_DATA_HOME=str(base / "data"),
            SIDECAR_LOG_LEVEL="warning",
            OPENCLAW_GATEWAY_TOKEN=self.gw.token,
        )
        return env

    def sidecar(
        self, agent: str, state: str, module: str = "sidecar", *, reachable: bool = True
    ) -> StdioServerParameters:
        policy = self.policy if reachable else self.policy_unreachable
        return StdioServerParameters(
            command=sys.executable,
            args=["-m", module, "serve", "--policy", str(policy), "--agent", agent],
            env=self.sidecar_env(state),
            cwd=str(REPO),
        )

    def echo(self) -> StdioServerParameters:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENCLAW_", "SIDECAR_"))}
        return StdioServerParameters(
            command=sys.executable, args=["-m", "benchmarks.echo_server"], env=env, cwd=str(REPO)
        )

    @asynccontextmanager
    async def in_process(self, agent: str, state: str) -> AsyncIterator[tuple[Any, Any, Any]]:
        """The sidecar's own Runtime in this process: (service, its gateway connection, its mirror)."""
        from sidecar.config import load_policy
        from sidecar.policy import Requester
        from sidecar.runtime import Runtime
        from sidecar.tools._routing import HOME

        base = self.root / state
        with environ(SIDECAR_TOKEN_FILE=str(base / "secrets.json"), BENCH_GATEWAY_TOKEN=self.gw.token):
            policy = load_policy(str(self.policy))
            runtime = Runtime(
                policy=policy,
                requester=Requester.of(agent, main_key=policy.main_key),
                home_url=self.gw.url,
                token_env="BENCH_GATEWAY_TOKEN",
                token_store="file",
                db=base / "mirror.db",
            )
            service = await runtime.open()
            try:
                async with anyio.create_task_group() as tasks:
                    tasks.start_soon(runtime.keep_mirror_fresh)
                    with anyio.fail_after(300):
                        client = await service.gateways.client(HOME)
                    yield service, client, runtime.mirror
                    tasks.cancel_scope.cancel()
            finally:
                await service.gateways.aclose()
                runtime.close()


# -- phase A -----------------------------------------------------------------------------------------


async def cold_starts(bench: Bench, runs: int) -> dict[str, Any]:
    """Spawn → initialize → first tool call, for the sidecar (lead, first call sessions_list) and the
    echo server, alternating; the sidecar's first run starts from an empty state dir (pairs, empty mirror)."""
    sidecar: list[tuple[float, float, float]] = []
    echo: list[tuple[float, float, float]] = []
    for _ in range(runs + 1):
        t0 = time.perf_counter()
        async with serve(bench.sidecar("lead", "cold")) as s:
            t1 = time.perf_counter()
            result = await s.client.call_tool("sessions_list", {})
            t2 = time.perf_counter()
            assert not result.is_error, text_of(result)
            sidecar.append((t1 - t0, t2 - t0, vm_rss_mb(s.pid)))
        t0 = time.perf_counter()
        async with serve(bench.echo()) as e:
            t1 = time.perf_counter()
            result = await e.client.call_tool("echo", {"text": "cold"})
            t2 = time.perf_counter()
            assert text_of(result) == "cold"
            echo.append((t1 - t0, t2 - t0, vm_rss_mb(e.pid)))
    unreachable = []
    for _ in range(runs):
        t0 = time.perf_counter()
        async with serve(bench.sidecar("lead", "unreachable", reachable=False)):
            unreachable.append(time.perf_counter() - t0)
    first, warm = sidecar[0], sidecar[1:]
    echo = echo[1:]  # the first echo start pays for cold .pyc/page cache like nothing else does
    return {
        "runs": runs,
        "first_ever_s": first[1],
        "first_ever_init_s": first[0],
        "sidecar_s": _stats.median([w[1] for w in warm]),
        "sidecar_init_s": _stats.median([w[0] for w in warm]),
        "echo_s": _stats.median([e[1] for e in echo]),
        "echo_init_s": _stats.median([e[0] for e in echo]),
        "unreachable_init_s": _stats.median(unreachable),
        "sidecar_rss_mb": _stats.median([w[2] for w in warm]),
        "echo_rss_mb": _stats.median([e[2] for e in echo]),
    }


async def steady(bench: Bench, calls: int) -> dict[str, Any]:
    """Items 2 and 3: one long-lived sidecar (lead) and one echo server over stdio, plus the in-process
    sidecar on its own connection, all timed call by call in one interleaved loop."""
    async with (
        serve(bench.sidecar("lead", "stdio")) as lead,
        serve(bench.echo()) as echo,
        bench.in_process("lead", "inproc") as (service, gateway, _),
    ):
        first = await lead.client.call_tool("sessions_history", {"sessionKey": READ_TARGET})
        assert not first.is_error, text_of(first)
        n_messages = len(first.structured_content["messages"])
        denied = await lead.client.call_tool("sessions_send", {"sessionKey": DENIED_TARGET, "message": "x"})
        assert denied.is_error and "[gate: visibility]" in text_of(denied), text_of(denied)
        params = {"sessionKey": READ_TARGET, "limit": 200}
        direct = await gateway.request("chat.history", params, idempotent=True)
        raw_bytes = len(json.dumps(direct))

        async def call_echo() -> None:
            await echo.client.call_tool("echo", {"text": "bench"})

        async def call_denied() -> None:
            r = await lead.client.call_tool(
                "sessions_send", {"sessionKey": DENIED_TARGET, "message": "bench"}
            )
            assert r.is_error

        async def call_history() -> None:
            r = await lead.client.call_tool("sessions_history", {"sessionKey": READ_TARGET})
            assert not r.is_error

        async def call_direct() -> None:
            await gateway.request("chat.history", params, idempotent=True)

        async def call_inproc() -> None:
            await service.sessions_history(session_key=READ_TARGET)

        nolog = type(service)(
            service.policy, service.requester, _NoDecisionLog(service.store), service.gateways
        )

        async def call_inproc_nolog() -> None:
            await nolog.sessions_history(session_key=READ_TARGET)

        stats = await _stats.interleaved(
            {
                "echo": call_echo,
                "denied": call_denied,
                "history_stdio": call_history,
                "history_inproc": call_inproc,
                "history_inproc_nolog": call_inproc_nolog,
                "direct_ws": call_direct,
            },
            calls,
        )
        rss_after = vm_rss_mb(lead.pid)
        parts = await breakdown(service, direct, calls)
    return {
        "stats": stats,
        "parts": parts,
        "messages": n_messages,
        "history_bytes": raw_bytes,
        "rss_after_mb": rss_after,
    }


class _NoDecisionLog:
    """A Store whose decision-log writes go nowhere: the A/B experiment behind the item 3 analysis."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def log_decision(self, **fields: Any) -> None:
        return None


class _Instant:
    """A connected gateway that answers every request at once with one recorded payload."""

    def __init__(self, payload: Any) -> None:
        self.payload = payload

    async def request(self, *args: Any, **kwargs: Any) -> Any:
        return self.payload

    async def agent(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("not used")


async def breakdown(service: Any, payload: dict[str, Any], calls: int) -> dict[str, Stat]:
    """Where the sidecar's own time goes on items 2 and 3: the same service (policy, mirror, decision log)
    over a gateway that answers at once with the chat.history payload recorded from the real gateway."""
    from sidecar.policy import decide
    from sidecar.tools import Denied, SessionsService, _history
    from sidecar.tools._routing import HOME, GatewayPool

    instant = _Instant(payload)

    async def connect(name: str, url: str, insecure: bool) -> _Instant:
        return instant

    pool = GatewayPool("ws://127.0.0.1:9", (), connect)
    pool.learn_agents(HOME, service.gateways.known_on(HOME))
    await pool.client(HOME)
    fast = SessionsService(service.policy, service.requester, service.store, pool)
    messages = payload["messages"]

    async def history() -> None:
        await fast.sessions_history(session_key=READ_TARGET)

    async def denied() -> None:
        try:
            await fast.sessions_send(session_key=DENIED_TARGET, message="bench")
        except Denied:
            return
        raise AssertionError("expected a denial")

    async def pure() -> None:
        decide(fast.policy, fast.requester, "sessions_history", READ_TARGET, fast.view())

    async def logged() -> None:
        fast.decide("sessions_history", READ_TARGET, HOME)

    async def sanitise() -> None:
        _history.sanitise(messages, include_tools=False, source_session=READ_TARGET)

    return await _stats.interleaved(
        {
            "history_instant": history,
            "denied_instant": denied,
            "decide": pure,
            "decide_logged": logged,
            "sanitise": sanitise,
        },
        calls,
    )


# -- phase B -----------------------------------------------------------------------------------------


def fill_gateway(gw: Any, total: int, budget_s: float, window: int = 64) -> tuple[int, float]:
    """Create sessions over one WS connection, `window` requests in flight, until the gateway holds
    `total` or `budget_s` is spent; a busy gateway (UNAVAILABLE) gets the request again.
    Returns (sessions held, seconds)."""
    start = time.perf_counter()
    deadline = start + budget_s
    with gw.rpc(timeout=120) as rpc:
        have = int(rpc.request("sessions.list", {"limit": 1})["totalCount"])
        todo = [f"agent:{GATEWAY_AGENTS[i % len(GATEWAY_AGENTS)]}:bench-{i:06d}" for i in range(total - have)]
        inflight: dict[str, str] = {}
        while todo or inflight:
            if time.perf_counter() > deadline:
                todo.clear()
            while todo and len(inflight) < window:
                key, rid = todo.pop(), str(uuid.uuid4())
                inflight[rid] = key
                req = {"key": key, "agentId": key.split(":")[1]}
                rpc.ws.send(
                    json.dumps({"type": "req", "id": rid, "method": "sessions.create", "params": req})
                )
            frame = json.loads(rpc.ws.recv(timeout=120))
            if frame.get("type") != "res" or frame.get("id") not in inflight:
                continue
            key = inflight.pop(frame["id"])
            if not frame.get("ok"):
                if (frame.get("error") or {}).get("code") != "UNAVAILABLE":
                    raise RuntimeError(f"sessions.create {key}: {frame.get('error')}")
                todo.append(key)
        held = int(rpc.request("sessions.list", {"limit": 1})["totalCount"])
    return held, time.perf_counter() - start


async def gateway_list_all(gateway: Any) -> int:
    """Every session from the gateway: sessions.list pages of 1000 (its largest) until hasMore is false."""
    offset, rows = 0, 0
    while True:
        page = await gateway.request("sessions.list", {"limit": 1000, "offset": offset}, idempotent=True)
        rows += len(page["sessions"])
        if not page.get("hasMore"):
            return rows
        offset = page.get("nextOffset") or offset + len(page["sessions"])


async def listing(bench: Bench, calls: int, size: int) -> dict[str, Any]:
    """Item 4 at the gateway's full size: the sidecar over stdio (manager: visibility all) and in process
    for an `all`, a `scoped` and a `self` requester (manager, lead, dev-2), against the gateway's own
    sessions.list on the in-process sidecar's connection; plus the echo tool carrying a payload of the
    size of the sidecar's page (what MCP over stdio costs for that many bytes). State dirs are per size, so
    the first start snapshots the whole gateway into an empty mirror and the second restarts on it."""
    state = f"list-stdio-{size}"
    t0 = time.perf_counter()
    async with serve(bench.sidecar("manager", state)) as manager:
        first = await manager.client.call_tool("sessions_list", {"limit": 100})
        cold_s = time.perf_counter() - t0
        assert not first.is_error, text_of(first)
        rss_first = vm_rss_mb(manager.pid)
    t0 = time.perf_counter()
    async with serve(bench.sidecar("manager", state)) as manager:
        first = await manager.client.call_tool("sessions_list", {"limit": 100})
        restart_s = time.perf_counter() - t0
        assert not first.is_error, text_of(first)
        restart_fresh = bool(first.structured_content["mirror"]["fresh"])
        # Let the catch-up snapshot finish before anything is timed: the figures are for a live mirror.
        with anyio.fail_after(900):
            while not (await manager.client.call_tool("sessions_list", {"limit": 1})).structured_content[
                "mirror"
            ]["fresh"]:
                await anyio.sleep(0.5)
        first = await manager.client.call_tool("sessions_list", {"limit": 100})
        rss = vm_rss_mb(manager.pid)
        out = await _listing(bench, calls, manager, first, size)
    return {
        **out,
        "cold_start_s": cold_s,
        "restart_s": restart_s,
        "restart_fresh": restart_fresh,
        "rss_mb": rss,
        "rss_first_mb": rss_first,
    }


async def _listing(bench: Bench, calls: int, manager: Served, first: Any, size: int) -> dict[str, Any]:
    from sidecar.policy import Requester
    from sidecar.tools import SessionsService

    async with (
        serve(bench.echo()) as echo,
        bench.in_process("manager", f"list-inproc-{size}") as (service, gateway, mirror),
    ):
        page_bytes_sidecar = len(json.dumps(first.structured_content))
        filler = "x" * page_bytes_sidecar
        page = await gateway.request("sessions.list", {"limit": 100}, idempotent=True)
        mirrored = len(mirror.view)
        total = int(page["totalCount"])
        if total < size or mirrored < total:
            raise FillShort(
                f"the gateway holds {total:,} sessions and the sidecar mirrored {mirrored:,}; this run "
                f"announces {size:,}. No figures are reported."
            )
        every = await gateway_list_all(gateway)
        listed = await service.sessions_list()
        expect = await service.sessions_list(limit=100)
        assert [r["key"] for r in expect["sessions"]] == [
            r["key"] for r in first.structured_content["sessions"]
        ]
        # The same mirror and connection seen by a scoped and a self requester.
        others = {
            who: SessionsService(service.policy, Requester.of(who), service.store, service.gateways)
            for who in ("lead", "dev-2")
        }
        shown = {"manager": expect}
        for who, other in others.items():
            shown[who] = await other.sessions_list(limit=100)

        async def stdio_page() -> None:
            r = await manager.client.call_tool("sessions_list", {"limit": 100})
            assert not r.is_error

        async def echo_page() -> None:
            await echo.client.call_tool("echo", {"text": filler})

        async def inproc_page() -> None:
            await service.sessions_list(limit=100)

        async def scoped_page() -> None:
            await others["lead"].sessions_list(limit=100)

        async def self_page() -> None:
            await others["dev-2"].sessions_list(limit=100)

        async def gateway_page() -> None:
            await gateway.request("sessions.list", {"limit": 100}, idempotent=True)

        page_stats = await _stats.interleaved(
            {
                "gateway_page": gateway_page,
                "stdio_page": stdio_page,
                "echo_page": echo_page,
                "inproc_page": inproc_page,
                "scoped_page": scoped_page,
                "self_page": self_page,
            },
            calls,
            warmup=3,
        )

        async def inproc_all() -> None:
            await service.sessions_list()

        async def gateway_all() -> None:
            await gateway_list_all(gateway)

        # Every row of 100k is 100 gateway pages: a few calls, one round, or the run takes an hour.
        big = size > 10_000
        all_stats = await _stats.interleaved(
            {"gateway_all": gateway_all, "inproc_all": inproc_all},
            3 if big else max(5, calls // 10),
            rounds=1 if big else 3,
            warmup=0 if big else 1,
        )
    return {
        "stats": {**page_stats, **all_stats},
        "gateway_sessions": total,
        "gateway_rows_all": every,
        "mirror_sessions": mirrored,
        "sidecar_rows_all": listed["count"],
        "page_bytes_gateway": len(json.dumps(page)),
        "page_bytes_sidecar": page_bytes_sidecar,
        "shown": {who: (r["count"], r["visibility"]["hidden"]) for who, r in shown.items()},
    }


# -- driver ------------------------------------------------------------------------------------------


@dataclass
class Results:
    gateway_version: str
    agents: int
    cold: dict[str, Any]
    steady: dict[str, Any]
    listings: dict[int, dict[str, Any]]
    fills: dict[int, dict[str, Any]]
    setup_s: float


def gateway_version(gw: Any) -> str:
    try:
        with gw.rpc() as rpc:
            server = rpc.hello.get("server") or {}
            return str(server.get("version") or "unknown")
    except Exception:
        return "unknown"


CREATE_UP_TO = 10_000  # sessions made with sessions.create; beyond, the store is seeded (benchmarks/_seed.py)


def fill_to(gw: Any, size: int, quick: bool, log: Callable[[str], None]) -> dict[str, Any]:
    """Bring the gateway to `size` sessions and prove it from its own sessions.list (totalCount); FillShort
    when it is not there. Up to CREATE_UP_TO (BENCH_CREATE_UP_TO; all of it with BENCH_FILL=create) the gateway makes them
    itself with sessions.create; the rest are copies of sessions it made, written into its stopped store
    (`_seed.py`), because sessions.create would take an hour for 100k on a 2-core box."""
    t0 = time.perf_counter()
    with gw.rpc(timeout=900) as rpc:
        have = int(rpc.request("sessions.list", {"limit": 1})["totalCount"])
    create_up_to = int(os.environ.get("BENCH_CREATE_UP_TO", CREATE_UP_TO))
    create_to = size if os.environ.get("BENCH_FILL") == "create" else max(have, min(size, create_up_to))
    created = seeded = 0
    ready_s = 0.0
    if create_to > have:
        log(f"filling the gateway to {create_to:,} sessions (sessions.create)…")
        held, _ = fill_gateway(gw, create_to, budget_s=fill_budget(create_to, quick))
        created, have = held - have, held
    create_s = time.perf_counter() - t0
    if size > have:
        from benchmarks._seed import seed_gateway

        # Each agent's template session is one more session: the keys fill what remains after them.
        missing = size - have - len(GATEWAY_AGENTS)
        # Named per size: a run filling to 10k and then to 100k seeds twice into the same store.
        keys = [f"agent:{GATEWAY_AGENTS[i % len(GATEWAY_AGENTS)]}:seed{size}-{i:06d}" for i in range(missing)]
        log(f"seeding {len(keys):,} more sessions into the stopped gateway's store…")
        ready_s = seed_gateway(gw, GATEWAY_AGENTS, keys, log, tag=str(size))
        seeded = len(keys) + len(GATEWAY_AGENTS)
    with gw.rpc(timeout=900) as rpc:
        t1 = time.perf_counter()
        held = int(rpc.request("sessions.list", {"limit": 1})["totalCount"])
        first_list_s = time.perf_counter() - t1
    seconds = time.perf_counter() - t0
    if held < size:
        # Figures "at 10k" from a gateway holding 6,572 were reported once; never again.
        raise FillShort(
            f"the gateway holds {held:,} sessions after {seconds:.0f} s, not the {size:,} this run "
            f"announces; no figures are reported. Run on a quieter machine, raise the budget "
            f"(BENCH_FILL_BUDGET_S, now {fill_budget(size, quick):.0f} s)."
        )
    log(f"  {held:,} sessions in {seconds:.0f}s")
    return {
        "held": held,
        "seconds": seconds,
        "created": created,
        "create_s": create_s,
        "seeded": seeded,
        "restart_ready_s": ready_s,
        "first_list_s": first_list_s,
        "method": "create" if not seeded else "create+seed",
    }


def run(*, quick: bool, log: Callable[[str], None], sizes: tuple[int, ...] = (LIST_SESSIONS,)) -> Results:
    h = harness()
    calls = 100 if quick else 300
    cold_runs = 3 if quick else 5
    if quick:
        sizes = (1_000,)
    with tempfile.TemporaryDirectory(prefix="sidecar-bench-") as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        gw = h.start_gateway(root / "gateway", GATEWAY_AGENTS, name="bench")
        try:
            version = gateway_version(gw)
            gw.turn("dev-1", "first message for the history benchmark", timeout=120)
            gw.turn("dev-1", "second message for the history benchmark", timeout=120)
            with gw.rpc() as rpc:
                rpc.request("sessions.create", {"key": DENIED_TARGET, "agentId": "hr"})
            setup = time.perf_counter() - t0
            bench = Bench(root, gw)
            log(f"cold starts: sidecar and echo server, {cold_runs} runs each (+1 first-ever)…")
            cold = anyio.run(cold_starts, bench, cold_runs)
            log(f"stdio round trips: {calls} calls per series, 3 interleaved rounds…")
            steady_results = anyio.run(steady, bench, calls)
            listings: dict[int, dict[str, Any]] = {}
            fills: dict[int, dict[str, Any]] = {}
            for size in sorted(sizes):
                fills[size] = fill_to(gw, size, quick, log)
                log(f"sessions_list against sessions.list at {size:,}…")
                list_calls = max(30, calls // 5) if size <= 10_000 else max(10, calls // 20)
                listings[size] = anyio.run(listing, bench, list_calls, size)
        finally:
            gw.stop()
    return Results(version, len(GATEWAY_AGENTS), cold, steady_results, listings, fills, setup)


def as_dict(stats: dict[str, Stat]) -> dict[str, dict[str, Any]]:
    return {
        k: {"p50_us": v.p50_us, "p99_us": v.p99_us, "n": v.n, "rounds": v.rounds} for k, v in stats.items()
    }
