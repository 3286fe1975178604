"""Doctor's checks of what lives on this machine: the secret store and the agent's session mirror.

Neither writes: only the keyring backend is checked (no entry is read), the store doctor hands to the
pairing check drops every write (`ReadOnlySecrets`), and the mirror is opened read-only.
"""

from __future__ import annotations

import io
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import keyring
import keyring.backend

from sidecar.doctor._report import Check
from sidecar.mirror import STALE_AFTER_S, Mirror, MirrorError, MirrorLocked, SyncCursor
from sidecar.secrets import (
    SERVICE,
    STORE_ENV,
    STORE_KINDS,
    SecretStore,
    SecretStoreUnavailable,
    check_keyring_backend,
    default_file_path,
    open_secret_store,
)

# -- the secret store ---------------------------------------------------------------------------------


def _backend_name(backend: keyring.backend.KeyringBackend) -> str:
    cls = type(backend)
    return f"{cls.__module__}.{cls.__qualname__}"


def check_secret_store(kind: str | None, environ: Mapping[str, str]) -> Check:
    """The store `sidecar serve` would use works. Only the backend is checked: no entry is read or written."""
    name = "secret-store"
    raw = kind or environ.get(STORE_ENV) or "keyring"
    chosen = raw.strip().lower()
    origin = "--token-store" if kind else STORE_ENV
    if chosen == "file":
        path = default_file_path(environ)
        try:
            mode = path.stat().st_mode & 0o777
        except FileNotFoundError:
            mode = None
        except OSError as exc:
            return Check(
                name,
                "FAIL",
                f"cannot inspect the file store {path}: {exc.strerror or exc}",
                f"Check the permissions of {path.parent}",
            )
        if mode is not None and mode & 0o077:
            return Check(
                name,
                "FAIL",
                f"the file store {path} is readable by other users (mode {mode:o})",
                f"chmod 600 {path}",
            )
        state = "exists, mode 600" if mode is not None else "not created yet"
        return Check(
            name,
            "WARN",
            f"the file store was chosen ({origin}=file): device keys and tokens live in {path} ({state}), "
            "which is weaker than an OS keyring",
            f"To use the OS keyring instead, drop {origin}=file and run under a Secret Service session "
            "(see `sidecar pair --help`), then pair again",
        )
    if chosen != "keyring":
        return Check(
            name,
            "FAIL",
            f"unknown token store {raw!r} (from {origin})",
            f"Use one of: {', '.join(STORE_KINDS)} (e.g. unset {STORE_ENV})",
        )
    try:
        backend = keyring.get_keyring()
        check_keyring_backend(backend)
    except SecretStoreUnavailable as exc:
        detail, _, fix = str(exc).partition("\n")
        return Check(name, "FAIL", detail, fix.strip() or None)
    except Exception as exc:  # a broken keyring configuration raises from get_keyring itself
        return Check(
            name,
            "FAIL",
            f"the OS keyring cannot be loaded ({type(exc).__name__})",
            "Check keyring's configuration (keyringrc.cfg, PYTHON_KEYRING_BACKEND), or pass --token-store file",
        )
    return Check(name, "PASS", f"OS keyring backend {_backend_name(backend)} is usable (service {SERVICE})")


class ReadOnlySecrets:
    """A secret store that reads through and drops every write: doctor never changes a stored secret."""

    def __init__(self, inner: SecretStore) -> None:
        self._inner = inner
        self.kind = inner.kind

    def get(self, name: str) -> str | None:
        return self._inner.get(name)

    def set(self, name: str, value: str) -> None:
        return None

    def delete(self, name: str) -> None:
        return None

    def __repr__(self) -> str:
        return f"ReadOnlySecrets({self._inner!r})"


def open_store_quietly(kind: str | None, environ: Mapping[str, str]) -> SecretStore | None:
    try:
        # The file store's warning is already the secret-store check's finding.
        return ReadOnlySecrets(open_secret_store(kind, environ=environ, warn=io.StringIO()))
    except SecretStoreUnavailable:
        return None


# -- the session mirror -------------------------------------------------------------------------------


def _age(seconds: float) -> str:
    seconds = max(0.0, seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


def check_mirror(path: Path, gateways: Sequence[str], serve: str, now: float | None = None) -> list[Check]:
    """Open the mirror read-only and judge each gateway's freshness."""
    if not path.is_file():
        return [
            Check(
                "mirror",
                "WARN",
                f"no mirror at {path}: not synced yet, starts with `sidecar serve`",
                f"Start the sidecar ({serve}); it creates the mirror and keeps it live",
            )
        ]
    try:
        with Mirror.open(path, readonly=True, busy_timeout=1.0) as mirror:
            cursors = {c.gateway: c for c in mirror.cursors.all()}
    except MirrorLocked as exc:
        return [
            Check("mirror", "FAIL", str(exc), "Another process holds the mirror locked; run doctor again")
        ]
    except MirrorError as exc:
        return [
            Check(
                "mirror",
                "FAIL",
                str(exc),
                f"Move {path} aside; `{serve}` creates a new one and resyncs it from the gateway",
            )
        ]
    now = time.time() if now is None else now
    checks = [Check("mirror", "PASS", f"{path} opens read-only")]
    for name in dict.fromkeys([*gateways, *cursors]):
        checks.append(_cursor_check(name, cursors.get(name), serve, now))
    return checks


def _cursor_check(gateway: str, cursor: SyncCursor | None, serve: str, now: float) -> Check:
    name = f"mirror:{gateway}"
    if cursor is None:
        return Check(
            name,
            "WARN",
            f"{gateway}: not synced yet, starts with `sidecar serve`",
            f"Start the sidecar ({serve}); it syncs every gateway it connects to",
        )
    freshness = cursor.freshness(now)
    heard = cursor.last_event or cursor.last_full_sync
    if freshness == "live":
        age = "" if heard is None else f", last heard {_age(now - heard)} ago"
        return Check(name, "PASS", f"{gateway}: live, {cursor.rows} sessions{age}")
    error = f"; last error: {cursor.last_error}" if cursor.last_error else ""
    if freshness == "syncing":
        return Check(
            name,
            "WARN",
            f"{gateway}: a snapshot is in progress or was interrupted at row {cursor.snapshot_offset}{error}",
            f"Keep the sidecar running ({serve}); the next sync resumes the snapshot",
        )
    silent = "never heard from it" if heard is None else f"nothing heard for {_age(now - heard)}"
    return Check(
        name,
        "WARN",
        f"{gateway}: stale ({silent}; live means an event within {STALE_AFTER_S:g} s){error}",
        f"Start the sidecar ({serve}) so it keeps the mirror live, or refresh by hand: "
        f"sidecar mirror sync --gateway URL --agent ID --name {gateway}",
    )


__all__ = ["ReadOnlySecrets", "check_mirror", "check_secret_store", "open_store_quietly"]
