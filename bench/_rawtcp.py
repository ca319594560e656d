"""The raw TCP baselines: length-prefixed msgpack frames of plain tuples over anyio sockets.

The writer coalesces whatever is queued into one `send`, the reader parses every complete
frame of what arrived, and the server answers a whole batch of requests with one `send`.
No actors here: this is what the transport is measured against.
"""

from __future__ import annotations

import struct
import time
from typing import TYPE_CHECKING, final

import anyio
import msgpack
from anyio.abc import SocketAttribute

from .kernel import ReplySlot

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from anyio.abc import ByteReceiveStream, ByteSendStream, ByteStream

HEADER = struct.Struct(">I")
#: Frames the writer's queue holds before a sender waits, like a bounded outbox.
OUTBOX_SIZE = 1000
READ_SIZE = 65536


def frame(item: tuple[object, ...]) -> bytes:
    """Encode one tuple as a length-prefixed msgpack frame."""
    body = msgpack.packb(item)
    return HEADER.pack(len(body)) + body


@final
class FrameReader:
    """Parses frames from a byte stream, returning every complete one at each call."""

    __slots__ = ("_buffer", "_stream")

    def __init__(self, stream: ByteReceiveStream) -> None:
        self._stream = stream
        self._buffer = bytearray()

    async def batch(self) -> list[tuple[object, ...]]:
        """Wait for at least one frame (blocks); raises `anyio.EndOfStream` at the end."""
        buffer = self._buffer
        while True:
            items: list[tuple[object, ...]] = []
            pos = 0
            view = memoryview(buffer)
            while len(buffer) - pos >= HEADER.size:
                (size,) = HEADER.unpack_from(buffer, pos)
                end = pos + HEADER.size + size
                if end > len(buffer):
                    break
                items.append(msgpack.unpackb(view[pos + HEADER.size : end], use_list=False))
                pos = end
            view.release()
            del buffer[:pos]
            if items:
                return items
            buffer += await self._stream.receive(READ_SIZE)


@final
class FrameWriter:
    """A queue of encoded frames and the task that sends them, as many per `send` as queued."""

    __slots__ = ("_receive", "_send")

    def __init__(self) -> None:
        self._send, self._receive = anyio.create_memory_object_stream[bytes](OUTBOX_SIZE)

    async def put(self, data: bytes) -> None:
        """Queue one frame, waiting only while the queue is full."""
        try:
            self._send.send_nowait(data)
        except anyio.WouldBlock:
            await self._send.send(data)

    def close(self) -> None:
        """Let the writer task finish once the queue is drained."""
        self._send.close()

    async def run(self, stream: ByteSendStream) -> None:
        receive_nowait = self._receive.receive_nowait
        with self._receive:
            async for first in self._receive:
                batch = [first]
                while True:
                    try:
                        batch.append(receive_nowait())
                    except (anyio.WouldBlock, anyio.EndOfStream):
                        break
                await stream.send(b"".join(batch))


async def _serve(stream: ByteStream) -> None:
    """Count one-way frames; answer ("count",) with the count and ("echo", id) with id."""
    reader = FrameReader(stream)
    count = 0
    async with stream:
        while True:
            try:
                batch = await reader.batch()
            except (anyio.EndOfStream, anyio.BrokenResourceError):
                return
            replies: list[bytes] = []
            for item in batch:
                kind = item[0]
                if kind == "ping":
                    count += 1
                elif kind == "echo":
                    replies.append(frame((item[1], item[1])))
                else:
                    replies.append(frame((0, count)))
            if replies:
                await stream.send(b"".join(replies))


async def _with_connection(client: Callable[[ByteStream], Awaitable[float]]) -> float:
    """Run a server on 127.0.0.1 and `client` against it; return what `client` returns."""
    async with (
        await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0) as listener,
        anyio.create_task_group() as tg,
    ):
        port = listener.extra(SocketAttribute.local_port)
        tg.start_soon(listener.serve, _serve)
        async with await anyio.connect_tcp("127.0.0.1", port) as stream:
            elapsed = await client(stream)
        tg.cancel_scope.cancel()
    return elapsed


async def raw_tcp_tell(n: int) -> float:
    items = [("ping", i) for i in range(n)]

    async def client(stream: ByteStream) -> float:
        writer = FrameWriter()
        reader = FrameReader(stream)
        async with anyio.create_task_group() as tg:
            tg.start_soon(writer.run, stream)
            start = time.perf_counter()
            for item in items:
                await writer.put(frame(item))
            await writer.put(frame(("count",)))
            ((_, count),) = await reader.batch()
            elapsed = time.perf_counter() - start
            writer.close()
        assert count == n, count
        return elapsed

    return await _with_connection(client)


async def raw_tcp_ask(n: int) -> float:
    async def client(stream: ByteStream) -> float:
        reader = FrameReader(stream)
        start = time.perf_counter()
        for i in range(n):
            await stream.send(frame(("echo", i)))
            await reader.batch()
        return time.perf_counter() - start

    return await _with_connection(client)


async def raw_tcp_ask_pipelined(n: int, *, concurrency: int) -> float:
    async def client(stream: ByteStream) -> float:
        writer = FrameWriter()
        reader = FrameReader(stream)
        pending: dict[object, ReplySlot] = {}

        async def read_replies() -> None:
            while True:
                for request_id, value in await reader.batch():
                    slot = pending.pop(request_id)
                    slot.value = value
                    slot.event.set()

        async def asker(first: int) -> None:
            for i in range(first, n, concurrency):
                slot = pending[i] = ReplySlot()
                await writer.put(frame(("echo", i)))
                await slot.event.wait()

        async with anyio.create_task_group() as tg:
            tg.start_soon(writer.run, stream)
            tg.start_soon(read_replies)
            start = time.perf_counter()
            async with anyio.create_task_group() as askers:
                for first in range(concurrency):
                    askers.start_soon(asker, first)
            elapsed = time.perf_counter() - start
            tg.cancel_scope.cancel()
        return elapsed

    return await _with_connection(client)
