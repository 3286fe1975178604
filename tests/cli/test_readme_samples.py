"""A command's sample output in README.md is what the command prints: each shown line in order, `...`
standing for lines left out, and lines shown next to each other printed next to each other."""

from __future__ import annotations

import re
import shlex

import pytest

from sidecar.cli import main
from tests.cli.examples import REPO

CONSOLE = re.compile(r"```console\n(.*?)```", re.S)


def samples() -> list[tuple[str, list[str]]]:
    """(command, shown output) of every README console block that shows output after its command."""
    out = []
    for block in CONSOLE.findall((REPO / "README.md").read_text(encoding="utf-8")):
        lines = block.splitlines()
        if len(lines) > 1 and lines[0].startswith("$ sidecar ") and not lines[1].startswith("$ "):
            out.append((lines[0][2:], lines[1:]))
    return out


def test_the_readme_shows_the_policy_test_sample() -> None:
    assert any(" policy test " in f" {command} " for command, _ in samples())


@pytest.mark.parametrize(("command", "shown"), samples(), ids=lambda v: v if isinstance(v, str) else "")
def test_a_readme_sample_output_is_what_the_command_prints(
    command: str, shown: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(REPO)
    main(shlex.split(command)[1:])
    printed = capsys.readouterr().out.splitlines()
    at, skipping = 0, True
    for line in shown:
        if line.strip() == "...":
            skipping = True
            continue
        rest = printed[at:] if skipping else printed[at : at + 1]
        assert line.rstrip() in [p.rstrip() for p in rest], (
            f"README shows {line!r}, {command} prints:\n" + "\n".join(printed)
        )
        at += [p.rstrip() for p in rest].index(line.rstrip()) + 1
        skipping = False
