"""`sidecar mirror status` and `sidecar mirror sync`: how fresh an agent's session mirror is, and a manual
snapshot from a gateway with progress on stderr."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, TextIO

import anyio

from sidecar.config import STATE_ENV, mirror_path
from sidecar.mirror import (
    SCHEMA_VERSION,
    STALE_AFTER_S,
    Mirror,
    MirrorError,
    MirrorSync,
    Progress,
    SyncCursor,
    journaled_decisions,
)

STATUS_EPILOG = f"""\
examples:
  sidecar mirror status --agent lead
  sidecar mirror status --db ~/.local/state/openclaw-sessions-sidecar/lead/mirror.db --json
  SIDECAR_STATE_DIR=/srv/sidecar sidecar mirror status --agent dev-1

Shows, per gateway: its OpenClaw release, the state (live, syncing, stale), how the mirror follows it
(`events`, or `polling` with the most seconds a row can lag, for releases without session events such
as 2026.3.x), the mirrored rows, the last full snapshot, how long ago the last event arrived and the
last event seq. A mirror that heard nothing for {STALE_AFTER_S:g} s is stale (the gateway ticks every
30 s), a polled one once its last snapshot is older than its bound, and a hint says what to check.
The database is opened read-only, so this is safe while the sidecar runs.
Default database: ${STATE_ENV}/<agent>/mirror.db, else ~/.local/state/openclaw-sessions-sidecar/<agent>/mirror.db.
Exit codes: 0 every gateway live, 1 something is stale, syncing or never synced, 2 bad input or no
usable database.
"""

SYNC_EPILOG = f"""\
examples:
  sidecar mirror sync --gateway ws://127.0.0.1:18789 --agent lead
  OPENCLAW_GATEWAY_TOKEN=... sidecar mirror sync --gateway wss://gw.example.com --agent dev-1 --name studio

