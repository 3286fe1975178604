"""A restart with N sessions on disk, without a gateway: spawn → first sessions_list served, and RSS.

`sidecar serve` (manager, visibility all) is started over stdio on a mirror that already holds N
gateway-shaped sessions from a finished snapshot, with its gateway URL pointing at a port nothing
listens on, so what is timed is the sidecar's own restart: imports, opening the mirror (the engine's
index of N rows), MCP initialize, and one 100-row page served from the mirror (`fresh: false`). The echo
server's cold start, alternated with it, is the floor. With a real gateway the snapshot then catches up
behind (bench_gateway item 6 measures that at the size the gateway could be filled to).

Beside the wall times it prints the CPU seconds (user + system) each process had used when its first
answer arrived (`restart_cpu_s`, `echo_cpu_s`): on a box shared with other work the wall times mostly
measure the neighbours, while the CPU a start takes moves much less with them.
"""

from __future__ import annotations

import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
from mcp import StdioServerParameters

from benchmarks import _stats
from benchmarks.bench_gateway import REPO, serve, text_of, vm_rss_mb
from benchmarks.bench_mirror import _Pages, gateway_rows
from sidecar.mirror import Mirror, sync


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_s(pid: int) -> float:
    """User + system CPU seconds process `pid` has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _restarts(root: Path, size: int, runs: int) -> dict[str, Any]:
    scenario = json.loads((REPO / "scenarios" / "hierarchy.json").read_text(encoding="utf-8"))
    policy = {**scenario["policy"], "gateway": {"url": f"ws://127.0.0.1:{_free_port()}"}}
    policy_file = root / "policy.json5"
    policy_file.write_text(json.dumps(policy, indent=2), encoding="utf-8")
    db = root / "state" / "manager" / "mirror.db"
    db.parent.mkdir(parents=True)
    agents = sorted(policy["agents"]["entries"])
    source = _Pages(gateway_rows(size, agents, random.Random(7)), agents)
    with Mirror.open(db) as mirror:
        await sync(mirror, source, once=True)  # a finished snapshot, as a previous run leaves it
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENCLAW_", "SIDECAR_"))}
    env.update(
        SIDECAR_STATE_DIR=str(root / "state"),
        SIDECAR_TOKEN_STORE="file",
        SIDECAR_TOKEN_FILE=str(root / "secrets.json"),
        SIDECAR_LOG_LEVEL="error",
    )
    sidecar = StdioServerParameters(
        command=sys.executable,
        args=["-m", "sidecar", "serve", "--policy", str(policy_file), "--agent", "manager", "--db", str(db)],
        env=env,
        cwd=str(REPO),
    )
    echo = StdioServerParameters(
        command=sys.executable,
        args=["-m", "benchmarks.echo_server"],
        env={k: v for k, v in os.environ.items() if not k.startswith(("OPENCLAW_", "SIDECAR_"))},
        cwd=str(REPO),
    )
    side: list[tuple[float, float, float]] = []
    floor: list[tuple[float, float]] = []
    rows = 0
    for i in range(runs + 1):
        t0 = time.perf_counter()
        async with serve(sidecar) as s:
            result = await s.client.call_tool("sessions_list", {"limit": 100})
            elapsed = time.perf_counter() - t0
            assert not result.is_error, text_of(result)
            rows = result.structured_content["count"]
            if i:
                side.append((elapsed, vm_rss_mb(s.pid), cpu_s(s.pid)))
        t0 = time.perf_counter()
        async with serve(echo) as e:
            await e.client.call_tool("echo", {"text": "cold"})
            if i:
                floor.append((time.perf_counter() - t0, cpu_s(e.pid)))
    return {
        "size": size,
        "runs": runs,
        "rows_on_page": rows,
        "restart_s": _stats.median([s[0] for s in side]),
        "restart_runs_s": [round(s[0], 3) for s in side],
        "rss_mb": _stats.median([s[1] for s in side]),
        "echo_s": _stats.median([f[0] for f in floor]),
        "restart_cpu_s": _stats.median([s[2] for s in side]),
        "echo_cpu_s": _stats.median([f[1] for f in floor]),
    }


def run(sizes: tuple[int, ...] = (10_000, 100_000), runs: int = 3) -> list[dict[str, Any]]:
    out = []
    for size in sizes:
        with tempfile.TemporaryDirectory(prefix="sidecar-restart-") as tmp:
            out.append(anyio.run(_restarts, Path(tmp), size, runs))
    return out


if __name__ == "__main__":
    for row in run(tuple(int(a) for a in sys.argv[1:]) or (10_000, 100_000)):
        print(json.dumps(row))
