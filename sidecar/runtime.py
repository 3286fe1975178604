"""Everything a sidecar owns: the secret store, the mirror, gateway connections, syncs.

`sidecar serve` runs one for its agent; the host runs one for every agent it serves (`serve_agent`), so
each agent has its own service, its own pause file and budgets, on the one shared mirror and connection.

Connections open on first use. Opening one also learns that gateway's agents and starts its mirror
sync; the first call waits until the first snapshot is in, so the first decision sees real sessions.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import anyio
from anyio.abc import TaskGroup

from sidecar.config import mirror_path, state_dir
from sidecar.gateway import GatewayClient, GatewayError, TokenStore
from sidecar.mirror import (
    FLUSH_AFTER_S,
    Mirror,
    MirrorError,
    MirrorSync,
    PauseFile,
    Retention,
    ServiceStore,
    usage_of,
)
from sidecar.peers import PeerLinks, secret_name
from sidecar.policy import Policy, Requester, Tool, Usage, decision_retention
from sidecar.secrets import SecretStore, open_secret_store
from sidecar.tools import HOME, GatewayFault, GatewayLike, GatewayPool, RoutingError, SessionsService

log = logging.getLogger("sidecar")
PEER_RETRY_S = 5.0
Connector = Callable[[str, str, bool], Awaitable[GatewayLike]]
UsageSource = Callable[[Tool], Usage]


@dataclass
class Runtime:
    policy: Policy
    requester: Requester
    home_url: str
    token_env: str = "OPENCLAW_GATEWAY_TOKEN"
    token_store: str | None = None
    db: Path | None = None
    # Where each agent's pause file is read (the host: each agent's own state directory, where
    # `sidecar pause --agent ID` writes it); by default this sidecar's state directory.
    pause_dir: Callable[[str], Path] | None = None
    # Opens one gateway connection (name, url, allow_insecure); by default the real gateway client.
    connect: Connector | None = None
    mirror: Mirror | None = field(default=None, init=False)
    pool: GatewayPool | None = field(default=None, init=False)
    _tokens: TokenStore | None = field(default=None, init=False)
    _tasks: TaskGroup | None = field(default=None, init=False)
    _closed: bool = field(default=False, init=False)
    service: SessionsService | None = field(default=None, init=False)
    # Every agent this runtime serves, each deciding as its main session (`as_caller` rebinds per call).
    services: dict[str, SessionsService] = field(default_factory=dict, init=False)
    # Called after a reloaded policy is in force (the MCP server recomputes its offered tools).
    on_policy: list[Callable[[], Awaitable[object]]] = field(default_factory=list, init=False)
    _ready: anyio.Event = field(default_factory=anyio.Event, init=False)
    _secrets: SecretStore | None = field(default=None, init=False, repr=False)
    _peer_secrets: dict[str, str] = field(default_factory=dict, init=False, repr=False)
    _gateway_defaults: tuple[str, str] | None = field(default=None, init=False)
    _pauses: dict[str, PauseFile] = field(default_factory=dict, init=False)
    _store: ServiceStore | None = field(default=None, init=False)
    _links: PeerLinks | None = field(default=None, init=False)
    _unserved: set[str] = field(default_factory=set, init=False)

    @property
    def state_dir(self) -> Path:
        return self.db.parent if self.db is not None else state_dir(self.requester.agent_id)

    async def open(self) -> SessionsService:
        """Open the secret store and mirror; gateways connect later, on first use."""
        secrets = await anyio.to_thread.run_sync(lambda: open_secret_store(self.token_store))
        self._secrets = secrets
        self._tokens = TokenStore(secrets)
        self._peer_secrets = {
            p.name: found
            for p in self.policy.peers
            if p.mode == "sidecar" and (found := secrets.get(secret_name(p.name)))
        }
        path = self.db or mirror_path(self.requester.agent_id)
        self.mirror = Mirror.open(path)
        self.mirror.decisions.retention = Retention(*decision_retention(self.policy))
        self.pool = GatewayPool(self.home_url, self.policy.peers, self.connect or self._connect)
        for peer in self.policy.peers:
            self.mirror.set_agents(peer.name, peer.agents, source="config")
        # Until a gateway answers this run, decide with the release it ran last time (the mirror knows).
        for cursor in self.mirror.cursors.all():
            if cursor.openclaw_version:
                self.pool.learn_release(cursor.gateway, cursor.openclaw_version)
        self._store = ServiceStore(self.mirror)
        self._links = PeerLinks(self.policy, lambda name: self._peer_secrets.get(name.split(":", 1)[-1]))
        self.service = self.serve_agent(self.requester)
        return self.service

    def serve_agent(self, requester: Requester) -> SessionsService:
        """The service of another agent on this runtime's mirror and gateways (the host serves every agent
        of its policy): its own pause file and budgets, the same peer links."""
        assert self.pool is not None and self._store is not None
        service = SessionsService(
            self.policy,
            requester,
            self._store,
            self.pool,
            peers=self._links,
            usage=self.usage_for(requester.agent_id),
        )
        self.services[requester.agent_id] = service
        return service

    def pause_file(self, agent_id: str) -> PauseFile:
        found = self._pauses.get(agent_id)
        if found is None:
            where = self.pause_dir(agent_id) if self.pause_dir is not None else self.state_dir
            found = self._pauses[agent_id] = PauseFile.in_dir(where)
        return found

    def usage_for(self, agent_id: str) -> UsageSource:
        """The operator's facts for `agent_id`'s next call: its pause file, and for sends and spawns the
        counts against its budgets (its rows of the outbox, the decision log and the mirror)."""
        pause = self.pause_file(agent_id)

        def usage(tool: Tool) -> Usage:
            assert self.mirror is not None
            paused = pause.read()
            agent = self.policy.for_agent(agent_id)
            send, spawn = tool == "sessions_send", tool == "sessions_spawn"
            if not (send or spawn):
                return Usage(paused=paused)
            return usage_of(
                self.mirror,
                agent_id,
                paused,
                time.time(),
                sends=send and agent.sends_per_day.value is not None,
                spawns=spawn and agent.spawns_per_hour.value is not None,
                children=spawn and agent.max_active_children.value is not None,
            )

        return usage

    def vet(self, policy: Policy) -> str | None:
        """Why a reloaded policy cannot replace the current one, or None."""
        served = list(self.services) or [self.requester.agent_id]
        gone = [agent for agent in served if agent not in policy.known_agents]
        if not gone:
            return None
        names = ", ".join(repr(a) for a in gone)
        return (
            f"agent {names}, which this sidecar serves, is no longer in the policy; add "
            + ", ".join(f"agents.entries.{a}: {{}}" for a in gone)
            + f" back (to stop it, use `sidecar pause --agent {gone[0]}`)"
        )

    async def adopt(self, policy: Policy) -> None:
        """Put a reloaded policy in force for every agent served: the next call is decided by it."""
        if self._gateway_defaults is not None:
            policy = policy.with_gateway_defaults(*self._gateway_defaults)
        self.policy = policy
        if self.mirror is not None:
            self.mirror.decisions.retention = Retention(*decision_retention(policy))
        for service in self.services.values():
            service.adopt(policy)
        for callback in self.on_policy:
            await callback()

    def writers(self) -> list[SessionsService]:
        """A service deciding as each of this host's sessions that left a send pending, so a resumed send
        goes out as the session that wrote it. A send from an agent not served here, or received from a
        peer's sidecar (which resends it itself), stays pending."""
        assert self._store is not None
        found: dict[str, SessionsService] = {}
        for entry in self._store.outbox_pending():
            session = str(entry.get("requester") or "")
            if str(entry.get("requester_gateway") or HOME) != HOME or session in found:
                continue
            agent = session.split(":")[1] if session.count(":") >= 2 else ""
            base = self.services.get(agent)
            try:
                if base is None:
                    raise ValueError(f"agent {agent!r} is not served here")
                found[session] = base.as_caller(Requester.of(agent, session, main_key=self.policy.main_key))
            except ValueError as exc:  # MalformedKey is a ValueError
                if session not in self._unserved:
                    self._unserved.add(session)
                    log.warning("sends pending from %s stay pending: %s", session or "?", exc)
        return list(found.values())

    async def resume_pending(self) -> int:
        """Deliver the sends a previous run left pending, each as the session that wrote it."""
        resumed = 0
        for writer in self.writers():
            resumed += await writer.resume_pending()
        return resumed

    async def resume_peers(self) -> int:
        """Deliver sends to sidecar peers that stayed pending while a peer was down, each as its writer."""
        resumed = 0
        for writer in self.writers():
            try:
                resumed += await writer.sends.resume_peers()
            except Exception as exc:  # the loop must outlive any one peer's trouble
                log.warning("resuming peer sends of %s failed: %s", writer.requester.session_key, exc)
        return resumed

    async def _connect(self, name: str, url: str, allow_insecure: bool) -> GatewayClient:
        assert self._tokens is not None and self.mirror is not None and self.pool is not None
        peer = self.policy.peer(name)
        if peer is not None and peer.mode == "sidecar":
            # Never a device on another host's gateway: that host's sidecar acts there for us.
            raise RoutingError(f"{name} is reached through its sidecar ({peer.sidecar}), not its gateway")
        await self._ready.wait()
        agent = self.requester.agent_id
        identity = await self._tokens.identity(url, agent)
        shared = (os.environ.get(self.token_env) or None) if name == HOME else None
        client = GatewayClient(
            url, identity, self._tokens, agent, shared_token=shared, allow_insecure=allow_insecure
        )
        hello = await client.connect()
        if client.features is not None:
            # Decisions follow this gateway's own release (its defaults, guard and denial strings).
            self.pool.learn_release(name, client.features.adapter.measured)
            self.mirror.cursors.update(name, openclaw_version=hello.server_version)
        defaults = hello.session_defaults
        if name == HOME and defaults is not None and defaults.default_agent_id:
            self._gateway_defaults = (defaults.default_agent_id, defaults.main_key or "main")
            if self.policy.with_gateway_defaults(*self._gateway_defaults) is not self.policy:
                await self.adopt(self.policy)
        listed: Any = await client.request("agents.list", {}, idempotent=True)
        ids = [a["id"] for a in (listed or {}).get("agents", []) if isinstance(a, dict) and "id" in a]
        self.pool.learn_agents(name, ids)
        self.mirror.set_agents(name, ids)
        assert self._tasks is not None
        held = self.mirror.cursors.get(name)
        if held is not None and held.last_full_sync is not None:
            # A restart with this gateway's sessions on disk: serve from them at once and let the
            # snapshot catch up behind (sessions_list says `fresh: false` until it is in). Waiting for it
            # made the first tool call of a sidecar mirroring 100k sessions wait for 100 pages.
            self._tasks.start_soon(partial(self._sync, name, client, behind=True))
        else:
            try:
                await self._tasks.start(self._sync, name, client)
            except BaseException:
                await client.close()
                raise
        log.info("connected to %s (%s): %d agents", name, url, len(ids))
        return client

    async def _sync(
        self,
        name: str,
        client: GatewayClient,
        *,
        behind: bool = False,
        task_status: Any = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        assert self.mirror is not None and self.pool is not None
        syncer = MirrorSync(self.mirror, client, gateway=name)
        status = _Started(task_status)
        status.done = behind  # nobody waits for a sync that catches up behind: failures are logged
        try:
            await syncer.run(task_status=status)
        except (GatewayError, MirrorError, sqlite3.Error) as exc:
            if not status.done:
                raise  # the first snapshot failed: the caller that is connecting reports it
            # The next tool call reconnects and surfaces the same error with its remedy.
            log.warning("mirror sync for %s stopped: %s", name, exc)
            self.pool.forget(name)

    async def keep_mirror_fresh(self) -> None:
        """Host the sync tasks for as long as the server runs; connect home eagerly, but never fail startup."""
        assert self.pool is not None
        async with anyio.create_task_group() as tasks:
            self._tasks = tasks
            tasks.start_soon(self._write_decisions)
            self._ready.set()
            try:
                await self.pool.client(HOME)
            except Exception as exc:
                # Never let startup trouble take the server down: each tool call retries and reports it.
                log.warning("home gateway not ready at startup (%s); tools will retry on use", exc)
            if self.service is not None:
                resumed = await self.resume_pending()
                if resumed:
                    log.info("resumed %d send(s) left pending by a previous run", resumed)
                await self._peer_loop()
            await anyio.sleep_forever()

    async def _write_decisions(self) -> None:
        """The decision log's writer: batch what tool calls journaled into the database, off their path."""
        assert self.mirror is not None
        decisions = self.mirror.decisions
        while True:
            await anyio.sleep(FLUSH_AFTER_S / 2)
            if decisions.flush_due():
                try:
                    decisions.flush()
                except (MirrorError, sqlite3.Error) as exc:
                    # Nothing acknowledged is lost: the rows stay journaled until a flush succeeds.
                    log.warning(
                        "decision log: %d decisions wait for the database (%s)", decisions.pending, exc
                    )

    async def _peer_loop(self) -> None:
        """Learn each sidecar peer's agents, and deliver sends that stayed pending while a peer was down."""
        assert self.service is not None and self.mirror is not None and self.pool is not None
        peers = [p for p in self.policy.peers if p.mode == "sidecar"]
        if not peers:
            return
        learned: set[str] = set()
        while True:
            for peer in peers:
                if peer.name in learned:
                    continue
                try:
                    answer = await self.service.ctx.call_peer(peer.name, "peer_agents", {})
                except GatewayFault as exc:
                    log.info("peer %s not reachable yet: %s", peer.name, exc)
                    continue
                ids = [str(a) for a in answer.get("agents", []) if isinstance(a, str)]
                for service in self.services.values():
                    service.ctx.learned_from(peer.name, ids)
                self.mirror.set_agents(peer.name, ids)
                learned.add(peer.name)
            resumed = await self.resume_peers()
            if resumed:
                log.info("delivered %d pending send(s) to peers", resumed)
            await anyio.sleep(PEER_RETRY_S)

    def peer_app(self, bind: str = "127.0.0.1") -> Any:
        """The inbound peer endpoint (an ASGI app) for this host: decided here, acted on our own gateway."""
        assert self.mirror is not None and self.pool is not None
        from sidecar.peers import PeerHost, build_peer_app  # the HTTP server stack: only for --peer-port

        pool = self.pool

        async def home() -> Any:
            return await pool.client(HOME)

        host = PeerHost(self.policy, self.mirror, home, secrets=lambda: self._peer_secrets)
        return build_peer_app(host, bind=bind)

    def close(self) -> None:
        """Close the mirror; a second call does nothing (serve closes it at the end of the server's
        lifespan, and again on its way out in case the lifespan never began)."""
        if self.mirror is not None and not self._closed:
            self._closed = True
            self.mirror.close()


class _Started:
    """Remembers whether a task reported itself started, so a failure before that is re-raised."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.done = False

    def started(self, value: Any = None) -> None:
        self.done = True
        self.inner.started(value)
