"""The CLI registers only the command group it runs, so `sidecar serve` starts without the others."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from sidecar import cli


def top_level_commands(parser: argparse.ArgumentParser) -> set[str]:
    [sub] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return set(sub.choices)


def test_every_top_level_command_is_mapped_to_the_group_that_registers_it() -> None:
    every = top_level_commands(cli.build_parser())
    assert every == set(cli.COMMANDS)
    for command in every:
        assert command in top_level_commands(cli.build_parser(command))


def test_serve_imports_no_other_command_group() -> None:
    code = (
        "import sys; from sidecar import cli; cli.build_parser('serve'); "
        "print(sorted(m for m in sys.modules if m.startswith(('sidecar.cli.', 'sidecar.doctor'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['sidecar.cli._serve']"


def test_an_option_before_the_command_still_gets_the_full_parser(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.startswith("sidecar ")


def test_serve_starts_its_gateway_connection_before_loading_the_mcp_sdk() -> None:
    """What `sidecar serve` imports before it starts connecting: no MCP SDK, no HTTP stacks (the SDK is
    imported on a worker thread while the handshake runs; a peer's HTTP client on first use)."""
    code = (
        "import sys; from sidecar import cli; cli.build_parser('serve'); import sidecar.runtime; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'mcp', 'httpx2', 'starlette', 'pydantic'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
