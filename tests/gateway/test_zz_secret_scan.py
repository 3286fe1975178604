"""Runs after the other gateway tests: no secret they handled shows up in anything they produced.

The in-memory keyring remembers every entry written to it; each holds a device private key and, once
paired, a device token. Every one of those is searched for in the captured output, logs and failure
reports of the gateway tests (collected by conftest) and in every file under this run's tmp roots.
The gateway's own state directory is left out: the gateway has to keep the tokens it issued.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest

from .conftest import captured_outputs
from .memory_keyring import MemoryKeyring

MIN_SECRET_LENGTH = 16  # scripted tests use short fake tokens ("t1") that would match anything


def forms(secret: str) -> set[bytes]:
    """The secret as stored and the encodings it could leak in."""
    out = {secret.encode()}
    try:
        raw = base64.urlsafe_b64decode(secret + "=" * (-len(secret) % 4))
    except ValueError:
        return out
    if len(raw) >= 16:
        out |= {raw, raw.hex().encode(), base64.b64encode(raw).rstrip(b"=")}
    return out


def secrets_handled() -> dict[str, set[bytes]]:
    found: dict[str, set[bytes]] = {}
    for value in MemoryKeyring.seen:
        try:
            entry = json.loads(value)
        except ValueError:
            continue
        if not isinstance(entry, dict):
            continue
        for field in ("deviceToken", "privateKey"):
            secret = entry.get(field)
            if isinstance(secret, str) and len(secret) >= MIN_SECRET_LENGTH:
                label = f"{field} sha256:{hashlib.sha256(secret.encode()).hexdigest()[:12]}"
                found[label] = forms(secret)
    return found


def gateway_state_dirs(base: Path) -> set[Path]:
    return {info.parent / "state" for info in base.rglob("info.json")}


def files_under(base: Path) -> list[Path]:
    skip = gateway_state_dirs(base)
    return [p for p in base.rglob("*") if p.is_file() and not any(s in p.parents for s in skip)]


def test_no_device_token_or_private_key_appears_in_any_output_log_or_file(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    secrets = secrets_handled()
    assert secrets, "the gateway tests stored no secrets, so this scan proves nothing"
    base = tmp_path_factory.getbasetemp()
    leaks: list[str] = []
    for number, text in enumerate(captured_outputs):
        data = text.encode()
        leaks += [
            f"{label} in captured output #{number}"
            for label, needles in secrets.items()
            if any(n in data for n in needles)
        ]
    scanned = files_under(base)
    for path in scanned:
        data = path.read_bytes()
        leaks += [
            f"{label} in {path}" for label, needles in secrets.items() if any(n in data for n in needles)
        ]
    assert not leaks, "secrets leaked:\n" + "\n".join(leaks)
    assert captured_outputs or scanned
