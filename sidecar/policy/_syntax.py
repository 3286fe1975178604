"""Where a JSON5 syntax error really is, and what usually fixes it.

The parser reports the position where it gave up, which for the common mistakes is not where the
mistake is: an extra `}` closes the enclosing object early and the parser only objects lines later,
at the first `,` or key that no longer fits. Policy files are hand-written, so the mistakes
visible on one line are checked first, anywhere on the line the parser stopped at: an unquoted key with
a dash, an unquoted string in a list, two entries with no comma between them. Only then, and only when
the brackets are actually unbalanced, is a bracket blamed, checked against the indentation: an extra
closer where it closes earlier than the indentation says, a missing one where a line at its opener's
indentation shows the block has ended.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

__all__ = ["KeyAt", "SyntaxDiagnosis", "diagnose", "key_lines"]

_OPENERS = {"{": "}", "[": "]"}
_CLOSERS = {"}": "{", "]": "["}


@dataclass(frozen=True, slots=True)
class SyntaxDiagnosis:
    line: int
    problem: str
    hint: str


@dataclass(frozen=True, slots=True)
class KeyAt:
    """One key as written: its path from the top (list items by index) and its 1-based line."""

    path: tuple[str, ...]
    line: int


@dataclass(frozen=True, slots=True)
class _Bracket:
    char: str
    line: int
    indent: int


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


def _code_chars(text: str) -> list[tuple[int, int, str]]:
    """(line, column, char) of every character outside strings and comments, 1-based lines."""
    out: list[tuple[int, int, str]] = []
    i, line, col, n = 0, 1, 0, len(text)
    while i < n:
        c = text[i]
        if c == "\n":
            line, col, i = line + 1, 0, i + 1
            continue
        if c in "\"'":
            quote, i, col = c, i + 1, col + 1
            while i < n and text[i] != quote and text[i] != "\n":
                step = 2 if text[i] == "\\" else 1
                i, col = i + step, col + step
            i, col = i + 1, col + 1
            continue
        if text.startswith("//", i):
            while i < n and text[i] != "\n":
                i += 1
            continue
        if text.startswith("/*", i):
            end = text.find("*/", i + 2)
            end = n if end < 0 else end + 2
            line += text.count("\n", i, end)
            i, col = end, 0
            continue
        out.append((line, col, c))
        i, col = i + 1, col + 1
    return out


def _masked_lines(text: str) -> list[str]:
    """The text's lines with each string's contents replaced by `x` (quotes kept) and comments by
    spaces, so a pattern over a line sees only its code; columns stay where they were."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in "\"'":
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" and j + 1 < n and text[j + 1] != "\n" else 1
            closed = j < n and text[j] == c
            out.append(c + "x" * (j - i - 1) + (c if closed else ""))
            i = j + 1 if closed else j
        elif text.startswith("//", i):
            end = text.find("\n", i)
            end = n if end < 0 else end
            out.append(" " * (end - i))
            i = end
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            end = n if end < 0 else end + 2
            out.append(re.sub(r"[^\n]", " ", text[i:end]))
            i = end
        else:
            out.append(c)
            i += 1
    return "".join(out).split("\n")


_DASHED_KEY = re.compile(r"(?:^|(?<=[{,\s]))([A-Za-z_$][\w$]*(?:[-.@/*][\w$*-]*)+)\s*:")
_LIST = re.compile(r"\[([^\[\]{}]*)\]?")
_BARE_VALUE = re.compile(r":\s*([A-Za-z_*][\w$*.@/-]*)\s*(?=[,}\]]|$)")
_LITERALS = {"true", "false", "null", "Infinity", "NaN"}
# The end of a value (a closed object or list, a string, a number or literal), then only blanks, then
# the start of the next key: a comma is missing between them.
_NO_COMMA = re.compile(
    r"""([}\]]|(?<=x)["']|["']{2}|\b(?:true|false|null)\b|(?<![\w$-])\d[\d.eE+-]*)(\s+)"""
    r"""(?=(?:["'][^"']*["']|[A-Za-z_$][\w$-]*)\s*:)"""
)


