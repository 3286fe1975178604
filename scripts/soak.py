"""The long part of the reliability and security suite; the fast part is tests/reliability (in scripts/test).

Runs the same scenarios as tests/reliability at soak scale against its own real OpenClaw gateway (started
here, stopped on exit), prints progress to stderr, and records the figures (date, machine, command,
counts, outcomes) in docs/reliability.md. Every loop is bounded by its count and every wait by a deadline.
Exit status: 0 when every scenario passed, 1 when one failed, 2 on bad arguments, 130 when interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import logging
import os
import platform
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from functools import partial
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "scripts")]

import anyio  # noqa: E402

from tests.reliability.support import LEAKS, Outcome  # noqa: E402

DOC = REPO / "docs" / "reliability.md"
AGENTS = ("main", "pa", "dev-1", "dev-2", "ops", "lead", "hr", "finance", "manager")
SCENARIOS = ("kill-send", "kill-sync", "faults", "fuzz", "spoof", "differential", "http", "leaks")
NEEDS_GATEWAY = {"kill-send", "faults", "differential", "http"}
SIZES: dict[str, dict[str, int]] = {
    "full": {
        "kill_send": 50,
        "kill_sync": 20,
        "ws_rounds": 10,
        "disk_rounds": 20,
        "fuzz": 100_000,
        "spoof": 20_000,
        "differential": 40,
        "http_clients": 8,
        "http_calls": 1000,
    },
    "quick": {
        "kill_send": 3,
        "kill_sync": 3,
        "ws_rounds": 2,
        "disk_rounds": 3,
        "fuzz": 2000,
        "spoof": 500,
        "differential": 8,
        "http_clients": 8,
        "http_calls": 50,
    },
}
HELP_EPILOG = """\
scenarios (full size / --quick size):
  kill-send     the real gateway SIGKILLed mid-send (in flight, while down, at random)    50 / 3 rounds
  kill-sync     sidecar serve SIGKILLed mid-snapshot, then resumed                         20 / 3 rounds
  faults        WebSocket cut mid-frame (reads and sends, then every connection),          10 / 2 rounds
                the mirror full (PRAGMA max_page_count) in a loop, a file-size limit,      20 / 3 rounds
                no keyring, a locked mirror
  fuzz          hypothesis-generated tool arguments through the in-memory MCP client   100,000 / 2,000 calls
  spoof         every hand-written spoof of every refused target, plus generated ones   20,000 / 500 extra
  differential  the engine against OpenClaw's POST /tools/invoke for global configs         40 / 8 configs
  http          concurrent streamable-HTTP clients against one sidecar serve     8 x 1,000 / 8 x 50 calls
  leaks         no token or private key in any output, log, mirror or file produced

examples:
  scripts/soak --quick                      # a few minutes; rewrites the quick block of the doc
  scripts/soak                              # the full soak (about 30 min on 2 cores); rewrites the full block
  scripts/soak --only fuzz,spoof --fuzz 20000 --no-doc
  scripts/soak --only kill-send --kill-send 10 --keep   # keep the work dir (gateway and sidecar logs)
