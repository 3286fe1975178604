"""Shared by the reliability suite (tests/reliability) and the soak (scripts/soak.py).

Each scenario is a plain async function that takes its counts as arguments and returns an `Outcome`: the
tests run it small and assert on it, the soak runs it large and writes the figures to docs/reliability.md.
Everything a scenario produces (tool output, logs, state dirs) and every secret it sees is registered
with `LEAKS`, which conftest (when the package is done) and the soak scan.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
from mcp import Client, StdioServerParameters

from sidecar.mirror import journaled_decisions

REPO = Path(__file__).resolve().parents[2]
HIERARCHY: dict[str, Any] = json.loads((REPO / "scenarios" / "hierarchy.json").read_text(encoding="utf-8"))
HIERARCHY_AGENTS = sorted(HIERARCHY["policy"]["agents"]["entries"])

Progress = Callable[[str], None]


def quiet(_: str) -> None:
    """The default progress sink: tests stay silent, the soak prints."""


@dataclass
class Outcome:
    """What one scenario run did (`counts`) and what went wrong (`failures`, empty when it passed)."""

    name: str
    counts: dict[str, Any] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def fail(self, message: str) -> None:
        self.failures.append(message)

    def add(self, key: str, n: int = 1) -> None:
        self.counts[key] = int(self.counts.get(key, 0)) + n

    @property
    def ok(self) -> bool:
        return not self.failures

    def report(self) -> str:
        """For assertion messages: the counts and the first failures."""
        head = f"{self.name}: {json.dumps(self.counts, sort_keys=True)}"
        shown = self.failures[:15]
        more = (
            f"\n  ... and {len(self.failures) - len(shown)} more" if len(self.failures) > len(shown) else ""
        )
        return head + "".join(f"\n  - {f}" for f in shown) + more


@contextlib.contextmanager
def timed(outcome: Outcome) -> Any:
    started = time.monotonic()
    try:
        yield outcome
    finally:
        outcome.seconds = round(time.monotonic() - started, 1)


# -- the leak scan ------------------------------------------------------------------------------------


@dataclass
class LeakRegistry:
    """Every secret a scenario handled, and every place its output went."""

    secrets: set[str] = field(default_factory=set)
    roots: set[Path] = field(default_factory=set)
    outputs: list[str] = field(default_factory=list)

    def secret(self, value: str | None) -> None:
        if value:
            self.secrets.add(value)

    def root(self, path: Path) -> Path:
        self.roots.add(Path(path))
        return path

    def output(self, value: str) -> None:
        self.outputs.append(value)

    def stores(self) -> list[Path]:
        """The 0600 file secret stores under the registered roots (they hold secrets by design)."""
        return sorted({p for root in self.roots if root.exists() for p in root.rglob("secrets.json")})

    def all_secrets(self) -> set[str]:
        """The registered secrets plus every device private key and device token in the file stores."""
        found = set(self.secrets)
        for store in self.stores():
            try:
                data = json.loads(store.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            for value in data.values() if isinstance(data, dict) else []:
                record = json.loads(value) if isinstance(value, str) and value.startswith("{") else {}
                found |= {
                    record[k]
                    for k in ("privateKey", "deviceToken")
                    if isinstance(record.get(k), str) and len(record[k]) >= 8
                }
        return found

    def scan(self) -> tuple[list[str], dict[str, int]]:
        """(leaks as "where: secret prefix...", what was scanned)."""
        secrets = self.all_secrets()
        stores = set(self.stores())
        haystacks: list[tuple[str, str]] = [("tool output", o) for o in self.outputs]
        for root in sorted(self.roots):
            if not root.exists():
                continue
            for path in root.rglob("*"):
                if path.is_file() and path not in stores:
                    haystacks.append((str(path), path.read_bytes().decode("utf-8", "replace")))
        leaks = [f"{where}: {s[:6]}..." for where, hay in haystacks for s in secrets if s in hay]
        stats = {
            "secrets": len(secrets),
            "files": sum(1 for where, _ in haystacks if where != "tool output"),
            "outputs": len(self.outputs),
            "bytes": sum(len(h) for _, h in haystacks),
            "mirrors": sum(1 for where, _ in haystacks if where.endswith("mirror.db")),
            "logs": sum(1 for where, _ in haystacks if where.endswith((".log", ".err"))),
        }
        return leaks, stats


LEAKS = LeakRegistry()


# -- running the sidecar ------------------------------------------------------------------------------


def sidecar_env(root: Path, shared_token: str | None = None, **extra: str) -> dict[str, str]:
    """A clean environment for one sidecar: its own state dir, a 0600 file token store and a log file."""
    LEAKS.root(root)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENCLAW_", "SIDECAR_"))}
    env.update(
        SIDECAR_STATE_DIR=str(root / "state"),
        SIDECAR_TOKEN_STORE="file",
        SIDECAR_TOKEN_FILE=str(root / "secrets" / "secrets.json"),
        XDG_DATA_HOME=str(root / "data"),
        SIDECAR_LOG_LEVEL="info",
        SIDECAR_LOG_FILE=str(root / "logs" / "sidecar.log"),
        PYTHONPATH=str(REPO),
    )
    if shared_token:
        env["OPENCLAW_GATEWAY_TOKEN"] = shared_token
        LEAKS.secret(shared_token)
    env.update(extra)
    return env


def write_policy(root: Path, policy: dict[str, Any], name: str = "policy.json5") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    path = root / name
    path.write_text(json.dumps(policy, indent=2), encoding="utf-8")
    return path


def sidecar_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "sidecar", *args]


def text(result: Any) -> str:
    return "".join(getattr(c, "text", "") or "" for c in result.content)


def record(result: Any) -> Any:
    LEAKS.output(text(result) + json.dumps(result.structured_content, default=str))
    return result


@asynccontextmanager
async def served(policy: Path, agent: str, env: dict[str, str], *extra: str) -> AsyncIterator[Client]:
    """`sidecar serve` over stdio as a subprocess, driven by the MCP SDK client; results are recorded."""
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "sidecar", "serve", "--policy", str(policy), "--agent", agent, *extra],
        env=env,
        cwd=str(REPO),
    )
    errlog_path = Path(env["SIDECAR_STATE_DIR"]).parent / "logs" / f"serve-{agent}.err"
    errlog_path.parent.mkdir(parents=True, exist_ok=True)
    with errlog_path.open("a", encoding="utf-8") as errlog:
        from mcp.client.stdio import stdio_client

        async with Client(stdio_client(params, errlog=errlog)) as client:
            call_tool = client.call_tool

            async def recorded(name: str, arguments: dict[str, Any] | None = None, **kw: Any) -> Any:
                return record(await call_tool(name, arguments, **kw))

            client.call_tool = recorded  # type: ignore[method-assign]
            yield client


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def wait_listening(port: int, deadline: float = 60.0) -> None:
    with anyio.fail_after(deadline):
        while True:
            try:
                stream = await anyio.connect_tcp("127.0.0.1", port)
            except OSError:
                await anyio.sleep(0.1)
                continue
            await stream.aclose()
            return


def stop(proc: subprocess.Popen[Any], grace: float = 15.0) -> int:
    """SIGTERM one process we started, SIGKILL it after `grace`; its exit code. Closes its stdin pipe."""
    if proc.stdin is not None:
        with contextlib.suppress(OSError):
            proc.stdin.close()
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    return int(proc.returncode)


# -- the mirror from outside --------------------------------------------------------------------------


def integrity(db: Path) -> str:
    """`PRAGMA integrity_check` through a connection of our own ("ok" when the file is consistent)."""
    conn = sqlite3.connect(db, timeout=30)
    try:
        rows = conn.execute("PRAGMA integrity_check").fetchall()
    finally:
        conn.close()
    return "; ".join(str(r[0]) for r in rows)


def query(db: Path, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(f"{db.absolute().as_uri()}?mode=ro", uri=True, timeout=30)
    try:
        return conn.execute(sql, tuple(params)).fetchall()
    finally:
        conn.close()


def decision_count(db: Path) -> int:
    """Decisions in the log: the rows in the database plus those still journaled (acknowledged, not yet
    batched in). Read until two readings agree, since a batch may move rows from one to the other."""
    last = -1
    while True:
        now = journaled_decisions(db) + int(query(db, "SELECT count(*) FROM decisions")[0][0])
        if now == last:
            return now
        last = now


# -- transcripts on a real gateway --------------------------------------------------------------------


def transcript(gw: Any, key: str, limit: int = 1000) -> list[dict[str, Any]]:
    with gw.rpc() as rpc:
        payload = rpc.request("chat.history", {"sessionKey": key, "limit": limit})
    return list(payload.get("messages", []))


def user_texts(messages: list[dict[str, Any]]) -> list[str]:
    """The bodies of the messages delivered to a session (user turns and inter-session input)."""
    out = []
    for m in messages:
        content = m.get("content")
        body = (
            content
            if isinstance(content, str)
            else "".join(b.get("text", "") for b in content or [] if isinstance(b, dict))
        )
        if m.get("role") == "user" or (m.get("provenance") or {}).get("kind") == "inter_session":
            out.append(body)
    return out


QUEUED_REPLAY = "[Queued user message that arrived while the previous turn was still active]"


def count_delivered(gw: Any, key: str, marker: str) -> int:
    """How many times a message carrying `marker` reached session `key` (the echo replies excluded).

    OpenClaw 2026.4.12 keeps the messages of a turn a gateway restart interrupted and hands them to the
    session again, under its "[Queued user message ...]" banner, with the next message that arrives there.
    That replay is the gateway's, of a message already in the transcript: it is not counted again (a first
    delivery that arrives queued behind a busy turn still counts)."""
    seen = 0
    for text in user_texts(transcript(gw, key)):
        if text.startswith("echo:") or marker not in text:
            continue
        if seen and text.startswith(QUEUED_REPLAY):
            continue
        seen += 1
    return seen


async def wait_for_model_call(gw: Any, marker: str, deadline: float = 90.0) -> None:
    with anyio.fail_after(deadline):
        while not any(marker in (c.get("operator_text") or "") for c in gw.stub_requests()):
            await anyio.sleep(0.1)
