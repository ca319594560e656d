"""`Mailbox`: an actor's bounded queue of messages, with many senders and one receiver.

It does for an actor what an anyio memory object stream would, and only that: with no clones,
statistics or hand-off to a waiting receiver to keep, a send or a receive that need not wait
is one deque operation, which saves about a tenth of every local tell. Knows nothing of actors.
"""

from __future__ import annotations

from collections import deque
from typing import final

import anyio
from anyio.lowlevel import checkpoint


@final
class _WaitingSender:
    """A sender waiting for room, with the item it brings."""

    __slots__ = ("event", "is_delivered", "item")

    def __init__(self, item: object) -> None:
        self.item = item
        self.event = anyio.Event()
        self.is_delivered = False


@final
class Mailbox:
    """A bounded first-in, first-out queue: many senders, one receiver.

    When it is full, `put` waits (and waiting senders get in in the order they came) while
    `put_nowait` raises `anyio.WouldBlock`. Once closed, both raise
    `anyio.ClosedResourceError`; items already in stay there for `get_nowait` to drain.
    """

    __slots__ = ("_is_closed", "_items", "_max_size", "_receiver", "_senders")

    def __init__(self, max_size: float) -> None:
        self._items: deque[object] = deque()
        self._max_size = max_size
        self._receiver: anyio.Event | None = None  # only while the receiver waits
        self._senders: deque[_WaitingSender] | None = None  # made when one first waits
        self._is_closed = False

    def __len__(self) -> int:
        return len(self._items)

    def put_nowait(self, item: object) -> None:
        """Append `item` without waiting.

        Raises:
            anyio.WouldBlock: the mailbox is full.
            anyio.ClosedResourceError: the mailbox is closed.
        """
        if self._is_closed:
            raise anyio.ClosedResourceError
        items = self._items
        if len(items) >= self._max_size:
            raise anyio.WouldBlock
        items.append(item)
        receiver = self._receiver
        if receiver is not None:
            self._receiver = None
            receiver.set()

    async def put(self, item: object) -> None:
        """Append `item`, waiting while the mailbox is full (blocks).

        Cancelled while it waits, the item does not go in (unless it got in just before).

        Raises:
            anyio.ClosedResourceError: the mailbox is closed, or was closed while waiting.
        """
        try:
            self.put_nowait(item)
            return
        except anyio.WouldBlock:
            pass
        # Full: every `get_nowait` from now on moves the longest-waiting sender's item in,
        # so the mailbox stays full while senders wait and no newcomer overtakes them.
        sender = _WaitingSender(item)
        if self._senders is None:
            self._senders = deque()
        self._senders.append(sender)
        try:
            await sender.event.wait()
        finally:
            if not sender.is_delivered and self._senders is not None:  # None: closed
                self._senders.remove(sender)
        if not sender.is_delivered:
            raise anyio.ClosedResourceError

    def get_nowait(self) -> object:
        """Take the oldest item without waiting.

        Raises:
            anyio.WouldBlock: the mailbox is empty.
        """
        try:
            item = self._items.popleft()
        except IndexError:
            raise anyio.WouldBlock from None
        senders = self._senders
        if senders:  # the room just made goes to the sender that has waited longest
            sender = senders.popleft()
            self._items.append(sender.item)
            sender.is_delivered = True
            sender.event.set()
        return item

    async def get(self) -> object:
        """Take the oldest item, waiting while the mailbox is empty (blocks). One receiver
        only: this waits without raising and catching anything, so that a receiver parked
        here (an idle actor) keeps no traceback or frame object alive.

        Raises:
            anyio.ClosedResourceError: the mailbox is closed and empty.
        """
        if not self._items:
            # Yield once before waiting: a sender that runs meanwhile (say an asker, woken by
            # the answer just given) leaves its next message here without a wake-up to pay.
            await checkpoint()
        while not self._items:
            if self._is_closed:
                raise anyio.ClosedResourceError
            event = self._receiver = anyio.Event()
            try:
                await event.wait()
            finally:
                if self._receiver is event:
                    self._receiver = None
        return self.get_nowait()

    def close(self) -> None:
        """Refuse items from now on: waiting senders, and the receiver once the mailbox is
        empty, get `anyio.ClosedResourceError`."""
        self._is_closed = True
        senders, self._senders = self._senders, None
        for sender in senders or ():
            sender.event.set()
        receiver, self._receiver = self._receiver, None
        if receiver is not None:
            receiver.set()
