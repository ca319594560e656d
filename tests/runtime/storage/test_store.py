"""The journal (the thread-safe write buffer) and the store actor that commits it."""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TypeVar

import anyio
import pytest
import sniffio
from anyio.lowlevel import current_token

from repertory.actors import TransientError, open_actor_system
from repertory.actors.testing import NO_BACKOFF
from repertory.runtime._errors import StorageConflictError, StorageError
from repertory.runtime._records import FlowRun, LogRecord, State, TaskRun
from repertory.runtime._states import StateType
from repertory.runtime.storage._conflicts import is_conflict
from repertory.runtime.storage._liveness import SqliteOwnerLock
from repertory.runtime.storage._requests import Ping, ReadFlowRun, ReadFlowRuns, StoreRequest
from repertory.runtime.storage._rows import progress_of
from repertory.runtime.storage._sql import SqlDatabase
from repertory.runtime.storage._store import Committer, Flush, Journal, StoreActor

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable
    from pathlib import Path

    from repertory.actors import ActorRef
    from repertory.runtime.storage._asyncio_thread import AsyncioRunner
    from repertory.runtime.storage._protocol import Store

T = TypeVar("T")
OWNER = "me"
T0 = datetime(2025, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)


def flow_run(run_id: str, state_name: str = "Running", *, workspace: str = "default") -> FlowRun:
    return FlowRun(
        id=run_id,
        name=f"name-{run_id}",
        flow_name="etl",
        state=State.named(state_name, run_id),
        parameters={},
        workspace=workspace,
    )


def task_run(run_id: str, flow_run_id: str, state_name: str = "Running") -> TaskRun:
    return TaskRun(
        id=run_id,
        name=f"name-{run_id}",
        task_name="step",
        flow_run_id=flow_run_id,
        state=State.named(state_name, run_id),
        parameters={},
    )


def log(flow_run_id: str, message: str) -> LogRecord:
    return LogRecord(flow_run_id=flow_run_id, level=20, message=message, timestamp=T0)


# -- the asyncio runner, the store's way to the database ---------------------------------


async def test_runner_runs_coroutines_on_asyncio_and_passes_errors_back(
    runner: AsyncioRunner, anyio_backend: str
) -> None:
    async def library() -> str:
        return sniffio.current_async_library()

    async def fail() -> None:
        raise KeyError("boom")

    assert runner.is_threaded == (anyio_backend != "asyncio")  # its own loop, on trio
    assert await runner.call(library) == "asyncio"
    with pytest.raises(KeyError, match="boom"):
        await runner.call(fail)


# -- the journal -------------------------------------------------------------------------


def test_the_journal_keeps_each_runs_latest_record_and_every_state_and_log_in_order() -> None:
    journal = Journal()
    pending, running = flow_run("f1", "Pending", workspace="a"), flow_run("f1", workspace="a")
    task = task_run("t1", "f1")
    journal.flow_run(pending, pending.state)
    journal.task_run(task, task.state)
    journal.log(log("f1", "one"))
    journal.flow_run(running, running.state)
    journal.flow_run(running)  # no new state: the record only
    journal.log(log("f1", "two"))

    batch = journal.take()

    assert batch.flow_runs == {"f1": (running, progress_of(running))}
    assert batch.task_runs == {"t1": (task, progress_of(task))}
    assert batch.states == [("a", pending.state), ("default", task.state), ("a", running.state)]
    assert batch.logs == [log("f1", "one"), log("f1", "two")]
    assert not journal.take()


def test_put_back_puts_a_failed_batch_ahead_of_newer_writes() -> None:
    journal = Journal()
    old, new, other = flow_run("f1", "Pending"), flow_run("f1"), flow_run("f2")
    journal.flow_run(old, old.state)
    journal.log(log("f1", "old"))
    failed = journal.take()
    journal.flow_run(new, new.state)
    journal.flow_run(other, other.state)
    journal.log(log("f1", "new"))

    journal.put_back(failed)
    batch = journal.take()

    # the newer record wins
    assert batch.flow_runs == {"f1": (new, progress_of(new)), "f2": (other, progress_of(other))}
    assert batch.states == [("default", s) for s in (old.state, new.state, other.state)]
    assert batch.logs == [log("f1", "old"), log("f1", "new")]


class Wakes:
    """A journal's wake-up callback that records the thread of each call."""

    def __init__(self) -> None:
        self.threads: list[int] = []
        self._changed = anyio.Event()

    def __call__(self) -> None:
        self.threads.append(threading.get_ident())
        self._changed.set()
        self._changed = anyio.Event()

    async def wait_for(self, count: int) -> None:
        while len(self.threads) < count:
            await self._changed.wait()


