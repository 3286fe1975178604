"""The mirror keys sessions by (gateway, key): a peer's rows describe only that peer's sessions."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sidecar.mirror import SCHEMA_VERSION, Mirror, SessionRow

LEAD = "agent:lead:main"
CHILD = "agent:dev-2:subagent:x"


def row(key: str, gateway: str, **fields: object) -> SessionRow:
    return SessionRow.from_gateway({"key": key, **fields}, gateway, seen_at=1.0)


def test_a_peer_reporting_a_home_key_with_a_parent_does_not_re_parent_the_home_session() -> None:
    mirror = Mirror.memory()
    mirror.apply([row(CHILD, "home"), row(LEAD, "home")])
    mirror.apply([row(CHILD, "imac", spawnedBy=LEAD)])
    view = mirror.view
    assert view.owner_of(CHILD) is None  # home's dev-2 child has no parent
    assert view.owner_of(CHILD, "imac") == ("imac", LEAD)  # imac's own lead, on imac
    assert view.active_children(LEAD) == 0 and view.active_children(LEAD, "imac") == 1
    assert view.get(CHILD) is not None and view.get(CHILD).gateway == "home"  # type: ignore[union-attr]


def test_a_child_this_host_spawned_on_a_peer_is_owned_by_its_home_parent() -> None:
    mirror = Mirror.memory()
    mirror.record_spawned_child("agent:ultron:subagent:1", LEAD, "ultron", "studio", parent_gateway="home")
    assert mirror.view.owner_of("agent:ultron:subagent:1", "studio") == ("home", LEAD)
    assert mirror.view.active_children(LEAD) == 1
    assert mirror.view.depth_of("agent:ultron:subagent:1", "studio") == 1
    assert [r.key for r in mirror.view.children_of(LEAD)] == ["agent:ultron:subagent:1"]
    assert mirror.view.children_of(LEAD, "studio") == []


def test_agents_are_held_per_gateway() -> None:
    mirror = Mirror.memory()
    mirror.set_agents("home", ["main", "jarvis"])
    mirror.set_agents("imac", ["main", "pepper"])
    assert mirror.view.has_agent("pepper") and mirror.view.has_agent("pepper", "imac")
    assert not mirror.view.has_agent("pepper", "home") and not mirror.view.has_agent("jarvis", "imac")


def test_a_version_1_mirror_is_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / "mirror.db"
    with Mirror.open(path) as mirror:
        mirror.apply([row(CHILD, "home", spawnedBy=LEAD)])
    conn = sqlite3.connect(path)
    # Rebuild the tables as version 1 had them: no gateway columns beyond sessions.gateway.
    conn.executescript(
        """
        ALTER TABLE sessions DROP COLUMN parent_gateway;
        ALTER TABLE decisions DROP COLUMN requester_gateway;
        ALTER TABLE decisions DROP COLUMN target_gateway;
        ALTER TABLE decisions DROP COLUMN side;
        ALTER TABLE outbox DROP COLUMN requester_gateway;
        ALTER TABLE sync_cursor DROP COLUMN mode;
        ALTER TABLE sync_cursor DROP COLUMN stale_bound;
        ALTER TABLE sync_cursor DROP COLUMN openclaw_version;
        PRAGMA user_version = 1;
        """
    )
    conn.close()
    with Mirror.open(path) as mirror:
        assert mirror.pragma("user_version") == SCHEMA_VERSION
        assert mirror.view.owner_of(CHILD) == ("home", LEAD)
        mirror.decisions.record(
            requester_agent="jarvis",
            requester_session="agent:jarvis:main",
            tool="sessions_send",
            target="agent:pepper:main",
            outcome="allowed",
            gateway="imac",
        )
        [record] = mirror.decisions.recent(1)
        assert (record.requester_gateway, record.target_gateway, record.side) == ("home", "imac", "outbound")


def test_a_version_2_mirror_gains_the_release_and_polling_columns(tmp_path: Path) -> None:
    path = tmp_path / "mirror.db"
    with Mirror.open(path) as mirror:
        mirror.cursors.update("home", state="live")
    conn = sqlite3.connect(path)
    conn.executescript(
        """
        ALTER TABLE sync_cursor DROP COLUMN mode;
        ALTER TABLE sync_cursor DROP COLUMN stale_bound;
        ALTER TABLE sync_cursor DROP COLUMN openclaw_version;
        PRAGMA user_version = 2;
        """
    )
    conn.close()
    with Mirror.open(path) as mirror:
        assert mirror.pragma("user_version") == SCHEMA_VERSION
        mirror.cursors.update("home", mode="polling", stale_bound=12.0, openclaw_version="2026.3.13")
        cursor = mirror.cursors.get("home")
        assert cursor is not None and (cursor.mode, cursor.openclaw_version) == ("polling", "2026.3.13")
