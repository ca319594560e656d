"""Refs to a peer's actors, and the reply slots of asks in flight in either direction.

They only queue frames on their `Connection` and wait for its reader; they know nothing of
sockets or the handshake.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final, TypeVar, cast, final

import anyio

from .._envelope import LocalReply
from .._errors import MailboxFullError
from .._ref import ActorRef
from ._frames import HEADER, TELL

if TYPE_CHECKING:
    from collections.abc import Callable

    from .._envelope import Request
    from ._connection import Connection

#: Tells wait (and `tell_nowait` raises) while this many bytes wait to be written.
OUTBOX_HIGH_WATER: Final = 256 * 1024

_pack_header: Final = HEADER.pack

R = TypeVar("R")


@final
class RemoteActorRef(ActorRef):
    """A ref to an actor of the peer node, with the same API as a local ref.

    Messages are encoded at once (so an unencodable message raises `CodecError` in the
    sender) and queued on the connection, whose writer sends them in batches. Tells from one
    task arrive in the order they were sent. Get one from `Connection.ref`.
    """

    __slots__ = ("_connection", "_tell_head")

    def __init__(self, name: str, connection: Connection) -> None:
        super().__init__(name)
        self._connection = connection
        self._tell_head = (TELL, name)

    @property
    def connection(self) -> Connection:
        """The connection this ref sends over."""
        return self._connection

    async def tell(self, message: object) -> None:
        """Send `message`; wait while the connection's outbox is full (backpressure).

        On a closed connection the message is recorded as a dead letter ("connection lost").
        The peer records a message to an unknown actor as a dead letter ("not found").

        Raises:
            CodecError: the message cannot be encoded, or exceeds the maximum frame size.
        """
        connection = self._connection
        if connection._is_closing:
            connection._record_lost(self.name, message)
            return
        payload = connection._encode_frame(self._tell_head, message)
        if len(payload) > connection._max_frame_size:
            raise connection._too_large(payload)
        outbox = connection._outbox
        if len(outbox) >= OUTBOX_HIGH_WATER:
            if not await connection._wait_for_room():
                connection._record_lost(self.name, message)
                return
            outbox = connection._outbox
        # `connection._write(payload)`, inlined: this is the hot path of every tell.
        outbox += _pack_header(len(payload))
        outbox += payload
        wake = connection._wake_writer
        if wake is not None:
            connection._wake_writer = None
            wake.set()

    def tell_nowait(self, message: object) -> None:
        """Send `message` without waiting.

        Raises:
            MailboxFullError: the connection's outbox is full.
            CodecError: the message cannot be encoded, or exceeds the maximum frame size.
        """
        connection = self._connection
        if connection._is_closing:
            connection._record_lost(self.name, message)
            return
        if len(connection._outbox) >= OUTBOX_HIGH_WATER:
            raise MailboxFullError(self.name)
        connection._write(connection._encode(self._tell_head, message))

    async def ask(self, request: Request[R]) -> R:
        """Send `request` and wait for the peer's reply (blocks, under the caller's scopes).

        Asks are pipelined: many may be in flight on one connection at once (up to the smaller
        of the two nodes' bounds, beyond which this waits). Cancelling the wait abandons the
        ask; it still counts against the bound until its (dropped) answer arrives.

        Raises:
            ActorNotFoundError: the peer has no actor by this name.
            ActorStoppedError: the actor stopped before it answered.
            UnhandledMessageError: the actor has no handler for `request`.
            RemoteActorError: the remote handler raised any other exception.
            ConnectionLostError: the connection is closed, or broke before the reply came.
            CodecError: the request cannot be encoded, or exceeds the maximum frame size.
        """
        return cast("R", await self._connection._ask(self.name, request))


@final
class PendingAsk:
    """One of our asks waiting for its answer: the request (failures quote it) and the
    kernel's own one-shot reply slot."""

    __slots__ = ("reply", "request")

    def __init__(self, request: object) -> None:
        self.request = request
        self.reply = LocalReply()


@final
class AskTable:
    """Our asks on one connection that wait for an answer, at most `limit` at once.

    An ask whose asker was cancelled stays here until its answer arrives (and is dropped):
    the peer serves it until then, and counts it against the same bound.
    """

    __slots__ = ("_limit", "_next_id", "_pending", "_room")

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._pending: dict[int, PendingAsk] = {}
        self._next_id = 0
        self._room: anyio.Event | None = None  # set when an ask completes

    @property
    def has_room(self) -> bool:
        return len(self._pending) < self._limit

    async def wait_for_room(self) -> None:
        """Wait until an ask completes or `fail_all` runs (blocks)."""
        if self._room is None:
            self._room = anyio.Event()
        await self._room.wait()

    def new_id(self) -> int:
        ask_id = self._next_id
        self._next_id = ask_id + 1
        return ask_id

    def add(self, ask_id: int, request: object) -> PendingAsk:
        pending = self._pending[ask_id] = PendingAsk(request)
        return pending

    def request(self, ask_id: int) -> object:
        """The request of a pending ask (None if it is not pending)."""
        pending = self._pending.get(ask_id)
        return None if pending is None else pending.request

    def resolve(self, ask_id: int, value: object, error: BaseException | None) -> None:
        """Answer an ask, freeing its place; nobody waits for the answer if the asker was
        cancelled."""
        pending = self._pending.pop(ask_id, None)
        if pending is not None:
            if error is None:
                pending.reply.set_result(value)
            else:
                pending.reply.set_exception(error)
            self._wake()

    def fail_all(self, error: Callable[[], BaseException]) -> None:
        """Fail every pending ask with a fresh `error()`, and wake those waiting for room."""
        pending, self._pending = self._pending, {}
        for ask in pending.values():
            ask.reply.set_exception(error())
        self._wake()

    def _wake(self) -> None:
        room = self._room
        if room is not None:
            self._room = None
            room.set()


@final
class RemoteReply:
    """The reply slot of an ask the peer sent: answering it queues the reply frame.

    It implements the kernel's `Reply` protocol, so the local actor answers it like any ask.
    It never raises into the actor: an answer that cannot be sent becomes an error for the
    asker, and one for a closed connection is dropped.
    """

    __slots__ = ("_ask_id", "_connection", "_is_done")

    def __init__(self, connection: Connection, ask_id: int) -> None:
        self._connection = connection
        self._ask_id = ask_id
        self._is_done = False

    def set_result(self, value: object) -> None:
        if not self._is_done:
            self._is_done = True
            self._connection._send_reply(self._ask_id, value)

    def set_exception(self, error: BaseException) -> None:
        if not self._is_done:
            self._is_done = True
            self._connection._send_failure(self._ask_id, error)
