"""Syncing from a fake gateway: paging, events, resyncs on gaps and reconnects, races, interrupted
snapshots, and looking up targets the mirror does not know."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from anyio.abc import TaskStatus

from sidecar.gateway import ConnectionLost, ErrorShape, InvalidRequest
from sidecar.mirror import Mirror, MirrorSync, SyncError, sync

from .fakes import CLOCK_START, FakeGateway, row

pytestmark = pytest.mark.anyio

REPO = Path(__file__).resolve().parents[2]
LEAD = "agent:lead:main"


def gateway_with(n: int, **kw: Any) -> FakeGateway:
    """`n` sessions of agent lead, newest first in key order (s00 newest)."""
    rows = [row(f"agent:lead:subagent:s{i:02d}", updated=CLOCK_START - i, spawnedBy=LEAD) for i in range(n)]
    return FakeGateway([row(LEAD, updated=CLOCK_START - 1000), *rows], agents=("lead", "dev-1"), **kw)


def keys(mirror: Mirror) -> set[str]:
    return {r.key for r in mirror.view.session_keys()}


async def settle() -> None:
    """Let the sync's tasks run until every one of them waits for something new."""
    with anyio.fail_after(5):
        await anyio.wait_all_tasks_blocked()


@asynccontextmanager
async def running(mirror: Mirror, fake: FakeGateway, **options: Any) -> AsyncIterator[MirrorSync]:
    syncer = MirrorSync(mirror, fake, **options)
    async with anyio.create_task_group() as tg:
        with anyio.fail_after(5):
            await tg.start(syncer.run)
        yield syncer
        await settle()
        fake.close()


# -- snapshots ---------------------------------------------------------------------------------------


async def test_a_snapshot_pages_until_has_more_is_false_and_reports_progress(fresh_db: Mirror) -> None:
    fake = gateway_with(9)
    seen: list[tuple[int, int]] = []
    await sync(
        fresh_db, fake, once=True, page_size=4, progress=lambda done, total: seen.append((done, total))
    )
    assert fake.list_offsets() == [0, 4, 8]
    assert seen == [(4, 10), (8, 10), (10, 10)]
    assert keys(fresh_db) == set(fake.rows)
    assert fresh_db.view.has_agent("dev-1") and not fresh_db.view.has_agent("ghost")
    assert fresh_db.view.active_children(LEAD) == 0
    cursor = fresh_db.cursors.get("home")
    assert cursor is not None and (cursor.state, cursor.rows, cursor.snapshot_offset) == ("live", 10, 0)


async def test_a_snapshot_keeps_no_message_text_from_the_rows(fresh_db: Mirror) -> None:
    await sync(fresh_db, gateway_with(3), once=True)
    dump = "\n".join(fresh_db.db.conn.iterdump())
    assert "PRIVATE-PREVIEW-TEXT" not in dump


async def test_a_later_snapshot_forgets_sessions_the_gateway_no_longer_has(fresh_db: Mirror) -> None:
    fake = gateway_with(5)
    await sync(fresh_db, fake, once=True, page_size=2)
    del fake.rows["agent:lead:subagent:s03"]
    await sync(fresh_db, fake, once=True, page_size=2)
    assert keys(fresh_db) == set(fake.rows)
    assert "agent:lead:subagent:s03" not in fresh_db.view


async def test_paging_that_does_not_advance_is_an_error_not_a_loop(fresh_db: Mirror) -> None:
    fake = gateway_with(5)

    def stuck(params: dict[str, Any], page: dict[str, Any]) -> None:
        page["nextOffset"] = 0

    fake.after_list = stuck
    with anyio.fail_after(5), pytest.raises(SyncError, match="did not advance"):
        await sync(fresh_db, fake, once=True, page_size=2)


# -- live events -------------------------------------------------------------------------------------


async def test_a_sessions_changed_event_updates_the_mirror(fresh_db: Mirror) -> None:
    fake = gateway_with(2)
    async with running(fresh_db, fake):
        fake.put(row("agent:lead:subagent:new", updated=CLOCK_START + 5, status="running", spawnedBy=LEAD))
        fake.changed("agent:lead:subagent:new", "create")
        await settle()
        assert fresh_db.view.parent_of("agent:lead:subagent:new") == LEAD
        assert fresh_db.view.active_children(LEAD) == 1
        fake.rows["agent:lead:subagent:new"]["status"] = "done"
        fake.changed("agent:lead:subagent:new")
        await settle()
        assert fresh_db.view.active_children(LEAD) == 0
        cursor = fresh_db.cursors.get("home")
        assert cursor is not None and cursor.seq == 2 and cursor.last_event is not None


