"""Where each agent's sidecar keeps its state: `$SIDECAR_STATE_DIR/<agent>/`, else the XDG state directory.

One directory per agent because one sidecar serves one agent: two sidecars never share a mirror, an
outbox or a decision log, and deleting an agent's state is deleting one directory.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from sidecar.policy import is_agent_id

STATE_ENV = "SIDECAR_STATE_DIR"
APP_DIR = "openclaw-sessions-sidecar"
MIRROR_FILE = "mirror.db"


def state_root(environ: Mapping[str, str] | None = None) -> Path:
    """`$SIDECAR_STATE_DIR`, else `$XDG_STATE_HOME/openclaw-sessions-sidecar` (default `~/.local/state/...`)."""
    env = os.environ if environ is None else environ
    explicit = env.get(STATE_ENV, "").strip()
    if explicit:
        return Path(explicit).expanduser()
    xdg = env.get("XDG_STATE_HOME", "").strip()
    # The XDG spec says a relative XDG_STATE_HOME is invalid and must be ignored.
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".local" / "state"
    return base / APP_DIR


def state_dir(agent: str, environ: Mapping[str, str] | None = None) -> Path:
    """The state directory of the sidecar serving `agent`.

    Raises:
        ValueError: `agent` is not an OpenClaw agent id (which also keeps `..` and `/` out of the path).
    """
    if not is_agent_id(agent):
        raise ValueError(
            f"{agent!r} is not a valid agent id (lowercase letters, digits, _ and -, at most 64 characters)"
        )
    return state_root(environ) / agent


def mirror_path(agent: str, environ: Mapping[str, str] | None = None) -> Path:
    """The default mirror database of the sidecar serving `agent`."""
    return state_dir(agent, environ) / MIRROR_FILE
