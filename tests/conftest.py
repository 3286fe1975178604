"""Shared test setup: ``scripts`` on sys.path (for ``harness``) and the real OpenClaw gateway fixtures.

Tests that need the gateway take ``openclaw_gateway`` (one per run) or ``gateway_factory`` (extra named
gateways) and are marked ``@pytest.mark.gateway`` (added automatically when they use these fixtures).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"
if str(SCRIPTS) not in sys.path:
    sys.path.insert(0, str(SCRIPTS))

from harness import (  # noqa: E402
    Gateway,
    GatewayError,
    ProvisioningError,
    Toolchain,
    ensure_openclaw,
    find_openclaw,
    start_gateway,
    was_ever_installed,
)

GATEWAY_AGENTS = [
    "main", "manager", "lead", "dev-1", "dev-2", "dev-3", "dev-4", "dev-5", "hr", "finance", "research", "raul",
]  # fmt: skip
GATEWAY_FIXTURES = {"openclaw_gateway", "gateway_factory", "openclaw_toolchain"}
GatewayFactory = Callable[..., Gateway]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "gateway: needs the real OpenClaw gateway started by the session fixture"
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if GATEWAY_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.gateway)


@pytest.fixture(scope="session")
def openclaw_toolchain() -> Toolchain:
    """Node 24 + the pinned openclaw. In CI a missing install is a failure; locally a skip if never installed."""
    tools = find_openclaw()
    if tools is not None:
        return tools
    if os.environ.get("CI", "").lower() in ("1", "true", "yes") or was_ever_installed():
        try:
            return ensure_openclaw()
        except ProvisioningError as exc:
            pytest.fail(f"openclaw gateway install failed: {exc}", pytrace=False)
    pytest.skip("node 24 + openclaw are not installed here: run scripts/gateway install (scripts/test does)")


def _warm_up(gw: Gateway) -> str | None:
    """One real turn; returns a problem description, or None when healthy."""
    try:
        result = gw.turn("main", "warm-up", timeout=90)
    except (GatewayError, OSError, TimeoutError) as exc:
        return f"warm-up turn failed: {exc}"
    text = (result.get("terminalReply") or {}).get("text")
    if result.get("status") != "ok" or text != "echo: warm-up":
        return f"warm-up turn returned status={result.get('status')!r} text={text!r}"
    return None


@pytest.fixture(scope="session")
def openclaw_gateway(
    openclaw_toolchain: Toolchain, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Gateway]:
    """ONE real gateway for the whole run (agents ``GATEWAY_AGENTS``), warmed up with one turn.

    A gateway whose warm-up turn fails is replaced once by a fresh one (real-gateway.md §9.1); a second
    failure fails the tests with the gateway's log tail.
    """
    problem = ""
    for attempt in (1, 2):
        root = tmp_path_factory.mktemp(f"openclaw-gateway-{attempt}")
        try:
            gw = start_gateway(root, GATEWAY_AGENTS, name="home", tools=openclaw_toolchain)
        except GatewayError as exc:
            pytest.fail(f"the real OpenClaw gateway did not start:\n{exc}", pytrace=False)
        warm = _warm_up(gw)
        if warm is None:
            try:
                yield gw
            finally:
                gw.stop()
            return
        problem = f"{warm}\n--- gateway log tail ({gw.log_path}) ---\n{gw.log_tail(80)}"
        gw.stop()
        print(f"[conftest] gateway attempt {attempt} unhealthy: {warm}", file=sys.stderr)
    pytest.fail(f"the real OpenClaw gateway is unhealthy:\n{problem}", pytrace=False)


@pytest.fixture(scope="session")
def gateway_factory(
    openclaw_toolchain: Toolchain, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayFactory]:
    """``make(name, agents=("main",), config_overrides=None) -> Gateway``: extra gateways, stopped at the end."""
    started: list[Gateway] = []

    def make(
        name: str, agents: Sequence[str] = ("main",), config_overrides: Mapping[str, Any] | None = None
    ) -> Gateway:
        root = tmp_path_factory.mktemp(f"gateway-{name}")
        try:
            gw = start_gateway(
                root, list(agents), name=name, config_overrides=config_overrides, tools=openclaw_toolchain
            )
        except GatewayError as exc:
            pytest.fail(f"gateway {name!r} did not start:\n{exc}", pytrace=False)
        started.append(gw)
        return gw

    try:
        yield make
    finally:
        for gw in started:
            gw.stop()