async def test_the_journal_wakes_once_per_commit_in_the_hosts_thread() -> None:
    journal, wakes, host = Journal(), Wakes(), threading.get_ident()
    journal.log(log("f1", "before attaching"))
    journal.attach(wakes, current_token())
    assert wakes.threads == [host]  # for what was written before attaching

    journal.take()
    journal.log(log("f1", "a"))
    journal.flow_run(flow_run("f1"))
    journal.task_run(task_run("t1", "f1"))
    assert wakes.threads == [host, host]  # one wake until the next take

    journal.take()
    await anyio.to_thread.run_sync(journal.log, log("f1", "from a worker thread"))
    await wakes.wait_for(3)
    assert wakes.threads == [host, host, host]


def test_the_journal_drops_log_lines_beyond_its_limit_and_says_so() -> None:
    journal = Journal(max_pending_logs=2)
    for i in range(5):
        journal.log(log("f1", f"line {i}"))
    journal.flow_run(flow_run("f1"))

    logs = journal.take().logs

    assert [record.message for record in logs[:2]] == ["line 0", "line 1"]
    assert len(logs) == 3
    assert (logs[2].flow_run_id, logs[2].level) == ("f1", logging.WARNING)
    assert logs[2].message.startswith("3 log line(s) dropped")
    assert journal.take().logs == []
    with pytest.raises(ValueError, match="max_pending_logs must be >= 1"):
        Journal(max_pending_logs=0)


# -- the store actor ---------------------------------------------------------------------


@contextlib.asynccontextmanager
async def running_store(
    url: str, runner: AsyncioRunner, journal: Journal, *, attach: bool = True
) -> AsyncIterator[ActorRef]:
    """A store actor on the database at `url`, in an actor system of its own."""
    database = SqlDatabase(url)
    async with open_actor_system(backoff=NO_BACKOFF) as system:
        ref = await system.spawn(
            lambda: StoreActor(database=database, runner=runner, journal=journal, owner=OWNER),
            name="store",
        )
        async with anyio.create_task_group() as task_group:
            if attach:
                committer = Committer(ref, journal)
                task_group.start_soon(committer.serve)
                journal.attach(committer.wake, current_token())
            yield ref
            task_group.cancel_scope.cancel()


async def on_other_connection(
    url: str, runner: AsyncioRunner, read: Callable[[SqlDatabase], Awaitable[T]]
) -> T:
    """Read through a connection of its own: what it sees is committed."""
    database = SqlDatabase(url)
    await runner.call(database.open)
    try:
        return await runner.call(lambda: read(database))
    finally:
        await runner.call(database.close)


async def test_flush_makes_everything_written_before_it_durable(
    database_url: str, runner: AsyncioRunner
) -> None:
    journal = Journal()
    run, task = flow_run("f1"), task_run("t1", "f1")
    async with running_store(database_url, runner, journal) as store:
        journal.flow_run(run, run.state)
        journal.task_run(task, task.state)
        await anyio.to_thread.run_sync(journal.log, log("f1", "from a worker thread"))
        await store.ask(Flush())

        assert (
            await on_other_connection(
                database_url, runner, lambda db: db.read_flow_run("default", "f1")
            )
            == run
        )
        assert await on_other_connection(
            database_url, runner, lambda db: db.read_task_runs("default", "f1")
        ) == [task]
        history = await on_other_connection(
            database_url, runner, lambda db: db.read_state_history("default", "f1")
        )
        assert history == [run.state]
        logs = await on_other_connection(
            database_url, runner, lambda db: db.read_logs("default", "f1")
        )
        assert [record.message for record in logs] == ["from a worker thread"]
    assert not journal.take()


async def test_a_request_that_commits_first_sees_the_journals_writes(
    database_url: str, runner: AsyncioRunner
) -> None:
    journal = Journal()
    run = flow_run("f1")
    # Not attached: no commit is on its way, so only a request can commit the run.
    async with running_store(database_url, runner, journal, attach=False) as store:
        journal.flow_run(run, run.state)
        await store.ask(Ping())  # a request of what the journal never holds: no commit
        assert journal.is_settled("default") is False

        read = await store.ask(ReadFlowRun(workspace="default", run_id="f1"))

        assert read == run
        assert not journal.take()


@dataclass(frozen=True, slots=True, kw_only=True)
class CloseTheConnection(StoreRequest[None]):
    """A request of tests only: the set of requests is open, as the kernel's messages are."""

    def answer(self, store: Store) -> Awaitable[None]:
        return store.close()


