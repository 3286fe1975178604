"""The README and docs stay true: commands exist, snippets parse, the quick start is the two commands CI runs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from harness.node import OPENCLAW_VERSION, OTHER_VERSIONS

from sidecar.cli import build_parser
from sidecar.policy import parse_policy

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")), REPO / "manifests" / "README.md"]
FENCE = re.compile(r"```(\w*)\n(.*?)```", re.S)


def blocks(lang: str) -> list[tuple[str, str]]:
    return [
        (p.name, body)
        for p in DOCS
        for kind, body in FENCE.findall(p.read_text(encoding="utf-8"))
        if kind == lang
    ]


def subcommands() -> set[str]:
    parser = build_parser()
    action = next(a for a in parser._actions if a.dest == "command")
    return set(action.choices)  # type: ignore[arg-type]


def test_the_quick_start_is_exactly_the_two_commands_and_ci_runs_the_test_one() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    quick = readme.split("## Quick start", 1)[1].split("##", 1)[0]
    commands = [line.split("#")[0].strip() for body in FENCE.findall(quick) for line in body[1].splitlines()]
    assert [c for c in commands if c] == ["scripts/demo", "scripts/test"]
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert "scripts/test" in ci
    for script in ("demo", "test"):
        assert (REPO / "scripts" / script).stat().st_mode & 0o111


def test_ci_tests_every_older_release_by_default_and_the_readme_says_how_to_skip_them() -> None:
    script = (REPO / "scripts" / "test").read_text(encoding="utf-8")
    default = re.search(r'OLDER_OPENCLAW="\$\{OLDER_OPENCLAW-([^}]*)\}"', script)
    assert default is not None and tuple(default.group(1).split()) == OTHER_VERSIONS
    assert OPENCLAW_VERSION not in default.group(1)
    # Installed, then tested with the every_version set, each in the loop over the same variable.
    assert 'for version in $OLDER_OPENCLAW; do scripts/gateway install --openclaw "$version"' in script
    assert '--openclaw "$version" -m every_version' in script
    supported = (REPO / "README.md").read_text(encoding="utf-8").split("## Supported OpenClaw releases")[1]
    assert 'OLDER_OPENCLAW="" scripts/test' in supported.split("##", 1)[0]


def test_every_sidecar_command_in_the_docs_exists() -> None:
    known = subcommands()
    code: list[str] = []
    for path in DOCS:
        text = path.read_text(encoding="utf-8")
        code += [body for _, body in FENCE.findall(text)]
        code += re.findall(r"`([^`\n]+)`", FENCE.sub("", text))
    used = {m for snippet in code for m in re.findall(r"(?:^|[\s$;(])sidecar ([a-z]+)\b", snippet, re.M)}
    missing = sorted(u for u in used if u not in known)
    assert "serve" in used and "explain" in used
    assert missing == [], f"documented but not a command: {missing} (commands: {sorted(known)})"


@pytest.mark.parametrize(
    ("doc", "body"), blocks("json5"), ids=lambda v: v if isinstance(v, str) and v.endswith(".md") else ""
)
def test_every_json5_policy_snippet_parses_through_the_engine(doc: str, body: str) -> None:
    text = body if body.lstrip().startswith("{") else "{" + body + "}"
    parse_policy(text, doc)


@pytest.mark.parametrize(
    ("doc", "body"), blocks("json"), ids=lambda v: v if isinstance(v, str) and v.endswith(".md") else ""
)
def test_every_json_snippet_is_valid_json(doc: str, body: str) -> None:
    json.loads(body)
