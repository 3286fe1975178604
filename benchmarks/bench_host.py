"""The multi-session host against today's per-session processes, side by side, on one real gateway.

    python -m benchmarks.bench_host [--sessions 50] [--agents 10] [--per-session 5] [--json FILE]

One gateway with `--agents` agents. In the same run:
  * echo: the bare MCP SDK echo server (benchmarks/echo_server.py) spawned over stdio, spawn -> first call
    served (median of 3): the cold start every per-session process pays at least;
  * per-session processes: `--per-session` `sidecar serve --session agent:a0:s<i>` processes over stdio, as
    OpenClaw starts one per session today: RSS of each, and one gateway WebSocket each;
  * host: one `sidecar host` process; `--sessions` concurrent MCP sessions over streamable HTTP spread over
    the agents' endpoints (what OpenClaw's per-session runtimes open), each making attested calls as its
    own session key. Measured: host RSS after the first session and with all of them open (per extra
    session), the gateway connections it holds (/healthz), and the first call in a new session
    (initialize -> tools/list -> first tools/call served), against the echo server's cold start.

Targets (issue 10): <= 5 MB RSS per extra session, no extra gateway connection, first call in a new
session <= 0.2x the echo server's cold start.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import anyio
from mcp import Client

from benchmarks import _stats
from benchmarks.bench_gateway import REPO, harness, serve, text_of, vm_rss_mb


def _env(root: Path, gw: Any) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENCLAW_", "SIDECAR_"))}
    env.update(
        SIDECAR_STATE_DIR=str(root / "state"),
        SIDECAR_TOKEN_STORE="file",
        SIDECAR_TOKEN_FILE=str(root / "secrets.json"),
        XDG_DATA_HOME=str(root / "data"),
        SIDECAR_LOG_LEVEL="warning",
        OPENCLAW_GATEWAY_TOKEN=gw.token,
    )
    return env


def _health(port: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as resp:
        data: dict[str, Any] = json.loads(resp.read())
    return data


def _gateway_sockets(pid: int, port: int) -> int:
    """Established TCP connections from `pid` to the gateway's port (from /proc/net/tcp and the fds)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            parts = line.split()
            remote_port = int(parts[2].split(":")[1], 16)
            if parts[3] == "01" and remote_port == port and parts[9] in inodes:
                count += 1
    return count


async def echo_cold(runs: int) -> float:
    from mcp import StdioServerParameters

    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENCLAW_", "SIDECAR_"))}
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "benchmarks.echo_server"], env=env, cwd=str(REPO)
    )
    times = []
    for _ in range(runs + 1):
        t0 = time.perf_counter()
        async with serve(params) as e:
            result = await e.client.call_tool("echo", {"text": "cold"})
            assert text_of(result) == "cold"
            times.append(time.perf_counter() - t0)
    return _stats.median(times[1:])


async def per_session(root: Path, gw: Any, policy: Path, count: int) -> dict[str, Any]:
    from mcp import StdioServerParameters

    env = _env(root / "serve", gw)
    rss: list[float] = []
    sockets: list[int] = []
    cold: list[float] = []
    async with AsyncExitStack() as stack:
        for i in range(count):
            params = StdioServerParameters(
                command=sys.executable,
                args=[
                    "-m",
                    "sidecar",
                    "serve",
                    "--policy",
                    str(policy),
                    "--agent",
                    "a0",
                    "--session",
                    f"agent:a0:s{i}",
                ],
                env=env,
                cwd=str(REPO),
            )
            t0 = time.perf_counter()
            served = await stack.enter_async_context(serve(params))
            result = await served.client.call_tool("sessions_list", {})
            cold.append(time.perf_counter() - t0)
            assert not result.is_error, text_of(result)
            rss.append(vm_rss_mb(served.pid))
            sockets.append(_gateway_sockets(served.pid, gw.port))
    return {
        "processes": count,
        "rss_mb_each": _stats.median(rss),
        "gateway_sockets": sum(sockets),
        "cold_s": _stats.median(cold),
    }


