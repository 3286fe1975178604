"""Collects every command a reader is shown: README.md, docs/*.md, manifests/README.md and every
`--help` of the `sidecar` command line, as runnable argument lists.

A shown line is a shell line: `$ ` prompts and `# comments` go, backslash continuations join, leading
`NAME=value` words become the environment, and what follows a pipe or an output redirection is the
reader's own business (the command before it is what must work).
"""

from __future__ import annotations

import argparse
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from sidecar.cli import build_parser

REPO = Path(__file__).resolve().parents[2]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")), REPO / "manifests" / "README.md"]
FENCE = re.compile(r"```(\w*)\n(.*?)```", re.S)
_CUT = {"|", ">", ">>", "2>", "&&", ";", "||"}
_ENV = re.compile(r"^[A-Z_][A-Z0-9_]*=")
PLACEHOLDERS = {"URL", "ID", "FILE", "NAME", "PATH", "KEY", "TOOL", "TARGET", "N", "CLIENT", "CASES"}


@dataclass(frozen=True)
class Example:
    where: str
    line: str
    argv: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict, hash=False, compare=False)

    @property
    def program(self) -> str:
        return self.argv[0] if self.argv else ""

    @property
    def command(self) -> str:
        return self.argv[1] if len(self.argv) > 1 else ""

    @property
    def placeholder(self) -> str | None:
        """Why this line is a template the reader fills in, not a command to paste (or None)."""
        for word in self.argv[1:]:
            if "..." in word or re.search(r"<[^>]+>", word) or word.startswith("/path/to/"):
                return f"placeholder {word}"
            if word in PLACEHOLDERS:
                return f"placeholder {word}"
            if "://" in word and not re.match(r"wss?://(127\.0\.0\.1|localhost|\[::1\])[:/]", word):
                return f"a remote host ({word})"
        for value in self.env.values():
            if "..." in value:
                return "a secret to fill in"
            if value.startswith("/") and not Path(value).exists():
                return f"a path on the reader's own machine ({value})"
        return None


def _lines(text: str) -> list[str]:
    joined: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.rstrip()
        if line.startswith("$ "):
            line = line[2:]
        elif pending == "" and not re.match(r"^\s*([A-Z_]+=\S+\s+)*(sidecar|scripts/)\S*", line):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        joined.append((pending + line).strip())
        pending = ""
    return joined


def parse_line(where: str, line: str) -> Example | None:
    try:
        words = shlex.split(line, comments=True)
    except ValueError:
        return None
    env: dict[str, str] = {}
    while words and _ENV.match(words[0]):
        name, _, value = words.pop(0).partition("=")
        env[name] = value
    for index, word in enumerate(words):
        if word in _CUT:
            words = words[:index]
            break
    if not words or not (words[0] == "sidecar" or words[0].startswith("scripts/")):
        return None
    return Example(where, line, tuple(words), env)


def help_texts() -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []

    def walk(parser: argparse.ArgumentParser, name: str) -> None:
        out.append((f"{name} --help", parser.format_help()))
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub, child in action.choices.items():
                    walk(child, f"{name} {sub}")

    walk(build_parser(), "sidecar")
    return out


def collect() -> list[Example]:
    """Every shown command, in reading order, each once."""
    found: list[Example] = []
    seen: set[str] = set()
    sources = [
        (p.relative_to(REPO).as_posix(), body)
        for p in DOCS
        for _, body in FENCE.findall(p.read_text("utf-8"))
    ]
    sources += help_texts()
    for where, text in sources:
        for line in _lines(text):
            example = parse_line(where, line)
            if example is not None and example.line not in seen:
                seen.add(example.line)
                found.append(example)
    return found
