"""Start, drive and stop a real, isolated OpenClaw gateway (npm ``openclaw``) wired to the stub model.

One gateway = one root directory::

    <root>/info.json          ports, url, pids, paths, token (mode 0600)
    <root>/home/              HOME, OPENCLAW_HOME, XDG_* dirs
    <root>/state/             OPENCLAW_STATE_DIR;  state/openclaw.json = OPENCLAW_CONFIG_PATH
    <root>/tmp/               TMPDIR
    <root>/ws/<agent>/        agent workspaces
    <root>/logs/gateway.out   gateway console (stdout+stderr; reload lines land here)
    <root>/logs/openclaw.log  gateway file log (logging.file)
    <root>/logs/stub.out      stub model console
    <root>/stub-requests.jsonl  one JSON line per model call (see stub_model.py)

Everything binds 127.0.0.1; inherited OPENCLAW_*, *_API_KEY and proxy variables are dropped.
"""

from __future__ import annotations

import atexit
import contextlib
import copy
import hashlib
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as ws_connect

from . import stub_model
from .node import OPENCLAW_VERSION, Toolchain, ensure_openclaw

Json = dict[str, Any]

READY_TIMEOUT_S = float(os.environ.get("HARNESS_READY_TIMEOUT_S") or 120.0)
"""How long a gateway may take to answer /readyz; raise it on a crowded machine (starts took 160 s)."""
READY_TIMEOUT_OLD_S = 360.0
STOP_GRACE_S = 15.0
RELOAD_TIMEOUT_S = 30.0
PROTOCOL = 4
MIN_PROTOCOL = 3  # 2026.3.x and 2026.4.x speak protocol 3 only; 2026.9 answers 4
OPERATOR_SCOPES = [
    "operator.read",
    "operator.write",
    "operator.admin",
    "operator.approvals",
    "operator.pairing",
]
STRIP_EXACT = {
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "no_proxy",
    "ftp_proxy",
    "NODE_OPTIONS",
    "NODE_COMPILE_CACHE",
    "NODE_PATH",
}
FLAG_ENV = {
    "OPENCLAW_DISABLE_BONJOUR": "1",
    "OPENCLAW_NO_AUTO_UPDATE": "1",
    "OPENCLAW_SKIP_CHANNELS": "1",
    "OPENCLAW_OFFLINE": "1",
    "OPENCLAW_NO_RESPAWN": "1",
    "OPENCLAW_EXEC_SHELL_SNAPSHOT": "0",
    "NO_COLOR": "1",
}
_RELOAD_DONE = re.compile(r"config hot reload applied|config change applied")
_RELOAD_SKIPPED = re.compile(r"config reload skipped[^\n]*")
_RELOAD_RESTART = re.compile(r"config change requires gateway restart")
_READY_LINE = re.compile(r"\[gateway\] ready")
_STUB_SCRIPT = Path(stub_model.__file__).resolve()

_live: list[Gateway] = []


class GatewayError(RuntimeError):
    """The gateway failed to start, became unhealthy, or a harness operation timed out."""


def _progress(msg: str, end: str = "\n") -> None:
    print(msg, end=end, file=sys.stderr, flush=True)


def free_port() -> int:
    """A currently free TCP port on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


STABLE_PORT_BASE = 20000
STABLE_PORT_SPAN = 10000


def stable_port(root: Path) -> int:
    """The port a root's gateway gets unless told otherwise: the same on every start (derived from the
    root's path), so URLs written into policies and pairings stay valid across restarts."""
    digest = hashlib.sha256(str(Path(root).resolve()).encode("utf-8")).digest()
    return STABLE_PORT_BASE + int.from_bytes(digest[:4], "big") % STABLE_PORT_SPAN


