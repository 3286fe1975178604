"""The mirror against the real OpenClaw gateway (session fixture `openclaw_gateway`), over GatewayClient."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest
from harness import Gateway

from sidecar.gateway import GatewayClient, GatewayEvent, TokenStore
from sidecar.mirror import Mirror, MirrorSync

pytestmark = [pytest.mark.anyio, pytest.mark.gateway]


class MemorySecrets:
    """A SecretStore in a dict: the device key never touches the OS keyring in tests."""

    kind = "memory"

    def __init__(self) -> None:
        self.entries: dict[str, str] = {}

    def get(self, name: str) -> str | None:
        return self.entries.get(name)

    def set(self, name: str, value: str) -> None:
        self.entries[name] = value

    def delete(self, name: str) -> None:
        self.entries.pop(name, None)


@asynccontextmanager
async def live_mirror(gw: Gateway, mirror: Mirror) -> AsyncIterator[tuple[GatewayClient, MirrorSync]]:
    tokens = TokenStore(MemorySecrets())
    identity = await tokens.identity(gw.url, "main")
    async with GatewayClient(gw.url, identity, tokens, "main", shared_token=gw.token) as client:
        syncer = MirrorSync(mirror, client, gateway="home", page_size=2)
        async with anyio.create_task_group() as tg:
            with anyio.fail_after(60):
                await tg.start(syncer.run)
            yield client, syncer
            tg.cancel_scope.cancel()


async def until_event(
    events: AsyncIterator[GatewayEvent], match: Callable[[GatewayEvent], bool], seconds: float = 90
) -> GatewayEvent:
    """The first event that matches; then every task (the mirror's event task too) has caught up."""
    with anyio.fail_after(seconds):
        async for event in events:
            if match(event):
                await anyio.wait_all_tasks_blocked()
                return event
    raise AssertionError("the event stream ended")  # pragma: no cover


def changed(
    key: str, test: Callable[[dict[str, Any]], bool] = lambda _: True
) -> Callable[[GatewayEvent], bool]:
    def match(event: GatewayEvent) -> bool:
        payload = event.payload if isinstance(event.payload, dict) else {}
        return event.event == "sessions.changed" and payload.get("sessionKey") == key and test(payload)

    return match


async def test_a_sync_after_a_turn_sees_the_agents_main_session_and_follows_its_changes(
    openclaw_gateway: Gateway, fresh_db: Mirror
) -> None:
    turn = await anyio.to_thread.run_sync(lambda: openclaw_gateway.turn("dev-1", "hi", timeout=90))
    assert turn["status"] == "ok"
    progress: list[tuple[int, int]] = []
    async with live_mirror(openclaw_gateway, fresh_db) as (client, syncer):
        syncer.progress = lambda done, total: progress.append((done, total))
        row = fresh_db.view.get("agent:dev-1:main")
        assert row is not None, [r.key for r in fresh_db.view.session_keys()]
        assert (row.gateway, row.agent, row.kind, row.status) == ("home", "dev-1", "direct", "done")
        assert row.session_id and row.updated_at and row.snapshot_at and row.ended_at
        assert "agent:main:main" in fresh_db.view  # the fixture's warm-up turn
        assert fresh_db.view.has_agent("dev-1") and fresh_db.view.has_agent("research")
        assert not fresh_db.view.has_agent("ghost")
        cursor = fresh_db.cursors.get("home")
        assert cursor is not None and cursor.state == "live" and cursor.rows == fresh_db.count("home")

        label = f"mirror-{uuid.uuid4().hex[:8]}"
        async with client.events() as events:
            await client.request("sessions.patch", {"key": "agent:dev-1:main", "label": label})
            await until_event(events, changed("agent:dev-1:main", lambda p: p.get("label") == label))
        row = fresh_db.view.get("agent:dev-1:main")
        assert row is not None and row.label == label
        cursor = fresh_db.cursors.get("home")
        assert cursor is not None and cursor.seq is not None and cursor.last_event is not None

        await syncer.snapshot()  # pages of 2 over every session, with progress
        assert progress and progress[-1][0] == progress[-1][1] == fresh_db.count("home")
        assert len(progress) == -(-fresh_db.count("home") // 2)
    dump = "\n".join(fresh_db.db.conn.iterdump())
    assert "echo: hi" not in dump  # rows carry lastMessagePreview; the mirror never keeps it


async def test_a_child_spawned_on_the_gateway_arrives_with_its_parent(
    openclaw_gateway: Gateway, fresh_db: Mirror
) -> None:
    label = f"kid-{uuid.uuid4().hex[:8]}"
    spawn = {"id": "sessions_spawn", "args": {"task": "say hi", "label": label}}
    async with live_mirror(openclaw_gateway, fresh_db) as (client, _), client.events() as events:
        turn = await anyio.to_thread.run_sync(
            lambda: openclaw_gateway.turn("research", f"CALL tool_call {json.dumps(spawn)}", timeout=90)
        )
        assert turn["status"] == "ok", turn

        def child_with_parent(event: GatewayEvent) -> bool:
            session = (event.payload or {}).get("session") if isinstance(event.payload, dict) else None
            return (
                event.event == "sessions.changed"
                and isinstance(session, dict)
                and session.get("label") == label
                and session.get("spawnedBy") == "agent:research:main"
            )

        event = await until_event(events, child_with_parent)
        child = event.payload["sessionKey"]
        assert child.startswith("agent:research:subagent:")
        assert fresh_db.view.parent_of(child) == "agent:research:main"
        assert fresh_db.view.depth_of(child) == 1
        assert child in [r.key for r in fresh_db.view.children_of("agent:research:main")]
        found = await MirrorSync(fresh_db, client).ensure_known("agent:research:subagent:no-such-child")
        assert found is None
