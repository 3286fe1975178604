"""The demo: what the sidecar decides for the operators in scenarios/, and why.

Part 1 needs no gateway: for each bundled scenario it explains an allowed and a denied call through the
same `sidecar explain` a user would run, and shows the open-default warning of `sidecar policy show`.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BOLD, DIM, RESET = ("\033[1m", "\033[2m", "\033[0m") if sys.stdout.isatty() else ("", "", "")


def banner(text: str) -> None:
    print(f"\n{BOLD}{'=' * 78}\n{text}\n{'=' * 78}{RESET}")


def run(*argv: str) -> dict[str, object]:
    cmd = [sys.executable, "-m", "sidecar", *argv]
    shown = " ".join(["sidecar", *argv])
    print(f"\n{DIM}$ {shown}{RESET}")
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=REPO)
    if done.returncode != 0:
        print(done.stderr, file=sys.stderr)
        raise SystemExit(f"demo step failed: {shown}")
    if "--json" in argv:
        out: dict[str, object] = json.loads(done.stdout)
        return out
    print(done.stdout.rstrip())
    return {}


def explain(policy: Path, agent: str, tool: str, target: str | None) -> None:
    args = ["explain", "--policy", str(policy), "--agent", agent, tool, *([target] if target else [])]
    run(*args)


def part_one(workdir: Path) -> None:
    hierarchy = json.loads((REPO / "scenarios" / "hierarchy.json").read_text(encoding="utf-8"))
    policy = workdir / "hierarchy.json5"
    policy.write_text(json.dumps(hierarchy["policy"], indent=2), encoding="utf-8")
    banner("Scenario 'hierarchy': ten agents, each with its own scope")
    print(hierarchy["story"])
    explain(policy, "lead", "sessions_send", "agent:dev-1:main")
    explain(policy, "lead", "sessions_send", "agent:hr:main")
    explain(policy, "manager", "sessions_send", "agent:research:main")

    alfred = json.loads((REPO / "scenarios" / "alfred-fleet.json").read_text(encoding="utf-8"))
    banner("Scenario 'alfred-fleet': the hours-long loop over which key was wrong")
    print(alfred["story"])
    for index in (0, 2, 4):
        step = alfred["steps"][index]
        path = workdir / f"alfred-{index}.json5"
        path.write_text(json.dumps(step["policy"], indent=2), encoding="utf-8")
        if index == 0:
            run("policy", "show", "--policy", str(path), "--agent", step["requester"])
        explain(path, step["requester"], step["tool"], step["target"])


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sidecar-demo-") as tmp:
        part_one(Path(tmp))
    banner("Done")
    print(
        "Next: `sidecar explain --help`, `sidecar policy show --help`, and the policy reference in README.md."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
