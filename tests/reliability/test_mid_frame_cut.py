"""The proxy's frame tracker cuts inside a frame's payload, whatever the TCP chunking and length encoding."""

from __future__ import annotations

import random

import pytest

from tests.reliability.proxy import FrameTracker

HANDSHAKE = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"


def frame(payload: bytes) -> bytes:
    n = len(payload)
    if n < 126:
        head = bytes([0x81, n])
    elif n < 65536:
        head = bytes([0x81, 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([0x81, 127]) + n.to_bytes(8, "big")
    return head + payload


@pytest.mark.parametrize("big", [100, 125, 126, 5000, 70_000])
@pytest.mark.parametrize("chunking", [1, 7, 64, 100_000])
def test_the_cut_lands_halfway_into_the_first_frame_at_least_min_payload_long(
    big: int, chunking: int
) -> None:
    small = [frame(b"t" * n) for n in (10, 60, 95)]
    stream = HANDSHAKE + b"".join(small) + frame(b"B" * big) + frame(b"z" * 300)
    want = len(HANDSHAKE) + sum(len(f) for f in small) + (len(frame(b"B" * big)) - big) + big // 2
    tracker, pos, got = FrameTracker(), 0, None
    rng = random.Random(big * chunking)
    while pos < len(stream) and got is None:
        size = rng.randint(1, chunking)
        cut = tracker.cut_point(stream[pos : pos + size], 96)
        if cut is not None:
            got = pos + cut
        pos += size
    assert got == want


def test_an_unarmed_tracker_follows_the_frames_without_cutting() -> None:
    tracker = FrameTracker()
    stream = HANDSHAKE + frame(b"a" * 500) + frame(b"b" * 20)
    assert tracker.cut_point(stream, None) is None
    assert tracker.in_frames and tracker.remaining == 0
    assert tracker.cut_point(frame(b"c" * 200), 96) == 4 + 100  # a 16-bit length: a 4-byte header
