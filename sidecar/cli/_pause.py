"""`sidecar pause` and `sidecar resume`: stop one agent's session tools at once, in every running sidecar."""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path

from sidecar.config import state_dir
from sidecar.mirror import PauseFile
from sidecar.policy import is_agent_id

PAUSE_EPILOG = """\
examples:
  sidecar pause --agent dev-3 --reason "looping on the release thread, see #ops"
  sidecar resume --agent dev-3

A pause is a file in the agent's state directory (paused.json), so every sidecar serving that agent
refuses its next call, whatever the tool, with the gate `pause`, your reason and how to resume; calls
already forwarded finish. Observe mode never lets a paused agent through. --db names the mirror
database of a sidecar started with --db (the pause file sits beside it).
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


def pause_file(agent: str, db: str | None) -> PauseFile | str:
    """The agent's pause file, or an error message."""
    if not is_agent_id(agent):
        return f"--agent {agent!r} is not a valid agent id (lowercase letters, digits, _ and -)"
    return PauseFile.in_dir(Path(db).expanduser().parent if db else state_dir(agent))


def _pause(args: argparse.Namespace) -> int:
    found = pause_file(args.agent, args.db)
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
        f"paused {args.agent}{f' ({args.reason})' if args.reason else ''}: its sidecars refuse its next call "
        f"(gate 'pause'). Lift it with `sidecar resume --agent {args.agent}`."
    )
    return 0


def _resume(args: argparse.Namespace) -> int:
    found = pause_file(args.agent, args.db)
    if isinstance(found, str):
        print(f"sidecar resume: {found}", file=sys.stderr)
        return 2
    try:
        lifted = found.resume()
    except OSError as exc:
        print(f"sidecar resume: cannot remove {found.path}: {exc}", file=sys.stderr)
        return 2
    if lifted is None:
        print(f"{args.agent} was not paused; nothing to do.")
    else:
        print(f"resumed {args.agent}: its sidecars decide its calls again from the next call on.")
    return 0
