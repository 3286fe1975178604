"""Run the host: one Runtime (gateway connections, mirror, syncs) shared by every agent endpoint.

Each agent gets its own service on that runtime: its own pause file (where `sidecar pause --agent ID`
writes it), its own budgets counted from its rows of the shared mirror, and the policy's peer links. A
policy watcher applies edits to every agent from the next call on and tells each endpoint's clients when
its offered tools change. After a restart, each send left pending goes out as the session that wrote it.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import anyio

from sidecar.host._app import CallerBinder, HostApp, build_host_app, endpoint_path
from sidecar.host._attest import Verifier, load_or_create_key
from sidecar.host._state import HostPaths, WriterLock
from sidecar.policy import Policy, Requester
from sidecar.reload import PolicyWatcher
from sidecar.runtime import Connector, Runtime
from sidecar.tools import SessionsService

log = logging.getLogger("sidecar")


@dataclass
class HostConfig:
    policy: Policy
    home_url: str
    port: int
    paths: HostPaths
    token_env: str = "OPENCLAW_GATEWAY_TOKEN"
    token_store: str | None = None
    identity_agent: str | None = None


def governed_agents(policy: Policy) -> list[str]:
    """The agents the host serves: every agent of the policy, in its order."""
    return list(policy.agent_ids)


@dataclass
class Host:
    """An opened host: the shared runtime, each agent's service and endpoint, and the policy watcher."""

    config: HostConfig
    runtime: Runtime
    services: dict[str, SessionsService]
    served: HostApp
    watcher: PolicyWatcher

    @property
    def agents(self) -> list[str]:
        return list(self.services)

    @property
    def binders(self) -> dict[str, CallerBinder]:
        return self.served.binders

    async def background(self) -> None:
        """What runs beside the endpoints: the mirror's syncs (and the resume of pending sends), and the
        policy watcher."""
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(self.runtime.keep_mirror_fresh)
            tasks.start_soon(self.watcher.run)

    async def _apply(self, policy: Policy) -> None:
        added = [a for a in governed_agents(policy) if a not in self.services]
        await self.runtime.adopt(policy)
        if added:
            log.warning(
                "policy now also names %s; the host serves an agent's endpoint only after a restart "
                "(`sidecar down`, then `sidecar up`)",
                ", ".join(added),
            )


async def open_host(
    config: HostConfig,
    *,
    connect: Connector | None = None,
    health: Callable[[], dict[str, Any]] | None = None,
) -> Host:
    """Open the runtime and build every agent's endpoint; nothing is served or watched yet (see
    `Host.background`). `connect` replaces the gateway client (tests hand in a fake gateway)."""
    policy = config.policy
    agents = governed_agents(policy)
    if not agents:
        raise ValueError(f"{policy.path} governs no agent: add agents.entries.<id> for each agent to serve")
    key = load_or_create_key(config.paths.key)
    identity = config.identity_agent or agents[0]
    runtime = Runtime(
        policy=policy,
        requester=Requester.of(identity, main_key=policy.main_key),
        home_url=config.home_url,
        token_env=config.token_env,
        token_store=config.token_store,
        db=config.paths.mirror,
        pause_dir=config.paths.agent_dir,
        connect=connect,
    )
    first = await runtime.open()
    services: dict[str, SessionsService] = {
        agent: first
        if agent == identity
        else runtime.serve_agent(Requester.of(agent, main_key=policy.main_key))
        for agent in agents
    }
    host: Host | None = None

    async def background() -> None:
        assert host is not None
        await host.background()

    served = build_host_app(services, Verifier(key), key, background=background, health=health)
    runtime.on_policy.append(served.policy_changed)
    watcher = PolicyWatcher(
        policy,
        runtime.adopt,
        config.paths.root,
        runtime.vet,
        also=tuple(config.paths.agent_dir(a) for a in agents),
    )
    host = Host(config, runtime, services, served, watcher)
    watcher.apply = host._apply
    return host


async def run_host(config: HostConfig) -> None:
    """Serve until cancelled. Takes the writer lock first; raises `HostLocked` when another host runs."""
    import uvicorn

    if not governed_agents(config.policy):
        raise ValueError(
            f"{config.policy.path} governs no agent: add agents.entries.<id> for each agent to serve"
        )
    lock = WriterLock(config.paths)
    lock.acquire()
    try:
        started = time.time()
        host: Host | None = None

        def health() -> dict[str, Any]:
            assert host is not None
            runtime = host.runtime
            pool = runtime.pool
            return {
                "ok": True,
                "pid": os.getpid(),
                "since": started,
                "policy": runtime.policy.path,
                "gateway": config.home_url,
                "agents": host.agents,
                "gatewayConnections": pool.open_count() if pool is not None else 0,
                "unattestedCalls": {a: b.unattested for a, b in host.binders.items()},
                "policyError": host.watcher.last_error,
            }

        host = await open_host(config, health=health)
        config.paths.write_info(
            {
                "pid": os.getpid(),
                "port": config.port,
                "url": f"http://127.0.0.1:{config.port}",
                "policy": config.policy.path,
                "gateway": config.home_url,
                "agents": {a: endpoint_path(a) for a in host.agents},
                "keyFile": str(config.paths.key),
                "log": str(config.paths.log),
                "mirror": str(config.paths.mirror),
            }
        )
        log.info("sidecar host serving %s on 127.0.0.1:%d", ", ".join(host.agents), config.port)
        server = uvicorn.Server(
            uvicorn.Config(
                host.served.app, host="127.0.0.1", port=config.port, log_level="warning", lifespan="on"
            )
        )
        try:
            await server.serve()
        finally:
            host.runtime.close()
    finally:
        lock.release()
