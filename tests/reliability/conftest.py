"""The reliability suite's one dedicated real gateway (killed, restarted and reconfigured by its tests)."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import Any

import anyio
import pytest

from tests.reliability.faults import Probe, full_disk_serve, keyring_unavailable, locked_mirror_startup
from tests.reliability.support import LEAKS

# The oracle's agents (main, pa, dev-1, dev-2), the kill test's own agent (ops) and the hierarchy's
# agents the HTTP test's `lead` reads and is refused.
RELIABILITY_AGENTS = ("main", "pa", "dev-1", "dev-2", "ops", "lead", "hr", "finance", "manager")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="package", autouse=True)
def no_secret_leaks() -> Iterator[None]:
    """When this package's tests are done, in whatever order they ran: no token or private key appears in
    any tool result, log, mirror or file the scenarios produced. Every tool result recorded and every file
    under every sidecar root (logs, stderr captures, mirror databases, policies) is searched for every
    secret the suite handled: gateway tokens, the HTTP bearer token, and each device private key and device
    token from the 0600 file stores (which hold them by design and are not scanned)."""
    yield
    if not LEAKS.roots:
        return  # no scenario that writes files ran
    leaks, stats = LEAKS.scan()
    problems = [f"leaked: {leak}" for leak in leaks[:20]]
    if stats["secrets"] <= len(LEAKS.secrets):
        problems.append(f"the file stores should hold device keys and tokens: {stats}")
    if stats["mirrors"] < 1 or stats["logs"] < 1:
        problems.append(f"the scan found no mirror or no log to search: {stats}")
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


@pytest.fixture(scope="package")
def reliability_gateway(openclaw_toolchain: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A gateway of our own: the tests here kill it, restart it and hot-reload its tools config. Stopped
    when the package's tests are done (each gateway holds about 1 GB)."""
    from harness import GatewayError, start_gateway

    try:
        gw = start_gateway(
            tmp_path_factory.mktemp("gateway-reliability"),
            RELIABILITY_AGENTS,
            name="reliability",
            tools=openclaw_toolchain,
            # Before 2026.9 every sessions_send over /tools/invoke (the differential's probes) is followed
            # by up to 5 ping-pong runs unless this legacy key says 0; 2026.9 no longer accepts the key.
            config_overrides=None
            if openclaw_toolchain.version == "2026.9.6"
            else {"session": {"agentToAgent": {"maxPingPongTurns": 0}}},
        )
    except GatewayError as exc:
        pytest.fail(f"the reliability gateway did not start:\n{exc}", pytrace=False)
    try:
        gw.turn("main", "warm-up", timeout=180)
        yield gw
    finally:
        gw.stop()


# The command-line fault probes, run once each and shared by test_faults.py (integrity, recovery) and
# test_defects.py (clarity): each waits out a timeout (a busy mirror, a hung server).


@pytest.fixture(scope="session")
def full_disk_probe(tmp_path_factory: pytest.TempPathFactory) -> Probe:
    """`sidecar serve` under RLIMIT_FSIZE, asked for a list by an MCP client."""
    return anyio.run(partial(full_disk_serve, tmp_path_factory.mktemp("fsize"), answer_within=12))


@pytest.fixture(scope="session")
def keyring_probes(tmp_path_factory: pytest.TempPathFactory) -> list[Probe]:
    """`sidecar serve` and `sidecar pair` with keyring's fail backend."""
    return keyring_unavailable(tmp_path_factory.mktemp("keyring"))


@pytest.fixture(scope="session")
def locked_startup_probe(tmp_path_factory: pytest.TempPathFactory) -> Probe:
    """`sidecar serve` started on a mirror held by BEGIN EXCLUSIVE."""
    return locked_mirror_startup(tmp_path_factory.mktemp("locked"))
