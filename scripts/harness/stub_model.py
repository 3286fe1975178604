"""A deterministic OpenAI-compatible model server for the real OpenClaw gateway (stdlib only).

Endpoints: ``POST /v1/chat/completions`` (SSE when ``stream`` is true, JSON otherwise) and ``GET /v1/models``.
Rules, first match wins (see ``decide``):

=====================  ==========================================================================
rule                   condition -> reply
=====================  ==========================================================================
``reply-skip``         system prompt (or operator text) has "Agent-to-agent reply step" -> ``REPLY_SKIP``
``announce-skip``      ... "Agent-to-agent announce step" -> ``ANNOUNCE_SKIP``
``skill-review``       operator text starts with "Skill review." -> ``NO_REPLY``
``tool-result``        a ``tool`` message follows the last operator message -> ``tool-result: <content>``
``call``               operator text has ``CALL <tool> <json>`` and the tool is offered -> one tool call
``call-unavailable``   ... but the tool is not offered -> ``call-error: tool <tool> is not offered ...``
``call-bad-json``      ... but the JSON does not parse -> ``call-error: ...``
``echo``               otherwise -> ``echo: <operator text>`` (``SLOW <s>: ...`` first waits <s> seconds)
=====================  ==========================================================================

Deferred OpenClaw tools (``sessions_send``, ``sessions_list``, ...) are reached through the offered
``tool_call`` tool: ``CALL tool_call {"id": "sessions_send", "args": {...}}``.

"Operator text" is the last user message that is not OpenClaw's internal-context block, with the gateway's
``[Sun 2026-11-22 01:26 UTC] `` timestamp prefix and ``\\n\\nRuntime: ...`` suffix removed.

Every completion request is logged as one JSON line (time, rule, operator text, agent/session from the
latest ``Runtime:`` line, which OpenClaw adds to a session's first prompt only; tool, reply) to the ``--log`` file, so tests can count model calls.

Run: ``python stub_model.py --port 0 --port-file P --log L [--dump-dir D]`` (binds 127.0.0.1 only).
The harness passes ``--dump-dir <root>/stub-bodies`` when ``HARNESS_STUB_DUMP=1`` is set.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

MODEL_ID = "stub-echo"
REPLY_STEP = "Agent-to-agent reply step"
ANNOUNCE_STEP = "Agent-to-agent announce step"
INTERNAL_CONTEXT = "<<<BEGIN_OPENCLAW_INTERNAL_CONTEXT>>>"
_TIMESTAMP = re.compile(r"^\s*\[[A-Z][a-z]{2} \d{4}-\d{2}-\d{2}[^\]\n]*\]\s*")
_RUNTIME = re.compile(r"\n\s*\nRuntime: .*\Z", re.DOTALL)
_RUNTIME_FIELDS = re.compile(r"(?:^|\n)Runtime: (?P<fields>[^\n]*)")
_WORKDIR = re.compile(r"Working directory: \S*/ws/(?P<agent>[a-z0-9_][a-z0-9_-]*)\s")
_CALL = re.compile(r"\bCALL\s+(?P<tool>[A-Za-z0-9_.:-]+)\s+")

Json = dict[str, Any]


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: str  # the JSON text, exactly as the model "typed" it


@dataclass(frozen=True)
class Decision:
    rule: str
    text: str | None = None
    tool_call: ToolCall | None = None
    operator_text: str = ""
    runtime: Mapping[str, str] = field(default_factory=dict)


def content_text(content: Any) -> str:
    """The text of an OpenAI message ``content`` (a string or a list of parts)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts: list[str] = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, dict) and isinstance(part.get("text"), str):
                parts.append(part["text"])
        return "".join(parts)
    return json.dumps(content, sort_keys=True)


def strip_operator_text(text: str) -> str:
    """Remove the gateway's ``[Day YYYY-MM-DD HH:MM TZ] `` prefix and ``\\n\\nRuntime: ...`` suffix."""
    text = _TIMESTAMP.sub("", text, count=1)
    text = _RUNTIME.sub("", text)
    return text.strip()


def runtime_fields(text: str) -> dict[str, str]:
    """``Runtime: agent=main | session=agent:main:main | ...`` -> ``{"agent": "main", "session": ...}``."""
    match = _RUNTIME_FIELDS.search(text)
    if not match:
        return {}
    out: dict[str, str] = {}
    for item in match.group("fields").split("|"):
        key, sep, value = item.strip().partition("=")
        if sep and key:
            out[key.strip()] = value.strip()
    return out


def _is_operator_message(message: Mapping[str, Any]) -> bool:
    return message.get("role") == "user" and INTERNAL_CONTEXT not in content_text(message.get("content"))


