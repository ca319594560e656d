"""Actor references: the only way to reach an actor, wherever it runs."""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING, TypeVar, cast, final

import anyio

from ._envelope import Ask, LocalReply, Reply, Request
from ._errors import ActorStoppedError, MailboxFullError

if TYPE_CHECKING:
    from ._dead_letters import DeadLetterOffice
    from ._mailbox import Mailbox

R = TypeVar("R")

# A retired mailbox: its cell closed it.
_CLOSED = anyio.ClosedResourceError


class ActorRef(abc.ABC):
    """A handle to an actor, local or on another node, with the same API either way.

    Refs are cheap to copy and share; they stay valid across restarts of the actor (its
    mailbox survives them) and turn into dead-letter sinks once the actor has stopped.
    """

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    @abc.abstractmethod
    async def tell(self, message: object) -> None:
        """Send `message`; wait while the mailbox is full (backpressure).

        A message to a stopped actor is recorded as a dead letter.
        """

    @abc.abstractmethod
    def tell_nowait(self, message: object) -> None:
        """Send `message` without waiting.

        Raises:
            MailboxFullError: the mailbox is full.
        """

    @abc.abstractmethod
    async def ask(self, request: Request[R]) -> R:
        """Send `request` and wait for the reply (blocks, under the caller's cancel scopes).

        Raises:
            ActorStoppedError: the actor has stopped, or stopped before it answered.
            UnhandledMessageError: the actor has no handler for `request`.
            Exception: whatever the actor's handler raised for this request.
        """

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


@final
class LocalActorRef(ActorRef):
    """A ref to an actor of this process: a sender on its bounded mailbox."""

    __slots__ = ("_dead_letters", "_is_stopped", "_mailbox", "_send_nowait")

    def __init__(self, name: str, mailbox: Mailbox, dead_letters: DeadLetterOffice) -> None:
        super().__init__(name)
        self._mailbox = mailbox
        self._send_nowait = mailbox.put_nowait
        self._dead_letters = dead_letters
        self._is_stopped = False

    async def tell(self, message: object) -> None:
        # Try the non-blocking send first: an awaited send yields on every call.
        try:
            self._send_nowait(message)
        except anyio.WouldBlock:
            try:
                await self._mailbox.put(message)
            except _CLOSED:
                self._dead_letters.record(self.name, message, "stopped")
        except _CLOSED:
            self._dead_letters.record(self.name, message, "stopped")

    def tell_nowait(self, message: object) -> None:
        try:
            self._send_nowait(message)
        except anyio.WouldBlock:
            raise MailboxFullError(self.name) from None
        except _CLOSED:
            self._dead_letters.record(self.name, message, "stopped")

    async def ask(self, request: Request[R]) -> R:
        reply = LocalReply()
        await self.forward(request, reply)
        return cast("R", await reply.wait())

    async def forward(self, request: object, reply: Reply) -> None:
        """Put an asked request in the mailbox whose answer goes to `reply` instead of to a
        waiting caller (the transport serves remote asks this way). Waits while the mailbox
        is full; a stopped actor answers `reply` with `ActorStoppedError` at once."""
        envelope = Ask(request, reply)
        try:
            try:
                self._send_nowait(envelope)
            except anyio.WouldBlock:
                await self._mailbox.put(envelope)
        except _CLOSED:
            reply.set_exception(ActorStoppedError(self.name))

    @property
    def is_stopped(self) -> bool:
        """True once the actor has stopped for good (it will not be restarted)."""
        return self._is_stopped

    def close(self) -> None:
        """Mark the actor stopped for good (its cell does this when it retires the mailbox)."""
        self._is_stopped = True