def _line_hint(line: int, code: str, raw: str) -> SyntaxDiagnosis | None:
    """A mistake visible on this one line: an unquoted key with a dash (or dot, @, /) anywhere on it,
    an unquoted string in a list or as a value, or two entries with no comma between them."""
    for match in _DASHED_KEY.finditer(code):
        key = raw[match.start(1) : match.end(1)]
        return SyntaxDiagnosis(
            line,
            f"the key {key} needs quotes: JSON5 bare keys are letters, digits, _ and $ only",
            f'write "{key}": instead of {key}:',
        )
    for match in _LIST.finditer(code):
        offset = match.start(1)
        for item in match.group(1).split(","):
            word = item.strip()
            at = offset + len(item) - len(item.lstrip())
            offset += len(item) + 1
            if word and word[0] not in "\"'-+.0123456789" and word not in _LITERALS:
                shown = raw[at : at + len(word)]
                return SyntaxDiagnosis(
                    line,
                    f"{shown} in a list needs quotes: every agent id or pattern is a string",
                    f'write "{shown}" instead of {shown}',
                )
    for match in _BARE_VALUE.finditer(code):
        word = match.group(1)
        if word not in _LITERALS:
            shown = raw[match.start(1) : match.end(1)]
            return SyntaxDiagnosis(
                line, f"the value {shown} needs quotes: it is a string", f'write "{shown}" instead of {shown}'
            )
    found = _NO_COMMA.search(code)
    if found is not None:
        before = raw[max(0, found.start(1) - 20) : found.end(1)].strip()
        after = raw[found.end(2) :].strip()[:20]
        return SyntaxDiagnosis(
            line,
            f"a comma is missing between {before!r} and {after!r} on this line",
            f"add a comma after {raw[found.start(1) : found.end(1)]!r} at column {found.end(1) + 1}",
        )
    return None


def _counts(text: str) -> dict[str, int]:
    counts = dict.fromkeys("{}[]", 0)
    for _, _, char in _code_chars(text):
        if char in counts:
            counts[char] += 1
    return counts


def _bracket_culprit(text: str) -> SyntaxDiagnosis | None:
    """Blame a bracket only when the brackets are unbalanced (or the top-level object ended early):
    an extra closer where it closes earlier than the indentation says, a missing one where a line at
    the opener's indentation shows the opener should have been closed."""
    counts = _counts(text)
    extra = {o: counts[c] - counts[o] for o, c in _OPENERS.items()}
    unbalanced = any(extra.values())
    lines = text.splitlines()
    stack: list[_Bracket] = []
    closed_top: int | None = None
    seen_lines: set[int] = set()
    for line, col, char in _code_chars(text):
        here = lines[line - 1] if line <= len(lines) else ""
        if closed_top is not None and not char.isspace():
            return SyntaxDiagnosis(
                line,
                f"text after the end of the policy: the object that starts at line 1 ended at line {closed_top}",
                "remove the extra closing brace or the trailing text (one top-level { ... } per file)"
                if char in _CLOSERS
                else "remove the trailing text, or move it inside the top-level { ... }",
            )
        first_on_line = line not in seen_lines and not char.isspace()
        if first_on_line:
            seen_lines.add(line)
            missing = _missing_before(stack, line, here, char, extra)
            if missing is not None:
                return missing
        if char in _OPENERS:
            stack.append(_Bracket(char, line, _indent(lines[line - 1])))
        elif char in _CLOSERS:
            if not stack:
                return SyntaxDiagnosis(line, f"a {char!r} with nothing open", f"remove this {char!r}")
            opener = stack.pop()
            if _OPENERS[opener.char] != char:
                return SyntaxDiagnosis(
                    line,
                    f"{char!r} closes the {opener.char!r} opened at line {opener.line}",
                    f"close it with {_OPENERS[opener.char]!r} ({_balance(counts)})",
                )
            at_start = here[:col].strip() == ""
            if extra[opener.char] < 0 and at_start and _indent(here) < opener.indent:
                return SyntaxDiagnosis(
                    opener.line,
                    f"the {opener.char!r} opened here is never closed: the {char!r} on line {line} lines up "
                    f"with an outer block ({_balance(counts)})",
                    f"add the missing {char!r} before line {line}",
                )
            if (
                unbalanced
                and extra[opener.char] > 0
                and opener.line != line
                and not (at_start and _indent(here) == opener.indent)
            ):
                return SyntaxDiagnosis(
                    line,
                    f"this {char!r} closes the {opener.char!r} opened at line {opener.line}, earlier than "
                    f"the indentation says ({_balance(counts)})",
                    f"remove the extra {char!r} on this line",
                )
            if not stack:
                closed_top = line
    if stack:
        opener = stack[-1]
        return SyntaxDiagnosis(
            opener.line,
            f"the {opener.char!r} opened here is never closed ({_balance(counts)})",
            f"add the missing {_OPENERS[opener.char]!r} where this block ends",
        )
    return None