async def test_a_session_message_event_updates_the_row_and_never_stores_the_message(fresh_db: Mirror) -> None:
    fake = gateway_with(1)
    async with running(fresh_db, fake):
        fake.rows[LEAD]["status"] = "running"
        fake.clock += 1
        fake.emit(
            "session.message",
            {
                "sessionKey": LEAD,
                "message": {"role": "user", "content": "SECRET-CHAT-LINE"},
                "session": {**fake.rows[LEAD], "snapshotAt": fake.clock},
            },
        )
        await settle()
        held = fresh_db.view.get(LEAD)
        assert held is not None and held.status == "running"
    assert "SECRET-CHAT-LINE" not in "\n".join(fresh_db.db.conn.iterdump())


async def test_a_delete_event_removes_the_session(fresh_db: Mirror) -> None:
    fake = gateway_with(2)
    fake.rows["agent:lead:subagent:s00"]["status"] = "running"
    async with running(fresh_db, fake):
        assert fresh_db.view.active_children(LEAD) == 1
        fake.deleted("agent:lead:subagent:s00")
        await settle()
        assert "agent:lead:subagent:s00" not in fresh_db.view
        assert fresh_db.view.active_children(LEAD) == 0


async def test_a_delete_of_an_older_session_under_a_reused_key_keeps_the_current_one(
    fresh_db: Mirror,
) -> None:
    fake = gateway_with(1)
    async with running(fresh_db, fake):
        fake.emit("sessions.changed", {"sessionKey": LEAD, "reason": "delete", "sessionId": "an-older-one"})
        await settle()
        assert LEAD in fresh_db.view


async def test_an_event_without_a_row_fetches_that_one_session(fresh_db: Mirror) -> None:
    fake = gateway_with(1)
    async with running(fresh_db, fake):
        fake.put(row("agent:lead:subagent:quiet", updated=CLOCK_START + 9, spawnedBy=LEAD, label="q"))
        fake.emit("sessions.changed", {"sessionKey": "agent:lead:subagent:quiet", "reason": "patch"})
        await settle()
        held = fresh_db.view.get("agent:lead:subagent:quiet")
        assert held is not None and held.label == "q"
        assert ("sessions.list", {"limit": 50, "includeGlobal": True, "includeUnknown": True,
                                  "search": "agent:lead:subagent:quiet", "agentId": "lead"}) in fake.calls  # fmt: skip


async def test_a_change_the_gateway_cannot_attribute_triggers_a_fresh_list(fresh_db: Mirror) -> None:
    fake = gateway_with(1)
    async with running(fresh_db, fake, refresh_after=0) as syncer:
        fake.put(row("agent:lead:subagent:later", updated=CLOCK_START + 9))
        fake.emit("sessions.changed", {"reason": "update", "ts": fake.clock})
        await settle()
        assert syncer.snapshots == 2
        assert "agent:lead:subagent:later" in fresh_db.view


async def test_the_bare_delete_notice_after_a_keyed_delete_needs_no_resync(fresh_db: Mirror) -> None:
    fake = gateway_with(2)
    async with running(fresh_db, fake, refresh_after=0) as syncer:
        fake.deleted("agent:lead:subagent:s00")
        fake.emit("sessions.changed", {"reason": "delete", "ts": fake.clock})  # as sessions.delete sends it
        await settle()
        assert syncer.snapshots == 1
        assert "agent:lead:subagent:s00" not in fresh_db.view


async def test_other_events_only_advance_the_cursor(fresh_db: Mirror) -> None:
    fake = gateway_with(1)
    async with running(fresh_db, fake) as syncer:
        for _ in range(3):
            fake.emit("tick", {"ts": 1})
        fake.emit("agent", {"runId": "r", "stream": "assistant", "data": {"text": "hi"}})
        await settle()
        assert syncer.snapshots == 1
        assert fresh_db.cursors.seq("home") == 4


# -- resyncs -----------------------------------------------------------------------------------------


async def test_a_gap_in_event_seq_triggers_a_resync(fresh_db: Mirror) -> None:
    fake = gateway_with(2)
    async with running(fresh_db, fake) as syncer:
        fake.emit("tick", {})
        fake.put(row("agent:lead:subagent:missed", updated=CLOCK_START + 3))
        fake.emit("tick", {}, skip=2)  # two events were dropped for a slow consumer
        await settle()
        assert syncer.snapshots == 2
        assert syncer.resync_reasons == ["missed events 2..3"]
        assert "agent:lead:subagent:missed" in fresh_db.view


