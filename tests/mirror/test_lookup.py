"""The one target lookup: the tool pipelines reach it through `ServiceStore.ensure_known`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from sidecar.gateway import ErrorShape, RequestError
from sidecar.mirror import Mirror, ServiceStore

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def gateway(listed: list[dict[str, Any]], resolves: dict[str, dict[str, Any]]) -> tuple[Any, list[str]]:
    calls: list[str] = []

    async def request(method: str, params: Mapping[str, Any]) -> Any:
        calls.append(method)
        if method == "sessions.list":
            return {"sessions": [r for r in listed if params["search"] in r["key"]]}
        found = resolves.get(str(params.get("key")))
        if found is None:
            shape = ErrorShape("INVALID_REQUEST", f"No session found: {params.get('key')}")
            raise RequestError("sessions.resolve", shape)
        return found

    return request, calls


async def test_a_listed_session_is_written_into_the_mirror_with_its_owner(fresh_db: Mirror) -> None:
    child = {"key": "agent:dev-1:subagent:x", "updatedAt": 5, "spawnedBy": "agent:lead:main", "spawnDepth": 1}
    request, calls = gateway([child], {})
    await ServiceStore(fresh_db).ensure_known("agent:dev-1:subagent:x", "home", request)
    assert fresh_db.view.parent_of("agent:dev-1:subagent:x") == "agent:lead:main"
    assert calls == ["sessions.list"]


async def test_a_session_the_gateway_resolves_but_does_not_list_still_exists(fresh_db: Mirror) -> None:
    request, calls = gateway([], {"agent:dev-1:old": {"key": "agent:dev-1:old", "agentId": "dev-1"}})
    await ServiceStore(fresh_db).ensure_known("agent:dev-1:old", "home", request)
    assert fresh_db.view.get("agent:dev-1:old", "home") is not None
    assert calls == ["sessions.list", "sessions.resolve"]


async def test_a_session_nobody_knows_stays_unknown(fresh_db: Mirror) -> None:
    request, _ = gateway([], {})
    await ServiceStore(fresh_db).ensure_known("agent:ghost:main", "home", request)
    assert fresh_db.view.get("agent:ghost:main", "home") is None
