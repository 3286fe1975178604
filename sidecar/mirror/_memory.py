"""Giving the C heap back after a snapshot.

A snapshot decodes every gateway row as a dict of some forty fields (OpenClaw 2026.9), larger than
CPython's small-object allocator serves, so glibc's malloc holds them. Freed, they leave holes among the
rows and index nodes that stay, and glibc keeps those pages: at 100k sessions a sidecar that has just
taken a snapshot held 17 MB more than after `malloc_trim(0)`, which returns every free page to the
system (docs/benchmarks.md, item 6). Elsewhere than glibc this does nothing.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        # The interpreter's own symbols, libc's among them (no library search, which spawns ldconfig).
        trim: Callable[[int], int] = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):  # musl and others have no malloc_trim
        return None
    return trim


def release_freed_memory() -> bool:
    """Return the C heap's free pages to the system; True when the platform could."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True


__all__ = ["release_freed_memory"]
