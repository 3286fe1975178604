"""`sidecar serve` killed with SIGKILL during its mirror snapshot: the file stays consistent, the sync resumes.

The soak runs the same scenario 20 times; see tests/reliability/kill_sync.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.reliability.kill_sync import kill_mid_sync

pytestmark = pytest.mark.anyio


async def test_a_sidecar_killed_mid_snapshot_three_times_keeps_a_consistent_mirror_that_resumes(
    tmp_path: Path,
) -> None:
    outcome = await kill_mid_sync(tmp_path, rounds=3, rows=8000)
    assert outcome.ok, outcome.report()
    counts = outcome.counts
    assert counts["kills"] == counts["rows_matched"] == 3
    assert counts.get("resumed", 0) + counts.get("fresh_after_last_page", 0) == 3
