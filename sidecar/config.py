"""Configuration from disk and environment: the policy file (and the openclaw.json it names), and where
state lives.

State: `$SIDECAR_STATE_DIR/<agent>/`, else the XDG state directory. One directory per agent: two
sidecars never share a mirror, an outbox or a decision log, and deleting an agent's state is deleting
one directory.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from sidecar.policy import Policy, PolicyError, is_agent_id, parse_json5, parse_policy

ENV_VAR = "SIDECAR_POLICY"


def policy_path(explicit: str | None) -> Path:
    """The --policy value, else $SIDECAR_POLICY.

    Raises:
        PolicyError: neither is set.
    """
    chosen = explicit or os.environ.get(ENV_VAR)
    if not chosen:
        raise PolicyError(
            "<no policy>",
            None,
            "",
            f"no policy file given: pass --policy FILE or set {ENV_VAR}",
            "see manifests/policies/ for examples",
        )
    return Path(chosen).expanduser()


def _read(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PolicyError(str(path), None, "", f"{what} not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(str(path), None, "", f"cannot read {what}: {exc}") from None


def load_policy(explicit: str | None = None) -> Policy:
    """Load and validate a policy file, following its `openclawConfig` relative to the file.

    Raises:
        PolicyError: with file, line, key and what is allowed.
    """
    path = policy_path(explicit)
    text = _read(path, "policy file")
    doc = parse_json5(text, str(path))
    openclaw_text = openclaw_path = None
    ref = doc.data.get("openclawConfig")
    if isinstance(ref, str):
        target = (path.parent / os.path.expandvars(ref)).expanduser()
        openclaw_path = str(target)
        if not target.exists():
            raise PolicyError(
                str(path),
                doc.line_of(("openclawConfig",)),
                "openclawConfig",
                f"{target} does not exist",
                "a path to openclaw.json, relative to the policy file",
            )
        openclaw_text = _read(target, "openclaw.json")
    return parse_policy(text, str(path), openclaw_text, openclaw_path)


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
