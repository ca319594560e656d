"""Scenarios of the workflow runtime (flows and tasks persisted to SQLite, or PostgreSQL when
REPERTORY_BENCH_DATABASE_URL names one), each beside a raw baseline measured in the same run:
a bare loop calling the same trivial function, or the driver's own `executemany` of the same
rows into the same kind of database.

Every function sets up untimed (a runtime on a fresh database), then returns the seconds its
hot part took. Every run is durable when the timed part ends: a flow call returns only then.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import shutil
import tempfile
import time
import uuid
from typing import TYPE_CHECKING

import anyio
import anyio.to_thread

from repertory import Runtime, flow, task

from ._harness import Scenario, Target, settle

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable

    from ._harness import Timed


def postgres_url() -> str:
    """The PostgreSQL database to measure on, if any."""
    return os.environ.get("REPERTORY_BENCH_DATABASE_URL", "")


@contextlib.asynccontextmanager
async def _runtime(database: str) -> AsyncIterator[Runtime]:
    """A runtime on a fresh SQLite file, or on a fresh workspace of the PostgreSQL database."""
    if database == "postgresql":
        async with Runtime(postgres_url(), workspace=f"bench-{uuid.uuid4().hex[:8]}") as rt:
            yield rt
        return
    directory = tempfile.mkdtemp(prefix="repertory-bench-")
    try:
        async with Runtime(f"sqlite:///{directory}/runs.db") as rt:
            yield rt
    finally:
        shutil.rmtree(directory, ignore_errors=True)


# The trivial functions, bare and as tasks and flows.


async def nothing_async(x: int) -> int:
    return x


def nothing_sync(x: int) -> int:
    return x


async_task = task(nothing_async)
sync_task = task(nothing_sync)
trivial_flow = flow(nothing_async)


@task(retries=2)
async def fails_twice(state: list[int]) -> int:
    state[0] += 1
    if state[0] % 3:
        raise ValueError("again")
    return state[0]


# Sequential tasks in one flow.


async def tasks_in_async_flow(n: int, *, database: str) -> float:
    @flow
    async def sequential(count: int) -> None:
        for i in range(count):
            await async_task(i)

    async with _runtime(database):
        await sequential(10)  # warm
        await settle()
        start = time.perf_counter()
        await sequential(n)
        return time.perf_counter() - start


async def bare_async_loop(n: int) -> float:
    start = time.perf_counter()
    for i in range(n):
        await nothing_async(i)
    return time.perf_counter() - start


async def tasks_in_sync_flow_from_sync_code(n: int, *, database: str) -> float:
    @flow
    def sequential(count: int) -> None:
        for i in range(count):
            sync_task(i)

    async with _runtime(database):
        # Sync code in a worker thread: the flow's calls find their way back to this runtime.
        await anyio.to_thread.run_sync(sequential, 10)
        await settle()
        start = time.perf_counter()
        await anyio.to_thread.run_sync(sequential, n)
        return time.perf_counter() - start


async def bare_sync_loop(n: int) -> float:
    start = time.perf_counter()
    for i in range(n):
        nothing_sync(i)
    return time.perf_counter() - start


async def driver_writes_same_rows(n: int) -> float:
    """The rows a flow of `n` tasks stores (a task run row and three states each), written by
    the driver's own `executemany` in one transaction into a fresh SQLite file, off the loop."""
    import sqlite3

    directory = tempfile.mkdtemp(prefix="repertory-bench-")
    try:
        connection = sqlite3.connect(
            f"{directory}/raw.db", isolation_level=None, check_same_thread=False
        )
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        connection.execute(
            "CREATE TABLE task_runs (id TEXT PRIMARY KEY, flow_run_id TEXT, name TEXT, "
            "state_name TEXT, run_count INTEGER, created BIGINT)"
        )
        connection.execute("CREATE INDEX task_runs_by_flow_run ON task_runs (flow_run_id)")
        connection.execute(
            "CREATE TABLE states (seq INTEGER PRIMARY KEY, run_id TEXT, name TEXT, ts BIGINT)"
        )
        connection.execute("CREATE INDEX states_by_run ON states (run_id, seq)")
        ids = [uuid.uuid4().hex for _ in range(n)]

        def write() -> None:
            connection.execute("BEGIN IMMEDIATE")
            connection.executemany(
                "INSERT INTO task_runs VALUES (?, 'f', 'task', 'Completed', 1, 0)",
                [(i,) for i in ids],
            )
            connection.executemany(
                "INSERT INTO states (run_id, name, ts) VALUES (?, ?, 0)",
                [(i, name) for i in ids for name in ("Pending", "Running", "Completed")],
            )
            connection.execute("COMMIT")

        start = time.perf_counter()
        await anyio.to_thread.run_sync(write)
        elapsed = time.perf_counter() - start
        connection.close()
        return elapsed
    finally:
        shutil.rmtree(directory, ignore_errors=True)


# Concurrent tasks.


async def mapped_tasks(n: int, *, database: str) -> float:
    @flow
    async def fan_out(count: int) -> None:
        await async_task.map(range(count))

    async with _runtime(database):
        await fan_out(10)
        await settle()
        start = time.perf_counter()
        await fan_out(n)
        return time.perf_counter() - start


