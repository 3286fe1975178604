"""`sidecar pause` and `sidecar resume`: stop one agent's session tools at once, in every running sidecar."""

from __future__ import annotations

import argparse
import getpass
import sys

from sidecar.cli._where import check_agent, host_agents, pause_dir
from sidecar.config import ENV_VAR
from sidecar.mirror import PauseFile

PAUSE_EPILOG = f"""\
examples:
  sidecar pause --agent dev-3 --reason "looping on the release thread, see #ops"
  sidecar resume --agent dev-3

A pause is a file in the agent's state directory (paused.json, printed), so every sidecar serving that
agent refuses its next call, whatever the tool, with the gate `pause`, your reason and how to resume;
calls already forwarded finish. The multi-session host (`sidecar up`) reads the same file for each of
its agents. Observe mode never lets a paused agent through. --db names the mirror database of a sidecar
started with --db (the pause file sits beside it). With a policy (--policy, or ${ENV_VAR}), an agent
it does not name is refused with the closest names.
Exit 0 on success, 2 on bad input.
"""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    pause = sub.add_parser(
        "pause",
        help="refuse every call of one agent until it is resumed (a kill switch)",
        description="Pause an agent: its sidecars refuse every session tool call from the next call on.",
        epilog=PAUSE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _where(pause)
    pause.add_argument("--reason", metavar="TEXT", help="why: shown to the agent and in `sidecar doctor`")
    pause.set_defaults(handler=_pause)
    resume = sub.add_parser(
        "resume",
        help="lift an agent's pause",
        description="Resume a paused agent: its sidecars decide its calls again from the next call on.",
        epilog=PAUSE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _where(resume)
    resume.set_defaults(handler=_resume)


def _where(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--agent", metavar="ID", required=True, help="the agent to pause or resume")
    parser.add_argument("--db", metavar="PATH", help="the sidecar's mirror database, if started with --db")
    parser.add_argument(
        "--policy", metavar="FILE", help=f"check that the policy names the agent (default ${ENV_VAR}, if set)"
    )


def pause_file(agent: str, db: str | None, policy: str | None = None) -> PauseFile | str:
    """The agent's pause file, or an error message."""
    problem = check_agent(agent, policy)
    if problem is not None:
        return problem
    return PauseFile.in_dir(pause_dir(agent, db))


def _readers(agent: str) -> str:
    served = host_agents()
    if served is not None and agent in served:
        return "the sidecar host and any sidecar serving it"
    return "its sidecars"


def _pause(args: argparse.Namespace) -> int:
    found = pause_file(args.agent, args.db, args.policy)
    if isinstance(found, str):
        print(f"sidecar pause: {found}", file=sys.stderr)
        return 2
    try:
        by = getpass.getuser()
    except (KeyError, OSError):
        by = None
    try:
        found.pause(reason=args.reason, by=by)
    except OSError as exc:
        print(f"sidecar pause: cannot write {found.path}: {exc}", file=sys.stderr)
        return 2
    print(
        f"paused {args.agent}{f' ({args.reason})' if args.reason else ''}: wrote {found.path}; "
        f"{_readers(args.agent)} refuse its next call (gate 'pause'). "
        f"Lift it with `sidecar resume --agent {args.agent}`."
    )
    return 0


def _resume(args: argparse.Namespace) -> int:
    found = pause_file(args.agent, args.db, args.policy)
    if isinstance(found, str):
        print(f"sidecar resume: {found}", file=sys.stderr)
        return 2
    try:
        lifted = found.resume()
    except OSError as exc:
        print(f"sidecar resume: cannot remove {found.path}: {exc}", file=sys.stderr)
        return 2
    if lifted is None:
        print(f"{args.agent} was not paused (no {found.path}); nothing to do.")
    else:
        print(
            f"resumed {args.agent}: removed {found.path}; {_readers(args.agent)} decide its calls again "
            "from the next call on."
        )
    return 0
