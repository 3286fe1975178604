"""Reading a policy file (and the openclaw.json it names) from disk: the only I/O around the engine."""

from __future__ import annotations

import os
from pathlib import Path

from sidecar.policy import Policy, PolicyError, parse_json5, parse_policy

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
