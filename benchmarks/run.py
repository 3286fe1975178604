"""Run every benchmark side by side and write a dated table to docs/benchmarks.md.

python -m benchmarks.run            # full run
python -m benchmarks.run --quick    # fewer calls, for a smoke check
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

from benchmarks import bench_policy

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "benchmarks.md"
BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, check=False
    ).stdout.strip()
    return (
        f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()} "
        f"{platform.release()}, commit {commit or 'unknown'}"
    )


def table(rows: list[dict[str, Any]], targets: dict[str, str]) -> str:
    lines = ["| measurement | p50 (µs) | p99 (µs) | p50 vs floor | target |", "|---|---:|---:|---:|---|"]
    floor = rows[-1]["p50_us"] or 0.001
    for row in rows:
        lines.append(
            f"| {row['name']} | {row['p50_us']:.2f} | {row['p99_us']:.2f} | "
            f"{row['p50_us'] / floor:.1f}x | {targets.get(row['name'], '')} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="10k calls instead of 100k")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args()
    calls = 10_000 if args.quick else 100_000
    print(f"policy decisions: {calls} calls over {bench_policy.SESSIONS} sessions…", file=sys.stderr)
    rows = bench_policy.run(calls=calls)
    targets = {
        "decide: allowed (manager reads a session)": "p50 ≤ 10 µs, p99 ≤ 50 µs",
        "decide: denied, with message/source/fix": "p50 ≤ 10 µs, p99 ≤ 50 µs",
    }
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    section = (
        f"{BEGIN}\n### Policy decision latency ({stamp})\n\nMachine: {machine()}. "
        f"{calls} calls, {bench_policy.SESSIONS} sessions in the tree view, hierarchy scenario policy.\n\n"
        f"{table(rows, targets)}\n{END}"
    )
    print(section)
    if not args.no_write and not args.quick:
        text = DOC.read_text(encoding="utf-8") if DOC.exists() else ""
        if BEGIN in text and END in text:
            text = text[: text.index(BEGIN)] + section + text[text.index(END) + len(END) :]
        else:
            text = text.rstrip() + "\n\n" + section + "\n"
        DOC.write_text(text, encoding="utf-8")
        print(f"wrote {DOC}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
