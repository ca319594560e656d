"""Turns on the event loop: runs whose bodies never block give it up every few milliseconds.

A flow whose tasks return without ever suspending would keep the loop from everything else,
the committer and the store among them, for as long as it runs. Knows the journal and the
store's `Flush`, not how runs are run.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Final, final

import anyio
from anyio.lowlevel import checkpoint

from ..storage._store import Flush

if TYPE_CHECKING:
    from repertory.actors import ActorRef

    from ..storage._store import Journal

#: Seconds of the event loop that runs may take before they give it up (a turn).
TURN: Final = 0.005


@final
class Turns:
    """Shares the event loop between a runtime's runs and its store.

    Every run checks `is_over()` as it starts (one clock read) and, when its turn is over,
    awaits `give_way()`. When the store is behind (`Journal.is_behind`: a commit under way,
    or writes that have waited long enough), the first run to get there waits for the store
    to commit and every run that starts meanwhile waits with it, so that the loop stays idle
    and the commit, in a thread that needs the GIL, runs at full speed. Otherwise that run
    goes to the back of the queue, and the loop polls I/O and fires timers (the committer's
    among them) before it runs again.
    """

    __slots__ = ("_ends", "_journal", "_store", "_waiting")

    def __init__(self, journal: Journal, store: ActorRef) -> None:
        self._journal = journal
        self._store = store
        self._ends = time.perf_counter() + TURN
        self._waiting: anyio.Event | None = None  # set once the store has caught up

    def is_over(self) -> bool:
        """Whether runs have had the loop for a whole turn since they last gave it up, or
        a commit is under way (which should then have the GIL to itself)."""
        return time.perf_counter() >= self._ends or self._journal.is_committing

    async def give_way(self) -> None:
        """Give the loop up, or wait for the store with the run that waits for it (blocks)."""
        waiting = self._waiting
        if waiting is not None:
            await waiting.wait()
            return
        if not self._journal.is_behind:
            # Only this run goes round the loop: the others that start meanwhile are few (a
            # feeder starts a handful at a time) and need not wait.
            self._ends = time.perf_counter() + TURN
            await checkpoint()
            return
        self._waiting = waiting = anyio.Event()
        try:
            with anyio.CancelScope(shield=True):  # the others wait for this one to finish
                await self._store.ask(Flush())
        finally:
            self._waiting = None
            self._ends = time.perf_counter() + TURN
            waiting.set()
