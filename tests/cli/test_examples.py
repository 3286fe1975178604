"""Every command README, docs and `--help` show runs as written from the repo root.

The offline ones (explain, policy, manifest) run here, in process, exactly as shown; so do the ones that
need only a state directory (decisions, pause, resume, and status and down with no host running), each
with the exit code its help documents. The ones that need a gateway (pair, doctor, serve, mirror,
outbox, up, host) run on a real one in tests/e2e/test_examples_on_a_gateway.py, and the README's "Wire
an agent" block end to end in tests/e2e/test_wire_an_agent.py.
"""

from __future__ import annotations

import argparse
import os
import re
from pathlib import Path

import pytest

from sidecar.cli import build_parser, main
from sidecar.config import mirror_path
from sidecar.mirror import Mirror
from tests.cli.examples import REPO, Example, _lines, collect, help_texts, parse_line

EXAMPLES = collect()
OFFLINE = {"explain", "policy", "manifest"}
NEEDS_GATEWAY = {"pair", "doctor", "serve", "mirror", "outbox"}
# Commands that need only a state directory, and the exit code their help documents with nothing running
# and nothing logged (`sidecar status --help`: "3 from status when no host is running").
STATE_ONLY = {"decisions": 0, "pause": 0, "resume": 0, "status": 3, "down": 0}


def offline() -> list[Example]:
    return [e for e in EXAMPLES if e.program == "sidecar" and e.command in OFFLINE and not e.placeholder]


def test_the_collector_sees_every_source_and_each_command_group() -> None:
    where = {e.where for e in EXAMPLES}
    assert {"README.md", "docs/operations.md", "sidecar --help", "sidecar explain --help"} <= where
    commands = {e.command for e in EXAMPLES if e.program == "sidecar"}
    assert commands >= OFFLINE | NEEDS_GATEWAY, commands
    assert len(EXAMPLES) > 40


def test_only_remote_hosts_and_named_placeholders_are_templates() -> None:
    templates = {e.line: e.placeholder for e in EXAMPLES if e.placeholder}
    for line, why in templates.items():
        assert why and why.startswith(("a remote host", "placeholder", "a path on the reader's")), line
    assert len(templates) <= 8, templates


@pytest.mark.parametrize("example", offline(), ids=lambda e: " ".join(e.argv[1:])[:90])
def test_the_offline_example_runs_as_written(
    example: Example,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: os.PathLike[str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The repo's files, in a folder of this test's own: what an example writes (-o fleet.html) lands here.
    for shipped in ("manifests", "scenarios"):
        (Path(tmp_path) / shipped).symlink_to(REPO / shipped)
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith(("SIDECAR_", "OPENCLAW_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("SIDECAR_STATE_DIR", str(Path(tmp_path) / "state"))
    for name, value in example.env.items():
        monkeypatch.setenv(name, value)
    code = main(list(example.argv[1:]))
    out, err = capsys.readouterr()
    assert code == 0, f"{example.where}: {example.line}\nexit {code}\n{err}"
    if "-o" in example.argv:
        written = Path(tmp_path) / example.argv[example.argv.index("-o") + 1]
        assert written.is_file() and written.stat().st_size > 0, f"{example.line} wrote nothing"
    else:
        assert out.strip(), f"{example.line} printed nothing"
    assert "Traceback" not in err


def _commands(parser: argparse.ArgumentParser, name: str) -> list[tuple[str, argparse.ArgumentParser]]:
    """Every command a reader runs: each parser with a handler (groups like `policy` only list theirs)."""
    out = [(name, parser)] if parser.get_default("handler") is not None else []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub, child in action.choices.items():
                out += _commands(child, f"{name} {sub}")
    return out


def test_every_commands_help_shows_at_least_one_example() -> None:
    commands = _commands(build_parser(), "sidecar")
    assert len(commands) > 20
    helps = dict(help_texts())
    bare = [
        name
        for name, _ in commands
        if not any(parse_line(name, line) for line in _lines(helps[f"{name} --help"]))
    ]
    assert not bare, f"--help without an example: {bare}"


def test_every_policy_file_an_example_names_exists_from_the_repo_root() -> None:
    missing = []
    for example in EXAMPLES:
        if example.placeholder or "--policy" not in example.argv[:-1]:
            continue
        named = example.argv[example.argv.index("--policy") + 1]
        if not (REPO / named).is_file():
            missing.append(f"{example.where}: {example.line}")
    assert not missing, missing


def state_only() -> list[Example]:
    return [
        e
        for e in EXAMPLES
        if e.program == "sidecar"
        and e.command in STATE_ONLY
        and not e.placeholder
        and e.argv[2:3] != ("tail",)  # follows the log until interrupted
    ]


def test_the_state_only_examples_cover_each_such_command() -> None:
    assert {e.command for e in state_only()} == set(STATE_ONLY)


@pytest.mark.parametrize("example", state_only(), ids=lambda e: " ".join(e.argv[1:])[:90])
def test_the_example_that_needs_only_a_state_dir_runs_as_written_with_its_documented_exit_code(
    example: Example,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "manifests").symlink_to(REPO / "manifests")
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith(("SIDECAR_", "OPENCLAW_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("SIDECAR_STATE_DIR", str(tmp_path / "state"))
    for name, value in example.env.items():
        monkeypatch.setenv(name, value)
    agent = re.search(r"--agent (\S+)", example.line)
    if example.command == "decisions" and agent:
        Mirror.open(mirror_path(agent.group(1))).close()  # the log of a sidecar that has started once
    code = main(list(example.argv[1:]))
    out, err = capsys.readouterr()
    assert code == STATE_ONLY[example.command], f"{example.where}: {example.line}\nexit {code}\n{out}\n{err}"
    assert "Traceback" not in err
