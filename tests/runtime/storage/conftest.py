"""Records to store, and `store`: every implementation of the `Store` protocol (SQLite,
PostgreSQL when configured, memory), open, for the contract suite."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, TypeVar

import pytest

from repertory.runtime._records import FlowRun, LogRecord, State, TaskRun
from repertory.runtime.storage._memory import MemoryStore
from repertory.runtime.storage._rows import WriteBatch, progress_of
from repertory.runtime.storage._sql import SqlDatabase

from ..conftest import DATABASES, empty_database

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable
    from pathlib import Path

    from repertory.runtime.storage._asyncio_thread import AsyncioRunner
    from repertory.runtime.storage._protocol import Store

T = TypeVar("T")
T0 = datetime(2025, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def state(name: str, run_id: str, when: float = 0, message: str | None = None) -> State:
    return State.named(name, run_id, message=message, timestamp=at(when))


def flow_run(
    run_id: str,
    state_name: str = "Running",
    *,
    workspace: str = "default",
    flow_name: str = "etl",
    created: float = 0,
    parent: str | None = None,
) -> FlowRun:
    return FlowRun(
        id=run_id,
        name=f"name-{run_id}",
        flow_name=flow_name,
        state=state(state_name, run_id, created),
        parameters={"n": 1},
        workspace=workspace,
        created=at(created),
        parent_flow_run_id=parent,
    )


def task_run(
    run_id: str,
    flow_run_id: str,
    state_name: str = "Running",
    *,
    workspace: str = "default",
    created: float = 0,
) -> TaskRun:
    return TaskRun(
        id=run_id,
        name=f"name-{run_id}",
        task_name="step",
        flow_run_id=flow_run_id,
        state=state(state_name, run_id, created),
        parameters={},
        workspace=workspace,
        created=at(created),
    )


def log(flow_run_id: str, message: str, task_run_id: str | None = None) -> LogRecord:
    return LogRecord(
        flow_run_id=flow_run_id, task_run_id=task_run_id, level=20, message=message, timestamp=T0
    )


def batch(*items: FlowRun | TaskRun | State | LogRecord, workspace: str = "default") -> WriteBatch:
    out = WriteBatch()
    for item in items:
        if isinstance(item, FlowRun):
            out.flow_runs[item.id] = (item, progress_of(item))
        elif isinstance(item, TaskRun):
            out.task_runs[item.id] = (item, progress_of(item))
        elif isinstance(item, State):
            out.states.append((workspace, item))
        else:
            out.logs.append(item)
    return out


@dataclass(frozen=True, slots=True)
class Stored:
    """An open store, called through the runner (the SQL stores' drivers need asyncio, so
    that this works on trio too; the memory store takes any thread)."""

    store: Store
    runner: AsyncioRunner

    async def __call__(self, fn: Callable[[Store], Awaitable[T]]) -> T:
        return await self.runner.call(lambda: fn(self.store))

    async def write(
        self,
        *items: FlowRun | TaskRun | State | LogRecord,
        owner: str = "me",
        workspace: str = "default",
    ) -> None:
        await self(lambda db: db.write(batch(*items, workspace=workspace), owner=owner))


@pytest.fixture(params=[*DATABASES, "memory"])
async def store(
    request: pytest.FixtureRequest, tmp_path: Path, runner: AsyncioRunner
) -> AsyncIterator[Stored]:
    async def opened(store: Store) -> AsyncIterator[Stored]:
        await runner.call(store.open)
        try:
            yield Stored(store, runner)
        finally:
            await runner.call(store.close)

    if request.param == "memory":
        async for stored in opened(MemoryStore()):
            yield stored
        return
    async with empty_database(request.param, tmp_path, runner) as url:
        async for stored in opened(SqlDatabase(url)):
            yield stored
