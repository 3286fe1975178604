"""The gateway tests' leak scan finds a secret wherever it leaked, and only a real secret."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

from .secret_scan import leaks, secrets_in

TOKEN = "dt_" + "a1b2c3d4" * 6


def entry(token: str | None = TOKEN) -> str:
    """A keyring entry as TokenStore writes it: a device private key and, once paired, a token."""
    key = base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")
    return json.dumps({"privateKey": key, "deviceToken": token})


def test_a_device_token_in_a_log_file_is_reported(tmp_path: Path) -> None:
    (tmp_path / "sidecar.log").write_text(f"connected with {TOKEN}\n")
    found = leaks(secrets_in([entry()]), [], tmp_path)
    assert len(found) == 1 and "deviceToken" in found[0] and "sidecar.log" in found[0]


def test_a_secret_in_captured_output_is_reported(tmp_path: Path) -> None:
    found = leaks(secrets_in([entry()]), ["all fine", f"token={TOKEN}"], tmp_path)
    assert len(found) == 1 and "deviceToken" in found[0] and "captured output #1" in found[0]


def test_the_gateways_own_state_directory_is_not_scanned(tmp_path: Path) -> None:
    (tmp_path / "gw" / "state").mkdir(parents=True)
    (tmp_path / "gw" / "info.json").write_text("{}")
    (tmp_path / "gw" / "state" / "devices.json").write_text(TOKEN)
    assert leaks(secrets_in([entry()]), [], tmp_path) == []


def test_short_fake_tokens_and_non_json_entries_are_not_secrets() -> None:
    assert secrets_in([json.dumps({"deviceToken": "t1"}), "not json", "[1]"]) == {}


def test_a_private_key_leaked_as_hex_is_reported(tmp_path: Path) -> None:
    stored = entry()
    key = json.loads(stored)["privateKey"]
    raw = base64.urlsafe_b64decode(key + "=" * (-len(key) % 4))
    (tmp_path / "dump.txt").write_text(raw.hex())
    found = leaks(secrets_in([stored]), [], tmp_path)
    assert len(found) == 1 and "privateKey" in found[0]
