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
