"""The journal of writes waiting for a group commit, and the store actor: the one writer.

Runs write to the journal without waiting (from any thread: sync tasks run in worker
threads). The first write after a commit wakes the committer, which soon has the store commit
everything the journal then holds in one transaction. A `Flush` is a barrier: it commits at
once and returns when everything written before it is durable.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar, final

import anyio

from repertory.actors import Actor, Request

from .._errors import StorageError
from .._records import LogRecord, utc_now
from ._requests import StoreRequest
from ._rows import WriteBatch, progress_of

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from anyio.lowlevel import EventLoopToken

    from repertory.actors import ActorRef

    from .._records import FlowRun, State, TaskRun
    from ._asyncio_thread import AsyncioRunner
    from ._protocol import Store
    from ._rows import Progress

T = TypeVar("T")
logger = logging.getLogger("repertory.store")

#: How long the first write after a commit waits for others to share its transaction.
COMMIT_DELAY = 0.02
#: Log lines that may wait for a commit; beyond that they are dropped, counted and noted.
DEFAULT_MAX_PENDING_LOGS = 10_000
#: Rows (runs, states, logs) waiting for a commit beyond which runs wait for the store (see
#: `Journal.is_behind`).
BACKLOG = 5_000


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class Flush(Request[None]):
    """Reply once everything written to the journal before this request is durable."""


@final
class Journal:
    """Writes waiting for the next group commit. Thread-safe; never blocks on I/O."""

    __slots__ = (
        "_armed_at",
        "_batch",
        "_dropped",
        "_host",
        "_host_thread",
        "_in_flight",
        "_is_armed",
        "_lock",
        "_max_pending_logs",
        "_wake_up",
    )

    def __init__(self, *, max_pending_logs: int = DEFAULT_MAX_PENDING_LOGS) -> None:
        if max_pending_logs < 1:
            raise ValueError(f"max_pending_logs must be >= 1, got {max_pending_logs}")
        self._max_pending_logs = max_pending_logs
        # Log lines dropped since the last commit, per (workspace, flow run).
        self._dropped: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()
        self._batch = WriteBatch()
        self._is_armed = False  # a commit is already on its way to the store
        self._armed_at = 0.0  # when (time.monotonic()) the oldest waiting write came
        # The workspaces of the batches taken by the store and not yet committed (or put back):
        # a commit is under way while there is one.
        self._in_flight: collections.deque[set[str]] = collections.deque()
        self._wake_up: Callable[[], None] | None = None
        self._host: EventLoopToken | None = None
        self._host_thread = 0

    def attach(self, wake: Callable[[], None], host: EventLoopToken) -> None:
        """Call `wake` (in the loop of `host`) on the first write after each commit."""
        with self._lock:
            self._wake_up = wake
            self._host = host
            self._host_thread = threading.get_ident()
            is_waiting = self._is_armed  # written before: nobody was woken for those writes
        if is_waiting:
            self._wake()

    def flow_run(
        self, run: FlowRun, state: State | None = None, progress: Progress | None = None
    ) -> None:
        """Record `run` as it now is (its `progress`, if given, overriding the record's own)
        and, if given, `state` as a new row of its history."""
        with self._lock:
            self._batch.flow_runs[run.id] = (run, progress or progress_of(run))
            self._batch.workspaces.add(run.workspace)
            if state is not None:
                self._batch.states.append((run.workspace, state))
            wake = self._arm()
        if wake:
            self._wake()

    def task_run(
        self, run: TaskRun, state: State | None = None, progress: Progress | None = None
    ) -> None:
        """Record `run` as it now is (its `progress`, if given, overriding the record's own)
        and, if given, `state` as a new row of its history."""
        with self._lock:
            self._batch.task_runs[run.id] = (run, progress or progress_of(run))
            self._batch.workspaces.add(run.workspace)
            if state is not None:
                self._batch.states.append((run.workspace, state))
            wake = self._arm()
        if wake:
            self._wake()

    def cached_result(self, task_run_id: str, workspace: str, key: str) -> None:
        """Record that the cache entry of `key` holds the task run's result."""
        with self._lock:
            self._batch.results.append((task_run_id, workspace, key))
            self._batch.workspaces.add(workspace)
            wake = self._arm()
        if wake:
            self._wake()

    def log(self, record: LogRecord) -> None:
        """Record a log line; past `max_pending_logs` waiting lines, drop it and count it."""
        with self._lock:
            if len(self._batch.logs) >= self._max_pending_logs:
                key = (record.workspace, record.flow_run_id)
                self._dropped[key] = self._dropped.get(key, 0) + 1
                return
            self._batch.logs.append(record)
            self._batch.workspaces.add(record.workspace)
            wake = self._arm()
        if wake:
            self._wake()

    @property
    def is_behind(self) -> bool:
        """Whether runs that keep the event loop busy should now wait for the store.

        True while the committer's commit is under way, once the oldest waiting write has
        waited `COMMIT_DELAY`, and past `BACKLOG` waiting rows. A commit runs in a worker
        thread (SQLite's writer, or the asyncio thread under trio), which beside a busy loop
        crawls: it must win the GIL back after every statement, ~5 ms each. Runs that wait
        leave the loop idle and the commit its full speed, which bounds both the durability
        lag and the memory the journal holds.
        """
        if self.is_committing:
            return True
        return self.age >= COMMIT_DELAY or self.pending >= BACKLOG

    @property
    def is_committing(self) -> bool:
        """Whether the store is committing a batch it took (see `is_behind`)."""
        return bool(self._in_flight)

    @property
    def age(self) -> float:
        """Seconds the oldest write waiting for a commit has waited (0 when none waits)."""
        return time.monotonic() - self._armed_at if self._is_armed else 0.0

    def is_settled(self, workspace: str) -> bool:
        """Whether everything written so far of `workspace` is durable: nothing of it waits,
        nothing of it is being committed. A read that must see earlier writes needs a `Flush`
        only when not."""
        with self._lock:
            if workspace in self._batch.workspaces:
                return False
            return not any(workspace in taken for taken in self._in_flight)

    @property
    def pending(self) -> int:
        """How many rows (runs, states, log lines) wait for the next commit."""
        return len(self._batch)

    def take(self) -> WriteBatch:
        """Everything written so far; the journal starts afresh. The batch is in flight
        until the taker calls `settle` (committed, or put back)."""
        with self._lock:
            batch, self._batch = self._batch, WriteBatch()
            dropped, self._dropped = self._dropped, {}
            self._is_armed = False
            self._in_flight.append(batch.workspaces)
        for (workspace, flow_run_id), count in dropped.items():
            batch.workspaces.add(workspace)  # (the set in flight too: the same one)
            batch.logs.append(
                LogRecord(
                    workspace=workspace,
                    flow_run_id=flow_run_id,
                    level=logging.WARNING,
                    logger="repertory.store",
                    message=f"{count} log line(s) dropped: they came faster than the store "
                    "could write them",
                    timestamp=utc_now(),
                )
            )
        return batch

    def settle(self) -> None:
        """The batch last taken is committed, or was put back: no longer in flight."""
        with self._lock:
            self._in_flight.popleft()

    def put_back(self, batch: WriteBatch) -> None:
        """Return a batch that could not be committed, ahead of what came since."""
        with self._lock:
            batch.absorb(self._batch)
            self._batch = batch
            wake = self._arm()
        if wake:
            self._wake()  # the committer tries again, after its delay

    def _arm(self) -> bool:
        """Under the lock: note that a commit is wanted; True if nobody has been woken yet."""
        wake = not self._is_armed
        if wake:
            self._is_armed = True
            self._armed_at = time.monotonic()
        return wake

    def _wake(self) -> None:
        wake, host = self._wake_up, self._host
        if wake is None or host is None:
            return  # not attached yet: `attach` wakes for what was written before
        if threading.get_ident() == self._host_thread:
            wake()
        else:
            with contextlib.suppress(anyio.RunFinishedError):  # the host has ended
                host.backend_class.run_sync_soon(wake, (), host.native_token)


@final
class Committer:
    """Has the store commit `delay` seconds after the first write since the last commit.

    Writes that arrive close together share one transaction, and none waits longer than
    `delay` plus one commit to be durable (a `Flush` does not wait at all). While a commit
    is under way, the journal says so (`Journal.is_behind`), so that busy runs let it finish.
    """

    def __init__(self, store: ActorRef, journal: Journal, *, delay: float = COMMIT_DELAY) -> None:
        self._store = store
        self._journal = journal
        self._delay = delay
        self._pending = anyio.Event()

    def wake(self) -> None:
        """Note that there are writes to commit (on the event loop's thread)."""
        self._pending.set()

    async def serve(self) -> None:
        """Ask for commits as writes arrive, until cancelled."""
        journal = self._journal
        while True:
            await self._pending.wait()
            self._pending = anyio.Event()  # writes from now on ask again
            # From the first write: those that came during the last commit have waited.
            await anyio.sleep(max(0.0, self._delay - journal.age))
            # A failed commit has put its batch back, to be retried, and its failure reaches
            # the store's supervisor: nothing for the committer to handle.
            with contextlib.suppress(Exception):
                await self._store.ask(Flush())


class StoreActor(Actor):
    """Owns the store's connection: commits the journal, answers `StoreRequest`s (after a
    commit, for those that say `commits_first`), tracks liveness.

    On start it registers this runtime as a live owner and marks the unfinished runs of dead
    owners Crashed.
    """

    def __init__(
        self,
        *,
        database: Store,
        runner: AsyncioRunner | None,
        journal: Journal,
        owner: str,
    ) -> None:
        self._database = database
        self._runner = runner
        self._journal = journal
        self._owner = owner

    async def on_start(self) -> None:
        await self._call(self._database.open)
        try:
            await self._call(lambda: self._database.register_owner(self._owner))
            await self._sweep_dead_owners()
        except BaseException:
            await self._call(self._database.close)  # on_stop runs only after a start
            raise

    async def on_stop(self) -> None:
        try:
            await self._commit()
            await self._call(lambda: self._database.unregister_owner(self._owner))
        finally:
            await self._call(self._database.close)

    async def receive(self, message: object) -> object:
        if isinstance(message, Flush):
            await self._commit()
            return None
        if isinstance(message, StoreRequest):
            if message.commits_first:
                await self._commit()
            try:
                return await self._call(lambda: message.answer(self._database))
            except StorageError as exc:  # this request's own failure (its data, say): not ours
                self.refuse(exc)
        return self.unhandled(message)

    async def _commit(self) -> None:
        batch = self._journal.take()
        try:
            if batch:
                await self._write(batch)
        finally:
            self._journal.settle()

    async def _call(self, fn: Callable[[], Awaitable[T]]) -> T:
        """`fn()` where the store's drivers need it: on the runner's asyncio loop; here, for
        a store without one (memory answers on any loop)."""
        if self._runner is None:
            return await fn()
        return await self._runner.call(fn)

    async def _write(self, batch: WriteBatch) -> None:
        database = self._database
        try:
            if database.writes_on_any_backend:  # no hop through the asyncio thread on trio
                with anyio.CancelScope(shield=True):  # as the runner's calls: never half done
                    await database.write(batch, owner=self._owner)
            else:
                await self._call(lambda: database.write(batch, owner=self._owner))
        except BaseException:
            # Nothing is lost: the next commit retries it (after a StorageConflictError, its
            # supervisor restarts the store with one log line: another writer was in the way).
            self._journal.put_back(batch)
            raise

    async def _sweep_dead_owners(self) -> None:
        database = self._database
        owners = await self._call(lambda: database.other_owners(self._owner))
        for owner in owners:
            if await self._call(lambda owner=owner: database.is_owner_alive(owner)):  # type: ignore[misc]
                continue
            crashed = await self._call(
                lambda owner=owner: database.crash_runs_of(  # type: ignore[misc]
                    owner, "the process that ran it died"
                )
            )
            if crashed:
                logger.warning("marked %d run(s) of dead owner %s Crashed", len(crashed), owner)
