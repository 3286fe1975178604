"""`sidecar doctor`: is this machine ready to run `sidecar serve` for an agent, and if not, what fixes it.

Each check returns `Check`s with a status (PASS, WARN, FAIL, SKIP), a one-line finding and, when something
needs doing, the exact fix: a command to run or a key to set. The checks run in a fixed order:

1. the policy parses, and no agent in it is accidentally wide open;
2. a secret store is usable (only the backend is checked; no entry is read);
3. the home gateway is reachable, speaks protocol 3 or 4 and runs a supported OpenClaw release;
4. the agent's device is paired there with every scope the sidecar uses;
5. the agent's session mirror is fresh, per gateway;
6. every peer gateway, as in 3 and 4;
7. an openclaw.json, when given, does not let a governed agent bypass its sidecar.

Doctor never writes: the secret store is wrapped read-only (a token the gateway issues while doctor
connects is dropped, never stored), the mirror is opened read-only, and the reachability probe sends a
`connect` without any device identity or credential, so it can neither pair a device nor count as a
failed login. Every connection attempt is bounded by `CONNECT_TIMEOUT_S`. No token or key is ever part
of a finding: details come from typed gateway errors, whose texts carry none, and device ids are public.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread

from sidecar.config import GATEWAY_TOKEN_ENV, mirror_path, state_dir
from sidecar.doctor._gateways import (
    CONNECT_TIMEOUT_S,
    check_gateway,
    check_pairing,
    no_gateway_fix,
    resolve_gateway,
)
from sidecar.doctor._host import check_host
from sidecar.doctor._live import check_live
from sidecar.doctor._local import check_mirror, check_secret_store, open_store_quietly
from sidecar.doctor._policy import check_agents, check_openclaw_config, check_policy
from sidecar.doctor._report import Check, Status
from sidecar.policy import Policy, PolicyError, parse_json5

TOKEN_ENV = GATEWAY_TOKEN_ENV
HOME = "home"


@dataclass(frozen=True, slots=True)
class DoctorOptions:
    policy: str | None = None
    agent: str | None = None
    gateway: str | None = None
    openclaw_config: str | None = None
    token_store: str | None = None
    token_env: str = TOKEN_ENV
    db: str | None = None
    timeout: float = CONNECT_TIMEOUT_S


# -- the whole run ------------------------------------------------------------------------------------


async def run_checks(options: DoctorOptions, environ: Mapping[str, str] | None = None) -> list[Check]:
    """Every check, in order. Never raises for a problem it can describe; never writes anything."""
    env = os.environ if environ is None else environ
    timeout = min(options.timeout, CONNECT_TIMEOUT_S)
    checks: list[Check] = []

    policy_checks, policy = check_policy(options.policy)
    checks += policy_checks
    if policy is not None:
        checks += check_agents(policy, options.agent)

    store_check = await anyio.to_thread.run_sync(lambda: check_secret_store(options.token_store, env))
    checks.append(store_check)

    url, source = resolve_gateway(options.gateway, policy, env)
    home = await check_gateway("gateway", url, source=source, timeout=timeout)
    home_ok = home.status == "PASS"
    if source.startswith("default") and not home_ok:
        # Nothing configured and nothing on OpenClaw's default port: say how to point doctor (and serve,
        # which resolves the URL the same way) elsewhere.
        status: Status = "FAIL" if options.agent else "SKIP"
        fix = f"{home.fix + '; or ' if home.fix else ''}{no_gateway_fix(policy)}"
        home = Check("gateway", status, f"{home.detail} (no gateway configured: {source})", fix)
    elif home_ok:
        home = Check("gateway", "PASS", f"{home.detail} (from {source})", home.fix)
    checks.append(home)

    secrets = None
    if options.agent:
        secrets = (
            await anyio.to_thread.run_sync(open_store_quietly, options.token_store, env)
            if store_check.status != "FAIL"
            else None
        )
        shared = env.get(options.token_env) or None
        if url is None or not home_ok:
            checks.append(Check("pairing", "SKIP", "the home gateway is not reachable (see gateway)"))
        elif secrets is None:
            checks.append(
                Check("pairing", "SKIP", "no usable secret store to read the device from (see secret-store)")
            )
        else:
            checks.append(
                await check_pairing(
                    "pairing",
                    url,
                    options.agent,
                    secrets,
                    shared_token=shared,
                    timeout=timeout,
                    token_env=options.token_env,
                )
            )
    else:
        checks.append(Check("pairing", "SKIP", "pass --agent ID to check that agent's pairing"))

    peers = policy.peers if policy is not None else ()
    if options.agent or options.db:
        try:
            path = Path(options.db).expanduser() if options.db else mirror_path(options.agent or "", env)
        except ValueError as exc:
            checks.append(Check("mirror", "FAIL", str(exc)))
        else:
            checks += check_mirror(path, [HOME, *(p.name for p in peers)], serve_hint(options, policy))
    else:
        checks.append(Check("mirror", "SKIP", "pass --agent ID to check that agent's session mirror"))
    checks += _live_checks(policy, options, env)

    for peer in peers:
        name = f"peer:{peer.name}"
        peer_check = await check_gateway(
            name,
            peer.url,
            source=f"gateway.peers.{peer.name}.url",
            allow_insecure=peer.allow_insecure,
            timeout=timeout,
        )
        checks.append(peer_check)
        if not options.agent:
            continue
        pairing = f"peer-pairing:{peer.name}"
        if peer_check.status != "PASS":
            checks.append(Check(pairing, "SKIP", f"peer {peer.name} is not reachable (see {name})"))
        elif secrets is None:
            checks.append(
                Check(pairing, "SKIP", "no usable secret store to read the device from (see secret-store)")
            )
        else:
            checks.append(
                await check_pairing(
                    pairing,
                    peer.url,
                    options.agent,
                    secrets,
                    allow_insecure=peer.allow_insecure,
                    timeout=timeout,
                )
            )

    checks += check_openclaw_config(options.openclaw_config, policy)
    if policy is not None:
        checks += check_host(policy, _openclaw_data(options.openclaw_config, policy))
    return checks


def _openclaw_data(explicit: str | None, policy: Policy) -> dict[str, Any] | None:
    if explicit:
        try:
            return parse_json5(Path(explicit).expanduser().read_text(encoding="utf-8"), explicit).data
        except (OSError, UnicodeDecodeError, PolicyError):
            return None
    return policy.openclaw.data if policy.openclaw is not None else None


def _live_checks(policy: Policy | None, options: DoctorOptions, env: Mapping[str, str]) -> list[Check]:
    try:
        where = Path(options.db).expanduser().parent if options.db else state_dir(options.agent or "", env)
    except ValueError:
        where = None
    return check_live(policy, options.agent, where if options.agent else None)


def serve_hint(options: DoctorOptions, policy: Policy | None) -> str:
    policy_arg = f" --policy {policy.path}" if policy is not None else " --policy FILE"
    return f"sidecar serve{policy_arg} --agent {options.agent or 'ID'}"


__all__ = ["CONNECT_TIMEOUT_S", "TOKEN_ENV", "DoctorOptions", "run_checks", "serve_hint"]