def clean_environ(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """``environ`` without OPENCLAW_*, *_API_KEY, proxy variables and Node option variables."""
    src = os.environ if environ is None else environ
    out: dict[str, str] = {}
    for key, value in src.items():
        if key.startswith("OPENCLAW_") or key.upper().endswith("_API_KEY"):
            continue
        if key.lower() in STRIP_EXACT or key in STRIP_EXACT:
            continue
        out[key] = value
    return out


def deep_merge(base: Json, override: Mapping[str, Any]) -> Json:
    """Recursively merge ``override`` into a copy of ``base`` (dicts merge, anything else replaces)."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _release(version: str) -> tuple[int, int, int]:
    year, month, patch = (int(part) for part in version.split("-")[0].split(".")[:3])
    return year, month, patch


def build_config(
    *,
    root: Path,
    agents: Sequence[str],
    port: int,
    stub_port: int,
    token: str,
    overrides: Mapping[str, Any] | None = None,
    version: str = OPENCLAW_VERSION,
) -> Json:
    """The isolated gateway config of real-gateway.md §4 plus ``gateway.tools.allow`` for /tools/invoke.

    Shaped for ``version``: before 2026.9 agents are ``agents.list[]`` (with ``default: true``) and the
    keys 2026.9 added (``agents.ownership``, ``agents.defaults.systemAgent``, ``models.catalogRefresh``,
    ``skills.workshop``, ``telemetry``) are left out, since older releases reject unknown keys.
    """
    if not agents:
        raise ValueError("at least one agent id is needed")
    system_agent = "main" if "main" in agents else agents[0]
    entries: Json = {}
    for agent in agents:
        # No `default: true` marker: 2026.9.6 refuses it beside ownership "explicit";
        # agents.defaults.systemAgent names the default agent instead.
        entries[agent] = {"name": agent, "workspace": str(root / "ws" / agent)}
    config: Json = {
        "gateway": {
            "mode": "local",
            "port": port,
            "bind": "loopback",
            "auth": {"mode": "token", "token": token},
            "tailscale": {"mode": "off"},
            "tools": {"allow": ["sessions_send", "sessions_spawn"]},
        },
        "agents": {
            "ownership": "explicit",
            "defaults": {
                "model": {"primary": f"stub/{stub_model.MODEL_ID}", "fallbacks": []},
                "heartbeat": {"every": "0m"},
                "systemAgent": {"agentId": system_agent},
                "skipBootstrap": True,
            },
            "entries": entries,
        },
        "models": {
            "mode": "replace",
            "catalogRefresh": {"enabled": False},
            "providers": {
                "stub": {
                    "baseUrl": f"http://127.0.0.1:{stub_port}/v1",
                    "apiKey": "stub-key",
                    "api": "openai-completions",
                    "models": [
                        {
                            "id": stub_model.MODEL_ID,
                            "name": "Stub Echo",
                            "reasoning": False,
                            "input": ["text"],
                            "cost": {"input": 0, "output": 0, "cacheRead": 0, "cacheWrite": 0},
                            "contextWindow": 128000,
                            "maxTokens": 4096,
                        }
                    ],
                }
            },
        },
        "update": {"checkOnStart": False, "auto": {"enabled": False}},
        "logging": {"file": str(root / "logs" / "openclaw.log")},
        "skills": {"workshop": {"autonomous": {"mode": "off"}}},
        "telemetry": {"enabled": False},
        # automatic session-store maintenance runs a SQLite reclamation worker that can hold the
        # state-lifecycle lock for >10 s on a loaded 2-core box and wedge the gateway (see report)
        "session": {"maintenance": {"mode": "warn"}},
        "discovery": {"mdns": {"mode": "off"}},
        "tools": {
            "sessions": {"visibility": "all"},
            "agentToAgent": {"enabled": True, "allow": list(agents)},
        },
    }
    if _release(version) < (2026, 9, 0):
        agents_cfg = config["agents"]
        del agents_cfg["ownership"], agents_cfg["defaults"]["systemAgent"], agents_cfg["entries"]
        agents_cfg["list"] = [
            {"id": agent, "name": agent, "workspace": str(root / "ws" / agent)}
            | ({"default": True} if agent == system_agent else {})
            for agent in agents
        ]
        del config["models"]["catalogRefresh"], config["skills"], config["telemetry"]
    return deep_merge(config, overrides or {})


def _write_private(path: Path, text: str) -> None:
    """Atomically write ``text`` to ``path`` with mode 0600."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def _http_get_json(url: str, timeout: float = 2.0) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return int(resp.status), json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        with exc:
            body = exc.read()
        try:
            return int(exc.code), json.loads(body or b"null")
        except ValueError:
            return int(exc.code), body.decode(errors="replace")


def _stat_fields(pid: int) -> list[str] | None:
    """``/proc/<pid>/stat`` fields from field 3 (state) on, or None if the process does not exist."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2 :].split()


def _proc_stat(pid: int) -> tuple[str, int] | None:
    """(state, pgrp) of ``pid`` from /proc, or None if it does not exist."""
    fields = _stat_fields(pid)
    return None if fields is None else (fields[0], int(fields[2]))


def _descendants(pid: int) -> list[tuple[int, str]]:
    """(pid, start time) of every live descendant of ``pid`` (some leave its process group)."""
    children: dict[int, list[tuple[int, str]]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields is not None and fields[0] != "Z":
                children.setdefault(int(fields[1]), []).append((int(entry.name), fields[19]))
    out: list[tuple[int, str]] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child[0])
    return out


def _still_running(snapshot: list[tuple[int, str]]) -> list[int]:
    """The pids of ``snapshot`` that are still the same (same start time), non-zombie processes."""
    alive = []
    for pid, started in snapshot:
        fields = _stat_fields(pid)
        if fields is not None and fields[0] != "Z" and fields[19] == started:
            alive.append(pid)
    return alive


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # zombies still count for killpg; check that some member is not a zombie
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = _proc_stat(int(entry.name))
            if stat is not None and stat[1] == pgid and stat[0] != "Z":
                return True
    return False


class ManagedProcess:
    """A process started in its own session/process group; stopped by its process group only."""

    def __init__(self, pid: int, popen: subprocess.Popen[bytes] | None = None, marker: str = "") -> None:
        self.pid = pid
        self.pgid = pid  # start_new_session=True -> leader of its own group
        self.popen = popen
        self.marker = marker

    def owned(self) -> bool:
        """Still our process: same group leader and (for attached pids) the expected command line."""
        if self.popen is not None:
            return self.popen.poll() is None or _group_alive(self.pgid)
        stat = _proc_stat(self.pid)
        if stat is None or stat[1] != self.pgid:
            return _group_alive(self.pgid) and self._group_has_marker()
        return self._cmdline_has_marker(self.pid)

    def _cmdline_has_marker(self, pid: int) -> bool:
        if not self.marker:
            return True
        try:
            return self.marker in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            return False

    def _group_has_marker(self) -> bool:
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                stat = _proc_stat(int(entry.name))
                if stat is not None and stat[1] == self.pgid and self._cmdline_has_marker(int(entry.name)):
                    return True
        return False

    def alive(self) -> bool:
        if self.popen is not None:
            return self.popen.poll() is None
        stat = _proc_stat(self.pid)
        return (
            stat is not None
            and stat[0] != "Z"
            and stat[1] == self.pgid
            and self._cmdline_has_marker(self.pid)
        )

    def returncode(self) -> int | None:
        return self.popen.poll() if self.popen is not None else None

    def _signal_group(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pgid, sig)

    def _gone(self) -> bool:
        group_gone = not _group_alive(self.pgid)
        if self.popen is None:
            return group_gone
        if self.popen.poll() is None and group_gone:
            # the leader exited between poll() and the group scan (a zombie does not count): reap it
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout=5)
        return group_gone and self.popen.returncode is not None

    def stop(self, grace: float = STOP_GRACE_S) -> None:
        """SIGTERM the process group, wait up to ``grace`` seconds, then SIGKILL what is left.

        Descendants that moved to their own process group (OpenClaw's spawn broker) are waited for too
        and SIGKILLed if they outlive the grace period.
        """
        if not self.owned():
            return
        strays = _descendants(self.pid)
        self._signal_group(signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            if self._gone() and not _still_running(strays):
                return
            time.sleep(0.1)
        self._kill(strays)

    def kill(self) -> None:
        """SIGKILL the process group (and descendants that left it) at once."""
        if self.owned():
            self._kill(_descendants(self.pid))

    def _kill(self, strays: list[tuple[int, str]]) -> None:
        self._signal_group(signal.SIGKILL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not self._gone():
            time.sleep(0.05)
        for pid in _still_running(strays):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)


def _spawn(
    cmd: Sequence[str], *, cwd: Path, env: Mapping[str, str], log: Path, marker: str
) -> ManagedProcess:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        popen = subprocess.Popen(
            list(cmd),
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return ManagedProcess(popen.pid, popen, marker)


def _device_proof(
    key_file: Path, nonce: str, signed_at: int, token: str, client: Mapping[str, str], scopes: Sequence[str]
) -> Json:
    """A signed ``device`` block for connect (v3 payload), with a key kept in ``key_file`` (0600)."""
    import base64
    import hashlib

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    if key_file.is_file():
        private = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(key_file.read_text().strip()))
    else:
        private = Ed25519PrivateKey.generate()
        from cryptography.hazmat.primitives.serialization import NoEncryption, PrivateFormat

        raw_private = private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        _write_private(key_file, raw_private.hex() + "\n")
    raw = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    device_id = hashlib.sha256(raw).hexdigest()
    fields = ["v3", device_id, client["id"], client["mode"], "operator", ",".join(scopes), str(signed_at)]
    fields += [token, nonce, client["platform"].lower(), ""]
    signature = private.sign("|".join(fields).encode())

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    return {"id": device_id, "publicKey": b64(raw), "signature": b64(signature), "signedAt": signed_at,
            "nonce": nonce}  # fmt: skip


class GatewayRpc:
    """A small synchronous operator client: token connect (protocol 3-4, gateway-client/backend), requests.

    Releases before 2026.9 clear every scope of a client without a device identity, so with
    ``device_key`` (a file for its Ed25519 key) the connect is device-signed; loopback pairs it silently.
    """

    def __init__(
        self, url: str, token: str, *, timeout: float = 30.0, device_key: Path | None = None
    ) -> None:
        self._stack = contextlib.ExitStack()  # websockets >= 17.1 wants connect() used as a context manager
        self.ws: ClientConnection = self._stack.enter_context(
            # No client keepalive pings: a gateway busy starting a first run (2026.4.12 took 15 s to
            # accept one on a loaded box) misses the pong and websockets would drop a healthy socket.
            ws_connect(url, open_timeout=timeout, max_size=64 * 1024 * 1024, ping_interval=None)
        )
        self.timeout = timeout
        self.events: list[Json] = []
        self.hello: Json = {}
        self.device_key = device_key
        try:
            self._handshake(token, timeout)
        except BaseException:
            self._stack.close()
            raise

    def _handshake(self, token: str, timeout: float) -> None:
        challenge = self._recv(timeout)
        if challenge.get("event") != "connect.challenge":
            raise GatewayError(f"expected connect.challenge, got {challenge}")
        client = {"id": "gateway-client", "version": "0.1.0", "platform": "linux", "mode": "backend"}
        params: Json = {
            "minProtocol": MIN_PROTOCOL,
            "maxProtocol": PROTOCOL,
            "client": client,
            "role": "operator",
            "scopes": OPERATOR_SCOPES,
            "caps": [],
            "commands": [],
            "permissions": {},
            "locale": "en-US",
            "userAgent": "sidecar-harness/0.1",
            "auth": {"token": token},
        }
        if self.device_key is not None:
            payload = challenge.get("payload") or {}
            params["device"] = _device_proof(
                self.device_key,
                str(payload.get("nonce", "")),
                int(payload.get("ts") or time.time() * 1000),
                token,
                client,
                OPERATOR_SCOPES,
            )
        self.hello = dict(self.request("connect", params))

    def _recv(self, timeout: float) -> Json:
        frame = json.loads(self.ws.recv(timeout=timeout))
        if not isinstance(frame, dict):
            raise GatewayError(f"non-object frame: {frame!r}")
        return frame

    def request(
        self, method: str, params: Mapping[str, Any] | None = None, *, timeout: float | None = None
    ) -> Any:
        """Send one request and return its payload; raises GatewayError on ``ok: false``.

        A ``retryable`` UNAVAILABLE answer is asked again after its ``retryAfterMs`` within ``timeout``:
        releases before 2026.9 report ready on /readyz while still refusing chat.history "during gateway
        startup" until their sidecars run, so a read right after a restart is answered that way. (Not
        ``connect``: a gateway may close the socket after refusing it.)
        """
        budget = timeout or self.timeout
        deadline = time.monotonic() + budget
        while True:
            frame = self.request_frame(method, params, timeout=budget)
            if frame.get("ok"):
                return frame.get("payload")
            error = frame.get("error") or {}
            wait = (error.get("retryAfterMs") or 500) / 1000
            retryable = error.get("code") == "UNAVAILABLE" and error.get("retryable") is True
            if method == "connect" or not retryable:
                break
            if time.monotonic() + wait >= deadline:
                break
            time.sleep(wait)
            budget = deadline - time.monotonic()
        raise GatewayError(f"{method} failed: {json.dumps(error)}")

    def request_frame(
        self, method: str, params: Mapping[str, Any] | None = None, *, timeout: float | None = None
    ) -> Json:
        """Send one request; return the whole first ``res`` frame for it (events go to ``events``)."""
        req_id = str(uuid.uuid4())
        self.ws.send(
            json.dumps({"type": "req", "id": req_id, "method": method, "params": dict(params or {})})
        )
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise GatewayError(f"{method}: no response within {timeout or self.timeout}s")
            frame = self._recv(remaining)
            if frame.get("type") == "res" and frame.get("id") == req_id:
                return frame
            if frame.get("type") == "event":
                self.events.append(frame)
            # other res frames (e.g. the late final answer of an earlier ``agent`` request) are dropped

    def agent_turn(
        self, agent_id: str, message: str, *, session_key: str | None = None, timeout: float = 60.0
    ) -> Json:
        """Run one agent turn (``agent`` then ``agent.wait``) and return the ``agent.wait`` payload."""
        key = session_key or f"agent:{agent_id}:main"
        accepted = self.request(
            "agent",
            {"agentId": agent_id, "sessionKey": key, "message": message, "idempotencyKey": str(uuid.uuid4())},
        )
        run_id = accepted["runId"]
        result: Json = self.request(
            "agent.wait", {"runId": run_id, "timeoutMs": int(timeout * 1000)}, timeout=timeout + 10
        )
        return result

    def close(self) -> None:
        self._stack.close()

    def __enter__(self) -> GatewayRpc:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Gateway:
    """A running (or attached) isolated gateway + stub model. Build with ``start_gateway`` or ``attach``."""

    def __init__(
        self,
        *,
        root: Path,
        name: str,
        agents: Sequence[str],
        port: int,
        token: str,
        tools: Toolchain,
    ) -> None:
        self.root = root.resolve()
        self.name = name
        self.agents = list(agents)
        self.port = port
        self.token = token
        self.tools = tools
        self.home = self.root / "home"
        self.state_dir = self.root / "state"
        self.config_path = self.state_dir / "openclaw.json"
        self.tmp_dir = self.root / "tmp"
        self.logs_dir = self.root / "logs"
        self.log_path = self.logs_dir / "gateway.out"
        self.file_log_path = self.logs_dir / "openclaw.log"
        self.stub_out_path = self.logs_dir / "stub.out"
        self.stub_log_path = self.root / "stub-requests.jsonl"
        self.info_path = self.root / "info.json"
        self.stub_port = 0
        self.gateway_proc: ManagedProcess | None = None
        self.stub_proc: ManagedProcess | None = None
        self.t_ready_s: float | None = None
        self.started_at: float | None = None

    # -- addresses ---------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def stub_url(self) -> str:
        return f"http://127.0.0.1:{self.stub_port}/v1"

    def session_key(self, agent: str, key: str = "main") -> str:
        return f"agent:{agent}:{key}"

    # -- environments ------------------------------------------------------------------------------
    def _base_env(self, home: Path, state: Path, config: Path, tmp: Path) -> dict[str, str]:
        env = clean_environ()
        env.update(FLAG_ENV)
        env.update(
            HOME=str(home),
            OPENCLAW_HOME=str(home),
            OPENCLAW_STATE_DIR=str(state),
            OPENCLAW_CONFIG_PATH=str(config),
            TMPDIR=str(tmp),
            XDG_CONFIG_HOME=str(home / ".config"),
            XDG_CACHE_HOME=str(home / ".cache"),
            XDG_DATA_HOME=str(home / ".local" / "share"),
            XDG_STATE_HOME=str(home / ".local" / "state"),
            PATH=self.tools.path_env(env.get("PATH", "")),
        )
        return env

    @property
    def process_env(self) -> dict[str, str]:
        """The gateway process's own environment."""
        env = self._base_env(self.home, self.state_dir, self.config_path, self.tmp_dir)
        env.update(OPENCLAW_GATEWAY_TOKEN=self.token, OPENCLAW_GATEWAY_PORT=str(self.port))
        return env

    @property
    def env(self) -> dict[str, str]:
        """Env for the real ``openclaw`` CLI against this gateway (same HOME/state/config as the gateway)."""
        env = self.process_env
        env["OPENCLAW_GATEWAY_URL"] = self.url
        return env

    @property
    def cli_env(self) -> dict[str, str]:
        """Like ``env`` but with a separate HOME/state dir (``<root>/cli``): safe while turns run (§9.1)."""
        cli = self.root / "cli"
        env = self._base_env(cli / "home", cli / "state", cli / "state" / "openclaw.json", cli / "tmp")
        env.update(OPENCLAW_GATEWAY_URL=self.url, OPENCLAW_GATEWAY_TOKEN=self.token)
        for sub in ("home", "state", "tmp"):
            (cli / sub).mkdir(parents=True, exist_ok=True)
        return env

    # -- lifecycle ---------------------------------------------------------------------------------
    def _prepare_dirs(self) -> None:
        for path in (self.home, self.state_dir, self.tmp_dir, self.logs_dir, self.root / "run"):
            path.mkdir(parents=True, exist_ok=True)
        if self.tools.version != OPENCLAW_VERSION:
            # Releases before 2026.9 transpile their bundled TypeScript extensions with jiti at start,
            # cached in $TMPDIR/jiti by content hash: minutes on a cold cache on a loaded box, seconds
            # warm. Every gateway of that release shares one cache beside its install.
            shared = self.tools.install_dir / ".jiti-cache"
            shared.mkdir(exist_ok=True)
            link = self.tmp_dir / "jiti"
            if not link.exists() and not link.is_symlink():
                link.symlink_to(shared, target_is_directory=True)
        for agent in self.agents:
            (self.root / "ws" / agent).mkdir(parents=True, exist_ok=True)

    def _start_stub(self) -> None:
        port_file = self.root / "run" / "stub.port"
        with contextlib.suppress(FileNotFoundError):
            port_file.unlink()
        env = clean_environ()
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        cmd = [sys.executable, str(_STUB_SCRIPT), "--port", "0", "--port-file", str(port_file)]
        cmd += ["--log", str(self.stub_log_path)]
        if os.environ.get("HARNESS_STUB_DUMP") == "1":
            cmd += ["--dump-dir", str(self.root / "stub-bodies")]
        self.stub_proc = _spawn(
            cmd,
            cwd=self.root,
            env=env,
            log=self.stub_out_path,
            marker="stub_model.py",
        )
        deadline = time.monotonic() + 20
        while not port_file.exists():
            if not self.stub_proc.alive():
                raise GatewayError(f"stub model exited early:\n{self._tail(self.stub_out_path, 40)}")
            if time.monotonic() > deadline:
                raise GatewayError("stub model did not report its port within 20 s")
            time.sleep(0.05)
        self.stub_port = int(port_file.read_text().strip())

    def _start_gateway_process(self) -> None:
        cmd = [
            str(self.tools.node),
            str(self.tools.install_dir / "node_modules" / "openclaw" / "openclaw.mjs"),
            "gateway",
            "run",
            "--port",
            str(self.port),
            "--bind",
            "loopback",  # wins over any config override: 127.0.0.1 (+ [::1], which the gateway always adds)
            "--auth",
            "token",
        ]
        with self.log_path.open("a", encoding="utf-8") as out:
            out.write(f"\n=== harness: starting gateway {self.name!r} on {self.url} at {time.ctime()} ===\n")
        self.started_at = time.time()
        self.gateway_proc = _spawn(
            cmd, cwd=self.root, env=self.process_env, log=self.log_path, marker="openclaw"
        )

    def wait_ready(self, timeout: float | None = None, *, progress: bool = True) -> float:
        """Poll ``/readyz`` until ``ready: true``; returns seconds waited. Fails fast if the process dies."""
        if timeout is None:
            # Releases before 2026.9 need several times the CPU to start (on a shared 2-core box, minutes).
            timeout = READY_TIMEOUT_S if self.tools.version == OPENCLAW_VERSION else READY_TIMEOUT_OLD_S
        start = time.monotonic()
        deadline = start + timeout
        next_dot = start + 1.0
        if progress:
            _progress(f"[harness] waiting for gateway {self.name!r} on {self.http_url}/readyz ", end="")
        last: Any = None
        while True:
            proc = self.gateway_proc
            if proc is None or not proc.alive():
                code = proc.returncode() if proc else None
                if progress:
                    _progress(" exited")
                raise GatewayError(
                    f"gateway {self.name!r} exited (code {code}) before ready:\n{self.log_tail(60)}"
                )
            with contextlib.suppress(OSError, ValueError):
                status, body = _http_get_json(f"{self.http_url}/readyz")
                last = body
                if status == 200 and isinstance(body, dict) and body.get("ready") is True:
                    waited = time.monotonic() - start
                    if progress:
                        _progress(f" ready in {waited:.1f}s")
                    return waited
            now = time.monotonic()
            if now > deadline:
                if progress:
                    _progress(" timeout")
                raise GatewayError(
                    f"gateway {self.name!r} not ready after {timeout:.0f}s (last /readyz: {last}):\n"
                    + self.log_tail(60)
                )
            if progress and now >= next_dot:
                elapsed = int(now - start)
                _progress(f"{elapsed}s " if elapsed % 10 == 0 else ".", end="")
                next_dot += 1.0
            time.sleep(0.25)

    def restart(self, *, progress: bool = True) -> float:
        """Stop the gateway (not the stub) and start it again on the same port and state; seconds to ready."""
        if self.gateway_proc is not None:
            self.gateway_proc.stop()
        self._start_gateway_process()
        self.write_info()
        self.t_ready_s = self.wait_ready(progress=progress)
        self.write_info()
        return self.t_ready_s

    def kill(self) -> None:
        """SIGKILL the gateway's process group at once (crash simulation); the stub keeps running."""
        if self.gateway_proc is not None:
            self.gateway_proc.kill()

    def stop(self) -> None:
        """SIGTERM gateway and stub process groups, SIGKILL after 15 s; idempotent."""
        for proc in (self.gateway_proc, self.stub_proc):
            if proc is not None:
                proc.stop()
        with contextlib.suppress(ValueError):
            _live.remove(self)

    def is_running(self) -> bool:
        """Gateway process alive and ``/health`` answering."""
        if self.gateway_proc is None or not self.gateway_proc.alive():
            return False
        try:
            status, _ = _http_get_json(f"{self.http_url}/health")
        except (OSError, ValueError):
            return False
        return status == 200

    # -- files -------------------------------------------------------------------------------------
    def info(self) -> Json:
        return {
            "name": self.name,
            "root": str(self.root),
            "agents": self.agents,
            "url": self.url,
            "http_url": self.http_url,
            "gateway_port": self.port,
            "stub_port": self.stub_port,
            "stub_url": self.stub_url,
            "token": self.token,
            "config_path": str(self.config_path),
            "state_dir": str(self.state_dir),
            "home": str(self.home),
            "log_path": str(self.log_path),
            "file_log_path": str(self.file_log_path),
            "stub_log_path": str(self.stub_log_path),
            "pids": {
                "gateway": self.gateway_proc.pid if self.gateway_proc else None,
                "stub": self.stub_proc.pid if self.stub_proc else None,
            },
            "pgids": {
                "gateway": self.gateway_proc.pgid if self.gateway_proc else None,
                "stub": self.stub_proc.pgid if self.stub_proc else None,
            },
            "started_at": self.started_at,
            "t_ready_s": self.t_ready_s,
            "bin_dir": str(self.tools.bin_dir),
            "openclaw_version": self.tools.version,
        }

    def write_info(self) -> None:
        _write_private(self.info_path, json.dumps(self.info(), indent=2) + "\n")

    def read_config(self) -> Json:
        data = json.loads(self.config_path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise GatewayError(f"{self.config_path} is not a JSON object")
        return data

    def write_config(self, config: Mapping[str, Any]) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        _write_private(self.config_path, json.dumps(config, indent=2) + "\n")

    @staticmethod
    def _tail(path: Path, n: int) -> str:
        try:
            with path.open("rb") as handle:
                handle.seek(0, os.SEEK_END)
                size = handle.tell()
                handle.seek(max(0, size - 256 * 1024))
                lines = handle.read().decode(errors="replace").splitlines()
        except FileNotFoundError:
            return f"(no {path})"
        return "\n".join(lines[-n:])

    def log_tail(self, n: int = 80) -> str:
        """The last ``n`` lines of the gateway console log."""
        return self._tail(self.log_path, n)

    def _log_size(self) -> int:
        try:
            return self.log_path.stat().st_size
        except FileNotFoundError:
            return 0

    def _log_since(self, offset: int) -> str:
        try:
            with self.log_path.open("rb") as handle:
                handle.seek(offset)
                return handle.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    def stub_requests(self) -> list[Json]:
        """Every model call logged so far by this gateway's stub."""
        return stub_model.read_log(self.stub_log_path)

    # -- operations --------------------------------------------------------------------------------
    def patch_config(self, mutate: Callable[[Json], None], *, timeout: float = RELOAD_TIMEOUT_S) -> None:
        """Rewrite openclaw.json via ``mutate`` and wait until the gateway logs that it applied the change.

        Waits for ``config hot reload applied`` / ``config change applied``; if the gateway says the change
        needs a restart, waits for it to be ready again. No-op changes return at once. A change the gateway
        rejects (``config reload skipped (invalid config)``) is rolled back in the file and raises.
        """
        before = self.read_config()
        after = copy.deepcopy(before)
        mutate(after)
        if after == before:
            return
        offset = self._log_size()
        self.write_config(after)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self._log_since(offset)
            if _RELOAD_DONE.search(text):
                return
            skipped = _RELOAD_SKIPPED.search(text)
            if skipped:
                self.write_config(before)  # keep the file equal to what the gateway still runs
                raise GatewayError(f"the gateway rejected the config change: {skipped.group(0).strip()}")
            restart = _RELOAD_RESTART.search(text)
            if restart and _READY_LINE.search(text, restart.end()):
                self.wait_ready(timeout=max(1.0, deadline - time.monotonic()), progress=False)
                return
            if self.gateway_proc is not None and not self.gateway_proc.alive():
                if restart:  # exited to be restarted by a supervisor: we are the supervisor
                    self._start_gateway_process()
                    self.write_info()
                    self.wait_ready(progress=False)
                    return
                raise GatewayError(f"gateway exited while applying a config change:\n{self.log_tail(60)}")
            time.sleep(0.1)
        raise GatewayError(
            f"no config reload line within {timeout:.0f}s after writing the config:\n{self.log_tail(40)}"
        )

    def invoke_tool_http(
        self, tool: str, args: Mapping[str, Any], session_key: str | None = None, *, timeout: float = 30.0
    ) -> tuple[int, Json]:
        """POST /tools/invoke; returns (HTTP status, parsed body). Denials are HTTP 200 + details.status."""
        body: Json = {"tool": tool, "args": dict(args)}
        if session_key is not None:
            body["sessionKey"] = session_key
        request = urllib.request.Request(
            f"{self.http_url}/tools/invoke",
            data=json.dumps(body).encode(),
            method="POST",
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as resp:
                status, raw = int(resp.status), resp.read()
        except urllib.error.HTTPError as exc:
            with exc:
                status, raw = int(exc.code), exc.read()
        try:
            parsed = json.loads(raw or b"{}")
        except ValueError:
            parsed = {"ok": False, "error": {"type": "non_json", "message": raw.decode(errors="replace")}}
        if not isinstance(parsed, dict):
            parsed = {"ok": False, "error": {"type": "non_object", "message": repr(parsed)}}
        return status, parsed

    def invoke_tool(
        self, tool: str, args: Mapping[str, Any], session_key: str | None = None, *, timeout: float = 30.0
    ) -> Json:
        """POST /tools/invoke as requester ``session_key`` (default: the main session); the parsed body."""
        return self.invoke_tool_http(tool, args, session_key, timeout=timeout)[1]

    def openclaw(
        self, *args: str, timeout: float = 60.0, env: Mapping[str, str] | None = None, check: bool = False
    ) -> subprocess.CompletedProcess[str]:
        """Run the real ``openclaw`` CLI (Node 24) with ``env`` (default ``self.env``); cwd is the root."""
        cmd = [
            str(self.tools.node),
            str(self.tools.install_dir / "node_modules" / "openclaw" / "openclaw.mjs"),
        ]
        return subprocess.run(
            [*cmd, *args],
            cwd=self.root,
            env=dict(self.env if env is None else env),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=check,
            stdin=subprocess.DEVNULL,
        )

    def rpc(self, *, timeout: float = 30.0) -> GatewayRpc:
        """A connected operator WebSocket client (use as a context manager).

        A gateway busy with a run on a loaded box may not finish the handshake within its own pre-auth
        budget (10 s): it logs ``handshake timeout`` and closes the socket. That connection is opened
        again, within ``timeout``, while the gateway process is alive.
        """
        # Before 2026.9 a device-less token client keeps no scopes; sign as a harness device there.
        device = None if self.tools.version == OPENCLAW_VERSION else self.root / "run" / "harness-device.key"
        deadline = time.monotonic() + timeout
        while True:
            try:
                return GatewayRpc(self.url, self.token, timeout=timeout, device_key=device)
            except ConnectionClosed:
                alive = self.gateway_proc is not None and self.gateway_proc.alive()
                if not alive or time.monotonic() >= deadline:
                    raise

    def turn(
        self, agent: str, message: str, *, session_key: str | None = None, timeout: float = 60.0
    ) -> Json:
        """One agent turn over a fresh WS connection; returns the ``agent.wait`` payload."""
        with self.rpc() as client:
            return client.agent_turn(agent, message, session_key=session_key, timeout=timeout)

    def __repr__(self) -> str:
        return f"Gateway(name={self.name!r}, url={self.url!r}, root={str(self.root)!r})"


def start_gateway(
    root: Path,
    agents: Iterable[str],
    name: str = "home",
    config_overrides: Mapping[str, Any] | None = None,
    *,
    tools: Toolchain | None = None,
    progress: bool = True,
    detach: bool = False,
    port: int | None = None,
) -> Gateway:
    """Start an isolated stub model + real gateway under ``root`` (the gateway's own root) and wait for it.

    ``agents`` become ``agents.entries``; ``config_overrides`` is deep-merged into the generated config.
    ``port`` is the gateway's port (default: any free one). Unless ``detach`` is true, the gateway is
    stopped at interpreter exit if still running.
    """
    agent_list = list(agents)
    tools = tools or ensure_openclaw()
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    gw = Gateway(
        root=root,
        name=name,
        agents=agent_list,
        port=free_port() if port is None else port,
        token=secrets.token_urlsafe(32),
        tools=tools,
    )
    gw._prepare_dirs()
    if not detach:
        _live.append(gw)
    try:
        gw._start_stub()
        gw.write_config(
            build_config(
                root=gw.root,
                agents=agent_list,
                port=gw.port,
                stub_port=gw.stub_port,
                token=gw.token,
                overrides=config_overrides,
                version=tools.version,
            )
        )
        gw._start_gateway_process()
        gw.write_info()
        gw.t_ready_s = gw.wait_ready(progress=progress)
    except BaseException:
        gw.stop()
        raise
    gw.write_info()
    return gw


def attach(root: Path, tools: Toolchain | None = None) -> Gateway:
    """A Gateway for the processes recorded in ``<root>/info.json`` (started by another process)."""
    root = Path(root).resolve()
    info = json.loads((root / "info.json").read_text(encoding="utf-8"))
    if tools is None:
        from .node import find_openclaw

        version = str(info.get("openclaw_version") or OPENCLAW_VERSION)
        tools = find_openclaw(version)
        if tools is None:
            raise GatewayError(
                f"openclaw {version} is not installed; run scripts/gateway install --openclaw {version}"
            )
    gw = Gateway(
        root=root,
        name=str(info["name"]),
        agents=list(info["agents"]),
        port=int(info["gateway_port"]),
        token=str(info["token"]),
        tools=tools,
    )
    gw.stub_port = int(info["stub_port"])
    gw.t_ready_s = info.get("t_ready_s")
    gw.started_at = info.get("started_at")
    pids = info.get("pids") or {}
    if pids.get("gateway"):
        gw.gateway_proc = ManagedProcess(int(pids["gateway"]), None, "openclaw")
    if pids.get("stub"):
        gw.stub_proc = ManagedProcess(int(pids["stub"]), None, "stub_model.py")
    return gw


@atexit.register
def _stop_leftovers() -> None:
    for gw in list(_live):
        with contextlib.suppress(Exception):
            gw.stop()