async def test_a_new_epoch_resubscribes_and_resyncs(fresh_db: Mirror) -> None:
    fake = gateway_with(2)
    async with running(fresh_db, fake) as syncer:
        fake.emit("tick", {})
        fake.emit("tick", {})
        fake.reconnect()
        fake.put(row("agent:lead:subagent:during-outage", updated=CLOCK_START + 3))
        fake.emit("tick", {})
        await settle()
        assert syncer.resync_reasons == ["reconnected (epoch 2)"]
        assert [m for m, _ in fake.calls].count("sessions.subscribe") == 2
        assert "agent:lead:subagent:during-outage" in fresh_db.view
        cursor = fresh_db.cursors.get("home")
        assert cursor is not None and (cursor.epoch, cursor.state) == (2, "live")


async def test_a_page_captured_before_a_delete_does_not_bring_the_session_back(fresh_db: Mirror) -> None:
    fake = gateway_with(4)
    victim = "agent:lead:subagent:s02"

    def delete_after_capture(params: dict[str, Any], page: dict[str, Any]) -> None:
        if victim in [r["key"] for r in page["sessions"]] and victim in fake.rows:
            fake.deleted(victim)

    async with running(fresh_db, fake, page_size=2) as syncer:
        fake.after_list = delete_after_capture
        fake.emit("tick", {})
        fake.emit("tick", {}, skip=1)
        await settle()
        assert syncer.snapshots == 2
        assert victim not in fresh_db.view
        assert keys(fresh_db) == set(fake.rows)


async def test_a_page_captured_before_an_update_does_not_undo_it(fresh_db: Mirror) -> None:
    fake = gateway_with(2)
    target = "agent:lead:subagent:s00"

    def start_after_capture(params: dict[str, Any], page: dict[str, Any]) -> None:
        if fake.rows[target]["status"] == "done":
            fake.rows[target]["status"] = "running"
            fake.changed(target)

    async with running(fresh_db, fake) as syncer:
        fake.after_list = start_after_capture
        fake.emit("tick", {})
        fake.emit("tick", {}, skip=1)
        await settle()
        assert syncer.snapshots == 2
        held = fresh_db.view.get(target)
        assert held is not None and held.status == "running"
        assert fresh_db.view.active_children(LEAD) == 1


# -- ending and failing ------------------------------------------------------------------------------


async def test_when_the_event_stream_ends_the_sync_returns_and_marks_the_mirror_stale(
    fresh_db: Mirror,
) -> None:
    fake = gateway_with(1)
    async with running(fresh_db, fake):
        pass
    cursor = fresh_db.cursors.get("home")
    assert cursor is not None and cursor.state == "stale"


async def test_a_failed_client_stops_the_sync_with_the_clients_own_error(fresh_db: Mirror) -> None:
    fake = gateway_with(1)
    syncer = MirrorSync(fresh_db, fake)
    caught: list[BaseException] = []

    async def guarded(*, task_status: TaskStatus[None]) -> None:
        try:
            await syncer.run(task_status=task_status)
        except BaseException as exc:
            caught.append(exc)

    async with anyio.create_task_group() as tg:
        with anyio.fail_after(5):
            await tg.start(guarded)
        fake.close(ConnectionLost("gone"))
    assert [type(e) for e in caught] == [ConnectionLost]  # the client's error itself, not a group
    cursor = fresh_db.cursors.get("home")
    assert cursor is not None and cursor.state == "stale" and cursor.last_error == "ConnectionLost: gone"


async def test_a_sync_that_fails_mid_snapshot_leaves_it_to_be_resumed(fresh_db: Mirror) -> None:
    fake = gateway_with(5)

    def drop(method: str, params: dict[str, Any]) -> None:
        if method == "sessions.list" and params.get("offset") == 4:
            raise ConnectionLost("dropped mid-snapshot")

    fake.before_request = drop
    with anyio.fail_after(5), pytest.raises(ConnectionLost):
        await sync(fresh_db, fake, page_size=2, pages_per_write=1)
    cursor = fresh_db.cursors.get("home")
    assert cursor is not None and (cursor.state, cursor.snapshot_offset) == ("syncing", 4)
    assert cursor.last_error == "ConnectionLost: dropped mid-snapshot"
    fake.before_request = None
    fake.calls.clear()
    await sync(fresh_db, fake, once=True, page_size=2, pages_per_write=1)
    assert fake.list_offsets()[0] == 2


