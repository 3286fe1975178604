"""sessions_list at 10k mirrored sessions, in process: the shipped `SessionsService.sessions_list` (page
first: keys, verdict per class of key, then only the page's rows; `sidecar/tools/_listing.py`) against
stage 2 of the plan in docs/benchmarks.md, which lives here only as an experiment.

The shipped code (once a prototype here) keeps the answer the old path gave (same keys, order and hidden
count) but reads keys only, runs the list guard once per class of key and fetches only the page.
Stage 2 (`incremental`) goes further: a sidecar serves one requester, so each row's visibility can be
decided once when it is written; a call then costs its page alone. It is timed here with the
classification done before the clock starts (its per-row cost is reported separately).
"""

from __future__ import annotations

import json
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.bench_mirror import gateway_rows, load
from sidecar.mirror import Mirror, ServiceStore, SessionRow
from sidecar.mirror._rows import COLUMNS
from sidecar.policy import Requester, filter_sessions, parse_policy
from sidecar.policy._keys import MalformedKey, canonical_key
from sidecar.tools import SessionsService
from sidecar.tools._listing import kind_of as _kind_of
from sidecar.tools._routing import HOME, GatewayPool

REPO = Path(__file__).resolve().parents[1]
SESSIONS = 10_000


def memo_filter(service: SessionsService, keys: list[str]) -> tuple[list[str], int, Any]:
    """filter_sessions with the guard evaluated once per class of key. Returns (visible, hidden, scope0)."""
    policy, requester, view = service.policy, service.requester, service.view()
    scope0 = filter_sessions(policy, requester, [], view)
    req = requester.session_key
    parent_of = view.parent_of
    verdicts: dict[tuple[str, bool, bool, bool, bool], bool] = {}
    visible: list[str] = []
    hidden = 0
    for raw in keys:
        try:
            key = canonical_key(
                raw, requester_key=req, default_agent=policy.default_agent, main_key=policy.main_key
            )
        except MalformedKey:
            hidden += 1
            continue
        is_self = key.key == req
        owned = not is_self and parent_of(key.key) == req
        cls = (key.agent_id, is_self, owned, key.is_incognito, key.is_subagent)
        ok = verdicts.get(cls)
        if ok is None:
            ok = verdicts[cls] = bool(filter_sessions(policy, requester, [raw], view).visible)
        if ok and raw != "unknown":
            visible.append(raw)
        elif not ok:
            hidden += 1
    return visible, hidden, scope0


async def incremental(
    service: SessionsService, mirror: Mirror, limit: int | None, classified: tuple[list[str], int, Any]
) -> dict[str, Any]:
    """Stage 2 of the plan: the visible keys (newest first) and the hidden count kept up to date as rows
    are written, so a call only decides, logs and fetches its page. Here `classified` is computed once
    before timing, standing in for that index; its upkeep is paid per written row instead."""
    service.decide("sessions_list", None)
    await service.client(HOME)
    visible, hidden, scope0 = classified
    return _page(service, mirror, visible, hidden, scope0, limit)


def _page(
    service: SessionsService,
    mirror: Mirror,
    visible: list[str],
    hidden: int,
    scope0: Any,
    limit: int | None,
) -> dict[str, Any]:
    page = visible[:limit] if limit is not None else visible
    by_key: dict[str, SessionRow] = {}
    with mirror.reading() as conn:
        for start in range(0, len(page), 500):
            chunk = page[start : start + 500]
            sql = f"SELECT {', '.join(COLUMNS)} FROM sessions WHERE key IN ({', '.join('?' * len(chunk))})"
            for record in conn.execute(sql, chunk):
                row = SessionRow(*record)
                by_key[row.key] = row
    main_key = service.policy.main_key
    shown = [
        {**r.as_tool_row(), "agent": r.agent, "gateway": r.gateway, "kind": _kind_of(r.key, main_key)}
        for r in (by_key[k] for k in page)
    ]
    warning = None
    if hidden:
        vis = scope0.mode
        warning = (
            f"Session visibility is restricted (effective tools.sessions.visibility={vis}"
            f"{' with agent-to-agent limits' if vis in ('all', 'scoped') else ''}). {hidden} session(s) "
            "outside that scope are omitted from results and count."
        )
    return {
        "count": len(shown),
        "sessions": shown,
        "mirror": {"fresh": True},
        "visibility": {
            "mode": scope0.mode,
            "restricted": hidden > 0,
            "hidden": hidden,
            "source": scope0.source,
            "warning": warning,
        },
    }


class _Connected:
    async def request(self, *args: Any, **kwargs: Any) -> Any:
        return {}

    async def agent(self, *args: Any, **kwargs: Any) -> Any:
        return {}


async def run(calls: int = 20, seed: int = 7) -> list[dict[str, Any]]:
    """Shipped vs stage 2 at SESSIONS gateway-shaped rows, per requester (all / scoped / self visibility),
    over a file-backed mirror and a gateway client that is already connected (no network)."""
    scenario = json.loads((REPO / "scenarios" / "hierarchy.json").read_text(encoding="utf-8"))
    policy = parse_policy(json.dumps(scenario["policy"]), "hierarchy.json5")
    agents = sorted(policy.agent_ids)
    rows = gateway_rows(SESSIONS, agents, random.Random(seed))
    out: list[dict[str, Any]] = []

    async def connect(name: str, url: str, insecure: bool) -> _Connected:
        return _Connected()

    with tempfile.TemporaryDirectory() as tmp:
        mirror = Mirror.open(Path(tmp) / "mirror.db")
        try:
            load(mirror, rows)
            mirror.set_agents(HOME, agents)
            pool = GatewayPool("ws://127.0.0.1:9", (), connect)
            await pool.client(HOME)
            for who in ("manager", "lead", "dev-2"):
                service = SessionsService(policy, Requester.of(who), ServiceStore(mirror), pool)
                with mirror.reading() as conn:
                    keys = [
                        k for (k,) in conn.execute("SELECT key FROM sessions ORDER BY updated_at DESC, rowid")
                    ]
                start = time.perf_counter_ns()
                classified = memo_filter(service, keys)
                classify_us = (time.perf_counter_ns() - start) / 1000 / len(keys)
                for limit in (100, None):
                    shipped = await service.sessions_list(limit=limit)
                    stage2 = await incremental(service, mirror, limit, classified)
                    for candidate in (stage2,):
                        assert [r["key"] for r in candidate["sessions"]] == [
                            r["key"] for r in shipped["sessions"]
                        ]
                        assert candidate["visibility"] == shipped["visibility"]
                    times: dict[str, list[float]] = {"shipped": [], "incremental": []}
                    for _ in range(calls):
                        start = time.perf_counter_ns()
                        await service.sessions_list(limit=limit)
                        times["shipped"].append(time.perf_counter_ns() - start)
                        start = time.perf_counter_ns()
                        await incremental(service, mirror, limit, classified)
                        times["incremental"].append(time.perf_counter_ns() - start)
                    out.append(
                        {
                            "requester": who,
                            "limit": limit,
                            "returned": shipped["count"],
                            "hidden": shipped["visibility"]["hidden"],
                            "shipped_ms": statistics.median(times["shipped"]) / 1e6,
                            "incremental_ms": statistics.median(times["incremental"]) / 1e6,
                            "classify_us_per_row": classify_us,
                        }
                    )
        finally:
            mirror.close()
    return out


if __name__ == "__main__":
    import anyio

    for row in anyio.run(run):
        print(row)
