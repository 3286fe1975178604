"""The secret-leak scan of the gateway tests: no secret they handled shows up in anything they produced.

The in-memory keyring remembers every entry written to it; each holds a device private key and, once
paired, a device token. Every one of those is searched for in the captured output, logs and failure
reports of the gateway tests (collected by conftest) and in every file under this run's tmp roots.
The gateway's own state directory is left out: the gateway has to keep the tokens it issued.
conftest runs the scan when the package's tests are done, whatever order they ran in.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable, Sequence
from pathlib import Path

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


def secrets_in(entries: Iterable[str]) -> dict[str, set[bytes]]:
    """Label -> leakable forms of every device token and private key in keyring entries."""
    found: dict[str, set[bytes]] = {}
    for value in entries:
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


def leaks(secrets: dict[str, set[bytes]], outputs: Sequence[str], base: Path) -> list[str]:
    """Where any of `secrets` shows up: in a captured output, or in a file under `base`."""
    found: list[str] = []
    for number, text in enumerate(outputs):
        data = text.encode()
        found += [
            f"{label} in captured output #{number}"
            for label, needles in secrets.items()
            if any(n in data for n in needles)
        ]
    for path in files_under(base):
        data = path.read_bytes()
        found += [
            f"{label} in {path}" for label, needles in secrets.items() if any(n in data for n in needles)
        ]
    return found
