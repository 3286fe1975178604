"""The peer protocol end to end over real streamable HTTP: mutual auth, inbound consent, exactly-once."""

from __future__ import annotations

import anyio
import httpx2
import pytest

from sidecar.peers import PeerAuthError, PeerClient, PeerDenied, PeerUnreachable, new_secret
from tests.peers.conftest import free_port, serve_peer

pytestmark = pytest.mark.anyio

JARVIS = {"requesterAgent": "jarvis", "requesterSession": "agent:jarvis:main"}


def send_args(target: str, idem: str, message: str = "hello pepper") -> dict[str, object]:
    return {**JARVIS, "sessionKey": target, "message": message, "idempotencyKey": idem, "timeoutSeconds": 5}


async def test_a_send_the_receiving_host_accepts_is_delivered_once_under_the_senders_key() -> None:
    async with serve_peer() as peer:
        client = PeerClient("imac", peer.url, peer.secret)
        with anyio.fail_after(30):
            first = await client.call("peer_send", send_args("agent:pepper:main", "idem-0001"))
            again = await client.call("peer_send", send_args("agent:pepper:main", "idem-0001"))
    assert first["status"] == "ok" and first["reply"] == "echo: hello pepper"
    assert again["status"] == "duplicate"
    runs = [p["idempotencyKey"] for m, p in peer.gateway.calls if m == "agent"]
    assert runs == ["idem-0001"]
    [entry] = [e for e in [peer.mirror.outbox.get("idem-0001")] if e is not None]
    assert (entry.requester_gateway, entry.requester, entry.status) == (
        "macbook",
        "agent:jarvis:main",
        "delivered",
    )


async def test_the_receiving_hosts_receives_from_refuses_what_the_sender_allowed() -> None:
    async with serve_peer() as peer:
        client = PeerClient("imac", peer.url, peer.secret)
        with anyio.fail_after(30), pytest.raises(PeerDenied) as denied:
            await client.call("peer_send", send_args("agent:friday:main", "idem-0002"))
    decision = denied.value.decision
    assert (
        decision["gate"] == "receives-from" and decision["side"] == "inbound" and decision["host"] == "imac"
    )
    assert "imac.json5" in decision["fix"] and "jarvis@macbook" in decision["fix"]
    assert not [c for c in peer.gateway.calls if c[0] == "agent"]  # a denial never reaches the gateway
    [record] = peer.mirror.decisions.recent(1)
    assert (record.requester_gateway, record.side, record.outcome) == ("macbook", "inbound", "denied")


async def test_a_caller_without_the_pair_secret_gets_401_and_nothing_runs() -> None:
    async with serve_peer() as peer:
        async with httpx2.AsyncClient() as http:
            bare = await http.post(peer.url, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
        impostor = PeerClient("imac", peer.url, new_secret())
        with anyio.fail_after(30), pytest.raises((PeerAuthError, PeerUnreachable)):
            await impostor.call("peer_send", send_args("agent:pepper:main", "idem-0003"))
    assert bare.status_code == 401
    assert peer.gateway.calls == []


async def test_the_caller_refuses_a_receiver_that_cannot_prove_the_pair_secret() -> None:
    # A server that knows this caller's bearer but not the secret it was derived from.
    async with serve_peer(secret=new_secret()) as other:
        client = PeerClient("imac", other.url, new_secret())
        with anyio.fail_after(30), pytest.raises((PeerAuthError, PeerUnreachable)):
            await client.call("peer_agents", {})


async def test_a_peer_off_loopback_must_use_tls() -> None:
    with pytest.raises(PeerAuthError, match="https"):
        PeerClient("imac", "http://192.168.1.20:8766/peer", new_secret())
    PeerClient("imac", "https://imac.local:8766/peer", new_secret())


async def test_a_peer_that_is_down_is_reported_unreachable() -> None:
    client = PeerClient("imac", f"http://127.0.0.1:{free_port()}/peer", new_secret())
    with anyio.fail_after(30), pytest.raises(PeerUnreachable):
        await client.call("peer_agents", {})


async def test_history_spawn_and_list_go_through_the_same_consent() -> None:
    async with serve_peer() as peer:
        peer.gateway.histories["agent:pepper:main"] = [{"role": "assistant", "content": "hi"}]
        peer.gateway.histories["agent:friday:main"] = [{"role": "assistant", "content": "secret"}]
        client = PeerClient("imac", peer.url, peer.secret)
        with anyio.fail_after(30):
            read = await client.call("peer_history", {**JARVIS, "sessionKey": "agent:pepper:main"})
            spawned = await client.call("peer_spawn", {**JARVIS, "agentId": "pepper", "task": "t"})
            with pytest.raises(PeerDenied):
                await client.call("peer_history", {**JARVIS, "sessionKey": "agent:friday:main"})
            with pytest.raises(PeerDenied):
                await client.call("peer_spawn", {**JARVIS, "agentId": "friday", "task": "t"})
            agents = await client.call("peer_agents", {})
    assert read["messages"] == [{"role": "assistant", "content": "hi"}]
    assert spawned["childSessionKey"].startswith("agent:pepper:subagent:")
    assert set(agents["agents"]) >= {"pepper", "friday"} and agents["gateway"] == "imac"