async def test_a_failed_write_stays_in_the_journal_and_is_committed_later(
    database_url: str, runner: AsyncioRunner
) -> None:
    journal = Journal()
    run = flow_run("f1")
    async with running_store(database_url, runner, journal, attach=False) as store:
        await store.ask(CloseTheConnection())  # every write now fails
        journal.flow_run(run, run.state)

        with pytest.raises(StorageError, match="cannot write"):
            await store.ask(Flush())
        # The store crashed and was restarted, with the connection opened anew.
        await store.ask(Flush())

        history = await on_other_connection(
            database_url, runner, lambda db: db.read_state_history("default", "f1")
        )
        assert history == [run.state]  # written once
        assert await store.ask(ReadFlowRun(workspace="default", run_id="f1")) == run


async def test_a_write_kept_waiting_by_another_process_is_one_warning_and_tried_again(
    tmp_path: Path, runner: AsyncioRunner, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    journal = Journal()
    run = flow_run("f1")
    async with running_store(url, runner, journal, attach=False) as store:
        other = await anyio.to_thread.run_sync(
            lambda: sqlite3.connect(tmp_path / "shared.db", check_same_thread=False)
        )
        try:
            # Another process's long transaction holds the write lock past the busy timeout.
            await anyio.to_thread.run_sync(other.execute, "BEGIN IMMEDIATE")
            journal.flow_run(run, run.state)
            with pytest.raises(StorageConflictError, match="database is locked"):
                await store.ask(Flush())
        finally:
            await anyio.to_thread.run_sync(other.close)  # which ends its transaction
        await store.ask(Flush())  # restarted, the store writes what it kept
        assert await store.ask(ReadFlowRun(workspace="default", run_id="f1")) == run
    said = [(r.levelname, r.getMessage(), r.exc_info) for r in caplog.records]
    assert said == [
        (
            "WARNING",
            f"'store' stopped (supervisor 'root'): cannot write to database {url}: "
            "database is locked",
            None,
        )
    ]


def test_conflicts_with_another_writer_are_told_from_other_errors() -> None:
    class PostgresError(Exception):  # as asyncpg's: an SQLSTATE
        def __init__(self, sqlstate: str) -> None:
            self.sqlstate = sqlstate

    def wrapped(error: Exception) -> StorageError:
        try:
            raise StorageError("cannot write") from error
        except StorageError as exc:
            return exc

    assert is_conflict(sqlite3.OperationalError("database is locked"))
    assert is_conflict(wrapped(PostgresError("40P01")))  # a deadlock
    assert is_conflict(wrapped(PostgresError("55P03")))  # a lock not available in time
    assert not is_conflict(sqlite3.OperationalError("no such table: flow_runs"))
    assert not is_conflict(wrapped(PostgresError("23505")))  # a unique violation
    assert not is_conflict(ValueError("database is locked"))
    assert isinstance(StorageConflictError("x"), TransientError)  # one line, no traceback


async def test_the_store_registers_its_owner_while_it_runs(
    database_url: str, runner: AsyncioRunner
) -> None:
    async with running_store(database_url, runner, Journal()):
        owners = await on_other_connection(database_url, runner, lambda db: db.other_owners("x"))
        assert owners == [OWNER]
    assert await on_other_connection(database_url, runner, lambda db: db.other_owners("x")) == []


@contextlib.asynccontextmanager
async def live_owner(url: str, runner: AsyncioRunner, owner: str) -> AsyncIterator[None]:
    """Another runtime, alive: it holds its liveness token and is registered."""
    database = SqlDatabase(url)
    await runner.call(database.open)
    lock = SqliteOwnerLock(url, owner)
    if database.dialect == "sqlite":
        await anyio.to_thread.run_sync(lock.acquire)
    try:
        await runner.call(lambda: database.register_owner(owner))
        yield
    finally:
        await anyio.to_thread.run_sync(lock.release)
        await runner.call(database.close)


async def test_on_start_the_store_crashes_the_unfinished_runs_of_dead_owners_only(
    database_url: str, runner: AsyncioRunner
) -> None:
    async def write(database: SqlDatabase) -> None:
        for owner, runs in [("dead", ["d1", "d2"]), ("alive", ["a1"])]:
            journal = Journal()
            for run_id in runs:
                journal.flow_run(flow_run(run_id))
            await database.write(journal.take(), owner=owner)
        await database.register_owner("dead")

    await on_other_connection(database_url, runner, write)
    async with (
        live_owner(database_url, runner, "alive"),
        running_store(database_url, runner, Journal()) as store,
    ):
        runs = await store.ask(ReadFlowRuns(workspace="default"))
        other_owners = await on_other_connection(
            database_url, runner, lambda db: db.other_owners(OWNER)
        )

    states = {run.id: (run.state.type, run.state.message) for run in runs}
    assert states == {
        "d1": (StateType.CRASHED, "the process that ran it died"),
        "d2": (StateType.CRASHED, "the process that ran it died"),
        "a1": (StateType.RUNNING, None),
    }
    assert other_owners == ["alive"]
