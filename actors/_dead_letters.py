"""Dead letters: messages that reached no actor are recorded here, never lost silently."""

from __future__ import annotations

import collections
import contextlib
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, final

from ._errors import ActorError

if TYPE_CHECKING:
    from ._clock import Clock
    from ._ref import ActorRef

logger = logging.getLogger("repertory.actors")


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class DeadLetter:
    """A message that no actor handled.

    `reason` is one of `"stopped"` (the recipient had stopped), `"not found"` (no actor by
    that name), `"unhandled"` (the actor had no handler for it) or `"connection lost"`.
    """

    recipient: str
    message: object
    reason: str
    timestamp: float


@final
class DeadLetterOffice:
    """Keeps the most recent dead letters, counts all of them and forwards them to subscribers.

    Subscribers are actors (for example a test probe); each dead letter is told to them
    without waiting, and one whose mailbox is full misses it (the count still has it).
    """

    def __init__(self, clock: Clock, capacity: int = 1000) -> None:
        self._clock = clock
        self._records: collections.deque[DeadLetter] = collections.deque(maxlen=capacity)
        self._subscribers: list[ActorRef] = []
        self.total = 0

    @property
    def records(self) -> tuple[DeadLetter, ...]:
        """The most recent dead letters, oldest first."""
        return tuple(self._records)

    def record(self, recipient: str, message: object, reason: str) -> None:
        letter = DeadLetter(
            recipient=recipient, message=message, reason=reason, timestamp=self._clock.now()
        )
        self._records.append(letter)
        self.total += 1
        level = logging.DEBUG if reason == "stopped" else logging.WARNING
        logger.log(level, "dead letter to %r (%s): %s", recipient, reason, type(message).__name__)
        if isinstance(message, DeadLetter):
            return  # a subscriber that stopped: forwarding again would loop
        for subscriber in self._subscribers:
            # A full subscriber misses this one; the count keeps it.
            with contextlib.suppress(ActorError):
                subscriber.tell_nowait(letter)

    def subscribe(self, ref: ActorRef) -> None:
        """Tell every future dead letter to `ref`."""
        self._subscribers.append(ref)

    def unsubscribe(self, ref: ActorRef) -> None:
        """Stop telling dead letters to `ref`."""
        self._subscribers.remove(ref)