def offered_tools(body: Mapping[str, Any]) -> list[str]:
    names: list[str] = []
    for tool in body.get("tools") or []:
        if isinstance(tool, dict):
            fn = tool.get("function")
            name = fn.get("name") if isinstance(fn, dict) else tool.get("name")
            if isinstance(name, str):
                names.append(name)
    return names


def parse_call(text: str) -> tuple[str, Any] | None:
    """Find ``CALL <tool> <json>`` in ``text``; returns (tool, parsed json). Raises ValueError on bad JSON."""
    match = _CALL.search(text)
    if not match:
        return None
    try:
        value, _ = json.JSONDecoder().raw_decode(text, match.end())
    except json.JSONDecodeError as exc:
        raise ValueError(f"CALL {match.group('tool')}: arguments are not JSON ({exc.msg})") from exc
    return match.group("tool"), value


def _call_id(messages: Sequence[Any], tool: str) -> str:
    seed = json.dumps([len(messages), tool, messages[-1] if messages else None], sort_keys=True, default=str)
    return "call_" + hashlib.sha256(seed.encode()).hexdigest()[:20]


def decide(body: Mapping[str, Any]) -> Decision:
    """Pure function: the stub's reply for one chat-completions request body."""
    messages: list[Any] = [m for m in (body.get("messages") or []) if isinstance(m, dict)]
    system = "\n".join(
        content_text(m.get("content")) for m in messages if m.get("role") in ("system", "developer")
    )
    last_op = -1
    for index, message in enumerate(messages):
        if _is_operator_message(message):
            last_op = index
    raw_operator = content_text(messages[last_op].get("content")) if last_op >= 0 else ""
    operator = strip_operator_text(raw_operator)
    runtime: dict[str, str] = {}
    for message in reversed(messages):  # OpenClaw adds the Runtime line to a session's first prompt only
        if message.get("role") == "user":
            runtime = runtime_fields(content_text(message.get("content")))
            if runtime:
                break
    if "agent" not in runtime:
        workdir = _WORKDIR.search(system)
        if workdir:
            runtime["agent"] = workdir.group("agent")

    def make(rule: str, text: str | None = None, call: ToolCall | None = None) -> Decision:
        return Decision(rule=rule, text=text, tool_call=call, operator_text=operator, runtime=runtime)

    if REPLY_STEP in system or REPLY_STEP in operator:
        return make("reply-skip", "REPLY_SKIP")
    if ANNOUNCE_STEP in system or ANNOUNCE_STEP in operator:
        return make("announce-skip", "ANNOUNCE_SKIP")
    if operator.startswith("Skill review."):
        return make("skill-review", "NO_REPLY")
    tool_messages = [m for m in messages[last_op + 1 :] if m.get("role") == "tool"]
    if last_op >= 0 and tool_messages:
        return make("tool-result", "tool-result: " + content_text(tool_messages[-1].get("content")))
    try:
        call = parse_call(operator)
    except ValueError as exc:
        return make("call-bad-json", f"call-error: {exc}")
    if call is not None:
        tool, args = call
        offered = offered_tools(body)
        if tool not in offered:
            return make(
                "call-unavailable", f"call-error: tool {tool} is not offered (offered: {', '.join(offered)})"
            )
        arguments = json.dumps(args, separators=(",", ":"))
        return make("call", None, ToolCall(id=_call_id(messages, tool), name=tool, arguments=arguments))
    return make("echo", f"echo: {operator}")


_SLOW = re.compile(r"^SLOW (\d+(?:\.\d+)?):")


def _tokens(text: str) -> int:
    return max(1, len(text) // 4)


def _pieces(text: str, size: int = 12) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def sse_events(
    decision: Decision, body: Mapping[str, Any], completion_id: str, created: int
) -> Iterator[bytes]:
    """The ``data: ...\\n\\n`` events of one streamed completion, ending with ``data: [DONE]``."""
    model = str(body.get("model") or MODEL_ID)

    def chunk(delta: Json, finish: str | None = None) -> bytes:
        payload = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"

    completion_text: str
    if decision.tool_call is not None:
        call = decision.tool_call
        completion_text = call.arguments
        yield chunk(
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "index": 0,
                        "id": call.id,
                        "type": "function",
                        "function": {"name": call.name, "arguments": ""},
                    }
                ],
            }
        )
        for piece in _pieces(call.arguments, 24):
            yield chunk({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]})
        yield chunk({}, "tool_calls")
    else:
        completion_text = decision.text or ""
        yield chunk({"role": "assistant", "content": ""})
        for piece in _pieces(completion_text):
            yield chunk({"content": piece})
        yield chunk({}, "stop")
    options = body.get("stream_options")
    if isinstance(options, dict) and options.get("include_usage"):
        prompt = _tokens(json.dumps(body.get("messages") or [], default=str))
        completion = _tokens(completion_text)
        usage = {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }
        payload = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [],
            "usage": usage,
        }
        yield b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"
    yield b"data: [DONE]\n\n"


