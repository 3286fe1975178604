"""ListingIndex: each requester's visible rows kept in sessions_list order as rows are written.

Every answer is checked against the path it replaces, worked out from scratch: every key from SQLite in
`listing_keys` order, the list guard over each (`filter_sessions`), then the page cut.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from sidecar.mirror import Mirror, ServiceStore, SessionRow
from sidecar.mirror._listing import BULK_ROWS, since_cut, sort_key
from sidecar.policy import ListGuard, Policy, Requester, filter_sessions, parse_policy

REPO = Path(__file__).resolve().parents[2]
AGENTS = ("manager", "lead", "dev-1", "dev-2", "hr")
REQUESTERS = (
    Requester.of("manager"),  # all
    Requester.of("lead"),  # scoped to dev-*
    Requester.of("dev-2"),  # self
    Requester.of("dev-1", "agent:dev-1:side"),  # self, a named session
)


def hierarchy(visibility: str | None = None) -> Policy:
    doc: dict[str, Any] = json.loads((REPO / "scenarios" / "hierarchy.json").read_text(encoding="utf-8"))[
        "policy"
    ]
    if visibility is not None:
        doc["agents"]["entries"]["dev-2"]["tools"]["sessions"]["visibility"] = visibility
    return parse_policy(json.dumps(doc), "hierarchy.json5")


def row(key: str, updated: int | None, gateway: str = "home", parent: str | None = None) -> SessionRow:
    return SessionRow(
        key=key,
        gateway=gateway,
        agent=key.split(":")[1] if ":" in key else "main",
        updated_at=updated,
        spawned_by=parent,
    )


def fast(
    mirror: Mirror, policy: Policy, who: Requester, **kw: Any
) -> tuple[list[str | tuple[str, str]], int]:
    shows = ListGuard(policy, who, mirror.view)
    return ServiceStore(mirror).visible_page(shows, who, **kw)


def slow(
    mirror: Mirror,
    policy: Policy,
    who: Requester,
    *,
    gateway: str | None = None,
    updated_since: int | None = None,
    limit: int | None = None,
) -> tuple[list[str | tuple[str, str]], int]:
    keys = mirror.view.listing_keys(gateway, updated_since=updated_since)
    scope = filter_sessions(policy, who, keys, mirror.view)
    page = list(scope.visible)
    return (page if limit is None else page[:limit]), scope.hidden


def agree(mirror: Mirror, policy: Policy, **kw: Any) -> None:
    for who in REQUESTERS:
        assert fast(mirror, policy, who, **kw) == slow(mirror, policy, who, **kw), (who.session_key, kw)


def test_sort_keys_follow_updated_at_newest_first_undated_last_then_first_written() -> None:
    keys = [sort_key(10, 1), sort_key(None, 2), sort_key(30, 3), sort_key(10, 4), sort_key(None, 0)]
    assert sorted(keys) == [
        sort_key(30, 3),
        sort_key(10, 1),
        sort_key(10, 4),
        sort_key(None, 0),
        sort_key(None, 2),
    ]
    cut = since_cut(20)
    assert cut is not None and sort_key(30, 9) < cut <= sort_key(19, 0) and sort_key(None, 0) >= cut
    assert since_cut(None) is None and since_cut(0) is None


def test_pages_match_the_full_scan_through_puts_drops_bulk_writes_and_a_reopen(tmp_path: Path) -> None:
    rng = random.Random(13)
    path = tmp_path / "mirror.db"
    mirror = Mirror.open(path)
    policy = hierarchy()
    written: list[tuple[str, str]] = []
    try:
        for step in range(120):
            choice = rng.random()
            if choice < 0.6 or not written:
                agent = rng.choice(AGENTS)
                name = rng.choice(["main", "side", f"s{rng.randrange(40)}", f"subagent:c{rng.randrange(9)}"])
                gateway = "home" if rng.random() < 0.85 else "studio"
                updated = None if rng.random() < 0.1 else rng.randrange(1, 50)  # ties on purpose
                mirror.apply([row(f"agent:{agent}:{name}", updated, gateway)])
                written.append((gateway, f"agent:{agent}:{name}"))
            elif choice < 0.8:
                gateway, key = rng.choice(written)
                mirror.remove(key, gateway)
            elif choice < 0.9:
                batch = [
                    row(f"agent:{rng.choice(AGENTS)}:b{step}-{i}", rng.randrange(1, 50))
                    for i in range(BULK_ROWS + 5)
                ]
                mirror.apply(batch)
            else:
                mirror.close()
                mirror = Mirror.open(path)
            agree(mirror, policy, limit=rng.choice([None, 1, 7, 100]))
            agree(mirror, policy, updated_since=rng.randrange(0, 60), limit=10)
            agree(mirror, policy, gateway=rng.choice(["home", "studio"]), limit=None)
    finally:
        mirror.close()


def test_a_hidden_session_never_appears_and_each_write_moves_its_count(fresh_db: Mirror) -> None:
    policy, dev2 = hierarchy(), Requester.of("dev-2")
    fresh_db.apply([row("agent:dev-2:main", 5), row("agent:lead:main", 6)])
    assert fast(fresh_db, policy, dev2) == (["agent:dev-2:main"], 1)
    fresh_db.apply([row("agent:hr:secret", 100)])  # newest of all, still not dev-2's
    assert fast(fresh_db, policy, dev2) == (["agent:dev-2:main"], 2)
    fresh_db.remove("agent:lead:main", "home")
    assert fast(fresh_db, policy, dev2) == (["agent:dev-2:main"], 1)
    fresh_db.remove("agent:dev-2:main", "home")
    assert fast(fresh_db, policy, dev2) == ([], 1)


def test_a_row_that_becomes_the_requesters_child_is_shown_from_its_write(fresh_db: Mirror) -> None:
    policy, dev2 = hierarchy("tree"), Requester.of("dev-2")
    fresh_db.apply([row("agent:dev-2:main", 5), row("agent:dev-2:subagent:c1", 4)])
    fresh_db.apply([row("agent:dev-2:subagent:c2", 3, parent="agent:hr:main")])
    page, _ = fast(fresh_db, policy, dev2)
    assert page == slow(fresh_db, policy, dev2)[0]
    fresh_db.apply([row("agent:dev-2:subagent:c3", 7, parent="agent:dev-2:main")])
    assert fast(fresh_db, policy, dev2) == slow(fresh_db, policy, dev2)
    assert "agent:dev-2:subagent:c3" in fast(fresh_db, policy, dev2)[0]


def test_a_reloaded_policy_rebuilds_the_listing(fresh_db: Mirror) -> None:
    dev2 = Requester.of("dev-2")
    fresh_db.apply([row("agent:dev-2:main", 5), row("agent:hr:main", 6), row("agent:dev-1:main", 7)])
    assert fast(fresh_db, hierarchy(), dev2) == (["agent:dev-2:main"], 2)
    wider = hierarchy("agent")
    assert fast(fresh_db, wider, dev2) == slow(fresh_db, wider, dev2)
    fresh_db.apply([row("agent:dev-2:side", 9)])
    assert fast(fresh_db, wider, dev2) == (["agent:dev-2:side", "agent:dev-2:main"], 2)
    narrower = hierarchy()  # back to self: a new Policy object, so nothing kept under `wider` is reused
    assert fast(fresh_db, narrower, dev2) == (["agent:dev-2:main"], 3)


def test_kinds_and_unknown_rows_are_filtered_without_counting_as_hidden(fresh_db: Mirror) -> None:
    policy, manager = hierarchy(), Requester.of("manager")
    fresh_db.apply([row("agent:manager:main", 5), row("agent:manager:cron:nightly", 6), row("unknown", 7)])
    shows = ListGuard(policy, manager, fresh_db.view)
    store = ServiceStore(fresh_db)
    every, hidden = store.visible_page(shows, manager)
    crons, _ = store.visible_page(shows, manager, want=lambda ref: ":cron:" in str(ref))
    assert (every, hidden) == slow(fresh_db, policy, manager)
    assert crons == ["agent:manager:cron:nightly"]
