"""Another session's transcript as data (`_history.py`): stripped, redacted, truncated, budgeted, labelled."""

from __future__ import annotations

import json

from sidecar.tools._history import (
    _SECRET_PATTERNS,
    BYTE_BUDGET,
    TEXT_LIMIT,
    TOO_LARGE,
    latest_assistant_text,
    redact,
    sanitise,
)

SOURCE = "agent:dev-1:main"


def test_a_key_in_a_message_is_redacted_but_its_label_kept() -> None:
    text, changed = redact("use api_key=sk-live-0123456789abcdefXYZ now")
    assert changed and "sk-live" not in text and "api_key=" in text and "[REDACTED]" in text
    assert redact("nothing secret here") == ("nothing secret here", False)


def _redact_every_pattern(text: str) -> tuple[str, bool]:
    """redact() without its literal prefilter: every pattern scans every text."""
    changed = False
    for pattern, _literals, _folded in _SECRET_PATTERNS:
        repl = (lambda m: m.group(1) + "[REDACTED]") if pattern.groups >= 2 else "[REDACTED]"
        text, n = pattern.subn(repl, text)
        changed = changed or n > 0
    return text, changed


def test_the_literal_prefilter_redacts_exactly_what_every_pattern_would() -> None:
    texts = [
        "nothing secret here",
        "use api_key=sk-live-0123456789abcdefXYZ now",
        "Authorization: BEARER abcdefghijklmnop0123",
        "pa\u017fsword: hunter2hunter2",  # long s: IGNORECASE matches it for s
        "API-\u212aEY=0123456789abcdef",  # Kelvin sign: IGNORECASE matches it for k
        "Token = 'abcdefgh12345678' and ghp_0123456789abcdefghijABCD and xoxb-0123456789-abc",
        "AKIA0123456789ABCDEF eyJhbGciOiJI.eyJzdWIiOiIx.c2lnbmF0dXJl",
        "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY----- secret:s3cr3tvalue!",
    ]
    for text in texts:
        assert redact(text) == _redact_every_pattern(text), text
    assert redact(texts[3])[1] and redact(texts[4])[1]


def test_bytes_is_the_size_of_the_messages_returned() -> None:
    for raw in (
        [{"role": "user", "content": "h\u00e9 \u2603"}, {"role": "assistant", "content": "ok"}],
        [{"role": "user", "content": "x" * 3000} for _ in range(40)],
        [],
    ):
        out = sanitise(raw, source_session=SOURCE)
        assert out.bytes == len(json.dumps(out.messages, ensure_ascii=False).encode("utf-8"))


def test_tool_messages_and_hidden_reasoning_never_reach_another_agent() -> None:
    raw = [
        {"role": "user", "content": "hi"},
        {"role": "toolResult", "content": "ls output"},
        {
            "role": "assistant",
            "content": [{"type": "thinking", "thinking": "plan"}, {"type": "text", "text": "ok"}],
        },
    ]
    out = sanitise(raw, source_session=SOURCE)
    assert [m["role"] for m in out.messages] == ["user", "assistant"]
    assert out.messages[1]["data"]["content"] == [{"type": "text", "text": "ok"}]
    assert [m["role"] for m in sanitise(raw, include_tools=True, source_session=SOURCE).messages] == [
        "user",
        "toolResult",
        "assistant",
    ]


def test_every_message_is_wrapped_as_untrusted_data_from_its_session() -> None:
    provenance = {"kind": "inter_session", "sourceSessionKey": "agent:lead:main"}
    [message] = sanitise(
        [{"role": "user", "content": "x", "provenance": provenance}], source_session=SOURCE
    ).messages
    assert message["type"] == "inter_session_data" and message["trusted"] is False
    assert message["sourceSession"] == SOURCE and message["interSession"] is True


def test_long_texts_are_cut_and_old_messages_dropped_to_fit_the_budget() -> None:
    out = sanitise([{"role": "assistant", "content": "y" * (TEXT_LIMIT + 10)}], source_session=SOURCE)
    assert out.content_truncated and len(out.messages[0]["data"]["content"]) < TEXT_LIMIT + 50
    many = [{"role": "user", "content": "z" * 3000} for _ in range(BYTE_BUDGET // 3000 + 10)]
    budgeted = sanitise(many, source_session=SOURCE)
    assert budgeted.truncated and budgeted.dropped_messages > 0 and budgeted.bytes <= BYTE_BUDGET


def test_a_single_message_over_the_budget_is_replaced_by_a_marker() -> None:
    huge = {"role": "assistant", "content": [{"type": "text", "text": "a"} for _ in range(BYTE_BUDGET // 20)]}
    out = sanitise([huge], source_session=SOURCE)
    assert [m["data"]["content"] for m in out.messages] == [TOO_LARGE]


def test_the_reply_is_the_newest_assistant_text() -> None:
    messages = [
        {"role": "assistant", "content": "old"},
        {"role": "user", "content": "question"},
        {
            "role": "assistant",
            "content": [{"type": "text", "text": "new "}, {"type": "text", "text": "answer"}],
        },
        {"role": "user", "content": "follow-up"},
    ]
    assert latest_assistant_text(messages) == "new answer"
    assert latest_assistant_text([{"role": "user", "content": "only a question"}]) is None
