"""Where the host keeps its state, and the lock that makes it the one writer of its mirror.

`<state root>/host/`: `attest.key` (0600, shared with the OpenClaw plugin by path), `host.pid`,
`host.json` (port, agents, policy: what `status` reads), `host.log`, `host.lock`, `mirror.db` (every
agent's sessions, decisions and outbox) and `policy-status.json`. Each agent's pause file stays in the
agent's own state directory (`<state root>/<agent>/paused.json`), where `sidecar pause` writes it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sidecar.config import state_root
from sidecar.policy import is_agent_id

DEFAULT_PORT = 8766


class HostLocked(RuntimeError):
    """Another host already owns this state directory (and so its mirror)."""


@dataclass(frozen=True)
class HostPaths:
    root: Path

    @classmethod
    def default(cls) -> HostPaths:
        return cls(state_root() / "host")

    @property
    def key(self) -> Path:
        return self.root / "attest.key"

    @property
    def pid(self) -> Path:
        return self.root / "host.pid"

    @property
    def info(self) -> Path:
        return self.root / "host.json"

    @property
    def log(self) -> Path:
        return self.root / "host.log"

    @property
    def lock(self) -> Path:
        return self.root / "host.lock"

    @property
    def mirror(self) -> Path:
        return self.root / "mirror.db"

    def agent_dir(self, agent_id: str) -> Path:
        """An agent's own state directory beside the host's (`<state root>/<agent>`): where `sidecar pause
        --agent ID` writes its pause file and `sidecar doctor --agent ID` reads the reload status."""
        if not is_agent_id(agent_id):
            raise ValueError(f"{agent_id!r} is not a valid agent id")
        return self.root.parent / agent_id

    def is_host_mirror(self, db: Path) -> bool:
        return db.expanduser().resolve() == self.mirror.resolve()

    def ensure(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)

    def read_info(self) -> dict[str, Any] | None:
        try:
            data = json.loads(self.info.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def write_info(self, info: dict[str, Any]) -> None:
        tmp = self.info.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(info, handle, indent=2)
        os.replace(tmp, self.info)

    def running_pid(self) -> int | None:
        """The pid of the live host that holds the lock, else None (a stale pid file is ignored)."""
        try:
            pid = int(self.pid.read_text(encoding="utf-8").strip())
        except (OSError, ValueError):
            return None
        if not self.lock.exists():
            return None
        try:
            fd = os.open(self.lock, os.O_RDWR | os.O_NOFOLLOW)
        except OSError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return pid  # held: the host is alive
        else:
            fcntl.flock(fd, fcntl.LOCK_UN)
            return None
        finally:
            os.close(fd)


class WriterLock:
    """An exclusive flock on `host.lock`, held for the process's life: one writer per mirror."""

    def __init__(self, paths: HostPaths) -> None:
        self.paths = paths
        self._fd: int | None = None

    def acquire(self) -> None:
        """Raises:
        HostLocked: naming the pid that holds it and how to stop it."""
        self.paths.ensure()
        fd = os.open(self.paths.lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            holder = self.paths.pid.read_text(encoding="utf-8").strip() if self.paths.pid.exists() else "?"
            raise HostLocked(
                f"another sidecar host (pid {holder}) already owns {self.paths.root}: it is the one writer of "
                f"{self.paths.mirror}. `sidecar status` shows it; `sidecar down` stops it."
            ) from None
        self._fd = fd
        pid_fd = os.open(self.paths.pid, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(pid_fd, "w", encoding="utf-8") as handle:
            handle.write(f"{os.getpid()}\n")

    def release(self) -> None:
        if self._fd is not None:
            for path in (self.paths.pid, self.paths.info):
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
            os.close(self._fd)
            self._fd = None
