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
    """Every command group, in the order `--help` lists them."""
    from sidecar.cli import _doctor, _gateway, _manifest, _mirror, _outbox, _policy, _serve

    return [
        _policy.register,
        _gateway.register,
        _mirror.register,
        _outbox.register,
        _serve.register,
        _manifest.register,
        _doctor.register,
    ]


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
