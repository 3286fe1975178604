"""After a snapshot the sidecar gives the C heap's free pages back (`release_freed_memory`)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import anyio
import pytest

from sidecar.mirror import Mirror, MirrorSync, _sync
from sidecar.mirror._memory import release_freed_memory

from .fakes import FakeGateway, row

GLIBC = sys.platform.startswith("linux") and "glibc" in " ".join(__import__("platform").libc_ver())


@pytest.mark.skipif(not GLIBC, reason="malloc_trim is glibc's")
def test_freed_rows_leave_the_process_once_released() -> None:
    # A fresh interpreter, so other tests' memory does not blur the figures: 20k blocks of 2 KB (each too
    # large for CPython's small-object allocator, so malloc holds it, as it holds a decoded gateway row's
    # dict), one in ten kept, as a snapshot leaves them.
    script = textwrap.dedent(
        """
        import gc
        from sidecar.mirror._memory import release_freed_memory
        def rss():
            return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmRSS")) // 1024
        rows = [bytes(2000) for i in range(20000)]
        kept = rows[::10]
        del rows
        gc.collect()
        before = rss()
        assert release_freed_memory()
        print(before, rss(), len(kept))
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    before, after, kept = map(int, out.split())
    assert kept == 2000
    assert after < before - 10, (before, after)


def test_release_is_harmless_to_call_again() -> None:
    first = release_freed_memory()
    assert release_freed_memory() == first


@pytest.mark.anyio
async def test_a_sync_releases_freed_memory_after_each_snapshot(
    fresh_db: Mirror, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    monkeypatch.setattr(_sync, "release_freed_memory", lambda: calls.append(len(fresh_db.view)) or True)
    fake = FakeGateway(
        [row("agent:lead:main", updated=2), row("agent:lead:subagent:a", updated=1)], agents=("lead",)
    )
    syncer = MirrorSync(fresh_db, fake)
    async with anyio.create_task_group() as tg:
        with anyio.fail_after(5):
            await tg.start(syncer.run)
        fake.close()
    assert calls == [2]
