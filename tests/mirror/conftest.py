from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sidecar.mirror import Mirror


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def fresh_db() -> Iterator[Mirror]:
    """An empty in-memory mirror, closed after the test."""
    mirror = Mirror.memory()
    try:
        yield mirror
    finally:
        mirror.close()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """Where a file-backed mirror goes: a directory that does not exist yet."""
    return tmp_path / "state" / "lead" / "mirror.db"


@pytest.fixture
def file_db(db_path: Path) -> Iterator[Mirror]:
    mirror = Mirror.open(db_path, busy_timeout=0.2)
    try:
        yield mirror
    finally:
        mirror.close()
