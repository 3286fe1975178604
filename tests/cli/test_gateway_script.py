"""`scripts/gateway --help` prints its help without creating a venv or installing anything."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_scripts_gateway_help_prints_without_creating_a_venv(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    env = {**os.environ, "SIDECAR_VENV": str(venv), "PATH": "/usr/bin:/bin"}
    for flag in ("--help", "-h"):
        done = subprocess.run(
            [str(REPO / "scripts" / "gateway"), flag],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert "scripts/gateway" in done.stdout and "install" in done.stdout
        assert "==>" not in done.stderr  # no "creating" or "installing" step ran
    assert not venv.exists()