def _balance(counts: dict[str, int]) -> str:
    parts = []
    for opener, closer in _OPENERS.items():
        more = counts[closer] - counts[opener]
        if more:
            off = f"{more} {closer!r} too many" if more > 0 else f"{-more} {closer!r} missing"
            parts.append(f"{counts[opener]} {opener!r} but {counts[closer]} {closer!r}: {off}")
    return "; ".join(parts) or "the counts match"


def _missing_before(
    stack: list[_Bracket], line: int, here: str, char: str, extra: dict[str, int]
) -> SyntaxDiagnosis | None:
    """With a closer missing: the innermost open bracket whose block this line, at its opener's
    indentation or left of it and not closing it, has already left."""
    if not stack or char in _CLOSERS:
        return None
    opener = stack[-1]
    if extra[opener.char] >= 0 or opener.line == line or _indent(here) > opener.indent:
        return None
    closer = _OPENERS[opener.char]
    return SyntaxDiagnosis(
        line,
        f"the {opener.char!r} opened at line {opener.line} is still open here: a {closer!r} is missing",
        f"add the missing {closer!r} before this line (at the end of the block that opened at line "
        f"{opener.line})",
    )


def diagnose(text: str, line: int | None, message: str) -> SyntaxDiagnosis:
    """Turn the parser's position and message into the likeliest causing line and its fix."""
    lines = text.splitlines()
    masked = _masked_lines(text)
    if line is not None and 0 < line <= len(lines):
        local = _line_hint(line, masked[line - 1], lines[line - 1])
        if local is not None:
            return local
    culprit = _bracket_culprit(text)
    if culprit is not None:
        return culprit
    if line is not None and line > 1 and message.startswith("Unexpected") and "end of input" not in message:
        before = next((n for n in range(line - 1, 0, -1) if masked[n - 1].strip()), None)
        if before is not None:
            prev = masked[before - 1].rstrip()
            if prev and prev[-1] not in ",{[:":
                shown = lines[before - 1][: len(prev)].strip()
                return SyntaxDiagnosis(
                    line, message, f"add a comma at the end of line {before} ({shown[-30:]})"
                )
    return SyntaxDiagnosis(line or 1, message, "")


_TOKEN = re.compile(
    r"""\s+|//[^\n]*|/\*.*?\*/|"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|[{}\[\]:,]|[^\s{}\[\]:,"'/]+|.""",
    re.DOTALL,
)


def _key_text(token: str) -> str:
    """A key token as the parser reads it: quotes removed and escapes decoded (best effort)."""
    if token[:1] not in "\"'":
        return token
    quoted = token
    if token[0] == "'":
        quoted = '"' + token[1:-1].replace("\\'", "'").replace('"', '\\"') + '"'
    try:
        return str(json.loads(quoted))
    except ValueError:
        return token[1:-1]


def key_lines(text: str) -> list[KeyAt]:
    """Every key of a JSON5 text in order, with its path and line, duplicates included (a parser keeps
    only one of them, so the lines come from the text). Tolerant: text that is not JSON5 gives what it
    can."""
    found: list[KeyAt] = []
    # Each open bracket: its path, and for a list the index of the item being read.
    stack: list[tuple[str, tuple[str, ...], list[int]]] = []
    pending: tuple[str, int] | None = None
    line = 1
    for match in _TOKEN.finditer(text):
        token = match.group(0)
        here = line
        line += token.count("\n")
        if token.isspace() or token.startswith(("//", "/*")):
            continue
        top = stack[-1] if stack else None
        if token == ":" and pending is not None and top is not None and top[0] == "{":
            found.append(KeyAt((*top[1], pending[0]), pending[1]))
            continue
        if token in "{[":
            if top is None:
                path: tuple[str, ...] = ()
            elif top[0] == "[":
                path = (*top[1], str(top[2][0]))
            else:
                path = found[-1].path if found and found[-1].path[:-1] == top[1] else top[1]
            stack.append((token, path, [0]))
        elif token in "}]":
            if stack:
                stack.pop()
        elif token == "," and top is not None and top[0] == "[":
            top[2][0] += 1
        pending = (
            (_key_text(token), here) if top is not None and top[0] == "{" and token not in "{}[]:," else None
        )
    return found
