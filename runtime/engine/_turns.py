"""Turns on the event loop: runs whose bodies never block give it up every few milliseconds,
and a flow attempt's submitted task runs start a few at a time.

A flow whose tasks return without ever suspending would keep the loop from everything else,
the committer and the store among them, for as long as it runs. Knows the journal and the
store's `Flush`, not how runs are run.
"""

from __future__ import annotations

import collections
import time
from typing import TYPE_CHECKING, Final, Protocol, final

import anyio
from anyio.lowlevel import checkpoint

from ..storage._store import Flush

if TYPE_CHECKING:
    from collections.abc import Iterable

    from anyio.abc import TaskGroup

    from repertory.actors import ActorRef

    from ..storage._store import Journal

#: Seconds of the event loop that runs may take before they give it up (a turn).
TURN: Final = 0.005
#: Submitted task runs started at once, before those run and the loop goes round.
START_AT_ONCE: Final = 32


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


class Submission(Protocol):
    """A submitted call of a task, waiting for its run to start."""

    def start(self, task_group: TaskGroup) -> None:
        """Create its run and start it in `task_group` (never raises)."""

    def abandon(self) -> None:
        """Its flow attempt ended first: record its run Cancelled (never raises)."""


@final
class Submissions:
    """Starts the task runs a flow attempt submits, in order, in the attempt's task group.

    `submit` only queues, so that a `map` of thousands returns at once; one feeder task
    starts them `START_AT_ONCE` at a time and lets those run (and the loop go round) before
    it starts more, and gives way when the turn is over, as runs do. Cancelled with its
    attempt, it abandons the ones it had not started (and `close` does, whatever happened).
    """

    __slots__ = ("_is_feeding", "_queue", "_task_group", "_turns")

    def __init__(self, task_group: TaskGroup, turns: Turns) -> None:
        self._task_group = task_group
        self._turns = turns
        self._queue: collections.deque[Submission] = collections.deque()
        self._is_feeding = False

    def submit(self, submissions: Iterable[Submission]) -> None:
        """Queue `submissions`, to start in order (on the event loop's thread; never blocks)."""
        self._queue.extend(submissions)
        if not self._is_feeding and self._queue:
            self._is_feeding = True
            self._task_group.start_soon(self._feed, name="submitted task runs")

    async def _feed(self) -> None:
        queue, turns, task_group = self._queue, self._turns, self._task_group
        try:
            while queue:
                if turns.is_over():
                    await turns.give_way()
                    continue
                for _ in range(min(START_AT_ONCE, len(queue))):
                    queue.popleft().start(task_group)
                await checkpoint()  # behind the runs just started
        finally:
            self._is_feeding = False
            self.close()  # cancelled with the attempt

    def close(self) -> None:
        """Abandon the submissions that have not started: their attempt is over."""
        queue = self._queue
        while queue:
            queue.popleft().abandon()
