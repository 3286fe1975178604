"""`sidecar decisions`: the decision log, never a message body or a token.

`sidecar decisions [--would-deny] [--since]` lists decisions, newest first; `--would-deny` keeps observe
mode's would-be denials (calls let through that enforce would refuse), each with its gate, source and
fix. `sidecar decisions export` and `sidecar decisions tail` give the log as audit records, one JSON
object per decision (requester, target, tool, outcome, gate, source, trace id, run id).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import sqlite3
import sys
import time
from collections.abc import Iterable
from dataclasses import asdict, fields, replace
from typing import Any

from sidecar.cli._where import Database, find_db
from sidecar.mirror import AUDIT_FIELDS, DecisionRecord, Mirror, MirrorError, audit_records

EPILOG = f"""\
examples:
  sidecar decisions --agent lead                          # the newest 50 decisions
  sidecar decisions --agent lead --would-deny --since 2h  # what observe mode let through in 2 hours
  sidecar decisions export --agent lead --format jsonl > lead-decisions.jsonl
  sidecar decisions export --agent lead --since 24h | jq 'select(.outcome == "denied")'
  sidecar decisions tail --agent lead                   # follow new decisions as they are made
  sidecar decisions tail --db /path/to/mirror.db --format jsonl

Each record has {", ".join(AUDIT_FIELDS)}: who asked (agent and session), the tool and target, the
outcome, the gate and the key that decided, the sidecar's trace id and the gateway's run id of an
allowed send. A record is built from those fields only: message bodies and tokens never appear.
--would-deny lists the calls observe mode (mode: "observe" in the policy) let through although enforce
would refuse them, each with its gate, source and fix: review them before switching to enforce.
--since takes a duration (90s, 30m, 2h, 7d) or an ISO 8601 time (UTC unless it names a zone).
Under the multi-session host (`sidecar up`) every agent's decisions are in the host's database: --agent
finds it (the running host's when it serves the agent, else the agent's own sidecar's) and keeps only
the calls that agent's sessions made; without --agent, every agent's. The database read is named on
stderr.
Exit 0 on success (with --would-deny: 0 when there are none, 1 when there are), 2 on bad input.
"""

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
POLL_S = 0.5


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "decisions",
        help="list, export or follow this agent's decisions (--would-deny: observe mode's)",
        description="The decisions an agent's sidecar made, from its decision log: listed newest first "
        "(no subcommand), exported or followed as audit records.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    where(parser)
    parser.add_argument(
        "--would-deny",
        action="store_true",
        help="only calls observe mode let through that enforce would refuse",
    )
    parser.add_argument("--since", metavar="WHEN", help="only decisions since WHEN (2h, 30m, 7d or ISO time)")
    parser.add_argument("--limit", type=int, default=50, help="newest N decisions (default 50)")
    parser.add_argument("--json", action="store_true", help="print a JSON list")
    actions = parser.add_subparsers(dest="decisions_command", metavar="SUBCOMMAND")
    export = actions.add_parser(
        "export",
        help="print every decision (or those since a time) as JSON lines",
        description="Print the decision log as audit records, oldest first, one JSON object per line.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    where(export)
    export.add_argument("--format", choices=("jsonl",), default="jsonl", help="one JSON object per line")
    export.add_argument("--since", metavar="WHEN", help="only decisions since WHEN (2h, 30m, 7d or ISO time)")
    export.set_defaults(handler=_export)
    tail = actions.add_parser(
        "tail",
        help="follow new decisions as the sidecar makes them",
        description="Print decisions as they are made (and the last N first), until interrupted.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    where(tail)
    tail.add_argument("--format", choices=("text", "jsonl"), default="text")
    tail.add_argument("-n", "--lines", type=int, default=10, metavar="N", help="show the last N first (10)")
    tail.add_argument("--since", metavar="WHEN", help="start from WHEN instead of the last N")
    tail.add_argument("--count", type=int, metavar="N", help="exit after N records (for scripts)")
    tail.set_defaults(handler=_tail)
    parser.set_defaults(handler=_list)


def where(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--agent", metavar="ID", help="the agent whose decisions to read (its sidecar's or the host's log)"
    )
    parser.add_argument(
        "--db",
        metavar="PATH",
        help="the mirror database (overrides the default; a host's is filtered by --agent)",
    )


def parse_since(text: str, now: float | None = None) -> float:
    """A duration back from now, or an ISO 8601 time, as epoch seconds.

    Raises:
        ValueError: neither form.
    """
    now = time.time() if now is None else now
    match = _DURATION.match(text.strip().lower())
    if match:
        return now - float(match.group(1)) * _UNITS[match.group(2)]
    try:
        when = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"--since {text!r}: give a duration (90s, 30m, 2h, 7d) or an ISO time (2026-12-01T08:00)"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.timestamp()


def db_path(args: argparse.Namespace) -> Database | str:
    """The database to read (and whose rows to keep), or an error message."""
    found = find_db(args.agent, args.db)
    if isinstance(found, Database):
        note = found.note()
        if note:
            print(f"sidecar decisions: {note}", file=sys.stderr)
    return found


def _bad(message: str) -> int:
    print(f"sidecar decisions: {message}", file=sys.stderr)
    return 2


def _open(args: argparse.Namespace) -> tuple[Database, float | None] | int:
    found = db_path(args)
    if isinstance(found, str):
        return _bad(found)
    try:
        since = parse_since(args.since) if args.since else None
    except ValueError as exc:
        return _bad(str(exc))
    if not found.path.is_file():
        return _bad(f"no mirror at {found.path}; the sidecar creates it on first start")
    return found, since


def _mine(records: Iterable[dict[str, Any]], agent: str | None) -> list[dict[str, Any]]:
    return [r for r in records if agent is None or r["requester"] == agent]


def _export(args: argparse.Namespace) -> int:
    opened = _open(args)
    if isinstance(opened, int):
        return opened
    found, since = opened
    try:
        with Mirror.open(found.path, readonly=True, busy_timeout=1.0) as mirror, mirror.reading() as conn:
            records = audit_records(conn, since=since)
            _write(
                records
                if found.only_agent is None
                else (r for r in records if r["requester"] == found.only_agent),
                "jsonl",
            )
    except (MirrorError, sqlite3.Error) as exc:
        return _bad(str(exc))
    return 0


def _first_id(conn: sqlite3.Connection, agent: str | None, lines: int) -> int:
    """The id after which the last `lines` decisions (of `agent`) start."""
    if lines <= 0:
        return int(conn.execute("SELECT coalesce(max(id), 0) FROM decisions").fetchone()[0])
    where, params = ("WHERE requester_agent = ?", [agent]) if agent is not None else ("", [])
    row = conn.execute(
        f"SELECT id FROM decisions {where} ORDER BY id DESC LIMIT 1 OFFSET ?", [*params, lines - 1]
    ).fetchone()
    return int(row[0]) - 1 if row is not None else 0


def _tail(args: argparse.Namespace) -> int:
    opened = _open(args)
    if isinstance(opened, int):
        return opened
    found, since = opened
    agent = found.only_agent
    printed = 0
    try:
        with Mirror.open(found.path, readonly=True, busy_timeout=1.0) as mirror:
            with mirror.reading() as conn:
                newest = int(conn.execute("SELECT coalesce(max(id), 0) FROM decisions").fetchone()[0])
                if since is None:
                    first = list(audit_records(conn, after_id=_first_id(conn, agent, args.lines)))
                else:
                    first = list(audit_records(conn, since=since))
            last = max([newest, *(r["id"] for r in first)])
            while True:
                batch = first if first else []
                first = []
                if not batch:
                    with mirror.reading() as conn:
                        batch = list(audit_records(conn, after_id=last))
                if batch:
                    last = max(last, *(r["id"] for r in batch))
                batch = _mine(batch, agent)
                if args.count is not None:
                    batch = batch[: args.count - printed]
                _write(batch, args.format)
                printed += len(batch)
                if args.count is not None and printed >= args.count:
                    return 0
                time.sleep(POLL_S)
    except (MirrorError, sqlite3.Error) as exc:
        return _bad(str(exc))
    except KeyboardInterrupt:
        return 0


def _write(records: Iterable[dict[str, Any]], fmt: str) -> None:
    for r in records:
        if fmt == "jsonl":
            sys.stdout.write(json.dumps(r, separators=(",", ":")) + "\n")
        else:
            verdict = r["outcome"] + (f" at {r['gate']}" if r["gate"] else "")
            follow = " ".join(f"{k}={r[k]}" for k in ("traceId", "runId") if r.get(k))
            sys.stdout.write(
                f"{r['time']}  {r['requester']} -> {r['target'] or '-'}  {r['tool']}  {verdict}"
                f"{'  ' + follow if follow else ''}\n  decided by: {r['source'] or '-'}\n"
            )
    sys.stdout.flush()


def _when(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


_COLUMNS = tuple(f.name for f in fields(DecisionRecord))


def _of_agent(
    mirror: Mirror, agent: str, *, would_deny: bool, since: float | None, limit: int
) -> list[DecisionRecord]:
    """The newest decisions (or would-be denials) made by `agent`'s sessions in a shared (host) log."""
    sql = f"SELECT {', '.join(_COLUMNS)} FROM decisions WHERE requester_agent = ? AND ts >= ?"
    if would_deny:
        sql += " AND would_deny = 1"
    with mirror.reading() as conn:
        rows = conn.execute(sql + " ORDER BY id DESC LIMIT ?", (agent, since or 0.0, limit)).fetchall()
    return [
        replace(record, would_deny=bool(record.would_deny)) for record in (DecisionRecord(*r) for r in rows)
    ]


def _list(args: argparse.Namespace) -> int:
    opened = _open(args)
    if isinstance(opened, int):
        return opened
    found, since = opened
    try:
        with Mirror.open(found.path, readonly=True, busy_timeout=1.0) as mirror:
            if found.only_agent is not None:
                records = _of_agent(
                    mirror, found.only_agent, would_deny=args.would_deny, since=since, limit=args.limit
                )
            elif args.would_deny:
                records = mirror.decisions.would_deny(since=since, limit=args.limit)
            else:
                records = [r for r in mirror.decisions.recent(args.limit) if since is None or r.ts >= since]
    except (MirrorError, sqlite3.Error) as exc:
        return _bad(str(exc))
    rows = [_row(r) for r in records]
    if args.json:
        print(json.dumps(rows, indent=2))
    elif not rows:
        what = "would-be denials" if args.would_deny else "decisions"
        print(f"no {what} recorded" + (f" since {_when(since)} UTC" if since is not None else ""))
    else:
        _print(records, args.would_deny)
    return 1 if args.would_deny and rows else 0


def _row(record: DecisionRecord) -> dict[str, Any]:
    row = asdict(record)
    row["time"] = dt.datetime.fromtimestamp(record.ts, dt.UTC).isoformat().replace("+00:00", "Z")
    return row


def _print(records: list[DecisionRecord], would_deny: bool) -> None:
    if would_deny:
        print(f"{len(records)} call(s) let through by observe mode that enforce would refuse:\n")
        for r in records:
            print(f"{_when(r.ts)}  {r.tool} -> {r.target or '-'}  WOULD DENY at gate '{r.gate}'")
            print(f"  source: {r.source}")
            print(f"  fix:    {r.fix}")
        return
    print(f"{'time (UTC)':<20} {'outcome':<9} {'tool':<17} {'gate':<20} target")
    for r in records:
        outcome = "observed" if r.would_deny else r.outcome
        print(f"{_when(r.ts):<20} {outcome:<9} {r.tool:<17} {r.gate or '-':<20} {r.target or '-'}")
