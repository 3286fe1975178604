"""A TCP proxy in front of a gateway that can drop a WebSocket connection in the middle of a frame.

It follows the server-to-client byte stream (the HTTP 101 response, then frame headers and payload
lengths, RFC 6455 §5.2), so a cut lands inside a frame's payload for certain: the client receives the
frame header and half of the payload, then the TCP connection ends.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import anyio
from anyio.abc import SocketStream, TaskGroup, TaskStatus


@dataclass
class FrameTracker:
    """Where the frames are in a server-to-client WebSocket byte stream."""

    handshake: bytes = b""
    in_frames: bool = False
    header: bytes = b""
    remaining: int = 0  # payload bytes left in the current frame
    length: int = 0  # payload length of the current frame

    def _header_size(self) -> int | None:
        if len(self.header) < 2:
            return None
        size = 2 + {126: 2, 127: 8}.get(self.header[1] & 0x7F, 0) + (4 if self.header[1] & 0x80 else 0)
        return size if len(self.header) >= size else None

    def _start_payload(self) -> None:
        short = self.header[1] & 0x7F
        if short == 126:
            self.length = int.from_bytes(self.header[2:4], "big")
        elif short == 127:
            self.length = int.from_bytes(self.header[2:10], "big")
        else:
            self.length = short
        self.remaining = self.length
        self.header = b""

    def cut_point(self, data: bytes, min_payload: int | None) -> int | None:
        """Consume `data`; the index in it halfway into the first frame whose payload is at least
        `min_payload` bytes (its header then fully sent), or None (everything consumed; never cut when
        `min_payload` is None)."""
        i = 0
        while i < len(data):
            if not self.in_frames:
                self.handshake += data[i : i + 1]
                i += 1
                if self.handshake.endswith(b"\r\n\r\n"):
                    self.in_frames = True
                continue
            if self.remaining == 0 and self._header_size() is None:
                self.header += data[i : i + 1]
                i += 1
                if self._header_size() is not None:
                    self._start_payload()
                continue
            take = min(self.remaining, len(data) - i)
            if min_payload is not None and self.length >= min_payload:
                done = self.length - self.remaining
                half = self.length // 2
                if done < half <= done + take:
                    return i + (half - done)
            self.remaining -= take
            i += take
        return None


@dataclass
class CuttingProxy:
    """`async with CuttingProxy(port) as proxy`: listens on 127.0.0.1:`proxy.port`, forwards to `port`.

    `arm()` cuts the next server frame of at least `min_payload` bytes on any connection; `always = True`
    cuts every connection at its first such frame (the handshake's hello, say) until set back to False.
    """

    upstream_port: int
    min_payload: int = 96
    always: bool = False
    port: int = 0
    connections: int = 0
    cuts: int = 0
    _armed: bool = False
    _tg: TaskGroup | None = None
    _cut_event: anyio.Event = field(default_factory=anyio.Event)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def arm(self) -> anyio.Event:
        """Cut the next big frame; the event is set once a cut happened."""
        self._armed = True
        self._cut_event = anyio.Event()
        return self._cut_event

    async def __aenter__(self) -> CuttingProxy:
        self._stack = contextlib.AsyncExitStack()
        self._tg = await self._stack.enter_async_context(anyio.create_task_group())
        await self._tg.start(self._serve)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._tg is not None
        self._tg.cancel_scope.cancel()
        await self._stack.aclose()

    async def _serve(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
        self.port = int(listener.extra(anyio.abc.SocketAttribute.local_port))
        task_status.started()
        async with listener:
            await listener.serve(self._handle)

    async def _handle(self, client: SocketStream) -> None:
        self.connections += 1
        try:
            upstream = await anyio.connect_tcp("127.0.0.1", self.upstream_port)
        except OSError:
            await client.aclose()
            return
        async with client, upstream, anyio.create_task_group() as tg:

            async def up() -> None:
                with contextlib.suppress(
                    anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError
                ):
                    while True:
                        await upstream.send(await client.receive())
                tg.cancel_scope.cancel()

            async def down() -> None:
                tracker = FrameTracker()
                with contextlib.suppress(
                    anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError
                ):
                    while True:
                        data = await upstream.receive()
                        wanted = self.min_payload if (self._armed or self.always) else None
                        cut = tracker.cut_point(data, wanted)
                        if cut is None:
                            await client.send(data)
                            continue
                        await client.send(data[:cut])
                        self._armed = False
                        self.cuts += 1
                        self._cut_event.set()
                        break
                tg.cancel_scope.cancel()

            tg.start_soon(up)
            tg.start_soon(down)
