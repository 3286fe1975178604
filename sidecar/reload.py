"""Hot reload: watch the policy file and the openclaw.json it inherits, and swap a whole new Policy in.

OpenClaw applies `tools`, `agents` and `session` edits live, so a sidecar whose policy inherits from
openclaw.json must too, or it drifts from the gateway it guards. The watcher polls both files' size,
modification time and inode (twice a second: cheap, and it sees editors that replace the file by a
rename as well as ones that write in place). A change is parsed and validated in full before anything
changes; a valid one is handed over as a new Policy that the next call decides on, an invalid one is
logged with its file and line while the previous policy stays in force.

Each outcome is also written to `<state dir>/policy-status.json`, so `sidecar doctor` (another process)
can say which policy a running sidecar enforces and why it refused the last edit. The host writes it to
its own state directory and to each agent's it serves.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio

from sidecar.config import load_policy
from sidecar.policy import Policy, PolicyError

log = logging.getLogger("sidecar")
STATUS_FILE = "policy-status.json"
POLL_S = 0.5
Stamp = tuple[int, int, int] | None
# Settings only a restart applies: the gateway connections are opened with them.
RESTART_KEYS = ("gateway",)


def watched_files(policy: Policy) -> tuple[Path, ...]:
    """The files a policy was built from: itself and the openclaw.json it inherits, if any."""
    files = [Path(policy.path)]
    if policy.openclaw is not None:
        files.append(Path(policy.openclaw.path))
    return tuple(files)


def fingerprint(policy: Policy) -> str:
    """A digest of the texts a policy was built from (equal texts, equal policy)."""
    digest = hashlib.sha256(policy.doc.text.encode("utf-8"))
    if policy.openclaw is not None:
        digest.update(b"\0" + policy.openclaw.text.encode("utf-8"))
    return digest.hexdigest()[:16]


def _stamp(path: Path) -> Stamp:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


def read_status(state_dir: Path) -> dict[str, Any] | None:
    """What the running sidecar last wrote about its policy, or None."""
    try:
        data = json.loads((state_dir / STATUS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


@dataclass
class PolicyWatcher:
    """Polls the policy's files and calls `apply(new_policy)` for each valid change.

    `check(policy)` vets a candidate beyond the schema (e.g. that it still names the served agent) and
    returns the problem, or None. `apply` runs before the status is written, so the status never claims
    a policy that is not in force.
    """

    current: Policy
    apply: Callable[[Policy], Awaitable[None]]
    state_dir: Path | None = None
    check: Callable[[Policy], str | None] | None = None
    # More directories that get the same status file (the host writes it into each served agent's state
    # directory too, where `sidecar doctor --agent ID` reads it).
    also: tuple[Path, ...] = ()
    interval: float = POLL_S
    clock: Callable[[], float] = time.time
    last_error: str | None = field(default=None, init=False)
    loaded_at: float = field(default=0.0, init=False)
    _stamps: dict[Path, Stamp] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        self.loaded_at = self.clock()
        self._remember(self.current)
        self._write_status()

    def _remember(self, policy: Policy) -> None:
        self._stamps = {path: _stamp(path) for path in watched_files(policy)}

    def changed(self) -> bool:
        return any(_stamp(path) != seen for path, seen in self._stamps.items())

    async def run(self) -> None:
        """Poll until cancelled."""
        while True:
            await anyio.sleep(self.interval)
            await self.poll()

    async def poll(self) -> bool:
        """Look once; returns True when a new policy was applied."""
        if not self.changed():
            return False
        stamps = {path: _stamp(path) for path in self._stamps}
        try:
            candidate = load_policy(self.current.path)
            problem = self.check(candidate) if self.check is not None else None
            if problem is not None:
                raise PolicyError(candidate.path, None, "", problem)
        except PolicyError as exc:
            # Remember the broken file's stamps: the error is reported once, not twice a second.
            self._stamps = stamps
            self.last_error = str(exc)
            log.error(
                "policy reload refused, still enforcing the previous policy (%s): %s",
                fingerprint(self.current),
                exc,
            )
            self._write_status()
            return False
        self._remember(candidate)
        if fingerprint(candidate) == fingerprint(self.current):
            if self.last_error is not None:
                self.last_error = None
                self._write_status()
            return False
        restart = [k for k in RESTART_KEYS if candidate.doc.data.get(k) != self.current.doc.data.get(k)]
        await self.apply(candidate)
        old, self.current, self.last_error = self.current, candidate, None
        self.loaded_at = self.clock()
        log.warning(
            "policy reloaded from %s (%s -> %s); the next call is decided by it%s",
            candidate.path,
            fingerprint(old),
            fingerprint(candidate),
            f"; {', '.join(restart)} changed and applies only after a restart" if restart else "",
        )
        self._write_status(restart)
        return True

    def _write_status(self, restart: list[str] | None = None) -> None:
        if self.state_dir is None:
            return
        for where in (self.state_dir, *self.also):
            self._write_status_in(where, restart)

    def _write_status_in(self, state_dir: Path, restart: list[str] | None) -> None:
        policy = self.current
        status = {
            "policy": policy.path,
            "openclawConfig": policy.openclaw.path if policy.openclaw is not None else None,
            "fingerprint": fingerprint(policy),
            "loadedAt": self.loaded_at,
            "checkedAt": self.clock(),
            "pid": os.getpid(),
            "mode": policy.mode.value,
            "observedAgents": list(policy.observed_agents),
            "lastError": self.last_error,
            "restartNeededFor": restart or [],
        }
        try:
            state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            tmp = state_dir / f".{STATUS_FILE}.{os.getpid()}.tmp"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(status, handle, indent=2)
            os.replace(tmp, state_dir / STATUS_FILE)
        except OSError as exc:
            log.warning("could not write %s: %s", state_dir / STATUS_FILE, exc)
