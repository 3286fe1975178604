"""What the operator's gates need from an agent's state: its pause file and the counts against its budgets.

The pause lives in a small file in the agent's state directory, not in any process's memory, so
`sidecar pause` takes effect in every running sidecar of that agent on its next call. A sidecar reads the
file only when its size or modification time changed (one `stat` per call). A pause file that exists but
cannot be read counts as a pause: failing closed is the point of a kill switch.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sidecar.policy import Pause, Usage

if TYPE_CHECKING:
    from sidecar.mirror._db import Mirror

PAUSE_FILE = "paused.json"
DAY_S = 86_400.0
HOUR_S = 3_600.0


@dataclass
class PauseFile:
    """`<state dir>/paused.json`: present while the agent is paused."""

    path: Path
    _seen: tuple[int, int, int] | None = None
    _pause: Pause | None = None

    @classmethod
    def in_dir(cls, state_dir: Path) -> PauseFile:
        return cls(state_dir / PAUSE_FILE)

    def read(self) -> Pause | None:
        """The current pause, or None. Cheap when nothing changed since the last read."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            self._seen, self._pause = None, None
            return None
        except OSError as exc:
            return Pause(since=0.0, reason=f"the pause file {self.path} cannot be read ({exc})")
        seen = (st.st_mtime_ns, st.st_size, st.st_ino)
        if seen != self._seen:
            self._pause = self._load(st.st_mtime)
            self._seen = seen
        return self._pause

    def _load(self, mtime: float) -> Pause:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
            reason = data.get("reason")
            by = data.get("by")
            return Pause(
                since=float(data.get("since", mtime)),
                reason=str(reason) if reason else None,
                by=str(by) if by else None,
            )
        except (OSError, ValueError, TypeError) as exc:
            return Pause(since=mtime, reason=f"the pause file {self.path} is unreadable ({exc})")

    def pause(self, *, reason: str | None, by: str | None, now: float | None = None) -> Pause:
        """Write the pause atomically (a reader sees the old file or the new one, never half of it)."""
        pause = Pause(since=time.time() if now is None else now, reason=reason or None, by=by or None)
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = self.path.with_name(f".{PAUSE_FILE}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump({"since": pause.since, "reason": pause.reason, "by": pause.by}, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.path)
        return pause

    def resume(self) -> Pause | None:
        """Remove the pause; returns the pause that was lifted, if any."""
        lifted = self.read()
        try:
            self.path.unlink()
        except FileNotFoundError:
            return None
        self._seen, self._pause = None, None
        return lifted


def usage_of(
    mirror: Mirror,
    agent_id: str,
    pause: Pause | None,
    now: float,
    *,
    sends: bool = True,
    spawns: bool = True,
    children: bool = True,
) -> Usage:
    """The facts the operator's gates decide on, counted across every session of `agent_id`; a count
    not asked for (its budget is unset) stays 0 and costs nothing.

    Sends are the outbox's entries (each logical send once, whatever became of it); spawns are the
    decision log's allowed `sessions_spawn` calls; active children are the mirror's running child rows.
    """
    sent, oldest_send = mirror.outbox.count_since(f"agent:{agent_id}:", now - DAY_S) if sends else (0, None)
    spawned, oldest_spawn = (
        mirror.decisions.count_allowed(agent_id, "sessions_spawn", now - HOUR_S) if spawns else (0, None)
    )
    return Usage(
        paused=pause,
        sends_today=sent,
        sends_reset_at=None if oldest_send is None else oldest_send + DAY_S,
        spawns_this_hour=spawned,
        spawns_reset_at=None if oldest_spawn is None else oldest_spawn + HOUR_S,
        active_children=mirror.view.active_children_of_agent(agent_id) if children else 0,
    )
