"""Running real sidecar code under a throwaway Secret Service (gnome-keyring in dbus-run-session)."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SESSION_PREAMBLE = """\
echo pw | gnome-keyring-daemon --foreground --unlock --components=secrets >/dev/null 2>&1 &
GKD=$!
trap 'kill $GKD 2>/dev/null' EXIT
for _ in $(seq 50); do
  dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \\
    org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets 2>/dev/null | grep -q "boolean true" && break
  sleep 0.1
done
"""
"""Shell lines that start and unlock a fresh login keyring (password `pw`), wait until it is on the bus,
and stop it when the shell exits (a daemonised one can outlive its session)."""


def secret_service_or_skip() -> None:
    if all(shutil.which(tool) for tool in ("dbus-run-session", "gnome-keyring-daemon", "dbus-send")):
        return
    message = "no Secret Service here: run scripts/ensure-secret-service"
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def session_env(home: Path, **extra: str) -> dict[str, str]:
    """A minimal environment with HOME and the XDG dirs under `home`, so nothing escapes to the real home."""
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_RUNTIME_DIR": str(home),
        "PYTHON": sys.executable,
        "PYTHONPATH": str(ROOT),
        "PYTHONUNBUFFERED": "1",
        **extra,
    }
