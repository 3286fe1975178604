"""Where the sidecar keeps its secrets: the OS keyring, or an explicitly chosen 0600 file.

The device private key and the gateway-issued device token are secrets. They live in the OS keyring
(service `openclaw-sessions-sidecar`) and nowhere else: not in the environment, not in a log line, not in
an error message. On a machine without a usable keyring backend we refuse with the fix instead of
quietly writing plaintext: `keyring` would otherwise pick `keyrings.alt`'s plaintext file when that
package happens to be installed. The file store exists, but only when asked for by name.

Keyring calls block (D-Bus round trips); async callers go through `anyio.to_thread.run_sync`.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sys
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TextIO

if TYPE_CHECKING:
    import keyring.backend

from sidecar.config import TOKEN_FILE_ENV, TOKEN_STORE_ENV, TOKEN_STORES, resolve_token_store

SERVICE = "openclaw-sessions-sidecar"
STORE_ENV = TOKEN_STORE_ENV
FILE_ENV = TOKEN_FILE_ENV
STORE_KINDS = TOKEN_STORES

KEYRING_FIX = (
    "Fix one of:\n"
    "  * run under a Secret Service session, e.g.\n"
    "      dbus-run-session -- sh -c 'echo pw | gnome-keyring-daemon --unlock; sidecar ...'\n"
    "    (Debian/Ubuntu: apt-get install gnome-keyring dbus; on a desktop, log in to a keyring first)\n"
    "  * or opt in to a 0600 file store, which is weaker: pass --token-store file (or set "
    f"{STORE_ENV}=file)"
)
FILE_STORE_WARNING = (
    "warning: storing the device key and gateway token in {path} (mode 0600), not in an OS keyring. "
    "Anyone who can read that file as this user, or a backup of it, can act as this sidecar.\n"
)


class SecretStoreUnavailable(RuntimeError):
    """No secret store can be used as configured. The message names the fix."""


class SecretStore(Protocol):
    """A string-valued secret map. `get` of a missing name is None; `delete` of one is a no-op."""

    kind: str

    def get(self, name: str) -> str | None: ...

    def set(self, name: str, value: str) -> None: ...

    def delete(self, name: str) -> None: ...


def _backend_name(backend: keyring.backend.KeyringBackend) -> str:
    cls = type(backend)
    return f"{cls.__module__}.{cls.__qualname__}"


def check_keyring_backend(backend: keyring.backend.KeyringBackend) -> None:
    """Refuse a backend that is missing (`fail.Keyring`) or not recommended (plaintext `keyrings.alt`)."""
    import keyring.backends.fail
    import keyring.core

    if isinstance(backend, keyring.backends.fail.Keyring):
        raise SecretStoreUnavailable(
            f"No OS keyring is available (keyring backend: {_backend_name(backend)}); the sidecar keeps its "
            f"device key and gateway token only in a secret store.\n{KEYRING_FIX}"
        )
    if not keyring.core.recommended(backend):
        raise SecretStoreUnavailable(
            f"The only keyring backend available is {_backend_name(backend)}, which keyring does not "
            f"recommend (it is a plaintext or prompting store); the sidecar will not use it silently.\n"
            f"{KEYRING_FIX}"
        )


class KeyringSecretStore:
    kind = "keyring"

    def __init__(self, backend: keyring.backend.KeyringBackend | None = None, service: str = SERVICE) -> None:
        # Imported here: a sidecar on the file store never loads keyring (50 ms of a cold start).
        import keyring

        self._backend = backend if backend is not None else keyring.get_keyring()
        check_keyring_backend(self._backend)
        self.service = service

    def get(self, name: str) -> str | None:
        with self._translate():
            value: str | None = self._backend.get_password(self.service, name)
            return value

    def set(self, name: str, value: str) -> None:
        with self._translate():
            self._backend.set_password(self.service, name, value)

    def delete(self, name: str) -> None:
        import keyring.errors

        with self._translate(), contextlib.suppress(keyring.errors.PasswordDeleteError):
            self._backend.delete_password(self.service, name)

    @contextlib.contextmanager
    def _translate(self) -> Iterator[None]:
        import keyring.errors

        try:
            yield
        except keyring.errors.KeyringLocked:
            raise SecretStoreUnavailable(
                f"The OS keyring ({_backend_name(self._backend)}) is locked. Unlock it (on a headless machine: "
                "echo pw | gnome-keyring-daemon --unlock inside the dbus-run-session) and retry"
            ) from None
        except keyring.errors.KeyringError as exc:
            raise SecretStoreUnavailable(
                f"The OS keyring ({_backend_name(self._backend)}) failed: {type(exc).__name__}.\n{KEYRING_FIX}"
            ) from None

    def __repr__(self) -> str:
        return f"KeyringSecretStore(service={self.service!r}, backend={_backend_name(self._backend)!r})"


class FileSecretStore:
    """A JSON map in a mode-0600 file inside a mode-0700 directory, replaced atomically on every write."""

    kind = "file"

    def __init__(self, path: Path) -> None:
        self.path = path

    def get(self, name: str) -> str | None:
        return self._read().get(name)

    def set(self, name: str, value: str) -> None:
        with self._locked():
            data = self._read()
            data[name] = value
            self._write(data)

    def delete(self, name: str) -> None:
        with self._locked():
            data = self._read()
            if data.pop(name, None) is not None:
                self._write(data)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        # Several sidecars (one per agent or session) may share one file: serialise read-modify-write.
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.path.with_name(self.path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _read(self) -> dict[str, str]:
        try:
            raw = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        mode = self.path.stat().st_mode & 0o777
        if mode & 0o077:
            raise SecretStoreUnavailable(
                f"{self.path} is readable by other users (mode {mode:o}); run: chmod 600 {self.path}"
            )
        try:
            data = json.loads(raw)
        except json.JSONDecodeError:
            raise SecretStoreUnavailable(
                f"{self.path} is not valid JSON; move it aside and re-pair"
            ) from None
        if not isinstance(data, dict):
            raise SecretStoreUnavailable(f"{self.path} is not a JSON object; move it aside and re-pair")
        return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str)}

    def _write(self, data: dict[str, str]) -> None:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".secrets-", dir=self.path.parent)
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(data, fh, indent=1, sort_keys=True)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    def __repr__(self) -> str:
        return f"FileSecretStore(path={str(self.path)!r})"


def default_file_path(environ: Mapping[str, str] = os.environ) -> Path:
    if environ.get(FILE_ENV):
        return Path(environ[FILE_ENV])
    data_home = environ.get("XDG_DATA_HOME") or str(
        Path(environ.get("HOME") or Path.home()) / ".local" / "share"
    )
    return Path(data_home) / SERVICE / "secrets.json"


def open_secret_store(
    kind: str | None = None,
    *,
    environ: Mapping[str, str] = os.environ,
    warn: TextIO | None = None,
) -> SecretStore:
    """The store named by `kind`, else by $SIDECAR_TOKEN_STORE, else the OS keyring. Blocking.

    Raises `SecretStoreUnavailable` (with the fix) for an unknown kind or an unusable keyring. Choosing
    the file store prints a warning to `warn` (stderr by default): it is weaker, and that is never silent.
    """
    setting = resolve_token_store(kind, environ)
    chosen = setting.value
    if chosen == "keyring":
        return KeyringSecretStore()
    if chosen == "file":
        path = default_file_path(environ)
        (warn or sys.stderr).write(FILE_STORE_WARNING.format(path=path))
        return FileSecretStore(path)
    raise SecretStoreUnavailable(
        f"Unknown token store {chosen!r} (from {setting.source}); use one of: " + ", ".join(STORE_KINDS)
    )
