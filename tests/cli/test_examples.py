"""Every command README, docs and `--help` show runs as written from the repo root.

The offline ones (explain, policy, manifest) run here, in process, exactly as shown. The ones that need a
gateway (pair, doctor, serve, mirror, outbox) run on a real one in tests/e2e/test_examples_on_a_gateway.py,
and the README's "Wire an agent" block end to end in tests/e2e/test_wire_an_agent.py.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sidecar.cli import main
from tests.cli.examples import REPO, Example, collect

EXAMPLES = collect()
OFFLINE = {"explain", "policy", "manifest"}
NEEDS_GATEWAY = {"pair", "doctor", "serve", "mirror", "outbox"}


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