async def host_sessions(
    root: Path, gw: Any, policy: Path, agents: list[str], sessions: int, port: int
) -> dict[str, Any]:
    import httpx2
    from mcp.client.streamable_http import streamable_http_client

    from sidecar.host import agent_token, load_or_create_key, make_attestation

    env = _env(root / "host", gw)
    log = (root / "host.log").open("ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "sidecar", "host", "--policy", str(policy), "--gateway", gw.url, "--port", str(port),
         "--token-store", "file", "--log-level", "warning"],
        env=env, cwd=str(REPO), stdout=log, stderr=log, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                _health(port)
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"sidecar host did not start; see {root / 'host.log'}") from None
                await anyio.sleep(0.2)
        key = load_or_create_key(root / "host" / "state" / "host" / "attest.key")
        first_calls: list[float] = []
        rss_after: list[float] = []
        async with AsyncExitStack() as stack:
            for i in range(sessions):
                agent = agents[i % len(agents)]
                url = f"http://127.0.0.1:{port}/agents/{agent}/mcp"
                headers = {"Authorization": f"Bearer {agent_token(key, agent)}"}
                t0 = time.perf_counter()
                http = await stack.enter_async_context(httpx2.AsyncClient(headers=headers, timeout=120))
                client = await stack.enter_async_context(
                    Client(streamable_http_client(url, http_client=http))
                )
                await client.list_tools()
                caller = make_attestation(key, agent_id=agent, session_key=f"agent:{agent}:s{i}", tool="sessions_list",
                                          arguments={}, tool_call_id=f"c{i}", ts_ms=int(time.time() * 1000))  # fmt: skip
                with anyio.fail_after(120):
                    result = await client.call_tool("sessions_list", {"_caller": caller})
                first_calls.append(time.perf_counter() - t0)
                assert not result.is_error, text_of(result)
                rss_after.append(vm_rss_mb(proc.pid))
            health = _health(port)
            sockets = _gateway_sockets(proc.pid, gw.port)
            rss_all = vm_rss_mb(proc.pid)
        per_extra = (rss_all - rss_after[0]) / max(1, sessions - 1)
        return {
            "sessions": sessions,
            "agents": len(agents),
            "rss_first_mb": rss_after[0],
            "rss_all_mb": rss_all,
            "rss_per_extra_session_mb": per_extra,
            "gateway_connections": health.get("gatewayConnections"),
            "gateway_sockets": sockets,
            "first_session_first_call_s": first_calls[0],
            "new_session_first_call_s": _stats.median(first_calls[1:]),
            "new_session_first_call_max_s": max(first_calls[1:]),
        }
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def run(sessions: int = 50, agents: int = 10, per: int = 5, log: Any = print) -> dict[str, Any]:
    h = harness()
    ids = [f"a{i}" for i in range(agents)]
    with tempfile.TemporaryDirectory(prefix="sidecar-bench-host-") as tmp:
        root = Path(tmp)
        gw = h.start_gateway(root / "gateway", ids, name="bench-host")
        try:
            policy = root / "policy.json5"
            policy.write_text(json.dumps({
                "gateway": {"url": gw.url},
                "tools": {"sessions": {"visibility": "agent"}},
                "agents": {"entries": {a: {} for a in ids}},
            }), encoding="utf-8")  # fmt: skip
            log("echo server cold start (3 runs)...")
            echo = anyio.run(echo_cold, 3)
            log(f"{per} per-session `sidecar serve` processes...")
            today = anyio.run(per_session, root, gw, policy, per)
            log(f"one host, {sessions} concurrent sessions over {agents} agents...")
            host = anyio.run(host_sessions, root, gw, policy, ids, sessions, h.free_port())
        finally:
            gw.stop()
    ratio = host["new_session_first_call_s"] / echo
    return {
        "echo_cold_s": echo,
        "per_session": today,
        "host": host,
        "new_session_vs_echo": ratio,
        "targets": {
            "rss_per_extra_session_mb<=5": host["rss_per_extra_session_mb"] <= 5,
            "one_gateway_connection": host["gateway_connections"] == 1 and host["gateway_sockets"] == 1,
            "new_session_first_call<=0.2x_echo": ratio <= 0.2,
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.bench_host", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--sessions", type=int, default=50)
    parser.add_argument("--agents", type=int, default=10)
    parser.add_argument("--per-session", type=int, default=5)
    parser.add_argument("--json", metavar="FILE")
    args = parser.parse_args()
    result = run(args.sessions, args.agents, args.per_session, log=lambda m: print(m, file=sys.stderr))
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n", encoding="utf-8")
    return 0 if all(result["targets"].values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
