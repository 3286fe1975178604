"""What a cold start spends on imports: `python -X importtime` over what `sidecar serve` imports before it
answers (the CLI parser for `serve`, the runtime, the MCP server) against what the echo server imports,
median of `runs` alternating runs. The sidecar's side holds the cyclic collector, as `sidecar serve` does
until its server is built (`sidecar.cli.serving_started`); the echo server's side runs as it always does.

Modules both import cost about the same in either; the modules only the sidecar imports are its own
share of the cold start, grouped here by top-level package.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SIDECAR = (
    "import gc; gc.disable(); import sidecar.cli as c; c.build_parser('serve'); "
    "import sidecar.runtime, sidecar.mcp._server"
)
ECHO = "import benchmarks.echo_server"
# What `sidecar serve` does before it can answer initialize, step by step, in a fresh interpreter.
STEPS = """
import gc, json, sys, time
gc.disable()  # as `sidecar serve` holds it until its server is built
t = time.perf_counter
out = {}
a = t(); import sidecar.cli as c; c.build_parser("serve"); out["cli: import + build_parser('serve') (policy, mirror, gateway client)"] = t() - a
a = t(); from sidecar.config import load_policy; policy = load_policy(sys.argv[1])
out["load_policy (JSON5, parsed twice)"] = t() - a
a = t(); json.loads(open(sys.argv[1]).read()); out["the same file with json.loads"] = t() - a
a = t(); import sidecar.mcp._server; out["import sidecar.mcp._server (MCP SDK; serve: on a thread, beside the gateway connect)"] = t() - a
import anyio
from sidecar.runtime import Runtime
from sidecar.policy import Requester
async def main():
    runtime = Runtime(policy=policy, requester=Requester.of("lead"), home_url="ws://127.0.0.1:9",
                      token_store="file", db=__import__("pathlib").Path(sys.argv[2]))
    a = t(); service = await runtime.open(); out["runtime.open (secret store, mirror)"] = t() - a
    a = t(); sidecar.mcp._server.build_server(service); out["build_server (4 tools)"] = t() - a
    runtime.close()
anyio.run(main)
print(json.dumps(out))
"""


def _importtime(code: str) -> tuple[dict[str, int], float]:
    """Self time (µs) per module and the wall time (s) of `python -X importtime -c code`."""
    start = time.perf_counter()
    run = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    wall = time.perf_counter() - start
    selfs: dict[str, int] = {}
    for line in run.stderr.splitlines():
        if not line.startswith("import time:") or "imported package" in line:
            continue
        own, _cumulative, name = line[len("import time:") :].split("|")
        selfs[name.strip()] = int(own)
    return selfs, wall


def steps(runs: int = 3) -> dict[str, float]:
    """Median seconds of each startup step of `sidecar serve` (hierarchy policy), fresh process each run."""
    scenario = json.loads((REPO / "scenarios" / "hierarchy.json").read_text(encoding="utf-8"))
    policy = {**scenario["policy"], "gateway": {"url": "ws://127.0.0.1:9"}}
    samples: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "policy.json5"
        path.write_text(json.dumps(policy, indent=2), encoding="utf-8")
        env = {**os.environ, "SIDECAR_TOKEN_FILE": str(Path(tmp) / "secrets.json")}
        for i in range(runs):
            run = subprocess.run(
                [sys.executable, "-c", STEPS, str(path), str(Path(tmp) / f"mirror-{i}.db")],
                cwd=REPO,
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            samples.append(json.loads(run.stdout.strip().splitlines()[-1]))
    return {k: statistics.median(s[k] for s in samples) for k in samples[0]}


def run(runs: int = 3) -> dict[str, Any]:
    sidecar: list[dict[str, int]] = []
    echo: list[dict[str, int]] = []
    walls: dict[str, list[float]] = {"sidecar": [], "echo": [], "bare": []}
    for _ in range(runs):
        s, wall = _importtime(SIDECAR)
        sidecar.append(s)
        walls["sidecar"].append(wall)
        e, wall = _importtime(ECHO)
        echo.append(e)
        walls["echo"].append(wall)
        _, wall = _importtime("pass")
        walls["bare"].append(wall)

    def median_self(samples: list[dict[str, int]]) -> dict[str, float]:
        names = set().union(*samples)
        return {n: statistics.median(s.get(n, 0) for s in samples) for n in names}

    s_self, e_self = median_self(sidecar), median_self(echo)
    only = {n: t for n, t in s_self.items() if n not in e_self}
    by_package: dict[str, float] = defaultdict(float)
    for name, own in only.items():
        by_package[name.split(".")[0]] += own
    return {
        "sidecar_ms": sum(s_self.values()) / 1000,
        "echo_ms": sum(e_self.values()) / 1000,
        "sidecar_only_ms": sum(only.values()) / 1000,
        "sidecar_only_modules": len(only),
        "by_package_ms": dict(sorted(((k, v / 1000) for k, v in by_package.items()), key=lambda kv: -kv[1])),
        "wall_sidecar_s": statistics.median(walls["sidecar"]),
        "wall_echo_s": statistics.median(walls["echo"]),
        "wall_bare_s": statistics.median(walls["bare"]),
        "steps_s": steps(runs),
    }


if __name__ == "__main__":
    result = run()
    for key, value in result.items():
        print(key, value)
