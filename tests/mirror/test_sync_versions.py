"""Mirroring releases without paging or session events (OpenClaw 2026.3.x, 2026.4.x): one unpaged list,
polling with a stated staleness bound, flattened `sessions.changed` rows."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from sidecar.gateway import ADAPTERS, ErrorShape, Features, InvalidRequest
from sidecar.mirror import Mirror, MirrorSync

from .fakes import CLOCK_START, FakeGateway, row

pytestmark = pytest.mark.anyio
LEAD = "agent:lead:main"


class OldGateway(FakeGateway):
    """Answers like 2026.3.13: `offset` is rejected, sessions.subscribe is an unknown method."""

    def __init__(self, release: str, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.features = Features(release, 3, ADAPTERS[release])
        self.no_subscribe = not self.features.adapter.session_events

    async def request(
        self, method: str, params: Any = None, *, timeout: float | None = None, idempotent: bool = False
    ) -> Any:
        params = dict(params or {})
        if method == "sessions.list" and (
            "offset" in params or ("limit" in params and "search" not in params)
        ):
            raise InvalidRequest(
                method, ErrorShape("INVALID_REQUEST", "invalid sessions.list params: offset")
            )
        if method == "sessions.subscribe" and self.no_subscribe:
            self.calls.append((method, params))
            raise InvalidRequest(method, ErrorShape("INVALID_REQUEST", "unknown method: sessions.subscribe"))
        if method == "sessions.list" and "search" not in params:
            params["limit"] = 10_000  # the fake's own page size; the real gateway answers every row
        return await super().request(method, params, timeout=timeout, idempotent=idempotent)


def lead_rows(n: int) -> list[dict[str, Any]]:
    return [row(LEAD, updated=CLOCK_START)] + [
        row(f"agent:lead:subagent:s{i:03d}", updated=CLOCK_START - i - 1, spawnedBy=LEAD) for i in range(n)
    ]


async def test_an_unpaged_release_is_listed_in_one_request(fresh_db: Mirror) -> None:
    fake = OldGateway("2026.3.13", lead_rows(1500), agents=("lead",))
    syncer = MirrorSync(fresh_db, fake, page_size=100)
    assert await syncer.snapshot() == 1501
    lists = [p for m, p in fake.calls if m == "sessions.list"]
    assert len(lists) == 1 and "offset" not in lists[0]


async def test_a_release_without_session_events_is_polled_and_says_so(fresh_db: Mirror) -> None:
    fake = OldGateway("2026.3.13", lead_rows(2), agents=("lead",))
    syncer = MirrorSync(fresh_db, fake, poll_every=0.2)
    async with anyio.create_task_group() as tg:
        with anyio.fail_after(10):
            await tg.start(syncer.run)
            assert syncer.polling
            assert not fake.features.has("sessions.subscribe")
            cursor = fresh_db.cursors.get("home")
            assert cursor is not None and cursor.mode == "polling"
            assert cursor.stale_bound is not None and 0.2 < cursor.stale_bound <= 0.2 + 10
            assert cursor.freshness() == "live"
            fake.put(row("agent:lead:subagent:new", updated=CLOCK_START + 5, spawnedBy=LEAD))
            while fresh_db.view.get("agent:lead:subagent:new") is None:
                await anyio.sleep(0.05)
        fake.close()
        tg.cancel_scope.cancel()
    # The release is known to have no session events: never asked.
    assert [m for m, _ in fake.calls].count("sessions.subscribe") == 0
    assert syncer.snapshots >= 2


async def test_an_unknown_method_answer_to_subscribe_is_remembered_and_polled(fresh_db: Mirror) -> None:
    fake = OldGateway("2026.4.12", lead_rows(1), agents=("lead",))
    fake.no_subscribe = True  # a build without the method, whatever its release says
    syncer = MirrorSync(fresh_db, fake, poll_every=0.1)
    async with anyio.create_task_group() as tg:
        with anyio.fail_after(10):
            await tg.start(syncer.run)
            assert syncer.polling and "sessions.subscribe" in fake.features.missing
            while syncer.snapshots < 3:
                await anyio.sleep(0.05)
        fake.close()
        tg.cancel_scope.cancel()
    assert [m for m, _ in fake.calls].count("sessions.subscribe") == 1


async def test_a_polled_mirror_past_its_bound_reads_as_stale(fresh_db: Mirror) -> None:
    fresh_db.cursors.update("home", state="live", mode="polling", stale_bound=15.0, last_full_sync=1000.0)
    cursor = fresh_db.cursors.get("home")
    assert cursor is not None
    assert cursor.freshness(now=1010.0) == "live"
    assert cursor.freshness(now=1016.0) == "stale"


async def test_a_flattened_changed_event_of_2026_4_updates_the_row(fresh_db: Mirror) -> None:
    fake = OldGateway("2026.4.12", lead_rows(1), agents=("lead",))
    syncer = MirrorSync(fresh_db, fake)
    async with anyio.create_task_group() as tg:
        with anyio.fail_after(10):
            await tg.start(syncer.run)
            assert not syncer.polling
            key = "agent:lead:subagent:s000"
            fake.rows[key]["label"] = "renamed"
            fake.emit(
                "sessions.changed",
                {
                    "sessionKey": key,
                    "reason": "patch",
                    "ts": CLOCK_START + 9,
                    **fake.rows[key],
                    "updatedAt": CLOCK_START + 9,
                },
            )
            while (found := fresh_db.view.get(key)) is None or found.label != "renamed":
                await anyio.sleep(0.02)
        fake.close()
        tg.cancel_scope.cancel()
    cursor = fresh_db.cursors.get("home")
    assert cursor is not None and cursor.mode == "events" and cursor.stale_bound is None
