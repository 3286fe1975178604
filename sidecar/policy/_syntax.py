"""Where a JSON5 syntax error really is, and what usually fixes it.

The parser reports the position where it gave up, which for the common mistakes is not where the
mistake is: an extra `}` closes the enclosing object early and the parser only objects lines later,
at the first `,` or key that no longer fits. Policy files are hand-written and indented, so the
brackets can be checked against the indentation: the first closer that does not sit at its opener's
indentation (or the opener that is never closed) is the likelier culprit.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

__all__ = ["KeyAt", "SyntaxDiagnosis", "diagnose", "key_lines"]

_BARE_KEY_WITH_PUNCT = re.compile(r"""^\s*([A-Za-z_$][\w$]*(?:[-.@/][\w$-]*)+)\s*:""")
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


def _bracket_culprit(text: str) -> SyntaxDiagnosis | None:
    lines = text.splitlines()
    stack: list[_Bracket] = []
    closed_top: int | None = None
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
                    f"close it with {_OPENERS[opener.char]!r}, or look for a missing or extra bracket",
                )
            first_on_line = here[:col].strip() == ""
            if opener.line != line and not (first_on_line and _indent(here) == opener.indent):
                return SyntaxDiagnosis(
                    line,
                    f"this {char!r} closes the {opener.char!r} opened at line {opener.line}, earlier than "
                    "the indentation says",
                    f"remove the extra {char!r} on this line (or add the missing opening bracket)",
                )
            if not stack:
                closed_top = line
    if stack:
        opener = stack[-1]
        return SyntaxDiagnosis(
            opener.line,
            f"the {opener.char!r} opened here is never closed",
            f"add the matching {_OPENERS[opener.char]!r}",
        )
    return None


def diagnose(text: str, line: int | None, message: str) -> SyntaxDiagnosis:
    """Turn the parser's position and message into the likeliest causing line and its fix."""
    lines = text.splitlines()
    at = lines[line - 1] if line is not None and 0 < line <= len(lines) else ""
    bare = _BARE_KEY_WITH_PUNCT.match(at)
    if line is not None and bare:
        key = bare.group(1)
        return SyntaxDiagnosis(
            line,
            f"the key {key} needs quotes: JSON5 bare keys are letters, digits, _ and $ only",
            f'write "{key}": instead of {key}:',
        )
    culprit = _bracket_culprit(text)
    if culprit is not None:
        return culprit
    if line is not None and line > 1 and message.startswith("Unexpected") and "end of input" not in message:
        before = next((n for n in range(line - 1, 0, -1) if lines[n - 1].split("//")[0].strip()), None)
        if before is not None:
            prev = lines[before - 1].split("//")[0].rstrip()
            if prev and prev[-1] not in ",{[:":
                return SyntaxDiagnosis(
                    line, message, f"add a comma at the end of line {before} ({prev.strip()[-30:]})"
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
