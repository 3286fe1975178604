"""The demo: what the sidecar decides for the operators in scenarios/, and why.

Part 1 needs no gateway: for each bundled scenario it explains an allowed and a denied call through the
same `sidecar explain` a user would run, and shows the open-default warning of `sidecar policy show`.
Part 2 starts a real OpenClaw gateway with a stub model on 127.0.0.1, pairs a sidecar for the orchestrator
(manager) and one for a specialist (dev-2), and drives both through the MCP SDK client: an allowed send
with its reply, a denied send with its fix, a scoped list, and a spawn. Everything stops on exit or Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio

REPO = Path(__file__).resolve().parents[1]
BOLD, DIM, RESET = ("\033[1m", "\033[2m", "\033[0m") if sys.stdout.isatty() else ("", "", "")


def banner(text: str) -> None:
    print(f"\n{BOLD}{'=' * 78}\n{text}\n{'=' * 78}{RESET}")


def run(*argv: str, env: dict[str, str] | None = None) -> dict[str, object]:
    cmd = [sys.executable, "-m", "sidecar", *argv]
    shown = " ".join(["sidecar", *argv])
    print(f"\n{DIM}$ {shown}{RESET}")
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=REPO, env=env)
    if done.returncode != 0:
        print(done.stderr, file=sys.stderr)
        raise SystemExit(f"demo step failed: {shown}")
    if "--json" in argv:
        out: dict[str, object] = json.loads(done.stdout)
        return out
    print(done.stdout.rstrip())
    return {}


def shown_path(path: Path) -> str:
    """A path as the reader types it from the repo root."""
    try:
        return str(path.relative_to(REPO))
    except ValueError:
        return str(path)


def part_one() -> None:
    # Every command printed here runs as shown from the repo root: the policies are the scenario files.
    hierarchy = json.loads((REPO / "scenarios" / "hierarchy.json").read_text(encoding="utf-8"))
    banner("Scenario 'hierarchy': ten agents, each with its own scope")
    print(hierarchy["story"])
    for agent, target in (
        ("lead", "agent:dev-1:main"),
        ("lead", "agent:hr:main"),
        ("manager", "agent:research:main"),
    ):
        run("explain", "--scenario", "hierarchy", "--agent", agent, "sessions_send", target)

    alfred = json.loads((REPO / "scenarios" / "alfred-fleet.json").read_text(encoding="utf-8"))
    banner("Scenario 'alfred-fleet': the hours-long loop over which key was wrong")
    print(alfred["story"])
    for index in (0, 2, 4):
        if index == 0:
            requester = alfred["steps"][0]["requester"]
            run("policy", "show", "--scenario", "alfred-fleet", "--step", "0", "--agent", requester)
        run("explain", "--scenario", "alfred-fleet", "--step", str(index))


# -- part 2: a real gateway --------------------------------------------------------------------------


def _say(role: str, line: str) -> None:
    print(f"  {BOLD}{role:>10}{RESET} | {line}")


def _show(result: Any) -> str:
    if result.is_error:
        return "".join(getattr(c, "text", "") for c in result.content).replace("Error executing tool ", "")
    return json.dumps(result.structured_content, indent=2)


async def _drive(policy: Path, env: dict[str, str]) -> None:
    from mcp import Client, StdioServerParameters

    def sidecar(agent: str) -> Client:
        return Client(
            StdioServerParameters(
                command=sys.executable,
                args=["-m", "sidecar", "serve", "--policy", str(policy), "--agent", agent],
                env=env,
            )
        )

    async with sidecar("manager") as manager, sidecar("dev-2") as specialist:
        tools = [t.name for t in (await specialist.list_tools()).tools]
        _say("dev-2", f"tools offered to the specialist: {', '.join(tools)}")
        banner("1. The orchestrator sends to a developer: allowed, and the reply comes back")
        result = await manager.call_tool(
            "sessions_send", {"sessionKey": "agent:dev-2:main", "message": "Please summarise the open bugs."}
        )
        out = result.structured_content or {}
        _say("manager", "sessions_send agent:dev-2:main 'Please summarise the open bugs.'")
        _say("dev-2", f"status={out.get('status')} reply={str(out.get('reply', '')).splitlines()[0]!r}")
        _say(
            "sidecar",
            f"delivered directly (no announce fan-out), hop {out.get('trace', {}).get('hop')}, "
            f"runId {out.get('runId')}",
        )
        banner("2. A specialist tries to message another developer: denied locally, explained, nothing sent")
        denied = await specialist.call_tool(
            "sessions_send", {"sessionKey": "agent:dev-3:main", "message": "psst"}
        )
        _say("dev-2", "sessions_send agent:dev-3:main 'psst'")
        for line in _show(denied).splitlines():
            _say("sidecar", line)
        banner("3. The orchestrator spawns a subagent on dev-1")
        spawned = (
            await manager.call_tool(
                "sessions_spawn", {"task": "Write a test for the login bug.", "agentId": "dev-1"}
            )
        ).structured_content or {}
        _say("manager", "sessions_spawn agentId=dev-1 'Write a test for the login bug.'")
        _say("gateway", f"status={spawned.get('status')} child={spawned.get('childSessionKey')}")

        banner("4. The specialist lists sessions: scoped, and it says how many were hidden")
        listed: dict[str, Any] = {}
        with anyio.move_on_after(10):
            # The specialist's mirror hears of the new sessions through gateway events; give them a moment.
            while not listed.get("visibility", {}).get("hidden"):
                listed = (await specialist.call_tool("sessions_list", {})).structured_content or {}
                await anyio.sleep(0.5)
        _say("dev-2", f"sees {[s['key'] for s in listed.get('sessions', [])]}")
        _say("sidecar", str(listed.get("visibility", {}).get("warning")))


def part_two(workdir: Path) -> None:
    sys.path.insert(0, str(REPO / "scripts"))
    from harness import ensure_openclaw, start_gateway

    banner("Live: a real OpenClaw gateway (stub model) and two sidecars driven by a real MCP client")
    print("Installing Node 24 and the pinned openclaw if needed (first run: about a minute)...", flush=True)
    tools = ensure_openclaw()
    agents = ["manager", "lead", "dev-1", "dev-2", "dev-3", "hr", "research"]
    gw = start_gateway(workdir / "gateway", agents, name="home", tools=tools)
    try:
        hierarchy = json.loads((REPO / "scenarios" / "hierarchy.json").read_text(encoding="utf-8"))
        policy_doc = hierarchy["policy"]
        policy_doc["gateway"] = {"url": gw.url}
        policy_doc["agents"]["entries"]["manager"]["subagents"] = {"allowAgents": ["dev-*"]}
        # The specialist reports to its lead only: it may message lead, and read nobody else.
        policy_doc["agents"]["entries"]["dev-2"]["tools"] = {
            "sessions": {"visibility": "self", "sendVisibility": "scoped", "visibleAgents": ["lead"]},
            "agentToAgent": {"enabled": True, "allow": ["lead"]},
        }
        policy = workdir / "team.json5"
        policy.write_text(json.dumps(policy_doc, indent=2), encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENCLAW_", "SIDECAR_"))}
        env.update(
            SIDECAR_STATE_DIR=str(workdir / "state"),
            SIDECAR_TOKEN_STORE="file",
            SIDECAR_TOKEN_FILE=str(workdir / "secrets.json"),
            SIDECAR_LOG_FILE=str(workdir / "sidecar.log"),
            DEMO_GATEWAY_TOKEN=gw.token,
        )
        print(
            f"\nThe demo keeps device tokens in a 0600 file under {shown_path(workdir)} (a real deployment uses "
            "the OS keyring)."
        )
        for agent in ("manager", "dev-2"):
            run("pair", "--gateway", gw.url, "--agent", agent, "--token-env", "DEMO_GATEWAY_TOKEN", env=env)
        anyio.run(_drive, policy, env)
    finally:
        print("\nStopping the gateway...", flush=True)
        gw.stop()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--offline", action="store_true", help="only part 1 (no gateway, no Node)")
    parser.add_argument(
        "--keep",
        metavar="DIR",
        default=str(REPO / ".cache" / "demo"),
        help="where part 2 writes and keeps its policy, logs and state (default .cache/demo; emptied first)",
    )
    args = parser.parse_args()
    part_one()
    if not args.offline:
        workdir = Path(args.keep).resolve()
        marker = workdir / ".sidecar-demo"
        if workdir.exists() and any(workdir.iterdir()):
            if not marker.exists():
                raise SystemExit(
                    f"--keep {workdir}: not empty and not a previous demo's folder; pick another"
                )
            shutil.rmtree(workdir)  # the previous run's files: a clean slate each run, kept after it
        workdir.mkdir(parents=True, exist_ok=True)
        marker.touch()
        try:
            part_two(workdir)
        except KeyboardInterrupt:
            print("\ninterrupted: everything the demo started has been stopped", file=sys.stderr)
            return 130
        print(
            f"\nKept in {shown_path(workdir)}: team.json5 (the policy both sidecars served), sidecar.log, state/ "
            "(mirrors, outboxes, decision logs) and gateway/ (its logs). The gateway itself is stopped; "
            f"`sidecar explain --policy {shown_path(workdir / 'team.json5')} --agent dev-2 sessions_send "
            "agent:dev-3:main` still explains the denial above."
        )
    banner("Done")
    print(
        "Next: `sidecar explain --help`, `sidecar policy show --help`, and the policy reference in README.md."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
