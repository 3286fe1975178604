"""The harness's generated config, environment isolation and install pin (no gateway needed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from harness import build_config, clean_environ, deep_merge, find_openclaw, free_port, was_ever_installed
from harness.node import OPENCLAW_VERSION, PIN_DIR, lock_hash


def make_config(**overrides: object) -> dict[str, object]:
    return build_config(
        root=Path("/r"),
        agents=["main", "dev-1"],
        port=1234,
        stub_port=5678,
        token="t0ken",
        overrides=overrides or None,
    )


def test_agents_are_an_entries_map_with_their_own_workspaces() -> None:
    config = make_config()
    entries = config["agents"]["entries"]  # type: ignore[index]
    assert entries == {
        "main": {"name": "main", "workspace": "/r/ws/main"},
        "dev-1": {"name": "dev-1", "workspace": "/r/ws/dev-1"},
    }


def test_gateway_is_local_loopback_token_auth_and_opens_session_tools_to_http() -> None:
    gateway = make_config()["gateway"]
    assert gateway == {
        "mode": "local",
        "port": 1234,
        "bind": "loopback",
        "auth": {"mode": "token", "token": "t0ken"},
        "tailscale": {"mode": "off"},
        "tools": {"allow": ["sessions_send", "sessions_spawn"]},
    }


def test_model_provider_points_at_the_stub_on_loopback() -> None:
    stub = make_config()["models"]["providers"]["stub"]  # type: ignore[index]
    assert stub["baseUrl"] == "http://127.0.0.1:5678/v1"
    assert stub["api"] == "openai-completions"


def test_background_model_turns_and_network_features_are_off() -> None:
    config = make_config()
    assert config["agents"]["defaults"]["heartbeat"] == {"every": "0m"}  # type: ignore[index]
    assert config["skills"] == {"workshop": {"autonomous": {"mode": "off"}}}
    assert config["discovery"] == {"mdns": {"mode": "off"}}
    assert config["update"] == {"checkOnStart": False, "auto": {"enabled": False}}
    assert config["logging"] == {"file": "/r/logs/openclaw.log"}


def test_config_overrides_are_deep_merged() -> None:
    config = make_config(tools={"sessions": {"visibility": "self"}})
    assert config["tools"] == {
        "sessions": {"visibility": "self"},
        "agentToAgent": {"enabled": True, "allow": ["main", "dev-1"]},
    }


def test_deep_merge_replaces_lists_and_does_not_touch_its_inputs() -> None:
    base = {"a": {"b": [1, 2], "c": 1}}
    merged = deep_merge(base, {"a": {"b": [3]}})
    assert merged == {"a": {"b": [3], "c": 1}}
    assert base == {"a": {"b": [1, 2], "c": 1}}


def test_a_system_agent_other_than_main_becomes_the_default_agent_without_a_legacy_marker() -> None:
    config = build_config(root=Path("/r"), agents=["pa", "dev-1"], port=1, stub_port=2, token="t")
    assert config["agents"]["defaults"]["systemAgent"] == {"agentId": "pa"}
    # 2026.9.6 refuses `default: true` beside ownership "explicit" (found starting a peer without "main").
    assert all("default" not in entry for entry in config["agents"]["entries"].values())


def test_inherited_openclaw_api_key_and_proxy_variables_are_dropped() -> None:
    env = clean_environ(
        {
            "PATH": "/bin",
            "OPENCLAW_GATEWAY_TOKEN": "x",
            "OPENAI_API_KEY": "x",
            "https_proxy": "http://p",
            "HTTP_PROXY": "http://p",
            "NO_PROXY": "*",
            "NODE_OPTIONS": "--inspect",
            "LANG": "C.UTF-8",
        }
    )
    assert env == {"PATH": "/bin", "LANG": "C.UTF-8"}


def test_free_ports_are_distinct_and_nonzero() -> None:
    ports = {free_port() for _ in range(5)}
    assert 0 not in ports and len(ports) >= 2


def test_openclaw_is_pinned_exactly_by_the_committed_package_and_lockfile() -> None:
    package = json.loads((PIN_DIR / "package.json").read_text())
    lock = json.loads((PIN_DIR / "package-lock.json").read_text())
    assert package["dependencies"] == {"openclaw": OPENCLAW_VERSION}
    assert lock["packages"]["node_modules/openclaw"]["version"] == OPENCLAW_VERSION
    assert lock["packages"][""]["dependencies"] == {"openclaw": OPENCLAW_VERSION}
    assert len(lock_hash()) == 16


def _fake_install(cache: Path, stamp: str) -> None:
    for path in (cache / "bin" / "node", cache / "bin" / "openclaw"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("")
    entry = cache / "openclaw" / "node_modules" / ".bin" / "openclaw"
    entry.parent.mkdir(parents=True)
    entry.write_text("")
    (cache / "openclaw" / f".installed-{stamp}").write_text("")


def test_an_install_is_reused_only_while_its_stamp_matches_the_lockfile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SIDECAR_CACHE", str(tmp_path))
    assert find_openclaw() is None and not was_ever_installed()
    _fake_install(tmp_path, lock_hash())
    found = find_openclaw()
    assert found is not None and found.install_dir == tmp_path / "openclaw"
    (tmp_path / "openclaw" / f".installed-{lock_hash()}").rename(
        tmp_path / "openclaw" / ".installed-0123456789abcdef"
    )
    assert find_openclaw() is None  # the lock changed since: ensure_openclaw() will npm ci again
    assert was_ever_installed()  # so a test run installs instead of skipping
