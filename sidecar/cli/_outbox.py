"""`sidecar outbox`: the sends this agent's sidecar made, pending, delivered or failed, with their run ids."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from typing import Any

from sidecar.cli._mirror import _db_path, _where
from sidecar.mirror import Mirror, MirrorError

EPILOG = """\
examples:
  sidecar outbox --agent lead                    # the newest 50 sends of agent lead
  sidecar outbox --agent lead --status failed    # only failed ones, with their last error
  sidecar outbox --db /path/to/mirror.db --json

A send is written here before its first attempt, under an idempotency key derived from the logical
send; a retry after a dropped connection or a gateway restart reuses that key and first checks the
target's transcript, so the target runs it once. Message bodies are kept only while a send is pending.
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
    _where(parser)
    parser.add_argument(
        "--status", choices=("pending", "delivered", "failed"), help="only sends in this state"
    )
    parser.add_argument("--limit", type=int, default=50, help="newest N sends (default 50)")
    parser.add_argument("--json", action="store_true", help="print a JSON list")
    parser.set_defaults(handler=_outbox)


def _rows(mirror: Mirror, status: str | None, limit: int) -> list[dict[str, Any]]:
    where = "WHERE status = ?" if status else ""
    params: tuple[Any, ...] = (status, limit) if status else (limit,)
    with mirror.reading() as conn:
        found = conn.execute(
            f"SELECT {', '.join(COLUMNS)} FROM outbox {where} ORDER BY created_at DESC LIMIT ?", params
        ).fetchall()
    return [dict(zip(COLUMNS, row, strict=True)) for row in found]


def _when(ts: float | None) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M:%S") if ts else "-"


def _outbox(args: argparse.Namespace) -> int:
    path = _db_path(args)
    if isinstance(path, str):
        print(f"sidecar outbox: {path}", file=sys.stderr)
        return 2
    if not path.is_file():
        print(f"sidecar outbox: no mirror at {path}; the sidecar creates it on first start", file=sys.stderr)
        return 2
    try:
        with Mirror.open(path, readonly=True, busy_timeout=1.0) as mirror:
            rows = _rows(mirror, args.status, args.limit)
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
