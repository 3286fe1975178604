"""The stub model's deterministic rules and wire format (no gateway needed)."""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from harness import stub_model
from harness.stub_model import StubModelServer, decide, parse_sse, sse_events, strip_operator_text

INTERNAL = {
    "role": "user",
    "content": [
        {
            "type": "text",
            "text": "<<<BEGIN_OPENCLAW_INTERNAL_CONTEXT>>>\nx\n<<<END_OPENCLAW_INTERNAL_CONTEXT>>>",
        }
    ],
}
TOOLS = [
    {"type": "function", "function": {"name": name, "parameters": {"type": "object"}}}
    for name in ("read", "exec", "tool_call", "tool_search")
]


def operator(
    text: str, runtime: str | None = "agent=main | session=agent:main:main | host=vm"
) -> dict[str, Any]:
    content = f"[Sun 2026-11-22 01:26 UTC] {text}"
    if runtime is not None:
        content += f"\n\nRuntime: {runtime}"
    return {"role": "user", "content": content}


def body(*messages: dict[str, Any], system: str = "You are an agent.", **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "model": "stub-echo",
        "messages": [{"role": "system", "content": system}, *messages],
        "stream": True,
        "stream_options": {"include_usage": True},
        "tools": TOOLS,
    }
    out.update(extra)
    return out


def test_operator_text_loses_the_timestamp_prefix_and_runtime_suffix() -> None:
    raw = "[Sun 2026-11-22 01:26 UTC] hello stub\n\nRuntime: agent=main | session=agent:main:main | os=Linux"
    assert strip_operator_text(raw) == "hello stub"


def test_plain_operator_text_is_echoed_without_gateway_decorations() -> None:
    decision = decide(body(operator("hello stub"), INTERNAL))
    assert (decision.rule, decision.text) == ("echo", "echo: hello stub")


def test_the_internal_context_message_is_not_taken_as_operator_text() -> None:
    decision = decide(body(operator("the real question"), INTERNAL))
    assert decision.operator_text == "the real question"


def test_agent_and_session_come_from_the_latest_runtime_line_even_on_later_turns() -> None:
    first = operator("first")
    later = operator("second", runtime=None)
    decision = decide(body(first, {"role": "assistant", "content": "echo: first"}, later, INTERNAL))
    assert decision.operator_text == "second"
    assert decision.runtime["agent"] == "main"
    assert decision.runtime["session"] == "agent:main:main"


def test_agent_to_agent_reply_step_prompt_is_answered_with_reply_skip() -> None:
    decision = decide(body(operator("echo: ping"), system="... Agent-to-agent reply step ... REPLY_SKIP"))
    assert (decision.rule, decision.text) == ("reply-skip", "REPLY_SKIP")


def test_agent_to_agent_announce_step_prompt_is_answered_with_announce_skip() -> None:
    decision = decide(body(operator("Agent-to-agent announce step.")))
    assert (decision.rule, decision.text) == ("announce-skip", "ANNOUNCE_SKIP")


def test_skill_review_turn_is_answered_with_no_reply() -> None:
    decision = decide(body(operator("Skill review. Look at the last run.")))
    assert (decision.rule, decision.text) == ("skill-review", "NO_REPLY")


def test_call_rule_emits_a_tool_call_with_the_exact_json_arguments() -> None:
    args = {"id": "sessions_send", "args": {"sessionKey": "agent:dev-1:main", "message": "ping {x}"}}
    decision = decide(body(operator(f"please CALL tool_call {json.dumps(args)} thanks"), INTERNAL))
    assert decision.rule == "call"
    assert decision.tool_call is not None
    assert decision.tool_call.name == "tool_call"
    assert json.loads(decision.tool_call.arguments) == args
    assert decision.tool_call.id.startswith("call_")


def test_a_tool_result_after_the_operator_message_is_reported_instead_of_calling_again() -> None:
    call = {"role": "assistant", "content": None, "tool_calls": [{"id": "c1", "type": "function"}]}
    result = {"role": "tool", "tool_call_id": "c1", "content": [{"type": "text", "text": '{"status":"ok"}'}]}
    decision = decide(
        body(operator('CALL tool_call {"id":"sessions_list","args":{}}'), call, result, INTERNAL)
    )
    assert (decision.rule, decision.text) == ("tool-result", 'tool-result: {"status":"ok"}')


