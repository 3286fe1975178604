"""A snapshot page is parsed by `gateway_values`, in bulk: it must store exactly what `SessionRow.from_gateway`
stores for each row (same values, same types), and leave out the same rows, whatever the gateway sends."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sidecar.mirror import Mirror, SessionRow, sync
from sidecar.mirror._rows import gateway_values

from .fakes import FakeGateway
from .fakes import row as gateway_row

FIELDS = (
    "key",
    "agentId",
    "kind",
    "channel",
    "label",
    "displayName",
    "spawnedBy",
    "parentSessionKey",
    "spawnDepth",
    "status",
    "startedAt",
    "endedAt",
    "updatedAt",
    "sessionId",
    "model",
    "snapshotAt",
)
ODD = (
    None,
    "",
    " ",
    "X",
    " Agent:Lead:Main ",
    "agent:lead:MAIN",
    "agent:lead:main",
    "agent:lead:subagent:a",
    "lead",
    "Σ",
    "\u00a0agent:lead:main",
    "agent:lead:main\u2003",
    1,
    1.0,
    2.5,
    True,
    0,
    -1,
    [],
    {},
    [1],
)


def one_by_one(records: list[dict[str, Any]], gen: int = 3) -> list[tuple[Any, ...]]:
    out = []
    for record in records:
        try:
            out.append(SessionRow.from_gateway(record, "home", seen_at=1.0).as_db(gen))
        except ValueError:
            continue
    return out


def typed(rows: list[tuple[Any, ...]]) -> list[list[tuple[type, Any]]]:
    # 1 == 1.0 == True: compare the types too.
    return [[(type(v), v) for v in row] for row in rows]


def plain(i: int) -> dict[str, Any]:
    row: dict[str, Any] = {
        "key": f"agent:lead:subagent:{i}",
        "agentId": "lead",
        "kind": "direct",
        "updatedAt": 1_795_000_000_000 + i,
        "snapshotAt": 1_795_000_100_000,
        "status": "running",
        "spawnedBy": "agent:lead:main",
        "parentSessionKey": "agent:lead:main",
        "spawnDepth": 1,
        "thinkingLevels": [{"id": "off"}],
    }
    return row


records = st.lists(
    st.builds(
        lambda base, changes: {**plain(base), **changes},
        st.integers(0, 5),
        st.dictionaries(st.sampled_from(FIELDS), st.sampled_from(ODD), max_size=4),
    ),
    max_size=6,
)


@settings(max_examples=400, deadline=None)
@given(records)
def test_a_page_is_stored_as_from_gateway_stores_each_row(page: list[dict[str, Any]]) -> None:
    assert typed(gateway_values(page, "home", seen_at=1.0, gen=3)) == typed(one_by_one(page))


def test_a_plain_page_keeps_the_gateways_values_and_one_odd_key_is_normalised_as_before() -> None:
    page = [plain(i) for i in range(3)]
    assert typed(gateway_values(page, "home", seen_at=1.0, gen=3)) == typed(one_by_one(page))
    page[1] = {**page[1], "key": " Agent:Lead:Subagent:1 ", "agentId": "Lead"}
    page.append({"agentId": "lead"})  # no key: left out
    rows = gateway_values(page, "home", seen_at=1.0, gen=3)
    assert [r[0] for r in rows] == [f"agent:lead:subagent:{i}" for i in range(3)]
    assert rows[1][2] == "lead"
    assert typed(rows) == typed(one_by_one(page))


def test_a_snapshot_batch_of_rows_lands_in_the_view_as_apply_would_put_it() -> None:
    main = {
        **plain(9),
        "key": "agent:lead:main",
        "spawnedBy": None,
        "parentSessionKey": None,
        "spawnDepth": 0,
    }
    page = [plain(i) for i in range(4)] + [main]
    bulk, single = Mirror.memory(), Mirror.memory()
    bulk.apply_values(gateway_values(page, "home", seen_at=1.0, gen=0))
    single.apply([SessionRow.from_gateway(r, "home", seen_at=1.0) for r in page])
    for mirror in (bulk, single):
        assert mirror.view.active_children("agent:lead:main") == 4
        assert mirror.view.depth_of("agent:lead:subagent:2") == 1
        assert mirror.view.parent_of("agent:lead:subagent:2") == "agent:lead:main"
    assert bulk.view.session_keys() == single.view.session_keys()


def test_a_batch_goes_in_without_a_savepoint_and_its_then_commits_with_it() -> None:
    mirror = Mirror.memory()
    seen: list[str] = []
    mirror.db.conn.set_trace_callback(seen.append)
    rows = gateway_values([plain(i) for i in range(3)], "home", seen_at=1.0, gen=0)
    mirror.apply_values(rows, then=lambda: mirror.cursors.update("home", snapshot_offset=3))
    upsert = next(i for i, sql in enumerate(seen) if sql.startswith("INSERT INTO sessions"))
    assert not any("SAVEPOINT" in sql for sql in seen[:upsert])
    assert mirror.count() == 3 and mirror.cursors.get("home").snapshot_offset == 3  # type: ignore[union-attr]

    def fails() -> None:
        raise RuntimeError("the cursor write failed")

    more = gateway_values([plain(i) for i in range(3, 6)], "home", seen_at=1.0, gen=0)
    with pytest.raises(RuntimeError):
        mirror.apply_values(more, then=fails)
    assert mirror.count() == 3 and len(mirror.view) == 3  # the rows rolled back with it, index included


def test_a_first_snapshot_skips_the_sweep_and_a_later_one_still_sweeps() -> None:
    keys = [f"agent:lead:subagent:{i}" for i in range(5)]
    fake = FakeGateway([gateway_row(k, updated=1_795_000_000_000 + i) for i, k in enumerate(keys)], ("lead",))
    mirror = Mirror.memory()
    seen: list[str] = []
    mirror.db.conn.set_trace_callback(seen.append)
    anyio.run(lambda: sync(mirror, fake, once=True, page_size=2))
    assert mirror.count() == 5 and not any(sql.startswith("DELETE FROM sessions") for sql in seen)
    del fake.rows[keys[0]]
    anyio.run(lambda: sync(mirror, fake, once=True, page_size=2))
    assert mirror.count() == 4 and keys[0] not in mirror.view
