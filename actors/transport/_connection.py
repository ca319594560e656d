"""One authenticated connection between two nodes: pipelined tells and asks, both ways.

It owns the outbox and its writer, the reader that serves this node's actors to the peer, and
the asks waiting for replies. It knows nothing of listening, connecting or the handshake.
"""

from __future__ import annotations

import logging
import reprlib
from typing import TYPE_CHECKING, Final, final

import anyio
from anyio.abc import AsyncResource

from .._errors import ActorNotFoundError, CodecError, ConnectionLostError, MailboxFullError
from .._ref import LocalActorRef
from ._codec import UNPACK_ERRORS
from ._failures import describe_error, encode_failure, rebuild_failure
from ._frames import (
    ASK,
    BYE,
    BYE_FRAME,
    FAIL,
    HEADER,
    REPLY,
    TELL,
    ProtocolError,
    frame_kind,
    split_frames,
    without_kind,
)
from ._remote import OUTBOX_HIGH_WATER, AskTable, RemoteActorRef, RemoteReply

if TYPE_CHECKING:
    from collections.abc import Callable

    from anyio.abc import ByteStream

    from .._system import ActorSystem
    from ._codec import Codec
    from ._frames import FrameReader

logger = logging.getLogger("repertory.actors.transport")

#: The default bound on asks in flight per connection, in each direction.
DEFAULT_MAX_ASKS_IN_FLIGHT: Final = 1024

_BROKEN = (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError)


