"""Length-prefixed frames on a byte stream: a 4-byte big-endian length, then the payload.

It splits and sizes frames and knows the frame kinds; it knows nothing of actors or codecs.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING, Final, NoReturn, final

import anyio
import msgpack

if TYPE_CHECKING:
    from anyio.abc import ByteReceiveStream

#: The default largest frame payload a node accepts or sends, in bytes.
DEFAULT_MAX_FRAME_SIZE: Final = 1024 * 1024

HEADER: Final = struct.Struct(">I")

# Frame payloads after the handshake: msgpack arrays whose first item is the kind. A message
# is inlined at the end of its frame as `tag, *fields` (or `None, value`: see `Codec`).
TELL: Final = 0  # [TELL, actor name, *message]
ASK: Final = 1  # [ASK, ask id, actor name, *request]
REPLY: Final = 2  # [REPLY, ask id, *value]
FAIL: Final = 3  # [FAIL, ask id, error kind, name or type name, text]
BYE: Final = 4  # [BYE]: the sender is closing and sends nothing more

_BYE_PAYLOAD: Final = msgpack.packb((BYE,))
BYE_FRAME: Final = HEADER.pack(len(_BYE_PAYLOAD)) + _BYE_PAYLOAD

# How much to read from the socket at once.
_CHUNK_SIZE: Final = 256 * 1024


@final
class ProtocolError(Exception):
    """The peer broke the wire protocol; the connection is dropped (never seen by users)."""


@final
class FrameReader:
    """Reads frames from a byte stream, many at a time, copying as little as it can.

    A chunk read from the stream is sliced into frames without copying; only the incomplete
    frame at the end of a chunk is kept aside and joined with what follows it.
    """

    __slots__ = (
        "_frames",
        "_pending",
        "_pending_needed",
        "_pending_size",
        "_receive",
        "max_frame_size",
    )

    def __init__(self, stream: ByteReceiveStream, max_frame_size: int) -> None:
        self._receive = stream.receive
        self.max_frame_size = max_frame_size
        self._pending: list[bytes] = []  # the chunks of an incomplete frame
        self._pending_size = 0
        self._pending_needed = 0  # its size with its header, once the header is complete
        self._frames: list[bytes] = []  # complete frames not yet returned

    async def receive_frames(self) -> list[bytes]:
        """Wait for at least one complete frame and return every complete one (blocks).

        Raises:
            anyio.EndOfStream: the peer closed the stream between two frames.
            ProtocolError: a frame is larger than `max_frame_size`, or the stream ended in
                the middle of a frame.
        """
        if self._frames:
            frames, self._frames = self._frames, []
            return frames
        frames = []
        while not frames:
            try:
                chunk = await self._receive(_CHUNK_SIZE)
            except anyio.EndOfStream:
                if self._pending_size:
                    raise ProtocolError("the stream ended in the middle of a frame") from None
                raise
            frames = self._split(chunk)
        return frames

    async def receive_frame(self) -> bytes:
        """Wait for the next frame and return it, keeping any that follow it (blocks)."""
        if not self._frames:
            self._frames = await self.receive_frames()
        return self._frames.pop(0)

    def _split(self, chunk: bytes) -> list[bytes]:
        if self._pending:
            self._pending.append(chunk)
            self._pending_size += len(chunk)
            if self._pending_size < self._needed():
                return []
            chunk = b"".join(self._pending)  # once per frame: reassembly stays linear
            self._pending.clear()
            self._pending_size = self._pending_needed = 0
        # Copies, not memoryview slices: bytes are no work for the garbage collector, while
        # a chunk's thousands of views made it run and scan them (on trio most of all).
        frames: list[bytes] = []
        size = len(chunk)
        max_frame_size = self.max_frame_size
        unpack_header = HEADER.unpack_from
        position = 0
        while size - position >= 4:
            (length,) = unpack_header(chunk, position)
            if length > max_frame_size:
                self._refuse(length)
            end = position + 4 + length
            if end > size:
                break
            frames.append(chunk[position + 4 : end])
            position = end
        if position < size:
            rest = chunk[position:] if position else chunk
            self._pending.append(rest)
            self._pending_size = len(rest)
        return frames

    def _refuse(self, length: int) -> NoReturn:
        raise ProtocolError(f"a frame of {length} bytes exceeds the limit of {self.max_frame_size}")

    def _needed(self) -> int:
        """How many bytes the incomplete frame needs in all (4 until its header is complete).

        The size is worked out once per frame, from at most the first four chunks.
        """
        if self._pending_needed:
            return self._pending_needed
        if self._pending_size < 4:
            return 4
        head = self._pending[0]
        if len(head) < 4:
            head = b"".join(self._pending[:4])  # non-empty chunks: four hold the header
        (length,) = HEADER.unpack_from(head)
        if length > self.max_frame_size:
            self._refuse(length)
        self._pending_needed = 4 + int(length)
        return self._pending_needed


def frame_kind(payload: memoryview) -> int:
    """The kind of a frame payload this node encoded (the first item of its array)."""
    first = payload[0]
    # A msgpack array header is 1 byte (fixarray), 3 (array 16) or 5 (array 32); the kinds
    # are small ints, packed as a single byte.
    return payload[1 if first < 0xDC else 3 if first == 0xDC else 5]


def split_frames(data: bytes) -> list[memoryview]:
    """Split a buffer of complete frames, as written by this node, into their payloads."""
    view = memoryview(data)
    frames = []
    position = 0
    while position < len(data):
        (length,) = HEADER.unpack_from(data, position)
        frames.append(view[position + 4 : position + 4 + length])
        position += 4 + length
    return frames


def without_kind(data: bytearray, kind: int) -> bytearray:
    """The frames of `data`, as written by this node, but those of the given kind."""
    kept = bytearray()
    for payload in split_frames(bytes(data)):
        if frame_kind(payload) != kind:
            kept += HEADER.pack(len(payload))
            kept += payload
    return kept