async def bare_task_group(n: int) -> float:
    start = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for i in range(n):
            tg.start_soon(nothing_async, i)
    return time.perf_counter() - start


# Flow runs.


async def sequential_flow_runs(n: int, *, database: str) -> float:
    async with _runtime(database):
        await trivial_flow(0)
        await settle()
        start = time.perf_counter()
        for i in range(n):
            await trivial_flow(i)
        return time.perf_counter() - start


async def concurrent_flow_runs(n: int, *, database: str, width: int = 100) -> float:
    async with _runtime(database):
        await trivial_flow(0)
        await settle()
        start = time.perf_counter()
        for wave in range(0, n, width):
            async with anyio.create_task_group() as tg:
                for i in range(wave, min(n, wave + width)):
                    tg.start_soon(trivial_flow, i)
        return time.perf_counter() - start


async def bare_concurrent_calls(n: int, width: int = 100) -> float:
    start = time.perf_counter()
    for wave in range(0, n, width):
        async with anyio.create_task_group() as tg:
            for i in range(wave, min(n, wave + width)):
                tg.start_soon(nothing_async, i)
    return time.perf_counter() - start


# Retries: the extra time of tasks that fail twice over tasks that do not, per retry.


async def retry_overhead(n: int, *, database: str) -> float:
    tasks = max(1, n // 2)

    @flow
    async def retrying(count: int) -> None:
        for _ in range(count):
            await fails_twice([0])

    @flow
    async def plain(count: int) -> None:
        for i in range(count):
            await async_task(i)

    async with _runtime(database):
        await retrying(3)
        await settle()
        start = time.perf_counter()
        await retrying(tasks)
        with_retries = time.perf_counter() - start
        start = time.perf_counter()
        await plain(tasks)
        without = time.perf_counter() - start
    return max(with_retries - without, 1e-9)


async def bare_raise_and_catch(n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        try:
            raise ValueError("again")
        except ValueError:
            pass
    return time.perf_counter() - start


def _on(database: str, fn: Callable[..., Awaitable[float]]) -> Timed:
    return functools.partial(fn, database=database)


def _scenario(
    name: str,
    title: str,
    n: int,
    unit: str,
    actor: Timed,
    baseline: Timed,
    at_least: float | None = None,
) -> Scenario:
    """A runtime scenario: three runs (each sets up a fresh database), an optional floor."""
    target = None if at_least is None else Target(of="value", op=">=", limit=at_least)
    return Scenario(
        name=name,
        title=title,
        n=n,
        unit=unit,
        actor=actor,
        baseline=baseline,
        target=target,
        max_repeats=3,
    )


def scenarios(*, quick: bool) -> list[Scenario]:
    databases = ["sqlite"] + (["postgresql"] if postgres_url() else [])
    tasks = 1_000 if quick else 10_000
    runs = 200 if quick else 2_000
    retries = 1_000 if quick else 4_000
    out: list[Scenario] = []
    for db in databases:
        sfx = "" if db == "sqlite" else "-pg"
        label = "SQLite" if db == "sqlite" else "PostgreSQL"
        out.append(
            _scenario(
                f"seq-async{sfx}",
                f"async tasks, async flow ({label})",
                tasks,
                "tasks/s",
                _on(db, tasks_in_async_flow),
                bare_async_loop,
                at_least=20_000,
            )
        )
        if db == "sqlite":
            out.append(
                _scenario(
                    "seq-async-rows",
                    "async tasks, async flow, vs raw executemany (SQLite)",
                    tasks,
                    "tasks/s",
                    _on(db, tasks_in_async_flow),
                    driver_writes_same_rows,
                )
            )
        out += [
            _scenario(
                f"seq-sync{sfx}",
                f"sync tasks, sync flow, sync code ({label})",
                tasks,
                "tasks/s",
                _on(db, tasks_in_sync_flow_from_sync_code),
                bare_sync_loop,
                at_least=10_000,
            ),
            _scenario(
                f"map{sfx}",
                f"1,000 tasks by map ({label})",
                1_000,
                "tasks/s",
                _on(db, mapped_tasks),
                bare_task_group,
                at_least=20_000,
            ),
            _scenario(
                f"flows-seq{sfx}",
                f"flow runs, one at a time ({label})",
                runs,
                "runs/s",
                _on(db, sequential_flow_runs),
                bare_async_loop,
                at_least=2_000,
            ),
            _scenario(
                f"flows-100{sfx}",
                f"flow runs, 100 at a time ({label})",
                runs,
                "runs/s",
                _on(db, concurrent_flow_runs),
                bare_concurrent_calls,
                at_least=5_000,
            ),
            _scenario(
                f"retry{sfx}",
                f"retries, zero delay ({label})",
                retries,
                "retries/s",
                _on(db, retry_overhead),
                bare_raise_and_catch,
                at_least=10_000,  # <= 0.1 ms of overhead per retry
            ),
        ]
    # The targets are stated for SQLite; PostgreSQL's figures are reported beside them.
    return [dataclasses.replace(s, target=None) if s.name.endswith("-pg") else s for s in out]
