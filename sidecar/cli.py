"""The `sidecar` command line. Each area registers its own subcommands."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from sidecar import __version__

EPILOG = """\
Quick start:
  sidecar explain --policy manifests/policies/orchestrator.json5 --agent lead sessions_send agent:dev-1:main
  sidecar policy show --policy manifests/policies/orchestrator.json5 --agent lead

Every command that reads a policy also accepts SIDECAR_POLICY instead of --policy.
Exit codes: 0 a decision or result was produced, 2 bad input (the message says what to fix).
"""

Registrar = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]


def _registrars() -> list[Registrar]:
    from sidecar import _cli_policy

    found: list[Registrar] = [_cli_policy.register]
    for name in (
        "sidecar._cli_gateway",
        "sidecar._cli_mirror",
        "sidecar._cli_outbox",
        "sidecar._cli_serve",
        "sidecar._cli_manifest",
        "sidecar._cli_doctor",
    ):
        try:
            module = __import__(name, fromlist=["register"])
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        found.append(module.register)
    return found


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sidecar",
        description="Per-agent MCP sidecar for OpenClaw session tools: every call decided locally, "
        "every denial explained with the gate, the deciding key and the fix.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"sidecar {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for register in _registrars():
        register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
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