"""

log = logging.getLogger("soak")
_started = time.monotonic()


def say(message: str) -> None:
    print(f"[soak {time.monotonic() - _started:7.0f}s] {message}", file=sys.stderr, flush=True)


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="scripts/soak",
        description="The long reliability and security run: the tests/reliability scenarios at soak scale, "
        "figures written to docs/reliability.md.",
        epilog=HELP_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="the reduced run (CI sizes)")
    parser.add_argument("--only", metavar="NAMES", help=f"comma-separated subset of: {', '.join(SCENARIOS)}")
    sizes = parser.add_argument_group("sizes", "override one scenario's size (full / --quick defaults)")
    for key in SIZES["full"]:
        flag = "--" + key.replace("_", "-")
        sizes.add_argument(
            flag, type=int, metavar="N", dest=key, help=f"{SIZES['full'][key]:,} / {SIZES['quick'][key]:,}"
        )
    parser.add_argument("--seed", type=int, help="seed for every generator (default: random, recorded)")
    parser.add_argument(
        "--doc", type=Path, default=DOC, help=f"the document to update (default {DOC.relative_to(REPO)})"
    )
    parser.add_argument(
        "--no-doc", action="store_true", help="print the figures but leave the document alone"
    )
    parser.add_argument(
        "--workdir", type=Path, help="where gateways and sidecars keep their files (default: a temp dir)"
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the work dir afterwards (logs for a failure)"
    )
    args = parser.parse_args(argv)
    args.mode = "quick" if args.quick else "full"
    args.sizes = {
        k: (getattr(args, k) if getattr(args, k) is not None else v) for k, v in SIZES[args.mode].items()
    }
    if any(v < 1 for v in args.sizes.values()):
        parser.error("every size must be at least 1")
    names = [n.strip() for n in (args.only or ",".join(SCENARIOS)).split(",") if n.strip()]
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario {', '.join(unknown)} (choose from {', '.join(SCENARIOS)})")
    args.names = [n for n in SCENARIOS if n in names]
    # A partial or resized run is recorded in the document's "custom" block, never over a full one.
    custom = bool(args.only) or any(getattr(args, k) is not None for k in SIZES["full"])
    args.block = "custom" if custom else args.mode
    return args


# -- running ------------------------------------------------------------------------------------------


def start_gateway(work: Path) -> Any:
    from harness import ensure_openclaw, start_gateway

    say("starting a real OpenClaw gateway (stub model) for the gateway scenarios")
    gw = start_gateway(work / "gateway", list(AGENTS), name="soak", tools=ensure_openclaw(quiet=True))
    result = gw.turn("main", "warm-up", timeout=180)
    if result.get("status") != "ok":
        gw.stop()
        raise RuntimeError(f"the gateway's warm-up turn failed: {json.dumps(result)[:300]}")
    say(f"gateway up at {gw.url} (ready in {gw.t_ready_s:.0f} s)")
    return gw


def run_scenario(name: str, args: argparse.Namespace, work: Path, gw: Any) -> list[Outcome]:
    from tests.reliability import differential, faults, fuzz, http_load, kill_send, kill_sync

    size, seed, root = args.sizes, args.seed, work / name
    root.mkdir(parents=True, exist_ok=True)
    if name == "kill-send":
        return [
            anyio.run(
                partial(kill_send.kill_mid_send, gw, root, rounds=size["kill_send"], seed=seed, progress=say)
            )
        ]
    if name == "kill-sync":
        return [
            anyio.run(
                partial(kill_sync.kill_mid_sync, root, rounds=size["kill_sync"], seed=seed, progress=say)
            )
        ]
    if name == "faults":
        ws = anyio.run(
            partial(faults.websocket_drops, gw, root / "ws", rounds=size["ws_rounds"], progress=say)
        )
        with _quiet_sdk():
            rest = anyio.run(
                partial(faults.run_all, root / "probes", disk_rounds=size["disk_rounds"], progress=say)
            )
        return [ws, rest]
    if name == "fuzz":
        with _quiet_sdk(logging.ERROR):
            return [fuzz.fuzz_arguments(examples=size["fuzz"], seed=seed, progress=say)]
    if name == "spoof":
        with _quiet_sdk(logging.ERROR):
            return [fuzz.spoofing(generated=size["spoof"], seed=seed, progress=say)]
    if name == "differential":
        return [
            anyio.run(
                partial(differential.differential, gw, count=size["differential"], seed=seed, progress=say)
            )
        ]
    if name == "http":
        return [
            anyio.run(
                partial(
                    http_load.http_load,
                    gw,
                    root,
                    clients=size["http_clients"],
                    calls=size["http_calls"],
                    progress=say,
                )
            )
        ]
    if name == "leaks":
        outcome = Outcome("leak scan")
        leaks, stats = LEAKS.scan()
        outcome.counts.update(stats, leaks=len(leaks))
        for leak in leaks:
            outcome.fail(f"leak: {leak}")
        if stats["secrets"] <= len(LEAKS.secrets):
            outcome.fail("no device key or token found in the file stores: nothing real was scanned for")
        return [outcome]
    raise ValueError(name)


@contextlib.contextmanager
def _quiet_sdk(level: int = logging.CRITICAL) -> Any:
    """The faults provoke SDK crash logs on purpose (known defects); the fuzz would print one per rejection."""
    sdk = logging.getLogger("mcp")
    previous = sdk.level
    sdk.setLevel(level)
    try:
        yield
    finally:
        sdk.setLevel(previous)


# -- the document -------------------------------------------------------------------------------------


def machine() -> str:
    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = ""
    with contextlib.suppress(OSError, ValueError, IndexError):
        kib = int(Path("/proc/meminfo").read_text().splitlines()[0].split()[1])
        mem = f", {kib / 1024 / 1024:.0f} GiB RAM"
    return (
        f"{platform.system()} {platform.release()} {platform.machine()}, {cpu}, {os.cpu_count()} cores{mem}"
    )


def revision() -> str:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "sidecar"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head + (" with uncommitted changes under sidecar/" if dirty else "")


def _n(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else str(value)


def summary(o: Outcome) -> str:
    """One line of figures per scenario."""
    c = o.counts
    if o.name == "gateway killed mid-send":
        statuses = ", ".join(
            f"{k.split(':', 1)[1]} {v}" for k, v in sorted(c.items()) if k.startswith("status:")
        )
        return (
            f"{_n(c.get('sends', 0))} sends, each with a gateway SIGKILL + restart: {_n(c.get('exactly_once', 0))} "
            f"delivered exactly once, {c.get('lost', '?')} lost, {c.get('duplicated', '?')} duplicated "
            f"(results: {statuses}); outbox {c.get('outbox')}"
        )
    if o.name == "sidecar killed mid-sync":
        return (
            f"{_n(c.get('kills', 0))} SIGKILLs mid-snapshot of {_n(c.get('rows', 0))} sessions: integrity_check ok "
            f"after each, {_n(c.get('resumed', 0))} resumed from the cursor"
            + (
                f" (+{c['fresh_after_last_page']} killed between the last page and the sweep: fresh snapshot)"
                if c.get("fresh_after_last_page")
                else ""
            )
            + f", {_n(c.get('rows_matched', 0))} finished with exactly the gateway's rows"
        )
    if o.name == "WebSocket dropped mid-frame":
        p = c.get("probe") or {}
        return (
            f"{_n(c.get('cuts', 0))} frames cut in half: {_n(c.get('history_recovered', 0))} reads recovered, "
            f"{_n(c.get('sends_exactly_once', 0))} sends delivered exactly once; every connection cut: "
            f"{'clear' if p.get('clear') else 'UNCLEAR'} MCP error after {p.get('details', {}).get('seconds')} s, "
            f"recovered {p.get('recovered')}, integrity {p.get('integrity')}"
        )
    if o.name == "faults: disk, keyring, lock":
        return (
            f"{_n(c.get('probes_run', 0))} probes: integrity ok {_n(c.get('intact', 0))}, "
            f"corrupt {c.get('corrupt', 0)}; error clear {c.get('clear', 0)}, unclear {c.get('unclear', 0)}"
        )
    if o.name == "generated tool arguments":
        known = sum(v for k, v in c.items() if k.startswith("known_defect:"))
        return (
            f"{_n(c.get('calls', 0))} calls: ok {_n(c.get('ok', 0))}, denied {_n(c.get('denied', 0))}, "
            f"invalid arguments {_n(c.get('invalid', 0))}; crashes {c.get('crash', 0)}, unclear errors "
            f"{c.get('unclear', 0)}, bypasses {c.get('bypass', 0)}; known defect hit {known}x (seed {c.get('seed')})"
        )
    if o.name == "spoofed targets through MCP":
        return (
            f"{_n(c.get('calls', 0))} calls ({_n(c.get('hand_written', 0))} hand-written): denied "
            f"{_n(c.get('denied', 0))}, invalid {_n(c.get('invalid', 0))}, ok {_n(c.get('ok', 0))}; "
            f"bypasses {c.get('bypasses', 0)}, crashes {c.get('crash', 0)} (seed {c.get('seed')})"
        )
    if o.name == "differential against OpenClaw":
        return (
            f"{_n(c.get('configs', 0))} configs, {_n(c.get('cells', 0))} cells: {_n(c.get('agree', 0))} agree, "
            f"{_n(c.get('disagreements', 0))} disagree (seed {c.get('seed')})"
        )
    if o.name == "concurrent HTTP clients":
        return (
            f"{c.get('clients')} clients x {_n(c.get('calls_each'))} calls = {_n(c.get('calls', 0))}: "
            f"{c.get('errors', '?')} errors, {_n(c.get('decisions_logged', 0))} decisions logged; "
            f"without the token: {c.get('unauthorised')}"
        )
    if o.name == "leak scan":
        return (
            f"{c.get('leaks', '?')} leaks: {_n(c.get('secrets', 0))} secrets searched for in {_n(c.get('files', 0))} "
            f"files ({c.get('mirrors', 0)} mirrors, {c.get('logs', 0)} logs) and {_n(c.get('outputs', 0))} tool outputs"
        )
    return json.dumps(c, default=str)[:300]


def render(
    args: argparse.Namespace, outcomes: list[tuple[str, Outcome]], started: dt.datetime, seconds: float
) -> str:
    lines = [
        f"- **Date:** {started.strftime('%Y-%m-%d %H:%M UTC')} ({seconds / 60:.0f} min)",
        f"- **Machine:** {machine()}; Python {platform.python_version()}",
        f"- **Code:** {revision()}; OpenClaw {_openclaw_version()} (stub model)",
        f"- **Command:** `{args.command}`",
        f"- **Result:** {'all scenarios passed' if all(o.ok for _, o in outcomes) else 'FAILURES (below)'}",
        "",
        "| scenario | outcome | figures | time |",
        "|---|---|---|---|",
    ]
    for name, o in outcomes:
        verdict = "pass" if o.ok else f"**FAIL ({len(o.failures)})**"
        lines.append(f"| {name} | {verdict} | {summary(o)} | {o.seconds / 60:.1f} min |")
    probes = [p for _, o in outcomes for p in o.counts.get("probes", [])]
    ws = next((o.counts.get("probe") for _, o in outcomes if o.counts.get("probe")), None)
    if ws:
        probes.insert(0, ws)
    if probes:
        lines += [
            "",
            "Fault probes (each: what the agent or operator was told, and the mirror afterwards):",
            "",
        ]
        lines += [
            "| fault | injected | clear error | integrity_check | recovered | what it said |",
            "|---|---|---|---|---|---|",
        ]
        for p in probes:
            said = re.sub(r"\s+", " ", str(p.get("message", "")))[:160].replace("|", "\\|")
            lines.append(
                f"| {p['fault']} | {p['how']} | {'yes' if p['clear'] else '**no**'} | {p['integrity']} | "
                f"{'-' if p['recovered'] is None else p['recovered']} | {said} |"
            )
    failed = [(name, f) for name, o in outcomes for f in o.failures]
    if failed:
        lines += ["", "Failures (first 30):", "", "```text"]
        lines += [f"{name}: {f[:400]}" for name, f in failed[:30]]
        lines += ["```"]
    return "\n".join(lines) + "\n"


def _openclaw_version() -> str:
    with contextlib.suppress(Exception):
        from harness.node import OPENCLAW_VERSION

        return str(OPENCLAW_VERSION)
    return "unknown"


def update_doc(path: Path, mode: str, block: str) -> None:
    begin, end = f"<!-- soak:{mode}:begin -->", f"<!-- soak:{mode}:end -->"
    text = (
        path.read_text(encoding="utf-8")
        if path.exists()
        else f"# Reliability and security\n\n{begin}\n{end}\n"
    )
    if begin not in text:
        text = text.rstrip("\n") + f"\n\n## Soak run ({mode})\n\n{begin}\n{end}\n"
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    path.write_text(f"{head}{begin}\n{block}{end}{tail}", encoding="utf-8")


# -- main ---------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    args.command = "scripts/soak" + "".join(
        " " + shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv)
    )
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    def interrupted(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)
    started = dt.datetime.now(dt.UTC)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="sidecar-soak-"))
    work.mkdir(parents=True, exist_ok=True)
    say(f"{args.block} run of {', '.join(args.names)} in {work}; sizes {json.dumps(args.sizes)}")
    outcomes: list[tuple[str, Outcome]] = []
    gw = None
    code = 0
    try:
        for name in args.names:
            if name in NEEDS_GATEWAY and gw is None:
                gw = start_gateway(work)
            say(f"--- {name}")
            began = time.monotonic()
            try:
                results = run_scenario(name, args, work, gw)
            except Exception as exc:
                crashed = Outcome(name, seconds=round(time.monotonic() - began, 1))
                crashed.fail(f"the scenario itself failed: {type(exc).__name__}: {exc}")
                say("".join(traceback.format_exception(exc))[-2000:])
                results = [crashed]
            for outcome in results:
                outcomes.append((name, outcome))
                say(f"{name}: {'PASS' if outcome.ok else 'FAIL'}: {summary(outcome)}")
                for failure in outcome.failures[:10]:
                    say(f"    {failure[:300]}")
    except KeyboardInterrupt:
        say("interrupted: stopping what was started")
        code = 130
    finally:
        if gw is not None:
            say("stopping the gateway")
            gw.stop()
    seconds = time.monotonic() - _started
    block = render(args, outcomes, started, seconds)
    print(block)
    if outcomes and not args.no_doc and code == 0:
        update_doc(args.doc, args.block, block)
        say(f"figures written to {args.doc} ({args.block} block)")
    if args.keep:
        say(f"work dir kept: {work}")
    elif args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)
    if code:
        return code
    return 0 if all(o.ok for _, o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
