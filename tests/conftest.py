"""Shared test setup: ``scripts`` on sys.path (for ``harness``) and the real OpenClaw gateway fixtures.

Tests that need the gateway take ``openclaw_gateway`` (one per run) or ``gateway_factory`` (extra named
gateways) and are marked ``@pytest.mark.gateway`` (added automatically when they use these fixtures).

``--openclaw VERSION`` (or ``$OPENCLAW_VERSION``) picks the OpenClaw release every gateway fixture runs:
the newest by default. With an older release only the tests marked ``@pytest.mark.every_version`` run
(the end-to-end MCP tests, the gateway killed mid-send, the differential test against that release's
own ``POST /tools/invoke``): that is how CI covers 2026.3.13 and 2026.4.12 at a small share of its time.
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
from harness.node import OPENCLAW_VERSION, VERSIONS  # noqa: E402

GATEWAY_AGENTS = [
    "main", "manager", "lead", "dev-1", "dev-2", "dev-3", "dev-4", "dev-5", "hr", "finance", "research", "raul",
]  # fmt: skip
GATEWAY_FIXTURES = {"openclaw_gateway", "gateway_factory", "openclaw_toolchain"}
GatewayFactory = Callable[..., Gateway]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--openclaw",
        metavar="VERSION",
        choices=VERSIONS,
        default=None,
        help=f"OpenClaw release for the real gateways: {', '.join(VERSIONS)} (default $OPENCLAW_VERSION, "
        f"else {OPENCLAW_VERSION}); an older one runs only the tests marked every_version",
    )


def selected_version(config: pytest.Config) -> str:
    chosen = config.getoption("--openclaw") or os.environ.get("OPENCLAW_VERSION") or OPENCLAW_VERSION
    if chosen not in VERSIONS:
        raise pytest.UsageError(f"OPENCLAW_VERSION={chosen!r}: supported releases are {', '.join(VERSIONS)}")
    return str(chosen)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "gateway: needs the real OpenClaw gateway started by the session fixture"
    )
    # The harness reads it too (gateways started outside the fixtures, subprocesses).
    os.environ["OPENCLAW_VERSION"] = selected_version(config)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if GATEWAY_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.gateway)
    if selected_version(config) != OPENCLAW_VERSION:
        keep = [i for i in items if i.get_closest_marker("every_version") is not None]
        dropped = [i for i in items if i.get_closest_marker("every_version") is None]
        if dropped:
            config.hook.pytest_deselected(items=dropped)
            items[:] = keep


@pytest.fixture(scope="session")
def openclaw_version(pytestconfig: pytest.Config) -> str:
    """The OpenClaw release the real gateways of this run are (``--openclaw``)."""
    return selected_version(pytestconfig)


@pytest.fixture(scope="session")
def openclaw_toolchain(openclaw_version: str) -> Toolchain:
    """Node 24 + the pinned openclaw. In CI a missing install is a failure; locally a skip if never installed."""
    tools = find_openclaw(openclaw_version)
    if tools is not None:
        return tools
    if os.environ.get("CI", "").lower() in ("1", "true", "yes") or was_ever_installed():
        try:
            return ensure_openclaw(version=openclaw_version)
        except ProvisioningError as exc:
            pytest.fail(f"openclaw {openclaw_version} install failed: {exc}", pytrace=False)
    pytest.skip("node 24 + openclaw are not installed here: run scripts/gateway install (scripts/test does)")


def _warm_up(gw: Gateway) -> str | None:
    """One real turn; returns a problem description, or None when healthy."""
    try:
        result = gw.turn("main", "warm-up", timeout=90)
    except (GatewayError, OSError, TimeoutError) as exc:
        return f"warm-up turn failed: {exc}"
    text = (result.get("terminalReply") or {}).get("text")
    if text is None and result.get("status") == "ok":
        # Releases before 2026.9 answer agent.wait without the reply: read it from the transcript.
        with gw.rpc() as rpc:
            history = rpc.request("chat.history", {"sessionKey": "agent:main:main", "limit": 5})
        said = [m for m in history.get("messages", []) if m.get("role") == "assistant"]
        content = said[-1].get("content") if said else None
        text = (
            content
            if isinstance(content, str)
            else "".join(b.get("text", "") for b in content or [] if isinstance(b, dict))
        )
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
