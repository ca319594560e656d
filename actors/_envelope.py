"""Requests and the envelope that pairs an asked request with its reply slot.

A told message travels as itself; only `ask` wraps its request in an `Ask` envelope.
"""

from __future__ import annotations

from typing import Generic, Protocol, TypeVar, final

import anyio

R_co = TypeVar("R_co", covariant=True)


class Request(Generic[R_co]):
    """Base class of messages that expect a reply of type `R_co`.

    Subclass it with a frozen, slotted dataclass so that `await ref.ask(msg)` is typed::

        @dataclass(frozen=True, slots=True, kw_only=True)
        class GetCount(Request[int]):
            pass
    """

    __slots__ = ()


class Reply(Protocol):
    """Where the answer to an asked request goes: a local waiter or a remote connection."""

    def set_result(self, value: object) -> None: ...

    def set_exception(self, error: BaseException) -> None: ...


@final
class LocalReply:
    """A one-shot reply slot that a local asker waits on."""

    __slots__ = ("_error", "_event", "_value")

    def __init__(self) -> None:
        self._event = anyio.Event()
        self._value: object = None
        self._error: BaseException | None = None

    def set_result(self, value: object) -> None:
        if not self._event.is_set():
            self._value = value
            self._event.set()

    def set_exception(self, error: BaseException) -> None:
        if not self._event.is_set():
            self._error = error
            self._event.set()

    async def wait(self) -> object:
        """Wait for the answer (blocks); raise the error the actor sent instead, if any."""
        await self._event.wait()
        if self._error is not None:
            raise self._error
        return self._value


@final
class Ask:
    """The envelope of an asked request: the request and where its reply goes."""

    __slots__ = ("message", "reply")

    def __init__(self, message: object, reply: Reply) -> None:
        self.message = message
        self.reply = reply


@final
class DeferredReply:
    """The answer to an asked request, given later: return one from `receive` to reply later.

    The asker waits until the actor calls `set_result` or `set_exception`, from a later
    message or from its background work. If the actor stops first, the asker gets
    `ActorStoppedError`, so no asker hangs. Returned for a told message, it is ignored::

        case WaitUntilDone():
            waiter = DeferredReply()
            self.waiters.append(waiter)
            return waiter
    """

    __slots__ = ("_error", "_is_done", "_pending", "_reply", "_value")

    def __init__(self) -> None:
        self._reply: Reply | None = None  # set once the message loop has the asker's slot
        self._pending: set[DeferredReply] | None = None
        self._is_done = False
        self._value: object = None
        self._error: BaseException | None = None

    @property
    def is_done(self) -> bool:
        """Whether the answer has been given."""
        return self._is_done

    def set_result(self, value: object) -> None:
        """Answer with `value` (a second answer is ignored)."""
        if not self._is_done:
            self._is_done, self._value = True, value
            self._deliver()

    def set_exception(self, error: BaseException) -> None:
        """Answer by raising `error` in the asker (a second answer is ignored)."""
        if not self._is_done:
            self._is_done, self._error = True, error
            self._deliver()

    def bind(self, reply: Reply, pending: set[DeferredReply]) -> None:
        """Attach the asker's reply slot (the message loop calls this)."""
        self._reply = reply
        if self._is_done:
            self._deliver()
        else:
            self._pending = pending  # failed by the loop if the actor stops unanswered
            pending.add(self)

    def _deliver(self) -> None:
        reply = self._reply
        if reply is None:
            return  # not bound yet: `bind` delivers
        if self._error is not None:
            reply.set_exception(self._error)
        else:
            reply.set_result(self._value)
        if self._pending is not None:
            self._pending.discard(self)
            self._pending = None
