"""The mirror's own errors: each message says what went wrong and what to do about it."""

from __future__ import annotations


class MirrorError(RuntimeError):
    """The mirror database cannot be used as asked; the message says why and what to do."""


class MirrorLocked(MirrorError):
    """Another connection held the database's write lock for longer than busy_timeout."""
