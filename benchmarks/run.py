"""Run every benchmark side by side and write a dated table to docs/benchmarks.md.

python -m benchmarks.run               # everything; the gateway benchmarks when node + openclaw are installed
python -m benchmarks.run --quick       # fewer calls and a smaller gateway, for a smoke check (writes nothing)
python -m benchmarks.run --no-gateway  # only the in-process benchmarks
python -m benchmarks.run --gateway     # fail, rather than skip, when the gateway cannot run
python -m benchmarks.run --sessions 10000,100000   # item 4 at each gateway size in turn (past 10k: a seeded store)
python -m benchmarks.run --no-host     # without item 7 (the multi-session host on a second gateway)

Each figure is quoted as a median with a ratio against what it is compared with, measured in the same run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anyio

from benchmarks import bench_list, bench_mirror, bench_policy, bench_startup

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "benchmarks.md"
BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"
DECIDE_TARGET = "p50 ≤ 20x dict lookup, p99 ≤ 3x p50"
READ_TARGET = "agent:dev-1:main"  # bench_gateway.READ_TARGET (that module imports the MCP SDK)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, check=False
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--", "sidecar"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split("\n", 1)[0].split()[1])
        mem = f", {kb / 1024 / 1024:.0f} GB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return (
        f"{cpu}, {os.cpu_count()} cores{mem}, Python {platform.python_version()}, {platform.system()} "
        f"{platform.release()}, commit {commit or 'unknown'}{' (sidecar/ modified in the worktree)' if dirty else ''}"
    )


def us(value: float) -> str:
    if value >= 10_000:
        return f"{value / 1000:.1f} ms"
    if value >= 1000:
        return f"{value / 1000:.2f} ms"
    return f"{value:.2f} µs" if value < 100 else f"{value:.0f} µs"


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b else "n/a"


def status(ok: bool, note: str = "") -> str:
    return "**met**" if ok else f"**missed**{f' ({note})' if note else ''}"


# -- sections ----------------------------------------------------------------------------------------


def policy_section(
    policy_rows: list[dict[str, Any]], mirror_rows: list[dict[str, Any]], calls: int
) -> tuple[str, list[str]]:
    floor = policy_rows[-1]["p50_us"] or 0.001
    targeted = {"decide: allowed (manager reads a session)", "decide: denied, with message/source/fix"}
    decide_mirror = next(r for r in mirror_rows if r["name"].startswith("decide over MirrorView"))
    rows = [
        *policy_rows[:-1],
        {**decide_mirror, "name": decide_mirror["name"] + ", allowed"},
        policy_rows[-1],
    ]
    lines = ["| measurement | p50 | p99 | p50 vs floor | target |", "|---|---:|---:|---:|---|"]
    for row in rows:
        target = DECIDE_TARGET if row["name"] in targeted or row is rows[-2] else ""
        lines.append(
            f"| {row['name']} | {us(row['p50_us'])} | {us(row['p99_us'])} | {row['p50_us'] / floor:.1f}x | {target} |"
        )
    lookups = [r for r in mirror_rows if r["name"].startswith("MirrorView.")]
    lines += ["", "What `decide` asks the mirror (in memory) and what listing costs (SQLite):", ""]
    lines += ["| MirrorView call | p50 | p99 |", "|---|---:|---:|"]
    lines += [f"| {r['name']} | {us(r['p50_us'])} | {us(r['p99_us'])} |" for r in lookups]
    text = (
        f"#### 1. Policy decision latency, 100k sessions\n\n{calls} calls per row, hierarchy scenario policy; "
        "`StaticView` rows are the engine alone, the MirrorView row is the engine over a file-backed `Mirror` "
        f"holding 100k ingested gateway rows. Floor: one dict lookup.\n\n" + "\n".join(lines)
    )
    summary = []
    for row in (policy_rows[0], policy_rows[1], decide_mirror):
        ok = row["p50_us"] <= 20 * floor and row["p99_us"] <= 3 * row["p50_us"]
        summary.append(
            f"| 1 | {row['name']} | p50 {us(row['p50_us'])}, p99 {us(row['p99_us'])} | dict lookup "
            f"{us(floor)} | {row['p50_us'] / floor:.0f}x (p99/p50 {row['p99_us'] / row['p50_us']:.1f}) | "
            f"{DECIDE_TARGET} | {status(ok, 'see analysis')} |"
        )
    return text, summary


def ingest_section(mirror_rows: list[dict[str, Any]]) -> tuple[str, list[str]]:
    ingest, batched, floor = mirror_rows[0], mirror_rows[1], mirror_rows[2]
    lines = [
        "| measurement | median | runs | vs SQLite alone | target |",
        "|---|---:|---|---:|---|",
        f"| {ingest['name']} | {ingest['value']:,} sessions/s | {', '.join(f'{v:,}' for v in ingest['runs'])} | "
        f"{ratio(ingest['value'], floor['value'])} | ≥ 50,000 sessions/s |",
        f"| … the same ingest per CPU second (process time, not wall) | {ingest['cpu_rate']:,} sessions/s | | "
        f"{ratio(ingest['cpu_rate'], floor['cpu_rate'])} (per CPU second) | ≥ 0.8x |",
        f"| {batched['name']} | {batched['value']:,} sessions/s | {', '.join(f'{v:,}' for v in batched['runs'])} | "
        f"{ratio(batched['value'], floor['value'])} | |",
        f"| {floor['name']} | {floor['value']:,} sessions/s | {', '.join(f'{v:,}' for v in floor['runs'])} | 1.00x | |",
        f"| … SQLite alone per CPU second | {floor['cpu_rate']:,} sessions/s | | 1.00x | |",
    ]
    text = (
        "#### 5. Mirror bulk ingest\n\n100k gateway-shaped rows taken by the sidecar's own snapshot "
        "(`MirrorSync`, `sync(once=True)`, from a gateway stand-in that answers each sessions.list page at once "
        "with rows decoded from JSON: parse, upsert five pages per transaction, index; a first snapshot has "
        "nothing to sweep) into a fresh file-backed mirror (WAL, "
        "synchronous=NORMAL), median of 3 fresh mirrors. The floor is the mirror's own upsert statement over "
        "the same rows already parsed, in the same transactions, on a bare sqlite3 connection with the same "
        "schema and pragmas. Both run in this process, so the ratio per CPU second (process time) is the one "
        "judged: on two cores shared with other work, wall time mostly measures the share of the CPU this "
        "process was given.\n\n" + "\n".join(lines)
    )
    summary = [
        f"| 5 | mirror bulk ingest, 100k rows, per CPU second | {ingest['cpu_rate']:,} sessions/s (wall "
        f"{ingest['value']:,}/s) | SQLite alone {floor['cpu_rate']:,}/s (wall {floor['value']:,}/s) | "
        f"{ratio(ingest['cpu_rate'], floor['cpu_rate'])} (wall {ratio(ingest['value'], floor['value'])}) | ≥ 0.8x | "
        f"{status(ingest['cpu_rate'] >= 0.8 * floor['cpu_rate'], 'see analysis')} |"
    ]
    return text, summary


def list_inproc_table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| mirrored | requester (visibility) | limit | rows returned | hidden | first call (builds the listing) "
        "| sessions_list, p50 |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    vis = {"manager": "all", "lead": "scoped", "dev-2": "self"}
    for r in rows:
        first = "" if r["first_ms"] is None else f"{r['first_ms']:.1f} ms"
        lines.append(
            f"| {r['size']:,} | {r['requester']} ({vis.get(r['requester'], '?')}) | {r['limit'] or 'none'} | "
            f"{r['returned']:,} | {r['hidden']:,} | {first} | {r['shipped_ms']:.2f} ms |"
        )
    return (
        "In process without a gateway (`bench_list.py`): the shipped `SessionsService.sessions_list` over a "
        "file-backed mirror of synthetic gateway-shaped rows, with a gateway client that is already connected, "
        f"median of {bench_list_calls(rows)} calls (every row: a fifth as many). Each answer was first checked "
        "against the full scan over every key (same keys, order and visibility block).\n\n" + "\n".join(lines)
    )


def startup_table(startup: dict[str, Any]) -> str:
    top = list(startup["by_package_ms"].items())[:6]
    return (
        "Imports, `python -X importtime` (median of 3, alternating): what `sidecar serve` imports before it "
        "answers (CLI parser for `serve`, runtime, MCP server; the cyclic collector held, as `sidecar serve` holds it "
        "while it starts) against the echo server's imports.\n\n"
        "| imports | sum of self times | wall, `python -c` |\n|---|---:|---:|\n"
        f"| sidecar serve path | {startup['sidecar_ms']:.0f} ms | {startup['wall_sidecar_s'] * 1000:.0f} ms |\n"
        f"| echo server (MCP SDK alone) | {startup['echo_ms']:.0f} ms | {startup['wall_echo_s'] * 1000:.0f} ms |\n"
        f"| bare interpreter (`python -c pass`) | | {startup['wall_bare_s'] * 1000:.0f} ms |\n"
        f"| modules only the sidecar imports ({startup['sidecar_only_modules']}) | "
        f"{startup['sidecar_only_ms']:.0f} ms: " + ", ".join(f"{k} {v:.0f} ms" for k, v in top) + " | |\n\n"
        "What `sidecar serve` does before its event loop starts, step by step in a fresh interpreter (median "
        "of 3; hierarchy policy, 2.5 KB):\n\n| step | time |\n|---|---:|\n"
        + "\n".join(f"| {k} | {v * 1000:.1f} ms |" for k, v in startup["steps_s"].items())
    )


def listing_section(
    size: int, lst: dict[str, Any], fill: dict[str, Any], list_rows: list[dict[str, Any]], echo_cold: float
) -> tuple[str, list[str]]:
    ls = lst["stats"]
    gw_page, gw_all = ls["gateway_page"], ls["gateway_all"]
    n_gw = lst["gateway_sessions"]
    page_kb = lst["page_bytes_sidecar"] / 1024
    shown = lst["shown"]
    n_side, n_gate = lst["sidecar_rows_all"], lst["gateway_rows_all"]

    def row(name: str, st: Any, base: Any | None) -> str:
        vs = ratio(st.p50_us, base.p50_us) if base is not None else "1.00x"
        return (
            f"| {name} | {us(st.p50_us)} | {us(st.p99_us)} | {vs} | {', '.join(us(v) for v in st.rounds)} |"
        )

    if fill.get("seeded"):
        how = (
            f"{fill['held'] - fill['seeded']:,} of them made by the gateway with `sessions.create` and "
            f"{fill['seeded']:,} copied from sessions it made into its stopped store (`benchmarks/_seed.py`: "
            f"creating 100k takes an hour here), then restarted (ready in {fill['restart_ready_s']:.0f} s; "
            f"its first `sessions.list` took {fill['first_list_s']:.1f} s)"
        )
    else:
        rate = fill.get("created", fill["held"]) / max(fill.get("create_s", fill["seconds"]), 1)
        how = f"made with `sessions.create` ({rate:.0f} per second on this box)"
    head = "| series | p50 | p99 | p50 ratio | p50 per round |\n|---|---:|---:|---:|---|"
    text = (
        f"#### 4. sessions_list from the mirror against the gateway's own sessions.list, {size:,} sessions\n\n"
        f"The real gateway holds **{n_gw:,} sessions** (its own `sessions.list` totalCount, checked before any "
        f"figure: a run short of {size:,} fails), {how}, in {fill['seconds']:.0f} s. The sidecars synced all "
        f"{lst['mirror_sessions']:,} of them. One 100-row page (`limit: 100` on both sides) and every row "
        f"(the gateway paged 1000 at a time, its maximum). A 100-row page is {lst['page_bytes_gateway']:,} "
        f"bytes of JSON from the gateway and {lst['page_bytes_sidecar']:,} from the sidecar. Requesters: "
        f"manager (visibility all: {shown['manager'][0]} rows, {shown['manager'][1]:,} hidden), lead (scoped: "
        f"{shown['lead'][0]} rows, {shown['lead'][1]:,} hidden), dev-2 (self: {shown['dev-2'][0]} rows, "
        f"{shown['dev-2'][1]:,} hidden).\n\n"
        f"{head}\n"
        f"{row('sidecar over stdio: manager, limit 100', ls['stdio_page'], gw_page)}\n"
        f"{row(f'echo tool over stdio carrying {page_kb:.0f} KB (the size of the sidecar page)', ls['echo_page'], gw_page)}\n"
        f"{row('sidecar in process: manager (all), limit 100', ls['inproc_page'], gw_page)}\n"
        f"{row('sidecar in process: lead (scoped), limit 100', ls['scoped_page'], gw_page)}\n"
        f"{row('sidecar in process: dev-2 (self), limit 100', ls['self_page'], gw_page)}\n"
        f"{row(f'gateway sessions.list limit 100 over WebSocket ({n_gw:,} sessions)', gw_page, None)}\n"
        f"{row(f'sidecar in process: sessions_list, all {n_side:,} rows', ls['inproc_all'], gw_all)}\n"
        f"{row(f'gateway sessions.list, all {n_gate:,} rows (pages of 1000)', gw_all, None)}"
    )
    rows = [
        f"| 4 | sessions_list page over stdio, manager ({size:,}) | p50 {us(ls['stdio_page'].p50_us)} | gateway "
        f"sessions.list limit 100 {us(gw_page.p50_us)} | {ratio(ls['stdio_page'].p50_us, gw_page.p50_us)} | ≤ 0.5x | "
        f"{status(ls['stdio_page'].p50_us <= 0.5 * gw_page.p50_us, 'see analysis')} |"
    ]
    for key, who in (
        ("inproc_page", "manager (all)"),
        ("scoped_page", "lead (scoped)"),
        ("self_page", "dev-2 (self)"),
    ):
        st = ls[key]
        rows.append(
            f"| 4 | sessions_list page in process, {who} ({size:,}) | p50 {us(st.p50_us)} | gateway "
            f"{us(gw_page.p50_us)} | {ratio(st.p50_us, gw_page.p50_us)} | ≤ 0.5x | "
            f"{status(st.p50_us <= 0.5 * gw_page.p50_us, 'see analysis')} |"
        )
    rows.append(
        f"| 4 | sessions_list, every row, in process ({size:,}) | {us(ls['inproc_all'].p50_us)} | gateway, all "
        f"pages {us(gw_all.p50_us)} | {ratio(ls['inproc_all'].p50_us, gw_all.p50_us)} | ≤ 0.2x | "
        f"{status(ls['inproc_all'].p50_us <= 0.2 * gw_all.p50_us, 'see analysis')} |"
    )
    return text, rows


def gateway_sections(
    g: Any, list_rows: list[dict[str, Any]], startup: dict[str, Any]
) -> tuple[list[str], list[str]]:
    st = g.steady["stats"]
    echo, denied = st["echo"], st["denied"]
    parts = g.steady["parts"]
    direct, inproc, stdio = st["direct_ws"], st["history_inproc"], st["history_stdio"]
    calls = echo.n
    sections: list[str] = []
    summary: list[str] = []

    def row(name: str, s: Any, base: Any | None, extra: str = "") -> str:
        vs = ratio(s.p50_us, base.p50_us) if base is not None else "1.00x"
        spread = ", ".join(us(v) for v in s.rounds)
        return f"| {name} | {us(s.p50_us)} | {us(s.p99_us)} | {vs} | {spread} |{extra}"

    head = "| series | p50 | p99 | p50 ratio | p50 per round |\n|---|---:|---:|---:|---|"
    sections.append(
        "#### 2. A denied tool call end to end over stdio\n\n"
        f"A real `sidecar serve --agent lead` subprocess and `benchmarks/echo_server.py` (a bare `MCPServer` "
        f"with one echo tool, same SDK), each driven by the MCP SDK `Client` over stdio; {calls} calls per "
        "series per round, interleaved call by call with the other series of this run, best of 3 rounds. "
        f"The denied call is `sessions_send` to `agent:hr:main` (visibility gate; the target is in the mirror, "
        "so nothing reaches the gateway).\n\n"
        f"{head}\n{row('sidecar: denied sessions_send', denied, echo)}\n{row('echo tool (floor)', echo, None)}"
    )
    summary.append(
        f"| 2 | denied call end to end over stdio | p50 {us(denied.p50_us)} | echo tool {us(echo.p50_us)} | "
        f"{ratio(denied.p50_us, echo.p50_us)} | ≤ 1.1x | {status(denied.p50_us <= 1.1 * echo.p50_us, 'see analysis')} |"
    )

    added_e2e = (stdio.p50_us - direct.p50_us) / 1000
    added_own = (inproc.p50_us - direct.p50_us) / 1000
    added_nolog = (st["history_inproc_nolog"].p50_us - direct.p50_us) / 1000
    mcp_floor = echo.p50_us / 1000
    sections.append(
        "#### 3. A forwarded read: sessions_history against chat.history over WebSocket\n\n"
        "`sessions_list` is answered from the mirror, so it is never forwarded; the forwarded read measured here "
        f"is `sessions_history` of `{READ_TARGET}` (allowed for lead; {g.steady['messages']} messages, "
        f"{g.steady['history_bytes']:,} bytes of chat.history JSON), which the sidecar sends on as "
        "`chat.history {sessionKey, limit: 200}`. The comparison is that same RPC sent directly over "
        "WebSocket with the sidecar's own `GatewayClient`, on the very connection the in-process sidecar uses, "
        "to the same gateway, interleaved with item 2's series.\n\n"
        f"{head}\n{row('sidecar over stdio: sessions_history', stdio, direct)}\n"
        f"{row('sidecar in process (SessionsService, same connection)', inproc, direct)}\n"
        f"{row('… the same, decision-log write stubbed out (experiment)', st['history_inproc_nolog'], direct)}\n"
        f"{row('direct chat.history over WebSocket', direct, None)}\n\n"
        f"Added at p50: **{added_e2e:+.2f} ms** end to end over stdio, of which the MCP stdio round trip "
        f"itself (the echo tool, item 2) is {mcp_floor:.2f} ms; **{added_own:+.2f} ms** is the sidecar's own "
        "work (resolve, decide, decision log, sanitise; the in-process row), "
        f"and {added_nolog:+.2f} ms with the decision-log write stubbed out.\n\n"
        "Where the sidecar's own time goes: the same in-process service (policy, mirror, decision log) over a "
        "gateway stub that answers at once with the chat.history payload recorded above, so only sidecar "
        "code is timed (same interleaving, best of 3):\n\n"
        "| step | p50 | p99 |\n|---|---:|---:|\n"
        + "\n".join(
            f"| {label} | {us(parts[key].p50_us)} | {us(parts[key].p99_us)} |" for key, label in PARTS
        )
    )
    summary.append(
        f"| 3 | forwarded read (sessions_history) over stdio | {added_e2e:+.2f} ms added at p50 | direct chat.history "
        f"{us(direct.p50_us)} | {ratio(stdio.p50_us, direct.p50_us)} | (not a target: the MCP stdio hop alone is "
        f"{mcp_floor:.2f} ms) | |"
    )
    summary.append(
        f"| 3 | forwarded read in process (same connection) | p50 {us(inproc.p50_us)} | direct chat.history "
        f"{us(direct.p50_us)} | {ratio(inproc.p50_us, direct.p50_us)} | ≤ 1.05x | "
        f"{status(inproc.p50_us <= 1.05 * direct.p50_us, 'see analysis')} |"
    )
    alone, logged = parts["decide"], parts["decide_logged"]
    summary.append(
        f"| 3 | decision log: a logged decision, p99 | p99 {us(logged.p99_us)} (p50 {us(logged.p50_us)}) | the "
        f"decision alone, p99 {us(alone.p99_us)} | {ratio(logged.p99_us, alone.p99_us)} | ≤ 5x | "
        f"{status(logged.p99_us <= 5 * alone.p99_us, 'see analysis')} |"
    )

    c = g.cold
    echo_cold = c["echo_s"]
    for size, lst in sorted(g.listings.items()):
        text, rows = listing_section(size, lst, g.fills[size], list_rows, echo_cold)
        sections.append(text)
        summary += rows
    if list_rows:
        sections[-1] += "\n\n" + list_inproc_table(list_rows)

    lines = [
        "| measurement | sidecar | echo server | ratio |",
        "|---|---:|---:|---:|",
        f"| VmRSS after the first tool call | {c['sidecar_rss_mb']:.1f} MB | {c['echo_rss_mb']:.1f} MB | "
        f"{ratio(c['sidecar_rss_mb'], c['echo_rss_mb'])} |",
        f"| VmRSS after items 2-3 ({3 * (calls + 20)} calls per tool) | {g.steady['rss_after_mb']:.1f} MB | | |",
    ]
    for _size, lst in sorted(g.listings.items()):
        lines.append(
            f"| VmRSS with {lst['mirror_sessions']:,} sessions mirrored (manager, restarted, item 4) | "
            f"{lst['rss_mb']:.1f} MB | | |"
        )
        lines.append(
            f"| … the first start, which took the whole snapshot | {lst['rss_first_mb']:.1f} MB | | |"
        )
    lines += [
        f"| cold start: spawn → first tool call served (median of {c['runs']}) | {c['sidecar_s'] * 1000:.0f} ms | "
        f"{c['echo_s'] * 1000:.0f} ms | {ratio(c['sidecar_s'], c['echo_s'])} |",
        f"| … of which spawn → MCP initialize done | {c['sidecar_init_s'] * 1000:.0f} ms | {c['echo_init_s'] * 1000:.0f} ms | "
        f"{ratio(c['sidecar_init_s'], c['echo_init_s'])} |",
        f"| spawn → MCP initialize done, gateway unreachable (no connect work) | {c['unreachable_init_s'] * 1000:.0f} ms "
        f"| {c['echo_init_s'] * 1000:.0f} ms | {ratio(c['unreachable_init_s'], c['echo_init_s'])} |",
        f"| first start ever (empty state dir: new device key, pairing, empty mirror) | {c['first_ever_s'] * 1000:.0f} ms | | |",
    ]
    for _size, lst in sorted(g.listings.items()):
        lines.append(
            f"| first start with {lst['mirror_sessions']:,} sessions to snapshot (manager, empty mirror) | "
            f"{lst['cold_start_s'] * 1000:.0f} ms | | |"
        )
        lines.append(
            f"| … restarted with them on disk → first tool served (fresh: {str(lst['restart_fresh']).lower()}) | "
            f"{lst['restart_s'] * 1000:.0f} ms | {echo_cold * 1000:.0f} ms | {ratio(lst['restart_s'], echo_cold)} |"
        )
    lines += ["", startup_table(startup)]
    sections.append(
        "#### 6. Memory and cold start\n\n"
        "VmRSS from /proc of the `sidecar serve` subprocess (lead) right after its first tool call, and of the "
        "echo server after its first call. Cold start: `Client(StdioServerParameters(...))` entered (process "
        "spawned, MCP initialize done) → first `call_tool` answered: `sessions_list` for the sidecar; `echo` "
        "for the echo server. Sidecar and echo starts alternate; the sidecar reuses its state dir (paired, "
        "mirror on disk) except on the first start ever.\n\n" + "\n".join(lines)
    )
    summary.append(
        f"| 6 | sidecar cold start → first tool served | {c['sidecar_s'] * 1000:.0f} ms | echo server "
        f"{c['echo_s'] * 1000:.0f} ms | {ratio(c['sidecar_s'], c['echo_s'])} | ≤ 1.1x | "
        f"{status(c['sidecar_s'] <= 1.1 * c['echo_s'], 'see analysis')} |"
    )
    for size, lst in sorted(g.listings.items()):
        summary.append(
            f"| 6 | restart with {size:,} on disk → first tool served | {lst['restart_s'] * 1000:.0f} ms | echo "
            f"server cold start {echo_cold * 1000:.0f} ms | {ratio(lst['restart_s'], echo_cold)} | ≤ 1.5x | "
            f"{status(lst['restart_s'] <= 1.5 * echo_cold, 'see analysis')} |"
        )
        summary.append(
            f"| 6 | RSS with {size:,} sessions mirrored | {lst['rss_mb']:.1f} MB | echo server "
            f"{c['echo_rss_mb']:.1f} MB | {ratio(lst['rss_mb'], c['echo_rss_mb'])} | ≤ 150 MB | "
            f"{status(lst['rss_mb'] <= 150, 'see analysis')} |"
        )
    return sections, summary


PARTS = (
    ("history_instant", "sessions_history, whole call, instant gateway"),
    ("decide", "… decide() alone"),
    ("decide_logged", "… decide() + decision-log row (one SQLite commit)"),
    ("sanitise", "… sanitise the transcript"),
    ("denied_instant", "denied sessions_send, whole call (item 2's sidecar work)"),
)


def host_section(h: dict[str, Any]) -> tuple[str, list[str]]:
    """Item 7: `benchmarks/bench_host.py`'s one run, side by side on its own gateway."""
    host, today, echo = h["host"], h["per_session"], h["echo_cold_s"]
    first = host["new_session_first_call_s"]
    text = (
        "#### 7. The multi-session host against per-session processes\n\n"
        f"A second real gateway with {host['agents']} agents. In the same run: the echo server's cold start; "
        f"{today['processes']} `sidecar serve --session agent:a0:s<i>` processes over stdio, as OpenClaw starts "
        f"one per session; one `sidecar host` with {host['sessions']} concurrent MCP sessions over streamable "
        "HTTP spread over the agents' endpoints, each making an attested `sessions_list` as its own session key "
        "(`bench_host.py`).\n\n"
        "| measure | per-session processes | one host |\n|---|---|---|\n"
        f"| RSS | {today['rss_mb_each']:.1f} MB per process (each session adds one) | "
        f"{host['rss_first_mb']:.1f} MB with 1 session, {host['rss_all_mb']:.1f} MB with {host['sessions']}: "
        f"{host['rss_per_extra_session_mb']:.3f} MB per extra session |\n"
        f"| gateway WebSockets | {today['gateway_sockets']} for {today['processes']} sessions | "
        f"{host['gateway_sockets']} for {host['sessions']} sessions (`/healthz` says "
        f"{host['gateway_connections']}) |\n"
        f"| first call of a new session | {today['cold_s'] * 1000:.0f} ms (a process cold start) | "
        f"{first * 1000:.0f} ms median (initialize, tools/list, first call), "
        f"{host['new_session_first_call_max_s'] * 1000:.0f} ms worst, over sessions 2-{host['sessions']}; "
        f"{host['first_session_first_call_s'] * 1000:.0f} ms for the very first |\n"
        f"| echo server cold start | {echo * 1000:.0f} ms | |"
    )
    met = h["targets"]
    summary = [
        f"| 7 | host: RSS per extra session | {host['rss_per_extra_session_mb']:.3f} MB | a per-session process "
        f"{today['rss_mb_each']:.1f} MB | | ≤ 5 MB | {status(met['rss_per_extra_session_mb<=5'], 'see analysis')} |",
        f"| 7 | host: gateway connections for {host['sessions']} sessions | {host['gateway_sockets']} | "
        f"{today['gateway_sockets']} for {today['processes']} processes | | 1 | "
        f"{status(met['one_gateway_connection'], 'see analysis')} |",
        f"| 7 | host: first call in a new session | {first * 1000:.0f} ms | echo server cold start "
        f"{echo * 1000:.0f} ms | {ratio(first, echo)} | ≤ 0.2x | "
        f"{status(met['new_session_first_call<=0.2x_echo'], 'see analysis')} |",
    ]
    return text, summary