@final
class Connection(AsyncResource):
    """An authenticated connection to another node; get one from `Node.connect`.

    Both ends serve their own system's actors to each other: `ref(name)` reaches an actor of
    the peer. One writer task sends queued frames in batches and one reader task serves what
    arrives, both in the node's task group. Leaving `open_node` closes every connection.

    Delivery is at most once. When the connection breaks, tells still queued become dead
    letters, but those in the batch the writer had already handed to the socket are lost
    silently (they may or may not have arrived). An ask that fails with
    `ConnectionLostError` may or may not have been served; one that had not left the outbox
    when the connection closed is never sent.

    Both nodes bound the asks in flight to the smaller of their `max_asks_in_flight`: an ask
    counts from when it is queued until its answer arrives (even if its asker was
    cancelled), and a peer that sends more is dropped. The reader thus never waits for room
    to serve an ask, and answers waiting to be written are bounded too.
    """

    def __init__(
        self,
        *,
        system: ActorSystem,
        codec: Codec,
        stream: ByteStream,
        reader: FrameReader,
        peer: str,
        max_send_size: int,
        max_asks_in_flight: int,
        forget: Callable[[Connection], None],
    ) -> None:
        #: The peer's address, as "host:port".
        self.peer = peer
        self._system = system
        self._codec = codec
        self._encode_frame = codec._frame_encoder()  # connections live in one thread
        self._dead_letters = system.dead_letters
        self._stream = stream
        self._reader = reader
        self._max_frame_size = max_send_size  # the smaller of the two nodes' limits
        self._max_asks = max_asks_in_flight  # the smaller of the two nodes' bounds
        self._forget = forget
        self._refs: dict[str, LocalActorRef] = {}  # the local actors the peer reached so far
        self._outbox = bytearray()
        self._wake_writer: anyio.Event | None = None
        self._room: anyio.Event | None = None  # set when the outbox drains
        self._asks = AskTable(max_asks_in_flight)
        self._serving = 0  # asks of the peer whose answers the writer has not taken yet
        self._answers_queued = 0  # answers in the outbox
        self._is_closing = False
        self._is_lost = False
        self._has_bye = False  # the peer said it is closing
        self._close_reason = ""
        self._scope = anyio.CancelScope()
        self._finished = anyio.Event()

    def ref(self, name: str) -> RemoteActorRef:
        """Return a ref to the peer's actor called `name` (whether or not it exists yet)."""
        return RemoteActorRef(name, self)

    @property
    def is_closed(self) -> bool:
        """True once the connection is closing or closed: sends fail or become dead letters."""
        return self._is_closing

    async def aclose(self) -> None:
        """Close the connection: send what is queued, then say goodbye (blocks).

        Asks still waiting fail with `ConnectionLostError` at once; later tells become dead
        letters. Waits until the peer has closed its end too, under the caller's cancel scopes
        (when cancelled, the connection is dropped without waiting).
        """
        self._begin_close("was closed")
        try:
            await self._finished.wait()
        finally:
            if not self._finished.is_set():
                self._scope.cancel()
                with anyio.CancelScope(shield=True):
                    await self._finished.wait()

    def __repr__(self) -> str:
        state = " (closed)" if self._is_closing else ""
        return f"<Connection to {self.peer}{state}>"

    # The tasks.

    async def _run(self) -> None:
        """Run the reader and the writer until the connection ends (blocks)."""
        try:
            with self._scope:
                async with anyio.create_task_group() as task_group:
                    task_group.start_soon(self._write_loop, name=f"writer to {self.peer}")
                    if not await self._read_loop():
                        task_group.cancel_scope.cancel()
                    # else the peer said goodbye: the writer sends what is queued, then ends.
        finally:
            self._begin_close("was closed by this node", is_lost=True)
            self._forget(self)
            with anyio.CancelScope(shield=True):
                await anyio.aclose_forcefully(self._stream)
            self._finished.set()

    async def _write_loop(self) -> None:
        send = self._stream.send
        try:
            while True:
                outbox = self._outbox
                if outbox:
                    self._outbox = bytearray()
                    if self._answers_queued:  # the peer counts them until they arrive
                        self._serving -= self._answers_queued
                        self._answers_queued = 0
                    room = self._room
                    if room is not None:
                        self._room = None
                        room.set()
                    await send(bytes(outbox))
                elif self._is_closing:
                    break
                else:
                    wake = self._wake_writer = anyio.Event()
                    await wake.wait()
            if not self._has_bye and not self._is_lost:
                await send(BYE_FRAME)
        except _BROKEN as exc:
            self._begin_close(f"was lost: {describe_error(exc)}", is_lost=True)
            self._scope.cancel()
        except Exception:
            logger.exception("the writer to %s failed", self.peer)
            self._begin_close("was lost: the writer failed", is_lost=True)
            self._scope.cancel()

    async def _read_loop(self) -> bool:
        """Serve frames until the peer says goodbye (True) or the connection ends (False)."""
        receive_frames = self._reader.receive_frames
        decode = self._codec._frame_decoder()
        message_at = self._codec._message_at
        builders = self._codec._message_builders()
        refs = self._refs
        try:
            while True:
                for payload in await receive_frames():
                    try:
                        frame = decode(payload)
                    except UNPACK_ERRORS as exc:
                        raise ProtocolError(f"a malformed frame: {exc}") from exc
                    if type(frame) is not tuple or not frame:
                        raise ProtocolError("a frame is not a non-empty array")
                    kind = frame[0]
                    if kind == TELL and len(frame) >= 3:
                        name = frame[1]
                        if type(name) is not str:
                            raise ProtocolError("a tell names no actor")
                        # `_message_at(frame, 2)`, inlined for the common case.
                        builder = builders.get(frame[2]) if type(frame[2]) is str else None
                        if builder is not None and builder[0] == len(frame) - 3:
                            try:
                                message = builder[1](frame, 3)
                            except Exception as exc:  # its type's validation may raise anything
                                raise ProtocolError(f"a malformed message: {exc!r}") from exc
                        else:
                            message = message_at(frame, 2)
                        ref = refs.get(name)
                        if ref is None or ref.is_stopped:
                            ref = self._lookup(name, message)
                            if ref is None:
                                continue
                        try:
                            ref.tell_nowait(message)  # a stopped actor: a dead letter
                        except MailboxFullError:
                            await ref.tell(message)  # backpressure: stop reading meanwhile
                    elif kind == ASK and len(frame) >= 4:
                        await self._serve_ask(frame[1], frame[2], message_at(frame, 3))
                    elif kind == REPLY and len(frame) >= 3:
                        self._resolve(frame[1], message_at(frame, 2), None)
                    elif kind == FAIL and len(frame) == 5:
                        self._resolve_failure(frame[1], frame[2], frame[3], frame[4])
                    elif kind == BYE and len(frame) == 1:
                        self._has_bye = True
                        self._begin_close("was closed by the peer")
                        return True
                    else:
                        raise ProtocolError(f"a frame of unknown kind {reprlib.repr(kind)}")
        except anyio.EndOfStream:
            if not self._is_closing:
                logger.info("%s closed the connection without saying goodbye", self.peer)
            self._begin_close("was lost: the peer closed the connection", is_lost=True)
        except (ProtocolError, CodecError) as exc:
            logger.warning("dropping the connection with %s: %s", self.peer, exc)
            self._begin_close(f"was dropped: the peer broke the protocol ({exc})", is_lost=True)
        except _BROKEN as exc:
            logger.info("the connection with %s broke: %s", self.peer, describe_error(exc))
            self._begin_close(f"was lost: {describe_error(exc)}", is_lost=True)
        except Exception:
            logger.exception("the reader from %s failed", self.peer)
            self._begin_close("was lost: the reader failed", is_lost=True)
        return False

    def _lookup(self, name: str, message: object) -> LocalActorRef | None:
        """Find a local actor for a tell, or record the tell as a dead letter."""
        try:
            ref = self._system.lookup(name)
        except ActorNotFoundError:
            self._dead_letters.record(name, message, "not found")
            return None
        assert isinstance(ref, LocalActorRef), "the registry holds local refs"
        self._refs[name] = ref
        return ref

    # Serving the peer's asks.

    async def _serve_ask(self, ask_id: object, name: object, message: object) -> None:
        if type(ask_id) is not int or type(name) is not str:
            raise ProtocolError("an ask has no id or names no actor")
        if self._is_closing:
            return  # its answer could not be sent: the peer fails it when we say goodbye
        if self._serving >= self._max_asks:  # never wait here: replies would go unread
            raise ProtocolError(f"more than {self._max_asks} asks in flight")
        self._serving += 1
        try:
            ref = self._system.lookup(name)
        except ActorNotFoundError as exc:
            self._send_failure(ask_id, exc)
            return
        assert isinstance(ref, LocalActorRef), "the registry holds local refs"
        # The reply frame is queued when the actor answers, so asks are served concurrently.
        await ref.forward(message, RemoteReply(self, ask_id))

    def _send_reply(self, ask_id: int, value: object) -> None:
        """Queue the reply to a served ask (for its `RemoteReply`; never raises)."""
        if self._is_closing:
            return
        try:
            payload = self._encode((REPLY, ask_id), value)
        except CodecError as exc:
            logger.warning("cannot send a reply to %s: %s", self.peer, exc)
            self._send_failure(ask_id, exc)
            return
        self._answers_queued += 1
        self._write(payload)

    def _send_failure(self, ask_id: int, error: BaseException) -> None:
        """Queue the error answer to a served ask, cut to fit the peer's frame size limit
        (never raises)."""
        if not self._is_closing:
            self._answers_queued += 1
            self._write(encode_failure(ask_id, error, self._max_frame_size))

    # Our asks.

    async def _ask(self, name: str, request: object) -> object:
        """Send an ask frame and wait for its answer (blocks); see `RemoteActorRef.ask`."""
        asks = self._asks
        while True:
            if self._is_closing:
                raise self._lost_error()
            if asks.has_room:
                break
            await asks.wait_for_room()
        ask_id = asks.new_id()
        payload = self._encode((ASK, ask_id, name), request)
        pending = asks.add(ask_id, request)
        self._write(payload)
        # If cancelled, the ask keeps its place until its answer arrives (and is dropped).
        return await pending.reply.wait()

    def _resolve(self, ask_id: object, value: object, error: BaseException | None) -> None:
        if type(ask_id) is not int:
            raise ProtocolError("an answer has no ask id")
        self._asks.resolve(ask_id, value, error)

    def _resolve_failure(self, ask_id: object, kind: object, name: object, text: object) -> None:
        if type(ask_id) is not int or type(name) is not str or type(text) is not str:
            raise ProtocolError("a failure has no ask id, name or text")
        error = rebuild_failure(kind, name, text, self._asks.request(ask_id))
        if error is None:
            raise ProtocolError(f"a failure of unknown kind {reprlib.repr(kind)}")
        self._asks.resolve(ask_id, None, error)

    # The outbox.

    def _encode(self, head: tuple[object, ...], message: object) -> bytes:
        """Encode a frame's payload; raise CodecError if it cannot be sent."""
        payload = self._encode_frame(head, message)
        if len(payload) > self._max_frame_size:
            raise self._too_large(payload)
        return payload

    def _too_large(self, payload: bytes) -> CodecError:
        return CodecError(
            f"a frame of {len(payload)} bytes exceeds the limit of {self._max_frame_size} "
            f"(the smaller of this node's and {self.peer}'s)"
        )

    def _write(self, payload: bytes) -> None:
        """Queue one frame for the writer, without waiting."""
        outbox = self._outbox
        outbox += HEADER.pack(len(payload))
        outbox += payload
        wake = self._wake_writer
        if wake is not None:
            self._wake_writer = None
            wake.set()

    async def _wait_for_room(self) -> bool:
        """Wait until the outbox has room (True) or the connection closes (False) (blocks)."""
        while len(self._outbox) >= OUTBOX_HIGH_WATER and not self._is_closing:
            room = self._room
            if room is None:
                room = self._room = anyio.Event()
            await room.wait()
        return not self._is_closing

    # Closing.

    def _record_lost(self, name: str, message: object) -> None:
        """Record a tell that cannot be sent any more as a dead letter."""
        self._dead_letters.record(name, message, "connection lost")

    def _lost_error(self) -> ConnectionLostError:
        return ConnectionLostError(f"the connection to {self.peer} {self._close_reason}")

    def _begin_close(self, reason: str, *, is_lost: bool = False) -> None:
        """Stop sending: fail waiting asks and wake every waiter. Idempotent."""
        if is_lost and not self._is_lost:
            self._is_lost = True
            unsent, self._outbox = self._outbox, bytearray()
            self._record_unsent(unsent)
        if self._is_closing:
            return
        self._is_closing = True
        self._close_reason = reason
        self._asks.fail_all(self._lost_error)
        if self._outbox:  # their askers have just failed: do not serve them behind their backs
            self._outbox = without_kind(self._outbox, ASK)
        for event in (self._wake_writer, self._room):
            if event is not None:
                event.set()
        self._wake_writer = self._room = None

    def _record_unsent(self, unsent: bytearray) -> None:
        """Tells that never left the outbox become dead letters; asks failed already."""
        for payload in split_frames(bytes(unsent)):
            if frame_kind(payload) != TELL:
                continue
            try:
                frame = self._codec.decode(payload)
                if type(frame) is tuple:
                    self._record_lost(str(frame[1]), self._codec._message_at(frame, 2))
            except CodecError:
                continue