def completion_json(decision: Decision, body: Mapping[str, Any], completion_id: str, created: int) -> Json:
    """The non-streamed ``chat.completion`` object for ``decision``."""
    message: Json = {"role": "assistant", "content": decision.text}
    finish = "stop"
    out_text = decision.text or ""
    if decision.tool_call is not None:
        call = decision.tool_call
        message = {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.arguments},
                }
            ],
        }
        finish = "tool_calls"
        out_text = call.arguments
    prompt = _tokens(json.dumps(body.get("messages") or [], default=str))
    completion = _tokens(out_text)
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": str(body.get("model") or MODEL_ID),
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        },
    }


def parse_sse(raw: bytes) -> list[Json | str]:
    """Split an SSE body into its decoded ``data:`` payloads (``"[DONE]"`` stays a string). For tests."""
    out: list[Json | str] = []
    for event in raw.decode().split("\n\n"):
        for line in event.splitlines():
            if line.startswith("data: "):
                data = line[len("data: ") :]
                out.append(data if data == "[DONE]" else json.loads(data))
    return out


class StubModelServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port: int, log_path: Path | None, dump_dir: Path | None = None) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.log_path = log_path
        self.dump_dir = dump_dir
        self._log_lock = threading.Lock()
        self._counter = 0

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def next_id(self) -> tuple[int, str]:
        with self._log_lock:
            self._counter += 1
            return self._counter, f"chatcmpl-stub-{self._counter}"

    def record(self, entry: Json) -> None:
        if self.log_path is None:
            return
        line = json.dumps(entry, sort_keys=True, default=str) + "\n"
        with self._log_lock, self.log_path.open("a", encoding="utf-8") as handle:
            handle.write(line)
            handle.flush()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: StubModelServer

    def log_message(self, format: str, *args: Any) -> None:  # quiet: the JSON log is the record
        return

    def _send_json(self, status: int, payload: Json) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        if path in ("/v1/models", "/models"):
            model = {"id": MODEL_ID, "object": "model", "created": 0, "owned_by": "stub"}
            self._send_json(200, {"object": "list", "data": [model]})
        elif path in ("", "/health", "/v1"):
            self._send_json(200, {"ok": True})
        else:
            self._send_json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        path = self.path.split("?", 1)[0].rstrip("/")
        if path not in ("/v1/chat/completions", "/chat/completions"):
            self._send_json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
            return
        try:
            body = json.loads(raw or b"{}")
            if not isinstance(body, dict):
                raise ValueError("body is not an object")
        except ValueError as exc:
            self._send_json(400, {"error": {"message": f"bad JSON: {exc}", "type": "invalid_request_error"}})
            return
        decision = decide(body)
        slow = _SLOW.match(decision.operator_text)
        if slow and decision.rule == "echo":
            # `SLOW <s>: text` holds the reply back, so a test can act while a run is in flight.
            time.sleep(min(float(slow.group(1)), 60.0))
        seq, completion_id = self.server.next_id()
        if self.server.dump_dir is not None:
            self.server.dump_dir.mkdir(parents=True, exist_ok=True)
            (self.server.dump_dir / f"{seq:05d}.json").write_bytes(raw)
        created = int(time.time())
        self.server.record(
            {
                "time": time.time(),
                "seq": seq,
                "rule": decision.rule,
                "operator_text": decision.operator_text,
                "agent": decision.runtime.get("agent"),
                "session": decision.runtime.get("session"),
                "tool": decision.tool_call.name if decision.tool_call else None,
                "arguments": decision.tool_call.arguments if decision.tool_call else None,
                "reply": decision.text,
                "stream": bool(body.get("stream")),
                "messages": len(body.get("messages") or []),
            }
        )
        if not body.get("stream"):
            self._send_json(200, completion_json(decision, body, completion_id, created))
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for event in sse_events(decision, body, completion_id, created):
            self.wfile.write(f"{len(event):X}\r\n".encode() + event + b"\r\n")
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


def read_log(path: Path) -> list[Json]:
    """All entries of a stub request log (empty if it does not exist yet)."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Deterministic OpenAI-compatible stub model (127.0.0.1 only)."
    )
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0 = pick a free one)")
    parser.add_argument("--port-file", type=Path, help="write the bound port here once listening")
    parser.add_argument("--log", type=Path, help="append one JSON line per completion request")
    parser.add_argument("--dump-dir", type=Path, help="also save every request body as <seq>.json here")
    args = parser.parse_args(argv)
    server = StubModelServer(args.port, args.log, args.dump_dir)

    def on_term(signum: int, frame: object) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    if args.port_file:
        tmp = args.port_file.with_suffix(".tmp")
        tmp.write_text(str(server.port))
        os.replace(tmp, args.port_file)
    print(f"stub model listening on http://127.0.0.1:{server.port}/v1", file=sys.stderr, flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
