from __future__ import annotations

import hashlib
import io
import json
import secrets
import stat
import textwrap
from collections.abc import Iterator
from pathlib import Path

import anyio
import keyring
import keyring.backend
import keyring.backends.fail
import keyring.backends.null
import keyring.core
import keyring.errors
import pytest

from sidecar.secrets import (
    SERVICE,
    FileSecretStore,
    KeyringSecretStore,
    SecretStoreUnavailable,
    default_file_path,
    open_secret_store,
)
from tests.gateway.fake_gateway import FakeGateway
from tests.gateway.memory_keyring import MemoryKeyring
from tests.gateway.secret_service import ROOT, SESSION_PREAMBLE, secret_service_or_skip, session_env


@pytest.fixture(autouse=True)
def memory_keyring() -> Iterator[MemoryKeyring]:
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        keyring.set_keyring(previous)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class BrokenKeyring(keyring.backend.KeyringBackend):
    priority = 1  # type: ignore[assignment]
    error: keyring.errors.KeyringError = keyring.errors.KeyringLocked("locked")

    def get_password(self, service: str, username: str) -> str | None:
        raise self.error

    def set_password(self, service: str, username: str, password: str) -> None:
        raise self.error

    def delete_password(self, service: str, username: str) -> None:
        raise self.error


def test_the_keyring_store_round_trips_under_the_sidecar_service(memory_keyring: MemoryKeyring) -> None:
    store = KeyringSecretStore()
    assert store.kind == "keyring"
    store.set("dev-1@ws://127.0.0.1:18789", "value")
    assert store.get("dev-1@ws://127.0.0.1:18789") == "value"
    assert list(memory_keyring.entries) == [(SERVICE, "dev-1@ws://127.0.0.1:18789")]
    store.delete("dev-1@ws://127.0.0.1:18789")
    assert store.get("dev-1@ws://127.0.0.1:18789") is None


def test_deleting_a_missing_secret_is_not_an_error() -> None:
    KeyringSecretStore().delete("never-stored")


def test_no_keyring_backend_fails_with_both_fixes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    keyring.core.init_backend()
    assert isinstance(keyring.get_keyring(), keyring.backends.fail.Keyring)
    with pytest.raises(SecretStoreUnavailable) as info:
        open_secret_store()
    text = str(info.value)
    assert "No OS keyring is available" in text
    assert "dbus-run-session -- sh -c 'echo pw | gnome-keyring-daemon --unlock; sidecar ...'" in text
    assert "--token-store file" in text
    assert "SIDECAR_TOKEN_STORE=file" in text


def test_a_backend_keyring_does_not_recommend_is_refused_not_used_silently() -> None:
    with pytest.raises(SecretStoreUnavailable, match="does not recommend") as info:
        KeyringSecretStore(keyring.backends.null.Keyring())
    assert "--token-store file" in str(info.value)


def test_a_locked_keyring_says_how_to_unlock() -> None:
    store = KeyringSecretStore(BrokenKeyring())
    with pytest.raises(SecretStoreUnavailable, match="is locked"):
        store.get("x")


def test_other_keyring_failures_name_the_fix_without_the_backend_message() -> None:
    backend = BrokenKeyring()
    backend.error = keyring.errors.PasswordSetError("details that could contain anything")
    with pytest.raises(SecretStoreUnavailable) as info:
        KeyringSecretStore(backend).set("x", "secret-value")
    assert "PasswordSetError" in str(info.value)
    assert "details that could" not in str(info.value)
    assert "secret-value" not in str(info.value)


def test_the_file_store_is_opt_in_private_and_warns(tmp_path: Path) -> None:
    warn = io.StringIO()
    store = open_secret_store(
        "file", environ={"SIDECAR_TOKEN_FILE": str(tmp_path / "s" / "secrets.json")}, warn=warn
    )
    assert isinstance(store, FileSecretStore)
    assert "not in an OS keyring" in warn.getvalue()
    store.set("a", "1")
    store.set("b", "2")
    store.delete("a")
    assert (store.get("a"), store.get("b")) == (None, "2")
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(store.path.parent.stat().st_mode) == 0o700
    assert json.loads(store.path.read_text()) == {"b": "2"}
    # the store and its lock (serialising sidecars that share the file), nothing else
    assert sorted(p.name for p in store.path.parent.iterdir()) == ["secrets.json", "secrets.json.lock"]


