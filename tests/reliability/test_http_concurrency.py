"""Eight streamable-HTTP MCP clients at once against one `sidecar serve --transport http` on a real gateway:
0 errors, a decision log complete to the row, and HTTP 401 without the bearer token.

CI: 8 x 50 calls; the soak: 8 x 1,000 (tests/reliability/http_load.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.reliability.http_load import http_load, plan

pytestmark = [pytest.mark.anyio, pytest.mark.gateway]


async def test_eight_concurrent_http_clients_get_no_errors_and_every_decision_is_logged(
    reliability_gateway: Any, tmp_path: Path
) -> None:
    outcome = await http_load(reliability_gateway, tmp_path, clients=8, calls=50)
    assert outcome.ok, outcome.report()
    assert outcome.counts["errors"] == 0 and outcome.counts["answered"] == 400
    assert outcome.counts["decisions_logged"] == 400
    assert outcome.counts["unauthorised"] == {"no_token": 401, "wrong_token": 401, "no_scheme": 401}


def test_each_client_mixes_allowed_lists_and_histories_with_denied_sends() -> None:
    calls = plan(3, 50)
    tools = [tool for tool, _, _ in calls]
    assert tools.count("sessions_list") == 20 and tools.count("sessions_history") == 15
    assert all(not allowed for tool, _, allowed in calls if tool == "sessions_send")
