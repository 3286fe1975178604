"""`sidecar outbox`: the sends this agent's sidecar made, pending, delivered or failed, with their run ids."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from typing import Any

from sidecar.cli._where import find_db
from sidecar.mirror import Mirror, MirrorError

EPILOG = """\
examples:
  sidecar outbox --agent lead                    # the newest 50 sends of agent lead
  sidecar outbox --agent lead --status failed    # only failed ones, with their last error
  sidecar outbox --db /path/to/mirror.db --json

A send is written here before its first attempt, under an idempotency key derived from the logical
send; a retry after a dropped connection or a gateway restart reuses that key and first checks the
target's transcript, so the target runs it once. Message bodies are kept only while a send is pending.
Under the multi-session host (`sidecar up`) every agent's sends are in the host's database: --agent
finds it (the running host's when it serves the agent, else the agent's own sidecar's) and keeps only
the sends that agent's sessions made; without --agent, every agent's.
Exit 0 when no send failed, 1 when some did, 2 on bad input.
"""
COLUMNS = (
    "idempotency_key",
    "status",
    "attempts",
    "target",
    "gateway",
    "run_id",
    "hop",
    "trace_id",
    "created_at",
    "delivered_at",
    "last_error",
)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "outbox",
        help="list pending, delivered and failed sends with their run ids",
        description="List this agent's sends (sessions_send) from its mirror's outbox.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--agent", metavar="ID", help="the agent whose sends to list (its sidecar's or the host's outbox)"
    )
    parser.add_argument(
        "--db",
        metavar="PATH",
        help="the mirror database (overrides the default; a host's is filtered by --agent)",
    )
    parser.add_argument(
        "--status", choices=("pending", "delivered", "failed"), help="only sends in this state"
    )
    parser.add_argument("--limit", type=int, default=50, help="newest N sends (default 50)")
    parser.add_argument("--json", action="store_true", help="print a JSON list")
    parser.set_defaults(handler=_outbox)


def _rows(mirror: Mirror, status: str | None, limit: int, agent: str | None = None) -> list[dict[str, Any]]:
    """The newest sends (in `status`; written by `agent`'s sessions, at home)."""
    clauses: list[str] = []
    params: list[Any] = []
    if status:
        clauses.append("status = ?")
        params.append(status)
    if agent is not None:
        # substr, not LIKE: `_` in an agent id is a LIKE wildcard.
        prefix = f"agent:{agent}:"
        clauses.append("substr(requester, 1, ?) = ? AND requester_gateway = 'home'")
        params += [len(prefix), prefix]
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    with mirror.reading() as conn:
        found = conn.execute(
            f"SELECT {', '.join(COLUMNS)} FROM outbox {where} ORDER BY created_at DESC LIMIT ?",
            [*params, limit],
        ).fetchall()
    return [dict(zip(COLUMNS, row, strict=True)) for row in found]


def _when(ts: float | None) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M:%S") if ts else "-"


def _outbox(args: argparse.Namespace) -> int:
    found = find_db(args.agent, args.db)
    if isinstance(found, str):
        print(f"sidecar outbox: {found}", file=sys.stderr)
        return 2
    if not found.path.is_file():
        print(
            f"sidecar outbox: no mirror at {found.path}; the sidecar creates it on first start",
            file=sys.stderr,
        )
        return 2
    note = found.note()
    if note:
        print(f"sidecar outbox: {note}", file=sys.stderr)
    try:
        with Mirror.open(found.path, readonly=True, busy_timeout=1.0) as mirror:
            rows = _rows(mirror, args.status, args.limit, found.only_agent)
    except MirrorError as exc:
        print(f"sidecar outbox: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(rows, indent=2))
    elif not rows:
        print("no sends recorded" + (f" with status {args.status}" if args.status else ""))
    else:
        print(f"{'created (UTC)':<20} {'status':<10} {'tries':>5}  {'target':<36} {'gateway':<8} run id")
        for r in rows:
            print(
                f"{_when(r['created_at']):<20} {r['status']:<10} {r['attempts']:>5}  {r['target']:<36} "
                f"{r['gateway']:<8} {r['run_id'] or '-'}"
            )
            if r["last_error"] and r["status"] != "delivered":
                print(f"{'':20} last error: {r['last_error']}")
    return 1 if any(r["status"] == "failed" for r in rows) else 0
