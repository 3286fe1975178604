"""Configuration from disk and environment, in one place: the policy file (and the openclaw.json it
names), the home gateway URL, the token store, every environment variable the sidecar reads, and where
state lives.

`serve`, `doctor`, `manifest`, `pair` and `mirror` resolve the gateway URL and the token store through
`resolve_gateway_url` and `resolve_token_store`, so they agree, and each answer carries the source it
came from so every command can say which one it used.

Gateway URL, first that is set: --gateway, the policy's gateway.url, $OPENCLAW_GATEWAY_URL, gateway.port
of the openclaw.json the policy inherits (on 127.0.0.1), then OpenClaw's own default
ws://127.0.0.1:18789. Token store: --token-store, $SIDECAR_TOKEN_STORE, then the OS keyring.

State: `$SIDECAR_STATE_DIR/<agent>/`, else the XDG state directory. One directory per agent: two
sidecars never share a mirror, an outbox or a decision log, and deleting an agent's state is deleting
one directory.
"""

from __future__ import annotations

import json
import os
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from sidecar.policy import (
    Policy,
    PolicyError,
    direct_peer_notes,
    is_agent_id,
    lint_policy,
    parse_json5,
    parse_policy,
)

POLICY_ENV = "SIDECAR_POLICY"
ENV_VAR = POLICY_ENV
GATEWAY_URL_ENV = "OPENCLAW_GATEWAY_URL"
GATEWAY_TOKEN_ENV = "OPENCLAW_GATEWAY_TOKEN"
TOKEN_STORE_ENV = "SIDECAR_TOKEN_STORE"
TOKEN_FILE_ENV = "SIDECAR_TOKEN_FILE"
TOKEN_STORES = ("keyring", "file")
DEFAULT_TOKEN_STORE = "keyring"
HTTP_TOKEN_ENV = "SIDECAR_HTTP_TOKEN"
LOG_LEVEL_ENV = "SIDECAR_LOG_LEVEL"
LOG_FILE_ENV = "SIDECAR_LOG_FILE"
OTEL_ENV = "SIDECAR_OTEL"
DEFAULT_GATEWAY_URL = "ws://127.0.0.1:18789"
"""OpenClaw's own default: `openclaw gateway run` listens on 127.0.0.1:18789 unless gateway.port says otherwise."""


@dataclass(frozen=True, slots=True)
class Setting:
    """A resolved value and where it came from ("--gateway", "$OPENCLAW_GATEWAY_URL", a file:line ...)."""

    value: str
    source: str

    @property
    def is_default(self) -> bool:
        return self.source.startswith("default")

    def __str__(self) -> str:
        return f"{self.value} (from {self.source})"


def resolve_gateway_url(
    explicit: str | None, policy: Policy | None, environ: Mapping[str, str] | None = None
) -> Setting:
    """The home gateway URL every command uses, and its source (see the module docstring for the order)."""
    env = os.environ if environ is None else environ
    if explicit and explicit.strip():
        return Setting(explicit.strip(), "--gateway")
    if policy is not None:
        own = policy.doc.data.get("gateway")
        url = own.get("url") if isinstance(own, dict) else None
        if isinstance(url, str) and url.strip():
            line = policy.doc.line_of(("gateway", "url"))
            where = f"{policy.path}:{line}" if line else policy.path
            return Setting(url.strip(), f"gateway.url in {where}")
    from_env = env.get(GATEWAY_URL_ENV, "").strip()
    if from_env:
        return Setting(from_env, f"${GATEWAY_URL_ENV}")
    inherited = policy.openclaw if policy is not None else None
    gateway = inherited.data.get("gateway") if inherited is not None else None
    port = gateway.get("port") if isinstance(gateway, dict) else None
    if inherited is not None and isinstance(port, int) and not isinstance(port, bool):
        return Setting(f"ws://127.0.0.1:{port}", f"gateway.port in {inherited.path}")
    return Setting(DEFAULT_GATEWAY_URL, "default: OpenClaw's own gateway address")


def gateway_url_help() -> str:
    """One sentence for --help: the order in which the gateway URL is looked for."""
    return textwrap.fill(
        f"The gateway URL comes from --gateway, else gateway.url in the policy, else ${GATEWAY_URL_ENV}, "
        "else gateway.port of the openclaw.json the policy inherits, else OpenClaw's default "
        f"{DEFAULT_GATEWAY_URL}; the command says which it used.",
        width=104,
    )


def resolve_token_store(explicit: str | None, environ: Mapping[str, str] | None = None) -> Setting:
    """Which secret store holds device keys and tokens: --token-store, ${TOKEN_STORE_ENV}, else keyring.

    The value is returned as given (lowercased); `open_secret_store` refuses a kind it does not know,
    naming this setting's source.
    """
    env = os.environ if environ is None else environ
    if explicit and explicit.strip():
        return Setting(explicit.strip().lower(), "--token-store")
    from_env = env.get(TOKEN_STORE_ENV, "").strip()
    if from_env:
        return Setting(from_env.lower(), f"${TOKEN_STORE_ENV}")
    return Setting(DEFAULT_TOKEN_STORE, "default")


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


