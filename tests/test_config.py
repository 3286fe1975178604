"""Loading a policy file: a peer reached directly (`direct: true`) is loudly warned about, never silent."""

from __future__ import annotations

import io
import json
from pathlib import Path

from sidecar.config import load_policy


def test_a_direct_peer_is_a_loud_warning_naming_the_credential_it_implies(tmp_path: Path) -> None:
    path = tmp_path / "fleet.json5"
    peers = {"imac": {"url": "wss://imac.lan:18789", "direct": True, "agents": ["pepper"]}}
    path.write_text(json.dumps({"gateway": {"peers": peers}, "agents": {"entries": {"jarvis": {}}}}), "utf-8")
    out = io.StringIO()
    load_policy(str(path), warn=out)
    said = out.getvalue()
    assert "gateway.peers.imac has direct: true" in said and "operator device" in said
    assert "sidecar:" in said  # what to use instead


def test_a_peer_reached_through_its_sidecar_loads_quietly(tmp_path: Path) -> None:
    path = tmp_path / "fleet.json5"
    peers = {"imac": {"sidecar": "https://imac.lan:8766/peer", "agents": ["pepper"]}}
    path.write_text(json.dumps({"gateway": {"peers": peers}, "agents": {"entries": {"jarvis": {}}}}), "utf-8")
    out = io.StringIO()
    load_policy(str(path), warn=out)
    assert out.getvalue() == ""
