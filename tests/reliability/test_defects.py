"""Defects this suite found in sidecar/ code, each kept as its smallest repro.

All six were first pinned here as xfail(strict=True) and fixed in 7028ee3; they now guard against the
defect coming back. A new defect goes here the same way: an xfail(strict=True) test naming the file,
the function and the repro (and, if the generated-arguments run hits it, an entry in fuzz.KNOWN_DEFECTS).
Details: docs/reliability.md.
"""

from __future__ import annotations

import logging
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp.shared.exceptions import MCPError

from tests.reliability.faults import (
    Probe,
    full_mirror,
    locked_mirror_call,
)
from tests.reliability.fuzz import Rigs, _call_tool
from tests.reliability.support import text


@pytest.fixture
def quiet_sdk() -> Any:
    """The SDK logs every crashed tool call with its traceback; these tests cause them on purpose."""
    logging.getLogger("mcp").setLevel(logging.CRITICAL)
    yield
    logging.getLogger("mcp").setLevel(logging.NOTSET)


# Was: sidecar/service.py SessionsService._resolve_label uses the raw `gateway` argument (`gateway or
# HOME`) without GatewayPool.route(), so an unknown gateway name reaches GatewayPool.client(), whose
# RoutingError says 'No home gateway URL: set gateway.url ...' (a protocol error, and the wrong fix)
# instead of the tool error 'Unknown gateway ...' every other tool gives
def test_a_send_by_label_naming_an_unknown_gateway_is_a_tool_error_naming_that_gateway() -> None:
    with Rigs(("lead",)) as rigs:
        assert rigs.portal is not None
        client = rigs.rigs["lead"].client
        args = {"label": "dev-1", "message": "hi", "gateway": "HOME", "timeoutSeconds": 0}
        try:
            result = rigs.portal.call(_call_tool, client, "sessions_send", args)
        except MCPError as exc:
            pytest.fail(f"protocol error instead of a tool error: {exc}")
        by_key = rigs.portal.call(
            _call_tool,
            client,
            "sessions_send",
            {"sessionKey": "agent:dev-1:main", "message": "hi", "gateway": "HOME"},
        )
    assert "Unknown gateway 'HOME'" in text(by_key)  # what the same mistake says without a label
    assert result.is_error and "Unknown gateway 'HOME'" in text(result)


# Was: sidecar/_cli_serve.py _handle catches only PolicyError and ValueError around anyio.run:
# SecretStoreUnavailable from Runtime.open (sidecar/secrets.py) escapes as a traceback (exit 1); `sidecar
# pair` prints the same message cleanly
def test_serve_without_a_keyring_prints_the_fix_without_a_traceback(keyring_probes: list[Probe]) -> None:
    serve, _ = keyring_probes
    assert "Traceback" not in serve.message and serve.clear, serve.message[-600:]


# Was: sidecar/_cli_serve.py _handle does not catch MirrorError: MirrorLocked from Mirror.open
# (sidecar/mirror/_db.py) escapes as a traceback (exit 1) although its message names the fix
def test_serve_on_a_locked_mirror_prints_the_fix_without_a_traceback(locked_startup_probe: Probe) -> None:
    probe = locked_startup_probe
    assert "Traceback" not in probe.message and probe.clear, probe.message[-600:]


# Was: sidecar/server.py _translate does not map MirrorError, and sidecar/mirror/_db.py Mirror.write
# translates only a failing BEGIN: SQLITE_FULL inside the write (DecisionLog.record via
# SessionsService._decide) is a raw sqlite3.OperationalError, so the agent sees only the SDK's 'Error
# executing tool sessions_history' (UnexpectedToolError), with no cause and no fix
def test_a_full_mirror_is_reported_to_the_agent_with_the_cause_and_the_fix(
    tmp_path: Path, quiet_sdk: Any
) -> None:
    [probe] = anyio.run(partial(full_mirror, tmp_path, rounds=1))
    assert probe.clear, probe.row()


# Was: sidecar/server.py _translate does not map MirrorError: MirrorLocked raised by DecisionLog.record
# during a call reaches the agent as the bare 'Error executing tool sessions_list'. Decisions are now
# journaled and batched, so a call made while the lock is held is served and logged once it lifts; a
# lock that outlasts the journal's backlog is reported with the fix (`DecisionLog.record`).
def test_a_mirror_locked_during_a_call_is_served_or_reported_to_the_agent_with_the_fix(
    tmp_path: Path, quiet_sdk: Any
) -> None:
    probe = anyio.run(locked_mirror_call, tmp_path)
    assert probe.clear, probe.row()


# Was: sidecar/_runtime.py Runtime._sync catches only GatewayError: a disk error in the first snapshot
# (sqlite3.OperationalError from Mirror.write's COMMIT in MirrorSync._pages) escapes keep_mirror_fresh,
# tears down the server's lifespan (ExceptionGroup traceback on stderr, nothing in the log file) while the
# stdio reader keeps the process alive: the client's sessions_list never gets an answer
def test_a_full_disk_during_the_first_snapshot_is_a_clear_error_not_a_hung_server(
    full_disk_probe: Probe,
) -> None:
    assert full_disk_probe.clear, full_disk_probe.row()