Takes one full snapshot (sessions.list, paged where the release pages, and agents.list) into the agent's mirror, printing
progress on stderr. The sidecar keeps its mirror live by itself; this is for a mirror whose sidecar is
not running, and it refuses while one is live (--force overrides). Pair the agent first (sidecar pair).
Default database: ${STATE_ENV}/<agent>/mirror.db. Exit codes: 0 synced, 1 the sync failed, 2 bad input.
"""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    mirror = sub.add_parser(
        "mirror",
        help="inspect or refresh the agent's session mirror",
        description="The agent's local SQLite mirror of the gateway's sessions.",
    )
    commands = mirror.add_subparsers(dest="mirror_command", metavar="SUBCOMMAND", required=True)
    status = commands.add_parser(
        "status",
        help="freshness of the mirror per gateway",
        description="Show how fresh the session mirror is, per gateway.",
        epilog=STATUS_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _where(status)
    status.add_argument("--json", action="store_true", help="print one JSON object")
    status.set_defaults(handler=_status)

    sync = commands.add_parser(
        "sync",
        help="take one full snapshot from a gateway now",
        description="Take one full snapshot of a gateway's sessions into the mirror.",
        epilog=SYNC_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _where(sync)
    sync.add_argument("--gateway", required=True, metavar="URL", help="the gateway's WebSocket URL")
    sync.add_argument("--name", default="home", help="the gateway's name in the mirror (default: home)")
    sync.add_argument("--token-env", metavar="NAME", help="variable with the gateway's shared token")
    sync.add_argument("--token-store", choices=("keyring", "file"), help="where the device key lives")
    sync.add_argument("--allow-insecure", action="store_true", help="allow ws:// to a non-loopback host")
    sync.add_argument("--force", action="store_true", help="sync even while a sidecar keeps it live")
    sync.set_defaults(handler=_sync)


def _where(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--agent", metavar="ID", help="the agent whose mirror to use (default path)")
    parser.add_argument("--db", metavar="PATH", help="the mirror database (overrides --agent's default)")


def _bad(message: str, err: TextIO | None = None) -> int:
    print(f"sidecar mirror: {message}", file=err or sys.stderr)
    return 2


def _db_path(args: argparse.Namespace) -> Path | str:
    """The database path, or an error message."""
    if args.db:
        return Path(args.db).expanduser()
    if not args.agent:
        return "pass --agent ID (for the default location) or --db PATH"
    try:
        return mirror_path(args.agent)
    except ValueError as exc:
        return f"--agent: {exc}"


# -- status ------------------------------------------------------------------------------------------


def _status(args: argparse.Namespace) -> int:
    path = _db_path(args)
    if isinstance(path, str):
        return _bad(path)
    if not path.is_file():
        who = f"agent {args.agent}" if args.agent and not args.db else str(path)
        return _bad(
            f"no mirror at {path}. The sidecar creates it on first start (sidecar serve --agent "
            f"{args.agent or 'ID'}); check {STATE_ENV} or --db if {who} should have one."
        )
    try:
        with Mirror.open(path, readonly=True, busy_timeout=1.0) as mirror:
            report = status_report(mirror)
    except MirrorError as exc:
        return _bad(str(exc))
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(render_status(report))
    return 0 if report["fresh"] else 1


def status_report(mirror: Mirror, now: float | None = None) -> dict[str, Any]:
    now = time.time() if now is None else now
    gateways = []
    for cursor in mirror.cursors.all():
        freshness = cursor.freshness(now)
        heard = cursor.last_event or cursor.last_full_sync
        gateways.append(
            {
                **cursor.as_dict(),
                "freshness": freshness,
                "last_event_age_s": None if heard is None else round(max(0.0, now - heard), 1),
                "hint": _hint(cursor, freshness, now),
            }
        )
    with mirror.reading() as conn:
        pending = conn.execute("SELECT count(*) FROM outbox WHERE status = 'pending'").fetchone()[0]
        decisions = conn.execute("SELECT count(*) FROM decisions").fetchone()[0]
    if mirror.path is not None:
        # A running (or crashed) sidecar's latest decisions wait in the journal until their batch.
        decisions += journaled_decisions(mirror.path)
    return {
        "db": str(mirror.path),
        "schema": SCHEMA_VERSION,
        "sessions": mirror.count(),
        "agents": mirror.agents(),
        "decisions": decisions,
        "outbox_pending": pending,
        "gateways": gateways,
        "fresh": bool(gateways) and all(g["freshness"] == "live" for g in gateways),
    }


def _hint(cursor: SyncCursor, freshness: str, now: float) -> str | None:
    if freshness == "live":
        return None
    if cursor.state == "syncing":
        return (
            f"a snapshot of {cursor.gateway} is in progress or was interrupted at row "
            f"{cursor.snapshot_offset}; the next sync resumes it."
        )
    heard = cursor.last_event or cursor.last_full_sync
    silent = "never heard from it" if heard is None else f"no event for {_age(now - heard)}"
    return (
        f"{cursor.gateway} is stale ({silent}). Is the sidecar running (sidecar serve) and can it reach "
        "the gateway? `sidecar mirror sync --gateway URL --agent ID` refreshes it by hand."
        + (f" Last error: {cursor.last_error}" if cursor.last_error else "")
    )


def _follows(g: dict[str, Any]) -> str:
    """How the mirror keeps up with this gateway, with the staleness it promises when polling."""
    if g.get("mode") == "polling":
        bound = g.get("stale_bound")
        return f"polling (rows <= {bound:g} s old)" if isinstance(bound, int | float) else "polling"
    return "events" if g.get("mode") == "events" else "-"


def _age(seconds: float) -> str:
    seconds = max(0.0, seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


def _when(ts: float | None) -> str:
    if ts is None:
        return "never"
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def render_status(report: dict[str, Any]) -> str:
    lines = [
        f"mirror {report['db']} (schema {report['schema']})",
        f"  {report['sessions']} sessions, {len(report['agents'])} agents, {report['decisions']} decisions "
        f"logged, {report['outbox_pending']} sends pending",
        "",
    ]
    if not report["gateways"]:
        lines.append("no gateway synced yet: start the sidecar, or run sidecar mirror sync")
        return "\n".join(lines)
    header = ("GATEWAY", "OPENCLAW", "STATE", "FOLLOWS", "ROWS", "LAST FULL SYNC", "LAST EVENT", "SEQ")
    table = [header]
    for g in report["gateways"]:
        age = g["last_event_age_s"]
        table.append(
            (
                g["gateway"],
                g.get("openclaw_version") or "?",
                g["freshness"],
                _follows(g),
                str(g["rows"]),
                _when(g["last_full_sync"]),
                "never" if age is None else f"{_age(age)} ago",
                "-" if g["seq"] is None else str(g["seq"]),
            )
        )
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    lines += ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in table]
    hints = [g["hint"] for g in report["gateways"] if g["hint"]]
    lines += [f"hint: {h}" for h in hints]
    return "\n".join(lines)


# -- sync --------------------------------------------------------------------------------------------


def _sync(args: argparse.Namespace) -> int:
    path = _db_path(args)
    if isinstance(path, str):
        return _bad(path)
    if not args.agent:
        return _bad("--agent ID is needed: the sync connects as that agent's paired device")
    try:
        return anyio.run(run_sync, args, path, sys.stderr)
    except KeyboardInterrupt:
        print("\ninterrupted; the next sync resumes where this one stopped", file=sys.stderr)
        return 130


async def run_sync(args: argparse.Namespace, path: Path, err: TextIO) -> int:
    """Connect as the agent's paired device and take one snapshot; progress goes to `err`."""
    from sidecar.gateway import GatewayClient, GatewayError, TokenStore, check_url
    from sidecar.secrets import SecretStoreUnavailable, open_secret_store

    try:
        url = check_url(args.gateway, allow_insecure=args.allow_insecure)
    except GatewayError as exc:
        return _bad(str(exc), err)
    token = os.environ.get(args.token_env or "OPENCLAW_GATEWAY_TOKEN") or None
    if args.token_env and token is None:
        return _bad(f"--token-env {args.token_env} is not set", err)
    try:
        mirror = Mirror.open(path)
    except MirrorError as exc:
        return _bad(str(exc), err)
    with mirror:
        held = mirror.cursors.get(args.name)
        if held is not None and held.freshness() != "stale" and not args.force:
            return _bad(
                f"a sidecar is keeping {args.name} live in {path} (state {held.state}); it needs no manual "
                "sync. Pass --force to sync anyway.",
                err,
            )
        try:
            tokens = TokenStore(open_secret_store(args.token_store, warn=err))
            identity = await tokens.identity(url, args.agent)
            client = GatewayClient(
                url, identity, tokens, args.agent, shared_token=token, allow_insecure=args.allow_insecure
            )
            async with client:
                syncer = MirrorSync(mirror, client, gateway=args.name, progress=_printer(err))
                rows = await syncer.snapshot()
        except (GatewayError, SecretStoreUnavailable, MirrorError) as exc:
            print(f"\nsidecar mirror sync: {exc}", file=err)
            return 1
    print(f"\nsynced {rows} sessions from {url} into {path}", file=err)
    return 0


def _printer(err: TextIO) -> Progress:
    def progress(done: int, total: int) -> None:
        percent = f" ({100 * done // total}%)" if total else ""
        err.write(f"\rsessions {done}/{total}{percent}")
        err.flush()

    return progress