async def test_a_failing_first_snapshot_is_raised_to_the_starter(fresh_db: Mirror) -> None:
    fake = gateway_with(1)

    def refuse(method: str, params: dict[str, Any]) -> None:
        if method == "agents.list":
            raise InvalidRequest("agents.list", ErrorShape("INVALID_REQUEST", "missing scope: operator.read"))

    fake.before_request = refuse
    with anyio.fail_after(5), pytest.raises(InvalidRequest, match="missing scope"):
        await sync(fresh_db, fake)


# -- interrupted snapshots ---------------------------------------------------------------------------


class Killed(BaseException):
    """Stands in for the process dying between two pages."""


def kill_at(fake: FakeGateway, offset: int) -> None:
    def hook(method: str, params: dict[str, Any]) -> None:
        if method == "sessions.list" and params.get("offset") == offset and "search" not in params:
            raise Killed

    fake.before_request = hook


async def test_a_sync_killed_mid_snapshot_leaves_whole_pages_and_the_next_sync_resumes(db_path: Path) -> None:
    fake = gateway_with(9)
    with Mirror.open(db_path) as mirror:
        await sync(mirror, fake, once=True, page_size=3, pages_per_write=1)
        del fake.rows["agent:lead:subagent:s08"]  # gone while no sync ran
        fake.put(row("agent:lead:subagent:new", updated=CLOCK_START + 1, spawnedBy=LEAD))
        kill_at(fake, 6)
        with pytest.raises(Killed):
            await sync(mirror, fake, once=True, page_size=3, pages_per_write=1)
        cursor = mirror.cursors.get("home")
        assert cursor is not None and (cursor.state, cursor.snapshot_offset) == ("syncing", 6)
        assert "agent:lead:subagent:new" in mirror.view  # the committed pages are in
        assert "agent:lead:subagent:s08" in mirror.view  # nothing swept halfway

    fake.before_request = None
    fake.calls.clear()
    with Mirror.open(db_path) as mirror:
        assert mirror.pragma("integrity_check") == "ok"
        await sync(mirror, fake, once=True, page_size=3, pages_per_write=1)
        assert fake.list_offsets()[:3] == [3, 6, 9]  # resumed one page back, not from 0
        assert keys(mirror) == set(fake.rows)
        cursor = mirror.cursors.get("home")
        assert cursor is not None and cursor.state == "live"


async def test_a_snapshot_writes_several_pages_per_transaction_and_resumes_after_the_last_written(
    fresh_db: Mirror,
) -> None:
    fake = gateway_with(9)
    kill_at(fake, 8)
    with pytest.raises(Killed):
        await sync(fresh_db, fake, once=True, page_size=2, pages_per_write=2)
    cursor = fresh_db.cursors.get("home")
    # Pages at 0 and 2, then 4 and 6, went in together; nothing of the page being fetched did.
    assert cursor is not None and (cursor.state, cursor.snapshot_offset) == ("syncing", 8)
    assert len(fresh_db.view) == 8
    fake.before_request = None
    fake.calls.clear()
    await sync(fresh_db, fake, once=True, page_size=2, pages_per_write=2)
    assert fake.list_offsets()[:2] == [6, 8]
    assert keys(fresh_db) == set(fake.rows)


async def test_a_resumed_snapshot_catches_sessions_changed_while_it_was_down(fresh_db: Mirror) -> None:
    fake = gateway_with(9)
    kill_at(fake, 6)
    with pytest.raises(Killed):
        await sync(fresh_db, fake, once=True, page_size=3, pages_per_write=1)
    fake.before_request = None
    fake.calls.clear()
    early = "agent:lead:subagent:s00"  # listed before the kill
    fake.rows[early].update(status="running", updatedAt=CLOCK_START + 50)
    await sync(fresh_db, fake, once=True, page_size=3, pages_per_write=1)
    assert fake.list_offsets() == [3, 6, 9, 0]  # the rest, then the head of the list
    held = fresh_db.view.get(early)
    assert held is not None and held.status == "running"


async def test_a_resume_that_cannot_account_for_every_row_falls_back_to_a_full_pass(fresh_db: Mirror) -> None:
    fake = gateway_with(9)
    kill_at(fake, 6)
    with pytest.raises(Killed):
        await sync(fresh_db, fake, once=True, page_size=3, pages_per_write=1)
    fake.before_request = None
    fake.calls.clear()
    del fake.rows["agent:lead:subagent:s01"]  # listed before the kill, deleted while down
    await sync(fresh_db, fake, once=True, page_size=3, pages_per_write=1)
    assert fake.list_offsets() == [3, 6, 0, 0, 3, 6]  # the rest, the head, then a full pass
    assert keys(fresh_db) == set(fake.rows)


