from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keyring
import pytest

from .memory_keyring import MemoryKeyring
from .secret_scan import leaks, secrets_in

FRAMES = Path(__file__).parent / "frames"
CAPTURE_LINE = re.compile(r"^\[(?P<tag>[^\]]+)\] (?P<dir><<|>>)(?:\(event\))? (?P<json>.*)$")
CAPTURE_TRUNCATED_AT = 6000

captured_outputs: list[str] = []
"""Everything the gateway tests printed or logged, for the secret-leak scan when they are done."""


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def memory_keyring() -> Iterator[MemoryKeyring]:
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        keyring.set_keyring(previous)


@dataclass(frozen=True)
class CapturedFrame:
    tag: str
    direction: str  # "<<" from the gateway, ">>" to it
    frame: dict[str, Any]
    raw: str


def captured(name: str) -> list[CapturedFrame]:
    """Frames from a capture file. Lines the capture tool cut short (near 6000 characters) are skipped."""
    frames: list[CapturedFrame] = []
    for line in (FRAMES / name).read_text().splitlines():
        match = CAPTURE_LINE.match(line)
        if match is None:
            continue
        try:
            frame = json.loads(match["json"])
        except json.JSONDecodeError as exc:
            # The capture tool cut long lines near 6000 characters; such a line fails at its very end.
            cut = len(match["json"]) >= CAPTURE_TRUNCATED_AT - 100 and exc.pos >= len(match["json"]) - 100
            assert cut, f"unparsable capture line in {name}: {line[:80]}"
            continue
        frames.append(CapturedFrame(match["tag"], match["dir"], frame, match["json"]))
    return frames


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    for _, content in report.sections:
        captured_outputs.append(content)
    if report.longrepr is not None:
        captured_outputs.append(str(report.longrepr))


@pytest.fixture(scope="package", autouse=True)
def no_secret_leaks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """When this package's tests are done, in whatever order they ran: no device token or private key
    they stored shows up in their output, logs, failure reports or files (see secret_scan.py)."""
    yield
    secrets = secrets_in(MemoryKeyring.seen)
    if not secrets:
        return  # the tests that ran stored no secret: nothing to look for
    found = leaks(secrets, captured_outputs, tmp_path_factory.getbasetemp())
    if found:
        pytest.fail("secrets leaked:\n" + "\n".join(found), pytrace=False)
