"""Profiles behind the analysis in docs/benchmarks.md. Needs pyinstrument and py-spy in the venv (install
them ad hoc: `.venv/bin/pip install pyinstrument py-spy`; they are not project dependencies).

python -m benchmarks.profile list     # SessionsService.sessions_list(limit=100) at 10k mirrored sessions
python -m benchmarks.profile ingest   # mirror bulk ingest of 100k gateway rows
python -m benchmarks.profile stdio    # py-spy on a real `sidecar serve` (real gateway) during denied calls
                                      # and forwarded sessions_history calls, summarised by thread/frame
"""

from __future__ import annotations

import argparse
import collections
import json
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio

REPO = Path(__file__).resolve().parents[1]


def _pyinstrument() -> Any:
    try:
        from pyinstrument import Profiler
    except ImportError:
        sys.exit("pyinstrument is not installed: .venv/bin/pip install pyinstrument")
    return Profiler


def profile_list() -> None:
    from benchmarks import bench_list
    from benchmarks.bench_mirror import gateway_rows, load
    from sidecar.mirror import Mirror, ServiceStore
    from sidecar.policy import Requester, parse_policy
    from sidecar.tools import SessionsService
    from sidecar.tools._routing import HOME, GatewayPool

    profiler_cls = _pyinstrument()
    scenario = json.loads((REPO / "scenarios" / "hierarchy.json").read_text(encoding="utf-8"))
    policy = parse_policy(json.dumps(scenario["policy"]), "hierarchy.json5")
    agents = sorted(policy.agent_ids)

    async def main() -> None:
        with tempfile.TemporaryDirectory() as tmp:
            mirror = Mirror.open(Path(tmp) / "mirror.db")
            load(mirror, gateway_rows(bench_list.SESSIONS, agents, random.Random(7)))
            mirror.set_agents(HOME, agents)

            async def connect(name: str, url: str, insecure: bool) -> Any:
                return bench_list._Connected()

            pool = GatewayPool("ws://127.0.0.1:9", (), connect)
            await pool.client(HOME)
            for who in ("manager", "lead"):
                service = SessionsService(policy, Requester.of(who), ServiceStore(mirror), pool)
                await service.sessions_list(limit=100)
                profiler = profiler_cls(interval=0.0005)
                profiler.start()
                for _ in range(10):
                    await service.sessions_list(limit=100)
                profiler.stop()
                print(f"== sessions_list(limit=100) as {who}, {bench_list.SESSIONS} mirrored, 10 calls")
                print(profiler.output_text(unicode=False))
            mirror.close()

    anyio.run(main)


def profile_ingest() -> None:
    from benchmarks.bench_mirror import SESSIONS, gateway_rows, ingest
    from sidecar.mirror import Mirror

    profiler_cls = _pyinstrument()
    rows = gateway_rows(SESSIONS, [f"agent-{i}" for i in range(10)], random.Random(7))
    with tempfile.TemporaryDirectory() as tmp:
        mirror = Mirror.open(Path(tmp) / "mirror.db")
        profiler = profiler_cls(interval=0.001)
        profiler.start()
        ingest(mirror, rows)
        profiler.stop()
        mirror.close()
    print(f"== bulk ingest of {SESSIONS} gateway rows")
    print(profiler.output_text(unicode=False))


def summarise_raw(path: Path, calls: int, seconds: float) -> None:
    """py-spy --format raw: collapsed stacks with counts. Share per thread root, then the heaviest
    inclusive frames of the main thread."""
    roots: collections.Counter[str] = collections.Counter()
    frames: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        n = int(count)
        total += n
        parts = stack.split(";")
        main = parts[0].startswith("_run_module_as_main")
        roots["main thread (event loop)" if main else "other threads (anyio stdio workers)"] += n
        if main:
            seen = set()
            for frame in parts:
                name = re.sub(r":\d+\)", ")", frame)
                if name not in seen:
                    seen.add(name)
                    frames[name] += n
    print(f"{calls} calls in {seconds:.1f} s ({seconds / max(calls, 1) * 1000:.2f} ms each); {total} samples")
    for root, n in roots.most_common():
        print(f"  {n / total:6.1%}  {root}")
    print("  heaviest frames on the main thread (inclusive share of all samples):")
    for name, n in frames.most_common(40):
        if any(k in name for k in ("sidecar/", "mcp/server", "pydantic", "sqlite", "select")):
            print(f"  {n / total:6.1%}  {name}")


def profile_stdio() -> None:
    from benchmarks import bench_gateway as bg

    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists():
        sys.exit("py-spy is not installed: .venv/bin/pip install py-spy")
    reason = bg.unavailable()
    if reason:
        sys.exit(f"needs the real gateway: {reason}")
    h = bg.harness()
    with tempfile.TemporaryDirectory(prefix="sidecar-profile-") as tmp:
        root = Path(tmp)
        gw = h.start_gateway(root / "gateway", bg.GATEWAY_AGENTS, name="profile")
        try:
            gw.turn("dev-1", "first message for the history benchmark", timeout=120)
            gw.turn("dev-1", "second message for the history benchmark", timeout=120)
            with gw.rpc() as rpc:
                rpc.request("sessions.create", {"key": bg.DENIED_TARGET, "agentId": "hr"})
            bench = bg.Bench(root, gw)

            async def main() -> None:
                async with bg.serve(bench.sidecar("lead", "spy")) as lead:
                    calls = {
                        "denied sessions_send": (
                            "sessions_send",
                            {"sessionKey": bg.DENIED_TARGET, "message": "x"},
                        ),
                        "forwarded sessions_history": ("sessions_history", {"sessionKey": bg.READ_TARGET}),
                    }
                    for label, (tool, args) in calls.items():
                        for _ in range(50):
                            await lead.client.call_tool(tool, args)
                        out = root / f"{tool}.raw"
                        cmd = [spy, "record", "-p", str(lead.pid), "-f", "raw", "-o", str(out), "-r", "1000"]
                        proc = subprocess.Popen(
                            [*cmd, "-d", "6", "--nonblocking"],
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL,
                        )
                        await anyio.sleep(0.5)
                        n, start = 0, time.perf_counter()
                        while proc.poll() is None:
                            await lead.client.call_tool(tool, args)
                            n += 1
                        print(f"== py-spy on sidecar serve: {label}")
                        summarise_raw(out, n, time.perf_counter() - start)

            anyio.run(main)
        finally:
            gw.stop()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("what", choices=("list", "ingest", "stdio"))
    args = parser.parse_args()
    {"list": profile_list, "ingest": profile_ingest, "stdio": profile_stdio}[args.what]()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
