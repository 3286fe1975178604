"""Where an agent's state is, for the operator commands (`pause`, `resume`, `decisions`, `outbox`).

`sidecar serve` keeps an agent's mirror, decision log and outbox in `<state root>/<agent>/mirror.db`. The
multi-session host (`sidecar up`) keeps every agent's in `<state root>/host/mirror.db`; each decision and
each send there names its requester, so a command given `--agent` reads only that agent's rows. A pause
is always the agent's own `<state root>/<agent>/paused.json`, which both read before every call.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass
from pathlib import Path

from sidecar.config import ENV_VAR, load_policy, mirror_path, state_dir
from sidecar.host import HostPaths
from sidecar.policy import PolicyError, is_agent_id


@dataclass(frozen=True)
class Database:
    """A mirror database to read, and the requester agent whose rows to keep (None: every row)."""

    path: Path
    only_agent: str | None = None
    host: bool = False

    def note(self) -> str | None:
        """What an operator should know about this choice (printed to stderr), or None."""
        if not self.host:
            return None
        whose = f"{self.only_agent}'s calls only" if self.only_agent else "every agent's calls"
        return f"reading the sidecar host's database {self.path} ({whose})"


def is_host_db(path: Path, paths: HostPaths | None = None) -> bool:
    """Whether `path` is a sidecar host's mirror (it sits beside the host's key or lock)."""
    paths = paths or HostPaths.default()
    folder = path.expanduser().parent
    return paths.is_host_mirror(path) or (folder / "attest.key").exists() or (folder / "host.lock").exists()


def host_agents(paths: HostPaths | None = None) -> list[str] | None:
    """The agents a running host serves, or None when no host runs."""
    paths = paths or HostPaths.default()
    if paths.running_pid() is None:
        return None
    agents = (paths.read_info() or {}).get("agents")
    return [str(a) for a in agents] if isinstance(agents, dict | list) else []


def find_db(agent: str | None, db: str | None, paths: HostPaths | None = None) -> Database | str:
    """The database holding `agent`'s decisions and sends, or an error message.

    --db wins (a host's database is then filtered by --agent). Otherwise: the running host's when it
    serves the agent, else the agent's own sidecar's when it exists, else a host's left on disk."""
    paths = paths or HostPaths.default()
    if db:
        path = Path(db).expanduser()
        host = is_host_db(path, paths)
        return Database(path, agent if host else None, host)
    if agent is None:
        if paths.mirror.is_file():
            return Database(paths.mirror, None, True)
        return "pass --agent ID (for the default location) or --db PATH"
    try:
        own = mirror_path(agent)
    except ValueError as exc:
        return f"--agent: {exc}"
    serving = host_agents(paths)
    if serving is not None and agent in serving and paths.mirror.is_file():
        return Database(paths.mirror, agent, True)
    if own.is_file():
        return Database(own)
    if paths.mirror.is_file():
        return Database(paths.mirror, agent, True)
    return (
        f"no mirror at {own} (a `sidecar serve --agent {agent}`) nor at {paths.mirror} (a `sidecar up` "
        "host); the sidecar creates it on first start, or pass --db PATH"
    )


def check_agent(agent: str, policy_file: str | None) -> str | None:
    """Why `agent` cannot be meant, when a policy is known (--policy, else $SIDECAR_POLICY), or None."""
    if not is_agent_id(agent):
        return f"--agent {agent!r} is not a valid agent id (lowercase letters, digits, _ and -)"
    if not policy_file and not os.environ.get(ENV_VAR):
        return None
    try:
        policy = load_policy(policy_file)
    except PolicyError as exc:
        if policy_file:
            return f"--policy: {exc}"
        return None  # a broken $SIDECAR_POLICY must not block the kill switch; the file is checked by doctor
    known = sorted(policy.known_agents)
    if agent in known:
        return None
    close = difflib.get_close_matches(agent, known, n=3, cutoff=0.6)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    return (
        f"--agent {agent!r} is not an agent of {policy.path}.{hint} Its agents: {', '.join(known) or 'none'}."
    )


def pause_dir(agent: str, db: str | None, paths: HostPaths | None = None) -> Path:
    """Where `agent`'s pause file lives: its own state directory (which the host reads too), or beside
    the mirror given by --db (a host's mirror: the agent's directory beside the host's)."""
    if not db:
        return state_dir(agent)
    path = Path(db).expanduser()
    if is_host_db(path, paths):
        return HostPaths(path.parent).agent_dir(agent)
    return path.parent