def test_calling_a_tool_that_is_not_offered_answers_with_an_error_text() -> None:
    decision = decide(body(operator('CALL sessions_send {"sessionKey":"agent:x:main"}')))
    assert decision.rule == "call-unavailable"
    assert decision.tool_call is None
    assert decision.text is not None and "sessions_send is not offered" in decision.text


def test_call_with_broken_json_answers_with_an_error_text() -> None:
    decision = decide(body(operator("CALL tool_call {not json")))
    assert decision.rule == "call-bad-json"
    assert decision.text is not None and decision.text.startswith("call-error:")


def test_streamed_text_reply_is_sse_chunks_then_usage_then_done() -> None:
    request = body(operator("a somewhat longer message to split into chunks"))
    decision = decide(request)
    raw = b"".join(sse_events(decision, request, "chatcmpl-1", 1))
    assert raw.endswith(b"data: [DONE]\n\n")
    events = parse_sse(raw)
    assert events[-1] == "[DONE]"
    chunks = [e for e in events if isinstance(e, dict)]
    assert all(c["object"] == "chat.completion.chunk" and c["id"] == "chatcmpl-1" for c in chunks)
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == "echo: a somewhat longer message to split into chunks"
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    finishes = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]]
    assert finishes[-1] == "stop" and set(finishes[:-1]) == {None}
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] > 0


def test_streamed_tool_call_reassembles_from_tool_call_deltas() -> None:
    args = {
        "id": "sessions_send",
        "args": {"sessionKey": "agent:dev-1:main", "message": "a long ping message"},
    }
    request = body(operator(f"CALL tool_call {json.dumps(args)}"), stream_options=None)
    decision = decide(request)
    chunks = [e for e in parse_sse(b"".join(sse_events(decision, request, "c", 1))) if isinstance(e, dict)]
    deltas = [c["choices"][0]["delta"].get("tool_calls") for c in chunks]
    first = deltas[0][0]
    assert (first["index"], first["type"], first["function"]["name"]) == (0, "function", "tool_call")
    joined = "".join(d[0]["function"]["arguments"] for d in deltas if d)
    assert json.loads(joined) == args
    assert len([d for d in deltas if d]) > 2  # really streamed in pieces
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"
    assert all("usage" not in c for c in chunks)  # no include_usage -> no usage chunk


@pytest.fixture
def stub_server(tmp_path: Path) -> Iterator[StubModelServer]:
    server = StubModelServer(0, tmp_path / "requests.jsonl")
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _request(server: StubModelServer, method: str, path: str, payload: Any = None) -> tuple[int, str, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        data = None if payload is None else json.dumps(payload).encode()
        conn.request(method, path, body=data, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        return resp.status, resp.getheader("Content-Type") or "", resp.read()
    finally:
        conn.close()


def test_server_streams_sse_over_http_and_logs_one_line_per_model_call(stub_server: StubModelServer) -> None:
    status, ctype, raw = _request(
        stub_server, "POST", "/v1/chat/completions", body(operator("over http"), INTERNAL)
    )
    assert (status, ctype) == (200, "text/event-stream")
    text = "".join(
        e["choices"][0]["delta"].get("content") or ""
        for e in parse_sse(raw)
        if isinstance(e, dict) and e["choices"]
    )
    assert text == "echo: over http"
    assert stub_server.log_path is not None
    [entry] = stub_model.read_log(stub_server.log_path)
    assert entry["rule"] == "echo"
    assert entry["operator_text"] == "over http"
    assert entry["session"] == "agent:main:main"
    assert isinstance(entry["time"], float)


def test_server_answers_non_streamed_requests_with_a_chat_completion(stub_server: StubModelServer) -> None:
    status, _, raw = _request(
        stub_server, "POST", "/v1/chat/completions", body(operator("plain"), stream=False)
    )
    payload = json.loads(raw)
    assert status == 200
    assert payload["object"] == "chat.completion"
    assert payload["choices"][0]["message"]["content"] == "echo: plain"


def test_server_lists_the_stub_model(stub_server: StubModelServer) -> None:
    status, _, raw = _request(stub_server, "GET", "/v1/models")
    assert status == 200
    assert [m["id"] for m in json.loads(raw)["data"]] == [stub_model.MODEL_ID]
