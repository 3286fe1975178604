"""Where the sidecar keeps its secrets: the OS keyring, or an explicitly chosen 0600 file.

The device private key and the gateway-issued device token are secrets. They live in the OS keyring
(service `openclaw-sessions-sidecar`) and nowhere else: not in the environment, not in a log line, not in
an error message. On a machine without a usable keyring backend we refuse with the fix instead of
quietly writing plaintext: `keyring` would otherwise pick `keyrings.alt`'s plaintext file when that
package happens to be installed. The file store exists, but only when asked for by name.

Keyring calls block (D-Bus round trips); async callers go through `anyio.to_thread.run_sync`.

The sidecar's private files (the HTTP bearer token, the host attestation key, the log file) are opened
through `open_private`: never through a symbolic link, and only when this user owns them and no one else
may read or write them. Each refusal names the file and the fix.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import stat
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping
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


class UnsafeFile(ValueError):
    """A private file another user could read, write or redirect (a link, a foreign owner, open permissions).

    The message names the file and the fix; the sidecar refuses to use the file until it is fixed.
    """


def open_private(path: Path, flags: int, *, create: bool = False) -> int:
    """A descriptor of the private file `path`, opened with `flags`, after checking the file it opened.

    The last path component is never followed if it is a symbolic link (`O_NOFOLLOW`), and the open file
    must be a regular file owned by the effective user with no group or other permission bits. With
    `create`, a missing file is created with mode 0600 (its directory 0700).

    Raises:
        UnsafeFile: `path` is a link, not a regular file, owned by another user or open to others.
        FileNotFoundError: `path` is missing and `create` is false.
    """
    flags |= os.O_NOFOLLOW | os.O_CLOEXEC
    if create:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        flags |= os.O_CREAT
    try:
        fd = os.open(path, flags, 0o600)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafeFile(
                f"{path} is a symbolic link; the sidecar does not follow links to its private files. Remove the "
                f"link (rm {path}) and use the real file's path"
            ) from None
        raise
    try:
        _check_private(fd, path)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _check_private(fd: int, path: Path) -> None:
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        raise UnsafeFile(f"{path} is not a regular file; remove it (or pass the path of a regular file)")
    uid = os.geteuid()
    if info.st_uid != uid:
        raise UnsafeFile(
            f"{path} is owned by uid {info.st_uid}, not by this user (uid {uid}); remove it, or run: "
            f"chown {uid} {path} && chmod 600 {path}"
        )
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        raise UnsafeFile(f"{path} is open to other users (mode {mode:o}); run: chmod 600 {path}")


def read_private(path: Path) -> str | None:
    """The text of the private file `path`, or None when it does not exist (see `open_private`)."""
    try:
        fd = open_private(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    with os.fdopen(fd, encoding="utf-8") as handle:
        return handle.read()


def read_or_create_private(path: Path, fresh: Callable[[], str]) -> str:
    """The text of the private file `path`; when it is missing, `fresh()` is written there first (0600).

    Raises:
        UnsafeFile: see `open_private`.
    """
    found = read_private(path)
    if found is not None:
        return found
    text = fresh()
    try:
        fd = open_private(path, os.O_WRONLY | os.O_EXCL, create=True)
    except FileExistsError:  # another process created it first: use theirs
        found = read_private(path)
        if found is None:
            raise
        return found
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    return text


def append_private(path: Path) -> TextIO:
    """The private file `path` opened for appending text (created 0600 if missing): for a log file.

    Raises:
        UnsafeFile: see `open_private`.
    """
    fd = open_private(path, os.O_WRONLY | os.O_APPEND, create=True)
    return os.fdopen(fd, "a", encoding="utf-8")


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
            raw = read_private(self.path)
        except UnsafeFile as exc:
            raise SecretStoreUnavailable(str(exc)) from None
        if raw is None:
            return {}
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
