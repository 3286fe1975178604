"""MirrorView: the policy engine's SessionView over the mirror, including the "new enemy" case."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from sidecar.mirror import Mirror, SessionRow
from sidecar.policy import Requester, SessionView, decide, parse_policy

LEAD = "agent:lead:main"


def session(key: str, **values: object) -> SessionRow:
    values.setdefault("seen_at", 1.0)
    return SessionRow(key=key, gateway=str(values.pop("gateway", "home")), agent=key.split(":")[1], **values)  # type: ignore[arg-type]


def test_the_view_is_a_policy_session_view(fresh_db: Mirror) -> None:
    view: SessionView = fresh_db.view
    assert view.parent_of(LEAD) is None


def test_parent_of_is_spawned_by_else_parent_session_key(fresh_db: Mirror) -> None:
    fresh_db.apply(
        [
            session("agent:dev-1:subagent:a", spawned_by=LEAD, parent="agent:other:main"),
            session("agent:dev-1:subagent:b", parent=LEAD),
            session("agent:dev-1:main"),
        ]
    )
    assert fresh_db.view.parent_of("agent:dev-1:subagent:a") == LEAD
    assert fresh_db.view.parent_of("agent:dev-1:subagent:b") == LEAD
    assert fresh_db.view.parent_of("agent:dev-1:main") is None
    assert fresh_db.view.parent_of("agent:nobody:main") is None


def test_siblings_written_together_share_one_parent_reference(fresh_db: Mirror) -> None:
    # Each decoded row brings its own copy of the parent's key; the index keeps one (memory at 100k).
    fresh_db.apply(
        [session(f"agent:dev-1:subagent:{i}", spawned_by="agent:lead:" + "main") for i in range(3)]
    )
    nodes = fresh_db._index.nodes
    parents = {id(nodes[("home", f"agent:dev-1:subagent:{i}")][0]) for i in range(3)}
    assert len(parents) == 1
    assert fresh_db.view.parent_of("agent:dev-1:subagent:2") == LEAD


def test_a_later_row_without_a_parent_does_not_orphan_a_known_child(fresh_db: Mirror) -> None:
    fresh_db.apply([session("agent:dev-1:subagent:a", spawned_by=LEAD, depth=1, snapshot_at=1)])
    fresh_db.apply([session("agent:dev-1:subagent:a", status="running", snapshot_at=2)])
    assert fresh_db.view.parent_of("agent:dev-1:subagent:a") == LEAD
    assert fresh_db.view.depth_of("agent:dev-1:subagent:a") == 1
    row = fresh_db.view.get("agent:dev-1:subagent:a")
    assert row is not None and row.spawned_by == LEAD and row.status == "running"


def test_an_older_capture_never_replaces_a_newer_one(fresh_db: Mirror) -> None:
    fresh_db.apply([session("agent:dev-1:subagent:a", spawned_by=LEAD, status="done", snapshot_at=20)])
    assert fresh_db.apply([session("agent:dev-1:subagent:a", status="running", snapshot_at=10)]) == 0
    row = fresh_db.view.get("agent:dev-1:subagent:a")
    assert row is not None and row.status == "done"
    assert fresh_db.view.active_children(LEAD) == 0


def test_has_agent_knows_agents_from_agents_list_and_from_config_pins(fresh_db: Mirror) -> None:
    fresh_db.set_agents("home", ["lead", "dev-1"])
    fresh_db.set_agents("studio", ["research"], source="config")
    assert all(fresh_db.view.has_agent(a) for a in ("lead", "dev-1", "research"))
    assert not fresh_db.view.has_agent("ghost")
    fresh_db.set_agents("home", ["lead"])
    assert not fresh_db.view.has_agent("dev-1")
    assert fresh_db.view.has_agent("research")
    assert fresh_db.agents() == ["lead", "research"]


def test_depth_is_spawn_depth_when_known_else_the_walk_up_the_parents(fresh_db: Mirror) -> None:
    fresh_db.apply(
        [
            session("agent:a:subagent:1", spawned_by=LEAD),
            session("agent:a:subagent:2", spawned_by="agent:a:subagent:1"),
            session("agent:a:subagent:3", spawned_by="agent:a:subagent:2", depth=7),
            session("agent:a:subagent:4", spawned_by="agent:a:subagent:3"),
        ]
    )
    view = fresh_db.view
    assert [view.depth_of(f"agent:a:subagent:{i}") for i in (1, 2, 3, 4)] == [1, 2, 7, 8]
    assert view.depth_of(LEAD) == 0
    assert view.depth_of("agent:lead:telegram:direct:42") == 0


def test_an_unknown_subagent_key_is_never_treated_as_top_level(fresh_db: Mirror) -> None:
    assert fresh_db.view.depth_of("agent:a:subagent:x") == 1
    assert fresh_db.view.depth_of("agent:a:subagent:x:subagent:y") == 2


def test_a_parent_cycle_does_not_hang_the_depth_walk(fresh_db: Mirror) -> None:
    fresh_db.apply(
        [
            session("agent:a:subagent:1", spawned_by="agent:a:subagent:2"),
            session("agent:a:subagent:2", spawned_by="agent:a:subagent:1"),
        ]
    )
    assert fresh_db.view.depth_of("agent:a:subagent:1") == 64


def test_active_children_counts_running_and_not_yet_ended_children(fresh_db: Mirror) -> None:
    fresh_db.apply(
        [
            session("agent:a:subagent:run", spawned_by=LEAD, status="running"),
            session("agent:a:subagent:new", spawned_by=LEAD),
            session("agent:a:subagent:done", spawned_by=LEAD, status="done"),
            session("agent:a:subagent:fail", spawned_by=LEAD, status="failed"),
            session("agent:a:subagent:ended", spawned_by=LEAD, status="paused", ended_at=5),
            session("agent:a:subagent:grand", spawned_by="agent:a:subagent:run", status="running"),
        ]
    )
    assert fresh_db.view.active_children(LEAD) == 2
    assert fresh_db.view.active_children("agent:a:subagent:run") == 1
    fresh_db.apply([session("agent:a:subagent:run", status="done")])
    assert fresh_db.view.active_children(LEAD) == 1
    fresh_db.remove("agent:a:subagent:new", "home")
    assert fresh_db.view.active_children(LEAD) == 0


def test_a_child_the_sidecar_just_spawned_is_visible_to_its_own_policy_at_once(fresh_db: Mirror) -> None:
    # Under `tree`, a cross-agent session is reachable only as the requester's own child.
    lead_policy = {"subagents": {"maxChildrenPerAgent": 1, "allowAgents": ["dev-1"]}}
    doc = {
        "tools": {"sessions": {"visibility": "tree"}},
        "agents": {"entries": {"lead": lead_policy, "dev-1": {}}},
    }
    policy = parse_policy(json.dumps(doc), "p.json5")
    lead = Requester.of("lead")
    child = "agent:dev-1:subagent:0b5c"
    assert not decide(policy, lead, "sessions_history", child, fresh_db.view).allowed
    assert decide(policy, lead, "sessions_spawn", "dev-1", fresh_db.view).allowed

    fresh_db.record_spawned_child(child, LEAD, "dev-1", "home")

    assert decide(policy, lead, "sessions_history", child, fresh_db.view).allowed
    spawn = decide(policy, lead, "sessions_spawn", "dev-1", fresh_db.view)
    assert not spawn.allowed and "max active children for this session (1/1)" in str(spawn.message)
    assert fresh_db.view.depth_of(child) == 1
    assert [r.key for r in fresh_db.view.children_of(LEAD)] == [child]


def test_session_keys_lists_newest_first_with_the_tool_row_fields(fresh_db: Mirror) -> None:
    fresh_db.apply(
        [
            session("agent:a:main", updated_at=10, gateway="home", kind="direct", display_name="main"),
            session("agent:b:main", updated_at=30, gateway="studio", status="done"),
            session("agent:a:subagent:x", updated_at=20, spawned_by="agent:a:main", depth=1, label="kid"),
            session("agent:a:undated"),
        ]
    )
    rows = fresh_db.view.session_keys()
    assert [r.key for r in rows] == ["agent:b:main", "agent:a:subagent:x", "agent:a:main", "agent:a:undated"]
    assert [r.key for r in fresh_db.view.session_keys("home", limit=2)] == [
        "agent:a:subagent:x",
        "agent:a:main",
    ]
    assert rows[1].as_tool_row() == {
        "key": "agent:a:subagent:x",
        "label": "kid",
        "spawnedBy": "agent:a:main",
        "spawnDepth": 1,
        "updatedAt": 20,
    }


def test_get_and_children_of_read_the_full_rows(fresh_db: Mirror) -> None:
    fresh_db.apply(
        [
            session("agent:a:subagent:1", spawned_by=LEAD, updated_at=1),
            session("agent:a:subagent:2", parent=LEAD, updated_at=2),
            session("agent:a:subagent:3", spawned_by="agent:x:main", parent=LEAD, updated_at=3),
        ]
    )
    assert [r.key for r in fresh_db.view.children_of(LEAD)] == ["agent:a:subagent:2", "agent:a:subagent:1"]
    assert fresh_db.view.get("AGENT:A:SUBAGENT:1") == fresh_db.view.get("agent:a:subagent:1")
    assert fresh_db.view.get("agent:a:subagent:1", "studio") is None
    assert fresh_db.view.get("agent:nobody:main") is None


def test_the_view_rebuilt_from_the_file_answers_as_the_live_one_did(db_path: Path) -> None:
    rows = [
        session("agent:a:subagent:1", spawned_by=LEAD, status="running"),
        session("agent:a:subagent:2", spawned_by="agent:a:subagent:1", depth=2),
    ]
    with Mirror.open(db_path) as mirror:
        mirror.apply(rows)
        mirror.set_agents("home", ["a", "lead"])
        live = [(mirror.view.parent_of(r.key), mirror.view.depth_of(r.key)) for r in rows]
    with Mirror.open(db_path) as again:
        assert [(again.view.parent_of(r.key), again.view.depth_of(r.key)) for r in rows] == live
        assert again.view.active_children(LEAD) == 1
        assert again.view.has_agent("a")


KEYS = [f"agent:a:subagent:{i}" for i in range(6)] + [LEAD]
STATUSES = st.sampled_from([None, "running", "done", "failed", "killed"])


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.tuples(st.just("put"), st.sampled_from(KEYS), st.sampled_from([*KEYS, None]), STATUSES),
            st.tuples(st.just("drop"), st.sampled_from(KEYS), st.none(), st.none()),
        ),
        max_size=40,
    )
)
def test_the_in_memory_counts_always_match_the_rows_on_disk(
    ops: list[tuple[str, str, str | None, str | None]],
) -> None:
    mirror = Mirror.memory()
    try:
        for op, key, parent, status in ops:
            if op == "put":
                mirror.apply([session(key, spawned_by=parent, status=status)])
            else:
                mirror.remove(key, "home")
        rows = mirror.view.session_keys()
        for key in KEYS:
            expected = sum(1 for r in rows if r.parent_key == key and r.active)
            assert mirror.view.active_children(key) == expected
            held = next((r for r in rows if r.key == key), None)
            assert mirror.view.parent_of(key) == (held.parent_key if held else None)
    finally:
        mirror.close()


def test_a_listing_reads_keys_alone_and_then_exactly_the_rows_of_its_page(fresh_db: Mirror) -> None:
    rows = [
        SessionRow(
            key=f"agent:lead:s{i:04d}",
            gateway="home",
            agent="lead",
            updated_at=None if i % 7 == 0 else i % 50,
        )
        for i in range(1200)
    ]
    fresh_db.apply(rows)
    ordered = [r.key for r in fresh_db.view.session_keys()]
    assert fresh_db.view.listing_keys() == ordered
    page = ordered[100:700]  # more keys than one IN (...) query takes
    assert [r.key for r in fresh_db.view.rows_for(page)] == page
    assert [r.key for r in fresh_db.view.rows_for(reversed(page))] == page
    recent = fresh_db.view.listing_keys(updated_since=45)
    assert recent == [
        k for k, r in zip(ordered, fresh_db.view.session_keys(), strict=True) if (r.updated_at or 0) >= 45
    ]


def test_a_reopened_mirror_answers_the_engine_exactly_as_the_one_that_wrote_it(tmp_path: Path) -> None:
    main = "agent:lead:main"
    rows = [SessionRow(key=main, gateway="home", agent="lead", seen_at=1.0)]
    for i in range(30):
        parent = main if i < 10 else f"agent:lead:subagent:c{i - 10:02d}"
        rows.append(
            SessionRow(
                key=f"agent:lead:subagent:c{i:02d}",
                gateway="home",
                agent="lead",
                spawned_by=parent if i % 3 else None,
                parent=parent,
                depth=None if i % 4 else (1 if i < 10 else 2),
                status=("running", "done", None)[i % 3],
                ended_at=None if i % 5 else 7,
                seen_at=2.0 + i,
            )
        )
    # The same key from a second gateway, written last: the view follows it.
    rows.append(SessionRow(key="agent:lead:subagent:c05", gateway="peer", agent="lead", seen_at=99.0))
    db = tmp_path / "mirror.db"
    with Mirror.open(db) as mirror:
        mirror.apply(rows[:-1])
        mirror.apply(rows[-1:])
        keys = [r.key for r in rows]
        before = [
            (k, mirror.view.parent_of(k), mirror.view.depth_of(k), mirror.view.active_children(k))
            for k in keys
        ]
    with Mirror.open(db) as again:
        after = [
            (k, again.view.parent_of(k), again.view.depth_of(k), again.view.active_children(k)) for k in keys
        ]
    assert after == before


def test_a_reopened_mirror_loads_the_very_index_its_writes_built(tmp_path: Path) -> None:
    """`SessionIndex.load` (SQLite works out the owner and activity) keeps what `put_all` kept, for every
    status, an end time with any status, an empty spawnedBy, a parent on another gateway, odd updatedAt."""
    statuses = [None, "running", "done", "failed", "killed", "timeout", "interrupted", "queued", ""]
    rows = []
    for i in range(120):
        rows.append(
            SessionRow(
                key=f"agent:lead:subagent:c{i:03d}",
                gateway=("home", "peer")[i % 2],
                agent="lead",
                spawned_by=("agent:lead:main", "", None)[i % 3],
                parent=("agent:lead:main", None, "agent:ops:main", "")[i % 4],
                parent_gateway=(None, "home", "")[i % 3] if i % 5 else "peer",
                depth=None if i % 4 else i % 3,
                status=statuses[i % len(statuses)],
                ended_at=None if i % 7 < 4 else 7,
                updated_at=(None, 5, 0, -3, 1 << 50, 1_795_000_000_000 + i)[i % 6],
                snapshot_at=None if i % 2 else i,
                seen_at=2.0 + i,
            )
        )
    db = tmp_path / "mirror.db"
    with Mirror.open(db) as mirror:
        mirror.apply(rows)
        nodes, active = dict(mirror._index.nodes), dict(mirror._index.active)
    with Mirror.open(db) as again:
        assert again._index.nodes == nodes
        assert again._index.active == active
