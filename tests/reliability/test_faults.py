"""Faults at each I/O seam leave the mirror consistent and the sidecar able to recover.

Whether the error is clear is asserted here for the faults that were clear from the start, and in
test_defects.py for the five that were not (fixed in 7028ee3). See docs/reliability.md.
"""

from __future__ import annotations

import logging
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import pytest

from tests.reliability.faults import (
    Probe,
    clear_error,
    full_mirror,
    locked_mirror_call,
    websocket_drops,
)


@pytest.mark.anyio
@pytest.mark.gateway
async def test_a_websocket_dropped_mid_frame_is_ridden_out_and_a_lasting_drop_is_a_clear_mcp_error(
    reliability_gateway: Any, tmp_path: Path
) -> None:
    outcome = await websocket_drops(reliability_gateway, tmp_path, rounds=2)
    assert outcome.ok, outcome.report()
    assert outcome.counts["cuts"] == 4  # every armed cut landed mid-frame
    assert outcome.counts["history_recovered"] == outcome.counts["sends_exactly_once"] == 2
    probe = outcome.counts["probe"]
    assert probe["clear"] and probe["recovered"] and probe["integrity"] == "ok", probe


@pytest.fixture(scope="module")
def full_mirror_probes(tmp_path_factory: pytest.TempPathFactory) -> list[Probe]:
    logging.getLogger("mcp").setLevel(logging.CRITICAL)  # the SDK logs each crash with its traceback
    try:
        return anyio.run(partial(full_mirror, tmp_path_factory.mktemp("full"), rounds=3))
    finally:
        logging.getLogger("mcp").setLevel(logging.NOTSET)


def test_a_mirror_that_fills_up_three_times_stays_consistent_and_works_again_once_there_is_room(
    full_mirror_probes: list[Probe],
) -> None:
    assert len(full_mirror_probes) == 3
    for probe in full_mirror_probes:
        assert probe.message, "the capped mirror never failed a call"
        assert probe.integrity == "ok" and probe.recovered, probe.row()


def test_a_full_disk_during_the_first_snapshot_leaves_a_consistent_mirror(full_disk_probe: Probe) -> None:
    assert full_disk_probe.integrity == "ok", full_disk_probe.row()


def test_pair_without_a_keyring_names_the_fix_and_the_mirror_is_untouched(
    keyring_probes: list[Probe],
) -> None:
    serve, pair = keyring_probes
    assert pair.clear and pair.details["exit"] not in (0, None), pair.row()
    assert "--token-store file" in pair.message
    assert serve.details["exit"] not in (0, None) and "--token-store file" in serve.message
    assert serve.integrity == pair.integrity == "ok"


def test_a_locked_mirror_never_corrupts_it_or_loses_the_decision_and_the_next_call_works(
    tmp_path: Path,
) -> None:
    logging.getLogger("mcp").setLevel(logging.CRITICAL)
    try:
        probe = anyio.run(locked_mirror_call, tmp_path)
    finally:
        logging.getLogger("mcp").setLevel(logging.NOTSET)
    assert probe.clear and probe.integrity == "ok" and probe.recovered, probe.row()


def test_a_sidecar_started_on_a_locked_mirror_exits_and_leaves_it_consistent(
    locked_startup_probe: Probe,
) -> None:
    probe = locked_startup_probe
    assert probe.details["exit"] not in (0, None), probe.row()
    assert "is locked by another process" in probe.message
    assert probe.integrity == "ok"


@pytest.mark.parametrize(
    ("kind", "message", "clear"),
    [
        ("locked", "the mirror database x is locked by another process. Stop it.", True),
        ("locked", "Error executing tool sessions_list", False),
        (
            "disk",
            "Traceback (most recent call last): sqlite3.OperationalError: database or disk is full",
            False,
        ),
        ("disk", "the mirror database is full: free disk space", True),
        ("keyring", "No OS keyring is available. Fix: pass --token-store file", True),
        ("websocket", "the gateway connection has been down for 10 s; check the gateway, then retry", True),
    ],
)
def test_a_clear_error_names_the_cause_and_a_remedy_and_is_no_traceback(
    kind: str, message: str, clear: bool
) -> None:
    assert clear_error(kind, message) is clear