def test_the_environment_can_select_the_file_store(tmp_path: Path) -> None:
    warn = io.StringIO()
    env = {"SIDECAR_TOKEN_STORE": "file", "XDG_DATA_HOME": str(tmp_path)}
    store = open_secret_store(environ=env, warn=warn)
    assert isinstance(store, FileSecretStore)
    assert store.path == tmp_path / "openclaw-sessions-sidecar" / "secrets.json"
    assert str(store.path) in warn.getvalue()


def test_the_keyring_is_the_default_and_never_warns() -> None:
    warn = io.StringIO()
    assert open_secret_store(environ={}, warn=warn).kind == "keyring"
    assert warn.getvalue() == ""


def test_an_unknown_store_kind_names_the_choices() -> None:
    with pytest.raises(SecretStoreUnavailable, match="use one of: keyring, file"):
        open_secret_store("vault", environ={})


def test_a_secrets_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "secrets.json"
    path.write_text("{}")
    path.chmod(0o644)
    with pytest.raises(SecretStoreUnavailable, match="chmod 600"):
        FileSecretStore(path).get("x")


def test_a_damaged_secrets_file_says_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "secrets.json"
    path.write_text("{not json")
    path.chmod(0o600)
    with pytest.raises(SecretStoreUnavailable, match="re-pair"):
        FileSecretStore(path).get("x")


def test_the_default_file_path_follows_xdg_then_home(tmp_path: Path) -> None:
    assert default_file_path({"HOME": str(tmp_path)}) == (
        tmp_path / ".local" / "share" / "openclaw-sessions-sidecar" / "secrets.json"
    )
    assert default_file_path({"SIDECAR_TOKEN_FILE": "/x/y.json"}) == Path("/x/y.json")


def test_store_reprs_name_the_store_and_nothing_stored(tmp_path: Path) -> None:
    store = KeyringSecretStore()
    store.set("k", "hidden-value")
    file_store = FileSecretStore(tmp_path / "f.json")
    file_store.set("k", "hidden-value")
    for text in (repr(store), repr(file_store)):
        assert "hidden-value" not in text
    assert "openclaw-sessions-sidecar" in repr(store)


SESSION = SESSION_PREAMBLE + textwrap.dedent("""\
    "$PYTHON" -m sidecar pair --gateway "$GW_URL" --agent dev-1 || exit 10
    "$PYTHON" - <<'PY' || exit 11
    import hashlib, json, os, keyring
    from sidecar.gateway import entry_name
    from sidecar.secrets import KeyringSecretStore
    store = KeyringSecretStore()
    print("backend", type(keyring.get_keyring()).__module__)
    entry = json.loads(store.get(entry_name(os.environ["GW_URL"], "dev-1")))
    print("token-sha256", hashlib.sha256(entry["deviceToken"].encode()).hexdigest())
    needles = [entry["deviceToken"].encode(), entry["privateKey"].encode()]
    leaks = 0
    for top, _, files in os.walk(os.environ["HOME"]):
        for name in files:
            try:
                data = open(os.path.join(top, name), "rb").read()
            except OSError:
                continue
            leaks += sum(needle in data for needle in needles)
    print("files-with-secrets", leaks)
    PY
    """)


@pytest.mark.anyio
async def test_a_token_round_trips_through_a_real_secret_service_and_no_file_under_home_shows_it(
    tmp_path: Path,
) -> None:
    secret_service_or_skip()
    home = tmp_path / "home"
    home.mkdir()
    token = secrets.token_urlsafe(32)
    async with FakeGateway(issue_token=token) as gw:
        env = session_env(home, GW_URL=gw.url)
        with anyio.fail_after(60):
            result = await anyio.run_process(
                ["dbus-run-session", "--", "sh", "-c", SESSION], env=env, cwd=ROOT, check=False
            )
    out, err = result.stdout.decode(), result.stderr.decode()
    assert result.returncode == 0, f"exit {result.returncode}\n{out}\n{err}"
    assert "backend keyring.backends.SecretService" in out
    assert f"token-sha256 {hashlib.sha256(token.encode()).hexdigest()}" in out
    assert "files-with-secrets 0" in out
    assert "paired: agent dev-1" in out
    assert token not in out + err
    files = [p for p in home.rglob("*") if p.is_file()]
    assert any(p.suffix == ".keyring" for p in files), "gnome-keyring kept nothing on disk"
    for path in files:
        assert token.encode() not in path.read_bytes(), path
