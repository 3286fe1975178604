"""The canonical-key cache is keyed on normalised input: padding a key cannot make it hold more."""

from __future__ import annotations

import gc
import tracemalloc

import pytest

from sidecar.policy import MalformedKey, canonical_key


def canon(raw: str) -> str:
    return canonical_key(raw, requester_key="agent:dev-2:main", default_agent="boss").key


def test_forty_differently_padded_copies_of_one_key_leave_nothing_padded_in_memory() -> None:
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for n in range(40):
            assert canon(" " * (100_000 + n) + "agent:dev-1:main" + "\n" * n) == "agent:dev-1:main"
        gc.collect()
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert kept < 400_000, f"{kept} bytes kept after 40 padded calls (4 MB of padding)"


def test_a_key_longer_than_512_characters_is_malformed_and_named_only_by_its_start() -> None:
    with pytest.raises(MalformedKey, match="longer than 512") as caught:
        canon("agent:dev-1:" + "x" * 2_000_000)
    assert len(str(caught.value)) < 200
