"""The sidecar's private files (HTTP bearer token, host attestation key, log file) are opened only when safe:
never through a symbolic link, only when this user owns them and no one else may read or write them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sidecar.cli import main
from sidecar.host import load_or_create_key
from sidecar.mcp import load_or_create_token
from sidecar.secrets import UnsafeFile, append_private, open_private

TOKEN = "planted-token-0123456789abcdef"


@pytest.fixture(autouse=True)
def no_token_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SIDECAR_HTTP_TOKEN", raising=False)


def planted(tmp_path: Path, text: str = TOKEN + "\n", mode: int = 0o600) -> Path:
    target = tmp_path / "elsewhere"
    target.write_text(text)
    target.chmod(mode)
    return target


def test_an_http_token_file_that_is_a_symlink_is_refused_naming_the_link(tmp_path: Path) -> None:
    link = tmp_path / "http-token"
    link.symlink_to(planted(tmp_path))
    with pytest.raises(UnsafeFile, match=r"symbolic link.*rm .*http-token"):
        load_or_create_token(link)


def test_an_http_token_file_other_users_may_read_is_refused_with_the_chmod_that_fixes_it(
    tmp_path: Path,
) -> None:
    path = planted(tmp_path, mode=0o644)
    with pytest.raises(UnsafeFile, match=r"mode 644.*chmod 600 .*elsewhere"):
        load_or_create_token(path)
    path.chmod(0o600)
    assert load_or_create_token(path) == TOKEN


def test_a_new_http_token_file_is_created_private(tmp_path: Path) -> None:
    path = tmp_path / "state" / "http-token"
    token = load_or_create_token(path)
    assert len(token) >= 32 and path.stat().st_mode & 0o777 == 0o600
    assert load_or_create_token(path) == token


def test_a_host_key_file_that_is_a_symlink_is_refused(tmp_path: Path) -> None:
    link = tmp_path / "attest.key"
    link.symlink_to(planted(tmp_path, "ab" * 32 + "\n"))
    with pytest.raises(UnsafeFile, match="symbolic link"):
        load_or_create_key(link)


def test_a_host_key_file_open_to_its_group_is_refused(tmp_path: Path) -> None:
    path = planted(tmp_path, "ab" * 32 + "\n", mode=0o640)
    with pytest.raises(UnsafeFile, match="chmod 600"):
        load_or_create_key(path)


def test_a_private_file_owned_by_another_user_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = planted(tmp_path)
    monkeypatch.setattr(os, "geteuid", lambda: os.stat(path).st_uid + 1)
    with pytest.raises(UnsafeFile, match="not by this user"):
        os.close(open_private(path, os.O_RDONLY))


def test_serve_refuses_a_log_file_that_is_a_symlink_and_writes_nothing_through_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = planted(tmp_path, "")
    link = tmp_path / "sidecar.log"
    link.symlink_to(target)
    code = main(
        ["serve", "--agent", "lead", "--policy", str(tmp_path / "none.json5"), "--log-file", str(link)]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "--log-file" in err and "symbolic link" in err and f"rm {link}" in err
    assert target.read_text() == ""


def test_serve_refuses_a_log_file_other_users_may_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = planted(tmp_path, "", mode=0o644)
    code = main(
        ["serve", "--agent", "lead", "--policy", str(tmp_path / "none.json5"), "--log-file", str(path)]
    )
    assert code == 2
    assert f"chmod 600 {path}" in capsys.readouterr().err


def test_a_new_log_file_is_created_private_and_appended_to(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "sidecar.log"
    for line in ("one\n", "two\n"):
        with append_private(path) as stream:
            stream.write(line)
    assert path.read_text() == "one\ntwo\n" and path.stat().st_mode & 0o777 == 0o600
