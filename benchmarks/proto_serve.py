"""`sidecar serve` with the sessions_list prototype of benchmarks/bench_list.py patched in (experiment only).

    python -m benchmarks.proto_serve serve --policy FILE --agent ID     # same arguments as `sidecar`

Used by bench_gateway to measure what the proposed fix would change end to end over stdio, without
touching sidecar/. Calls with kinds, activeMinutes or gateway fall through to the shipped code.
"""

from __future__ import annotations

import sys
from typing import Any

from benchmarks.bench_list import filter_first
from sidecar import cli
from sidecar.tools import SessionsService

_shipped = SessionsService.sessions_list


async def _sessions_list(
    self: SessionsService,
    *,
    kinds: list[str] | None = None,
    limit: int | None = None,
    active_minutes: int | None = None,
    gateway: str | None = None,
) -> dict[str, Any]:
    if kinds or active_minutes is not None or gateway is not None:
        return await _shipped(self, kinds=kinds, limit=limit, active_minutes=active_minutes, gateway=gateway)
    return await filter_first(self, self.store.mirror, limit)  # type: ignore[attr-defined]


SessionsService.sessions_list = _sessions_list  # type: ignore[method-assign]

if __name__ == "__main__":
    sys.exit(cli.main(sys.argv[1:]))