def bench_list_calls(rows: list[dict[str, Any]]) -> int:
    return int(rows[0].get("calls", 0)) if rows else 0


# -- driver ------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="fewer calls, 1k gateway sessions; writes nothing"
    )
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    gateway = parser.add_mutually_exclusive_group()
    gateway.add_argument(
        "--gateway", action="store_true", help="require the gateway benchmarks (fail if they cannot run)"
    )
    gateway.add_argument("--no-gateway", action="store_true", help="skip the gateway benchmarks")
    parser.add_argument(
        "--no-host",
        action="store_true",
        help="skip item 7 (the multi-session host; it starts a second gateway)",
    )
    parser.add_argument("--json", metavar="FILE", help="also write the raw figures as JSON")
    parser.add_argument(
        "--sessions",
        metavar="N,N",
        default="10000",
        help="gateway sizes for item 4, filled in turn (default 10000; a size not reached fails the run)",
    )
    args = parser.parse_args()
    calls = 10_000 if args.quick else 100_000
    started = time.perf_counter()
    load_start = os.getloadavg()

    reason = None
    if args.no_gateway:
        reason = "--no-gateway"
    else:
        from benchmarks import bench_gateway

        reason = bench_gateway.unavailable()
        if reason and args.gateway:
            log(f"--gateway: the gateway benchmarks cannot run: {reason}")
            return 2
    if reason:
        log(f"gateway benchmarks (items 2, 3, 4 against the gateway, 6) skipped: {reason}")

    log(f"policy decisions: {calls} calls over {bench_policy.SESSIONS} sessions…")
    policy_rows = bench_policy.run(calls=calls)
    log("mirror: ingest x3 + SQLite floor x3, MirrorView lookups at 100k…")
    mirror_rows = bench_mirror.run(calls=calls, repeats=3)
    list_calls = 5 if args.quick else 15
    sizes_inproc = ", ".join(f"{n:,}" for n in bench_list.SIZES)
    log(f"sessions_list in process at {sizes_inproc} mirrored sessions, checked against the full scan…")
    list_rows = [{**r, "calls": list_calls} for r in anyio.run(bench_list.run, list_calls)]
    log("imports: python -X importtime, sidecar serve path against the echo server, x3…")
    startup = bench_startup.run(runs=3)
    g = None
    if not reason:
        from benchmarks import bench_gateway

        try:
            sizes = tuple(int(n.replace("_", "")) for n in args.sessions.split(",") if n.strip())
            g = bench_gateway.run(quick=args.quick, log=log, sizes=sizes)
        except bench_gateway.FillShort as exc:
            log(f"FAILED: {exc}")
            return 1
    host = None
    if not reason and not args.no_host:
        from benchmarks import bench_host

        sessions = 10 if args.quick else 50
        log(
            f"item 7: one sidecar host with {sessions} sessions against per-session processes (its own gateway)…"
        )
        host = bench_host.run(sessions=sessions, log=log)
    load_end = os.getloadavg()
    elapsed = time.perf_counter() - started

    p_text, p_summary = policy_section(policy_rows, mirror_rows, calls)
    i_text, i_summary = ingest_section(mirror_rows)
    sections = [p_text]
    summary = [*p_summary]
    if g is not None:
        g_sections, g_summary = gateway_sections(g, list_rows, startup)
        sections += g_sections[:-1]
        sections.append(i_text)
        sections.append(g_sections[-1])
        summary += g_summary + i_summary
        if host is not None:
            h_text, h_summary = host_section(host)
            sections.append(h_text)
            summary += h_summary
        summary.sort(key=lambda line: int(line.split("|")[1]))  # by item number; stable within an item
    else:
        sections.append(
            "#### 4. sessions_list from the mirror (in process only; the gateway benchmarks were skipped: "
            f"{reason})\n\n{list_inproc_table(list_rows)}"
        )
        sections.append(i_text)
        sections.append(
            f"#### 6. Cold start (imports only; the gateway benchmarks were skipped)\n\n{startup_table(startup)}"
        )
        summary += i_summary
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    gw_line = (
        f"Gateway: real OpenClaw {g.gateway_version} started by scripts/harness in a temp root with "
        f"{g.agents} agents and the stub model; setup (start + 2 turns) {g.setup_s:.0f} s."
        if g is not None
        else f"Gateway benchmarks skipped: {reason}."
    )
    section = (
        f"{BEGIN}\n### Results ({stamp}{', --quick' if args.quick else ''})\n\n"
        f"Machine: {machine()}. Load average (1 min) {load_start[0]:.1f} at the start and {load_end[0]:.1f} at "
        f"the end: other processes share these cores. {gw_line} Whole run {elapsed / 60:.1f} min "
        "(`python -m benchmarks.run`).\n\n"
        "| # | figure | measured (median) | comparison | ratio | target | status |\n"
        "|---|---|---|---|---:|---|---|\n" + "\n".join(summary) + "\n\n" + "\n\n".join(sections) + f"\n{END}"
    )
    print(section)
    if args.json:
        raw: dict[str, Any] = {
            "policy": policy_rows,
            "mirror": mirror_rows,
            "list_inproc": list_rows,
            "startup": startup,
        }
        if host is not None:
            raw["host"] = host
        if g is not None:
            from benchmarks.bench_gateway import as_dict

            raw["gateway"] = {
                "version": g.gateway_version,
                "cold": g.cold,
                "steady": {
                    **{k: v for k, v in g.steady.items() if k != "stats"},
                    "stats": as_dict(g.steady["stats"]),
                },
                "listings": {
                    size: {**{k: v for k, v in lst.items() if k != "stats"}, "stats": as_dict(lst["stats"])}
                    for size, lst in g.listings.items()
                },
                "fills": g.fills,
            }
        Path(args.json).write_text(json.dumps(raw, indent=1, default=str), encoding="utf-8")
    if not args.no_write and not args.quick:
        text = DOC.read_text(encoding="utf-8") if DOC.exists() else ""
        if BEGIN in text and END in text:
            text = text[: text.index(BEGIN)] + section + text[text.index(END) + len(END) :]
        else:
            text = text.rstrip() + "\n\n" + section + "\n"
        DOC.write_text(text, encoding="utf-8")
        log(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
