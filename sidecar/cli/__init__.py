"""The `sidecar` command line. Each area registers its own subcommands."""

from __future__ import annotations

import argparse
import gc
import importlib
import sys
from collections.abc import Callable, Sequence

from sidecar import __version__

EPILOG = """\
Quick start:
  sidecar explain --policy manifests/policies/team.json5 --agent lead sessions_send agent:dev-1:main
  sidecar policy show --policy manifests/policies/team.json5 --agent lead
  sidecar explain --scenario alfred-fleet --step 2      # a bundled scenario's policy, explained

Every command that reads a policy also accepts SIDECAR_POLICY instead of --policy.
Exit codes: 0 a decision or result was produced, 2 bad input (the message says what to fix).
"""

Registrar = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]


def add_strict(parser: argparse.ArgumentParser) -> None:
    """`--strict`, for every command that loads a policy."""
    parser.add_argument(
        "--strict",
        action="store_true",
        help="treat policy warnings (agent ids that can never match) as errors, exit 2",
    )


GROUPS = (
    "_policy",
    "_gateway",
    "_mirror",
    "_outbox",
    "_decisions",
    "_pause",
    "_serve",
    "_host",
    "_peer",
    "_manifest",
    "_doctor",
)
"""Every command group (a module of this package with `register`), in the order `--help` lists them."""

COMMANDS = {
    "explain": "_policy",
    "policy": "_policy",
    "pair": "_gateway",
    "mirror": "_mirror",
    "outbox": "_outbox",
    "decisions": "_decisions",
    "pause": "_pause",
    "resume": "_pause",
    "serve": "_serve",
    "peer": "_peer",
    "host": "_host",
    "up": "_host",
    "down": "_host",
    "status": "_host",
    "manifest": "_manifest",
    "doctor": "_doctor",
}
"""Which group registers each top-level command. `sidecar serve` then imports the serve group alone
(the doctor group alone costs a cold start ~40 ms); a command missing here still works, through the
full parser."""


def _registrars(command: str | None = None) -> list[Registrar]:
    """The command groups to register: only `command`'s when it is known, else every group."""
    names = (COMMANDS[command],) if command in COMMANDS else GROUPS
    return [importlib.import_module(f"sidecar.cli.{name}").register for name in names]


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The `sidecar` parser; with `command`, only the group that registers it (a faster start)."""
    parser = argparse.ArgumentParser(
        prog="sidecar",
        description="Per-agent MCP sidecar for OpenClaw session tools: every call decided locally, "
        "every denial explained with the gate, the deciding key and the fix.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"sidecar {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for register in _registrars(command):
        register(sub)
    return parser


def serving_started() -> None:
    """`sidecar serve` has loaded everything it needs to answer: the cyclic collector goes back on.

    `main` holds the collector for `serve` while it starts: a cold start allocates a great many objects
    that all stay alive (modules, classes, the tools' schemas), and the collector's passes over them
    cost about a tenth of the start. They are then frozen (moved to the permanent generation), so no
    later pass walks them again; cycles made after this point are collected as usual.
    """
    gc.freeze()
    gc.enable()


def main(argv: Sequence[str] | None = None) -> int:
    args_in = list(sys.argv[1:] if argv is None else argv)
    first = next((a for a in args_in if not a.startswith("-")), None)
    lead = args_in[: args_in.index(first)] if first is not None else args_in
    serving = first == "serve" and not lead and gc.isenabled()
    if serving:
        gc.disable()  # until `serving_started`, or this returns
    try:
        return _run(args_in, first, lead)
    finally:
        if serving:
            gc.enable()


def _run(args_in: list[str], first: str | None, lead: list[str]) -> int:
    # Options before the command (`--version`, `--help`) belong to the full parser.
    parser = build_parser(first if first in COMMANDS and not lead else None)
    args = parser.parse_args(args_in)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        result: int = handler(args)
    except BrokenPipeError:
        # `sidecar ... | head` closed the pipe: not an error worth a traceback.
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return result
