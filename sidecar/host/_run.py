"""Run the host: one Runtime (gateway connections, mirror, syncs) shared by every agent endpoint."""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from typing import Any

from sidecar.host._app import build_host_app, endpoint_path
from sidecar.host._attest import Verifier, load_or_create_key
from sidecar.host._state import HostPaths, WriterLock
from sidecar.policy import Policy, Requester
from sidecar.runtime import Runtime
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


async def run_host(config: HostConfig) -> None:
    """Serve until cancelled. Takes the writer lock first; raises `HostLocked` when another host runs."""
    import uvicorn

    policy = config.policy
    agents = governed_agents(policy)
    if not agents:
        raise ValueError(f"{policy.path} governs no agent: add agents.entries.<id> for each agent to serve")
    lock = WriterLock(config.paths)
    lock.acquire()
    try:
        key = load_or_create_key(config.paths.key)
        identity = config.identity_agent or agents[0]
        runtime = Runtime(
            policy=policy,
            requester=Requester.of(identity, main_key=policy.main_key),
            home_url=config.home_url,
            token_env=config.token_env,
            token_store=config.token_store,
            db=config.paths.mirror,
        )
        first = await runtime.open()
        services: dict[str, SessionsService] = {
            agent: first
            if agent == identity
            else SessionsService(
                policy, Requester.of(agent, main_key=policy.main_key), first.store, first.gateways
            )
            for agent in agents
        }
        started = time.time()

        def health() -> dict[str, Any]:
            pool = runtime.pool
            return {
                "ok": True,
                "pid": os.getpid(),
                "since": started,
                "policy": policy.path,
                "gateway": config.home_url,
                "agents": agents,
                "gatewayConnections": pool.open_count() if pool is not None else 0,
                "unattestedCalls": {a: b.unattested for a, b in binders.items()},
            }

        app, binders = build_host_app(
            services, Verifier(key), key, background=runtime.keep_mirror_fresh, health=health
        )
        config.paths.write_info(
            {
                "pid": os.getpid(),
                "port": config.port,
                "url": f"http://127.0.0.1:{config.port}",
                "policy": policy.path,
                "gateway": config.home_url,
                "agents": {a: endpoint_path(a) for a in agents},
                "keyFile": str(config.paths.key),
                "log": str(config.paths.log),
            }
        )
        log.info("sidecar host serving %s on 127.0.0.1:%d", ", ".join(agents), config.port)
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=config.port, log_level="warning", lifespan="on")
        )
        try:
            await server.serve()
        finally:
            runtime.close()
    finally:
        lock.release()