KILLER = textwrap.dedent(
    """
    import os, signal, sys
    import anyio
    from sidecar.mirror import Mirror, sync
    from tests.mirror.test_sync import gateway_with

    fake = gateway_with(9)
    def hook(method, params):
        if method == "sessions.list" and params.get("offset") == 6:
            os.kill(os.getpid(), signal.SIGKILL)
    fake.before_request = hook
    mirror = Mirror.open(sys.argv[1])
    anyio.run(lambda: sync(mirror, fake, once=True, page_size=3, pages_per_write=1))
    """
)


async def test_a_sync_process_killed_with_sigkill_leaves_a_consistent_file_that_resumes(
    db_path: Path,
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", KILLER, str(db_path)], cwd=REPO, capture_output=True, timeout=60
    )
    assert done.returncode == -signal.SIGKILL, done.stderr.decode()
    assert os.path.exists(db_path.with_name("mirror.db-wal"))  # died without a clean close
    check = sqlite3.connect(db_path)
    assert check.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    check.close()
    fake = gateway_with(9)
    with Mirror.open(db_path) as mirror:
        assert mirror.count("home") == 6
        await sync(mirror, fake, once=True, page_size=3, pages_per_write=1)
        assert fake.list_offsets()[0] == 3
        assert keys(mirror) == set(fake.rows)


# -- unknown targets ---------------------------------------------------------------------------------


async def test_a_known_target_needs_no_gateway_call(fresh_db: Mirror) -> None:
    fake = gateway_with(1)
    await sync(fresh_db, fake, once=True)
    fake.calls.clear()
    found = await MirrorSync(fresh_db, fake).ensure_known(LEAD)
    assert found is not None and found.key == LEAD
    assert fake.calls == []


async def test_a_target_only_the_gateway_knows_is_fetched_into_the_mirror(fresh_db: Mirror) -> None:
    fake = gateway_with(1)
    await sync(fresh_db, fake, once=True)
    fake.put(row("agent:dev-1:subagent:fresh", updated=CLOCK_START + 1, spawnedBy=LEAD, spawnDepth=1))
    found = await MirrorSync(fresh_db, fake).ensure_known("agent:dev-1:subagent:fresh")
    assert found is not None and found.spawned_by == LEAD
    assert fresh_db.view.parent_of("agent:dev-1:subagent:fresh") == LEAD


async def test_a_target_nobody_knows_stays_unknown(fresh_db: Mirror) -> None:
    fake = gateway_with(1)
    assert await MirrorSync(fresh_db, fake).ensure_known("agent:ghost:main") is None
    assert "agent:ghost:main" not in fresh_db.view
    assert [m for m, _ in fake.calls] == ["sessions.list", "sessions.resolve"]


async def test_a_label_or_a_session_id_is_resolved_on_the_gateway(fresh_db: Mirror) -> None:
    fake = gateway_with(0)
    fake.put(row("agent:dev-1:subagent:w", updated=CLOCK_START + 1, label="worker", spawnedBy=LEAD))
    syncer = MirrorSync(fresh_db, fake)
    by_label = await syncer.ensure_known(label="worker", agent_id="dev-1")
    assert by_label is not None and by_label.key == "agent:dev-1:subagent:w"
    fresh_db.remove("agent:dev-1:subagent:w", "home")
    sid = fake.rows["agent:dev-1:subagent:w"]["sessionId"] = "0b5c1e8e-7f0e-4a55-9d8f-2f1d3c4b5a69"
    by_id = await syncer.ensure_known(sid)
    assert by_id is not None and by_id.key == "agent:dev-1:subagent:w"
    assert await syncer.ensure_known(label="nobody") is None


async def test_a_lookup_error_other_than_not_found_is_raised(fresh_db: Mirror) -> None:
    fake = gateway_with(0)

    def ambiguous(method: str, params: dict[str, Any]) -> None:
        if method == "sessions.resolve":
            raise InvalidRequest("sessions.resolve", ErrorShape("INVALID_REQUEST", "Multiple sessions found"))

    fake.before_request = ambiguous
    with pytest.raises(InvalidRequest, match="Multiple sessions"):
        await MirrorSync(fresh_db, fake).ensure_known(label="twin")


def test_the_collector_is_held_only_for_a_batch_and_left_as_it_was() -> None:
    import gc

    from sidecar.mirror._source import collector_paused

    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # someone else turned it off: not ours to turn back on
    finally:
        gc.enable()
