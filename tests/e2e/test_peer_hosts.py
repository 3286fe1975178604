"""Three hosts, three real gateways, three sidecar processes: agents reach each other's agents by name.

The macbook / imac / studio story of scenarios/three-gateways.json on loopback, with an agent `main` on
every gateway. The macbook's sidecar (driven over stdio by the MCP client) reaches the others only
through their own sidecars (`--peer-port`), each of which decides again under its own host's policy and
alone holds a device on its own gateway. Then the imac's sidecar is killed mid-send, again and again.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import pytest

from tests.e2e.test_mcp_gateway import (
    OUTPUTS,
    SEEN_SECRETS,
    served,
    sidecar_env,
    text,
    transcript,
    user_texts,
    write_policy,
)
from tests.fakes import reply_text
from tests.peers.conftest import free_port

pytestmark = [pytest.mark.anyio, pytest.mark.gateway]
KILL_ROUNDS = int(os.environ.get("PEER_KILL_ROUNDS", "20"))


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class Host:
    name: str
    gateway: Any
    root: Path
    env: dict[str, str]
    peer_port: int
    policy: Path | None = None
    proc: subprocess.Popen[str] | None = None
    logs: list[Path] = field(default_factory=list)

    def start(self) -> None:
        assert self.policy is not None
        log = self.root / "logs" / f"serve-{len(self.logs)}.err"
        log.parent.mkdir(parents=True, exist_ok=True)
        self.logs.append(log)
        with log.open("w") as err:  # the child keeps its own copy of the descriptor
            self.proc = self._spawn(err)

    def _spawn(self, err: Any) -> subprocess.Popen[str]:
        assert self.policy is not None
        return subprocess.Popen(
            [
                sys.executable, "-m", "sidecar", "serve", "--policy", str(self.policy), "--agent", "main",
                "--transport", "http", "--port", str(free_port()), "--peer-port", str(self.peer_port),
            ],
            env={**self.env, "SIDECAR_HTTP_TOKEN": "peer-hosts-http-token-0123456789"},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
            text=True,
        )  # fmt: skip

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


def cli(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    run = subprocess.run(
        [sys.executable, "-m", "sidecar", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    return run.stdout


async def listening(port: int, proc: subprocess.Popen[str] | None, deadline: float = 60) -> None:
    with anyio.fail_after(deadline):
        while True:
            assert proc is None or proc.poll() is None, "the peer sidecar exited"
            try:
                stream = await anyio.connect_tcp("127.0.0.1", port)
            except OSError:
                await anyio.sleep(0.2)
                continue
            await stream.aclose()
            return


def peer_entry(host: Host) -> dict[str, Any]:
    return {"sidecar": f"http://127.0.0.1:{host.peer_port}/peer"}


@pytest.fixture(scope="module")
def hosts(gateway_factory, tmp_path_factory) -> Iterator[dict[str, Host]]:  # type: ignore[no-untyped-def]
    made = {
        "macbook": gateway_factory("macbook", agents=("main",)),
        "imac": gateway_factory("imac", agents=("main", "pepper")),
        "studio": gateway_factory("studio", agents=("main",)),
    }
    found = {}
    for name, gw in made.items():
        root = tmp_path_factory.mktemp(f"host-{name}")
        found[name] = Host(name, gw, root, sidecar_env(root, gw.token), free_port())
    mac, imac, studio = found["macbook"], found["imac"], found["studio"]
    mac.policy = write_policy(
        mac.root,
        {
            "gateway": {
                "url": mac.gateway.url,
                "name": "macbook",
                "peers": {"imac": {**peer_entry(imac), "agents": ["pepper"]}, "studio": peer_entry(studio)},
            },
            "agents": {
                "entries": {
                    "main": {
                        "tools": {
                            "sessions": {"visibility": "all"},
                            # pepper is pinned to imac, so a bare id names it; imac's own main needs @imac.
                            "agentToAgent": {
                                "enabled": True,
                                "allow": ["main@imac", "main@studio", "pepper"],
                            },
                        },
                        "subagents": {"allowAgents": ["main@studio"]},
                    }
                }
            },
            "limits": {"sendsPerMinute": 600},
        },
    )
    for host in (imac, studio):
        host.policy = write_policy(
            host.root,
            {
                "gateway": {"url": host.gateway.url, "name": host.name, "peers": {"macbook": peer_entry(mac)}},
                "agents": {
                    "entries": {
                        "main": {"tools": {"agentToAgent": {"receivesFrom": ["main@macbook"]}}},
                        # pepper accepts another macbook agent, not main: imac's operator said so.
                        **({"pepper": {"tools": {"agentToAgent": {"receivesFrom": ["vision@macbook"]}}}}
                           if host is imac else {}),
                    }
                },
            },
        )  # fmt: skip
        secret = cli(mac.env, "peer", "secret", "--peer", host.name).strip()
        SEEN_SECRETS.add(secret)
        cli(host.env, "peer", "secret", "--peer", "macbook", "--set", stdin=secret + "\n")
        host.start()
    with anyio.from_thread.start_blocking_portal() as portal:
        for host in (imac, studio):
            portal.call(listening, host.peer_port, host.proc)
    try:
        yield found
    finally:
        for host in found.values():
            host.stop()


def count(gw: Any, key: str, marker: str) -> int:
    return sum(marker in t for t in user_texts(transcript(gw, key)) if not t.startswith("echo:"))


async def test_agents_on_three_hosts_send_spawn_list_and_read_across_hosts(hosts: dict[str, Host]) -> None:
    mac, imac, studio = hosts["macbook"], hosts["imac"], hosts["studio"]
    assert mac.policy is not None
    async with served(mac.policy, "main", mac.env) as main:
        with anyio.fail_after(240):
            sent = await main.call_tool(
                "sessions_send",
                {
                    "sessionKey": "agent:main:main",
                    "gateway": "imac",
                    "message": "from macbook",
                    "timeoutSeconds": 60,
                },
            )
            spawned = await main.call_tool(
                "sessions_spawn", {"task": "analyse logs", "agentId": "main", "gateway": "studio"}
            )
            read = await main.call_tool(
                "sessions_history", {"sessionKey": "agent:main:main", "gateway": "imac"}
            )
            listed = await main.call_tool("sessions_list", {"gateway": "imac"})
            refused = await main.call_tool(
                "sessions_send", {"sessionKey": "agent:pepper:main", "message": "to pepper"}
            )
            unknown = await main.call_tool(
                "sessions_send", {"sessionKey": "agent:nobody:main", "message": "x"}
            )
    assert not sent.is_error, text(sent)
    assert sent.structured_content["gateway"] == "imac"
    assert reply_text(sent.structured_content).startswith("echo: from macbook")
    assert count(imac.gateway, "agent:main:main", "from macbook") == 1
    assert count(mac.gateway, "agent:main:main", "from macbook") == 0  # home's own main untouched
    assert not spawned.is_error, text(spawned)
    child = spawned.structured_content["childSessionKey"]
    with studio.gateway.rpc() as rpc:
        assert [r["key"] for r in rpc.request("sessions.list", {"search": child})["sessions"]] == [child]
    assert not read.is_error, text(read)
    assert any("from macbook" in json.dumps(m) for m in read.structured_content["messages"])
    assert not listed.is_error and "agent:main:main" in {
        r["key"] for r in listed.structured_content["sessions"]
    }
    assert refused.is_error and "[gate: receives-from]" in text(refused) and "imac" in text(refused)
    assert count(imac.gateway, "agent:pepper:main", "to pepper") == 0
    assert unknown.is_error and "[gate: unknown-target]" in text(unknown)


async def test_the_peer_sidecar_killed_mid_send_loses_and_duplicates_nothing(hosts: dict[str, Host]) -> None:
    mac, imac = hosts["macbook"], hosts["imac"]
    assert mac.policy is not None
    rng = random.Random(11)
    run = f"{rng.randrange(16**6):06x}"
    markers = [f"peerkill-{run}-{n:02d}" for n in range(KILL_ROUNDS)]
    async with served(mac.policy, "main", mac.env) as main:
        for n, marker in enumerate(markers):
            result: dict[str, Any] = {}

            async def send(body: str = marker, result: dict[str, Any] = result) -> None:
                result["r"] = await main.call_tool(
                    "sessions_send",
                    {
                        "sessionKey": "agent:main:main",
                        "gateway": "imac",
                        "message": body,
                        "timeoutSeconds": 20,
                    },
                )

            with anyio.fail_after(240):
                async with anyio.create_task_group() as tg:
                    tg.start_soon(send)
                    await anyio.sleep(rng.uniform(0, 2.5))
                    imac.kill()
                    imac.start()
                    await listening(imac.peer_port, imac.proc)
            answer = result["r"]
            assert not answer.is_error, f"round {n}: {text(answer)}"
        # Sends that were queued while imac was down are delivered by the retry loop: wait for them.
        with anyio.fail_after(240):
            while any(count(imac.gateway, "agent:main:main", m) == 0 for m in markers):
                await anyio.sleep(1)
    seen = {m: count(imac.gateway, "agent:main:main", m) for m in markers}
    assert [m for m, c in seen.items() if c == 0] == []  # 0 lost
    assert [m for m, c in seen.items() if c > 1] == []  # 0 duplicated


def test_no_credential_of_one_host_appears_in_any_file_log_or_output_of_another(
    hosts: dict[str, Host],
) -> None:
    """Each host's device keys and tokens (its file store) never show up in another host's files or output."""
    stores = {name: h.root / "secrets" / "secrets.json" for name, h in hosts.items()}
    own: dict[str, set[str]] = {}
    for name, store in stores.items():
        values: set[str] = set()
        for key, value in json.loads(store.read_text(encoding="utf-8")).items():
            record = json.loads(value) if isinstance(value, str) and value.startswith("{") else {}
            values |= {record[k] for k in ("privateKey", "deviceToken") if isinstance(record.get(k), str)}
            if not key.startswith("peer-secret:") and not record:
                values.add(value)
        values.add(hosts[name].gateway.token)
        own[name] = values
    assert all(own.values()), "every host should hold its own device credentials"
    leaks = []
    for name, host in hosts.items():
        foreign = set().union(*(v for other, v in own.items() if other != name))
        haystacks = [
            (str(p), p.read_bytes().decode("utf-8", "replace")) for p in host.root.rglob("*") if p.is_file()
        ]
        if name == "macbook":
            haystacks += [("tool output", o) for o in OUTPUTS]
        leaks += [(name, where, s[:6] + "...") for where, hay in haystacks for s in foreign if s and s in hay]
    assert leaks == []
