"""In-memory stand-ins for unit tests: a gateway that behaves like OpenClaw's RPCs, and a session store.

Unit tests only. Every behaviour they stand in for is also exercised against a real gateway.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sidecar.policy import StaticView
from sidecar.tools import GatewayPool


@dataclass
class Accepted:
    run_id: str


@dataclass
class FakeGateway:
    """sessions.list / chat.history / agent / agent.wait / sessions.create / sessions.resolve, in memory."""

    agents: list[str]
    histories: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    runs: dict[str, int] = field(default_factory=dict)
    calls: list[tuple[str, Any]] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    fail_next: list[Exception] = field(default_factory=list)
    lose_next_runs: int = 0
    lost: set[str] = field(default_factory=set)

    async def request(
        self, method: str, params: Any = None, *, timeout: float | None = None, idempotent: bool = False
    ) -> Any:
        self.calls.append((method, params))
        if self.fail_next:
            raise self.fail_next.pop(0)
        if method == "chat.history":
            return {
                "sessionKey": params["sessionKey"],
                "messages": list(self.histories.get(params["sessionKey"], []))[-params.get("limit", 200) :],
            }
        if method == "agent.wait" and params["runId"] in self.lost:
            return {"runId": params["runId"], "status": "error", "error": "SESSION_WORK_START_CHANGED"}
        if method == "agent.wait":
            return {
                "runId": params["runId"],
                "status": "ok",
                "terminalReply": {"disposition": "visible", "text": self._last_reply(params["runId"])},
            }
        if method == "sessions.list":
            search = (params or {}).get("search")
            rows = [{"key": k, "updatedAt": 1} for k in self.histories if search is None or search in k]
            return {"sessions": rows, "hasMore": False}
        if method == "sessions.create":
            key = params["key"]
            self.histories.setdefault(key, []).append({"role": "user", "content": params["task"]})
            self.runs[params["idempotencyKey"]] = self.runs.get(params["idempotencyKey"], 0) + 1
            return {"key": key, "sessionId": "s-" + key[-4:], "runId": params["idempotencyKey"]}
        if method == "sessions.resolve":
            if params.get("label") in self.labels:
                return {"ok": True, "key": self.labels[params["label"]]}
            raise LookupError(f"No session found with label: {params.get('label')}")
        if method == "agents.list":
            return {"agents": [{"id": a} for a in self.agents]}
        raise AssertionError(f"unexpected method {method}")

    async def agent(self, params: Any, *, timeout: float | None = None, resend: bool = True) -> Accepted:
        self.calls.append(("agent", params))
        if self.fail_next:
            raise self.fail_next.pop(0)
        key = params["idempotencyKey"]
        if self.runs.get(key):
            return Accepted(key)  # the gateway replays an idempotency key it has seen
        self.runs[key] = 1
        if self.lose_next_runs:
            # Accepted, then failed before the message entered the session (seen after a restart).
            self.lose_next_runs -= 1
            self.lost.add(key)
            return Accepted(key)
        history = self.histories.setdefault(params["sessionKey"], [])
        text = params["message"]
        history.append(
            {
                "role": "user",
                "content": text,
                "idempotencyKey": f"{key}:user",
                "provenance": params.get("inputProvenance"),
            }
        )
        history.append(
            {
                "role": "assistant",
                "content": [{"type": "text", "text": "echo: " + text.split("\n\n[sidecar-trace")[0]}],
                "runId": key,
            }
        )
        return Accepted(key)

    def _last_reply(self, run_id: str) -> str:
        for messages in self.histories.values():
            for message in messages:
                if message.get("runId") == run_id:
                    return str(message["content"][0]["text"])
        return ""


@dataclass
class MemoryStore:
    """The Store protocol over dicts."""

    agents: frozenset[str] = frozenset()
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    parents: dict[str, str] = field(default_factory=dict)
    peer_parents: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)
    decisions: list[dict[str, Any]] = field(default_factory=list)
    outbox: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def view(self) -> StaticView:
        return StaticView(agents=self.agents, parents=self.parents, peer_parents=self.peer_parents)

    def rows(self, gateway: str | None = None) -> list[dict[str, Any]]:
        return [r for r in self.sessions.values() if gateway is None or r.get("gateway") == gateway]

    def keys(self, gateway: str | None = None, *, updated_since: int | None = None) -> list[str]:
        return [
            r["key"]
            for r in self.rows(gateway)
            if updated_since is None or (r.get("updatedAt") or 0) >= updated_since
        ]

    def rows_for(self, keys: Sequence[str], gateway: str | None = None) -> list[dict[str, Any]]:
        wanted = set(keys)
        return [r for r in self.rows(gateway) if r["key"] in wanted]

    def catching_up(self, gateway: str) -> bool:
        return False

    def get(self, key: str, gateway: str | None = None) -> dict[str, Any] | None:
        found = self.sessions.get(key)
        return found if found is None or gateway is None or found.get("gateway") == gateway else None

    async def ensure_known(self, key: str, gateway: str, request: Any) -> None:
        found = await request("sessions.list", {"search": key, "limit": 50})
        for row in (found or {}).get("sessions", []) if isinstance(found, dict) else []:
            if isinstance(row, dict) and row.get("key") == key:
                self.upsert(row, gateway)

    def upsert(self, row: dict[str, Any], gateway: str) -> None:
        self.sessions[row["key"]] = {**row, "gateway": gateway, "agent": row["key"].split(":")[1]}
        if row.get("spawnedBy"):
            self.parents[row["key"]] = row["spawnedBy"]

    def record_spawned_child(
        self, child_key: str, parent_key: str, agent: str, gateway: str, parent_gateway: str = "home"
    ) -> None:
        if gateway == "home" and parent_gateway == "home":
            self.parents[child_key] = parent_key
        else:
            self.peer_parents[(gateway, child_key)] = (parent_gateway, parent_key)
        self.sessions[child_key] = {
            "key": child_key,
            "agent": agent,
            "gateway": gateway,
            "spawnedBy": parent_key,
        }

    def log_decision(self, **fields: Any) -> None:
        self.decisions.append(fields)

    def outbox_begin(self, key: str, **fields: Any) -> dict[str, Any]:
        return self.outbox.setdefault(key, {"idempotency_key": key, "status": "pending", **fields})

    def outbox_pending(self) -> list[dict[str, Any]]:
        return [e for e in self.outbox.values() if e["status"] == "pending"]

    def outbox_finish(
        self, key: str, status: str, run_id: str | None = None, error: str | None = None
    ) -> None:
        self.outbox[key].update(status=status, run_id=run_id, error=error, body=None)


def home_fleet(gw: FakeGateway, agents: Sequence[str]) -> tuple[MemoryStore, GatewayPool]:
    """A mirror and a gateway pool over `gw`: each agent's main session exists at the gateway and in the
    mirror, and the pool's home gateway is `gw`."""
    for agent in agents:
        gw.histories.setdefault(f"agent:{agent}:main", [])
    store = MemoryStore(agents=frozenset(agents))
    for key in gw.histories:
        store.upsert({"key": key, "updatedAt": 1, "kind": "other"}, "home")

    async def connect(name: str, url: str, insecure: bool) -> FakeGateway:
        return gw

    return store, GatewayPool("ws://127.0.0.1:1", (), connect)


def reply_text(content: dict[str, Any] | None) -> str:
    """The text of a sessions_send reply, checking it came back as history does: another session's data."""
    assert content is not None
    reply = content["reply"]
    assert reply["type"] == "inter_session_data" and reply["trusted"] is False, reply
    assert reply["sourceSession"] == content["sessionKey"]
    return str(reply["data"]["content"])