def load_policy(explicit: str | None = None, *, strict: bool = False, warn: TextIO | None = None) -> Policy:
    """Load and validate a policy file, following its `openclawConfig` relative to the file.

    Values that parse but can never match (an agent id in a list that is not canonical, or not an agent
    the policy knows) are printed to `warn` (the CLI passes stderr) as `warning:` lines with their fix;
    with `strict` the first of them is raised instead.

    Raises:
        PolicyError: with file, line, key and what is allowed.
    """
    policy = _load(explicit)
    warnings = lint_policy(policy)
    if strict and warnings:
        raise warnings[0].as_error(policy.doc)
    if warn is not None:
        for warning in warnings:
            print(f"warning: {warning} (--strict makes this an error)", file=warn)
        for note in direct_peer_notes(policy):
            print(f"warning: {note}", file=warn)
    return policy


@dataclass(frozen=True, slots=True)
class ScenarioStep:
    """One step of a bundled scenario: the call it makes and what the scenario expects."""

    index: int
    requester: str
    tool: str
    target: str | None
    expected: dict[str, Any]


SCENARIO_DIR = "scenarios"


def scenario_file(name: str) -> Path:
    """A scenario by file path, or by name from `scenarios/` (the current directory's, else this checkout's).

    Raises:
        PolicyError: no such scenario; the message lists the bundled ones.
    """
    given = Path(name).expanduser()
    if given.suffix == ".json" and given.is_file():
        return given
    for base in (Path.cwd(), Path(__file__).resolve().parents[1]):
        candidate = base / SCENARIO_DIR / f"{name}.json"
        if candidate.is_file():
            return candidate if base != Path.cwd() else Path(SCENARIO_DIR) / f"{name}.json"
    bundled = sorted(
        p.stem
        for base in (Path.cwd(), Path(__file__).resolve().parents[1])
        for p in (base / SCENARIO_DIR).glob("*.json")
    )
    raise PolicyError(
        name,
        None,
        "",
        "no such scenario",
        ", ".join(dict.fromkeys(bundled)) or "a path to a scenario .json file",
    )


def load_scenario(name: str, step: int | None = None) -> tuple[Policy, ScenarioStep | None]:
    """The policy a scenario (or one of its steps) runs under, and that step's call.

    The chosen policy is re-rendered as indented JSON under a name such as
    `scenarios/alfred-fleet.json#steps[2].policy`, so every line an explanation cites is a line of
    exactly that policy.

    Raises:
        PolicyError: no such scenario or step, or the policy inside does not validate.
    """
    path = scenario_file(name)
    data = json.loads(_read(path, "scenario file"))
    steps = data.get("steps") if isinstance(data, dict) else None
    if step is None:
        if isinstance(data, dict) and isinstance(data.get("policy"), dict):
            return _embedded(path, "policy", data["policy"]), None
        if isinstance(steps, list) and steps:
            raise PolicyError(
                str(path),
                None,
                "",
                f"this scenario has one policy per step: pick one with --step 0..{len(steps) - 1}",
                f"e.g. sidecar explain --scenario {path.stem} --step {min(2, len(steps) - 1)}",
            )
        raise PolicyError(str(path), None, "", "this scenario holds no policy to explain")
    if not isinstance(steps, list) or not 0 <= step < len(steps):
        count = len(steps) if isinstance(steps, list) else 0
        allowed = f"--step 0..{count - 1}" if count else "no --step (this scenario has one policy)"
        raise PolicyError(str(path), None, "--step", f"{step} is not a step of this scenario", allowed)
    chosen = steps[step]
    policy = _embedded(path, f"steps[{step}].policy", chosen.get("policy") or data.get("policy") or {})
    expected = {k: v for k, v in chosen.items() if k not in ("policy", "requester", "tool", "target")}
    return policy, ScenarioStep(
        step, str(chosen["requester"]), str(chosen["tool"]), chosen.get("target"), expected
    )


def _embedded(path: Path, where: str, policy: dict[str, Any]) -> Policy:
    return parse_policy(json.dumps(policy, indent=2), f"{path}#{where}")


def _is_scenario(data: dict[str, Any]) -> bool:
    return "story" in data and ("policy" in data or "steps" in data or "expected" in data)


def _load(explicit: str | None) -> Policy:
    path = policy_path(explicit)
    text = _read(path, "policy file")
    doc = parse_json5(text, str(path))
    if _is_scenario(doc.data):
        # A scenario file passed as --policy: the policy inside it is the policy.
        return load_scenario(str(path))[0]
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
