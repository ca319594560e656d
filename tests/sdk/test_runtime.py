"""The `Runtime` itself: runs it owns, reads and their scoping, bad databases, defaults."""

from __future__ import annotations

import subprocess
import sys
import uuid
from typing import TYPE_CHECKING

import anyio
import pytest

from repertory import ParameterValidationError, Runtime, StateType, flow
from repertory.runtime import (
    IdempotencyKeyReusedError,
    InvalidTransitionError,
    RunNotFoundError,
    RuntimeNotRunningError,
    StorageError,
    TooManyRunsError,
    default_database_url,
)
from repertory.testing import open_test_runtime

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path


@flow
async def square(x: int) -> int:
    return x * x


async def test_created_runs_run_in_the_runtime(make_runtime: Callable[[], Runtime]) -> None:
    async with make_runtime() as rt:
        created = await rt.create_flow_run(square, {"x": "3"})
        assert created.parameters == {"x": 3}
        finished = await rt.wait_for_flow_run(created.id)
        assert finished.state.type is StateType.COMPLETED
        assert [s.name for s in await rt.read_state_history(created.id)] == [
            "Pending",
            "Running",
            "Completed",
        ]


async def test_an_idempotency_key_makes_one_run_however_often_it_is_sent(
    make_runtime: Callable[[], Runtime],
) -> None:
    async with make_runtime() as rt:
        first = await rt.create_flow_run(square, {"x": 3}, idempotency_key="order-17")
        again = await rt.create_flow_run(square, {"x": "3"}, idempotency_key="order-17")
        assert again.id == first.id  # the same request, once coerced
        results: list[str] = []
        async with anyio.create_task_group() as tg:

            async def create() -> None:
                run = await rt.create_flow_run(square, {"x": 4}, idempotency_key="order-18")
                results.append(run.id)

            for _ in range(5):
                tg.start_soon(create)
        assert len(set(results)) == 1  # five at once, one run
        with pytest.raises(IdempotencyKeyReusedError, match="order-17"):
            await rt.create_flow_run(square, {"x": 5}, idempotency_key="order-17")
        other = await rt.create_flow_run(
            square, {"x": 3}, idempotency_key="order-17", workspace=f"{rt.workspace}-b"
        )
        assert other.id != first.id  # keys are per workspace
        for bad in ("", "k" * 201):
            with pytest.raises(ValueError, match="idempotency key"):
                await rt.create_flow_run(square, {"x": 3}, idempotency_key=bad)
        await rt.wait_for_flow_run(first.id)
        await rt.wait_for_flow_run(results[0])
        assert len(await rt.read_flow_runs()) == 2


async def test_bad_parameters_create_nothing(make_runtime: Callable[[], Runtime]) -> None:
    async with make_runtime() as rt:
        with pytest.raises(ParameterValidationError, match="x"):
            await rt.create_flow_run(square, {"x": "three"})
        assert await rt.read_flow_runs() == []


async def test_cancelling_a_created_run(make_runtime: Callable[[], Runtime]) -> None:
    started = anyio.Event()

    @flow
    async def forever() -> None:
        started.set()
        await anyio.sleep_forever()

    async with make_runtime() as rt:
        created = await rt.create_flow_run(forever)
        await started.wait()
        cancelled = await rt.cancel_flow_run(created.id)
        assert cancelled.state.name == "Cancelled"
        with pytest.raises(InvalidTransitionError):
            await rt.cancel_flow_run(created.id)


async def test_a_live_run_is_read_from_its_actor_and_waited_for_by_many(
    make_runtime: Callable[[], Runtime],
) -> None:
    started = anyio.Event()
    release = anyio.Event()

    @flow
    async def gated() -> str:
        started.set()
        await release.wait()
        return "done"

    async with make_runtime() as rt:
        created = await rt.create_flow_run(gated)
        await started.wait()
        # The run's actor answers at once, before the store has committed the Running state.
        live = await rt.read_flow_run(created.id)
        assert (live.state.name, live.run_count) == ("Running", 1)
        finished: list[str] = []
        async with anyio.create_task_group() as tg:

            async def wait() -> None:
                finished.append((await rt.wait_for_flow_run(created.id)).state.name)

            for _ in range(3):
                tg.start_soon(wait)
            await anyio.wait_all_tasks_blocked()
            assert finished == []
            release.set()
        assert finished == ["Completed"] * 3
        # Once it has ended, the same reads come from the database.
        assert (await rt.wait_for_flow_run(created.id)).state.name == "Completed"
        assert (await rt.read_flow_run(created.id)).end_time is not None


async def test_creating_past_max_live_runs_waits_for_a_run_to_end(database_url: str) -> None:
    release = anyio.Event()

    @flow
    async def gated(x: int) -> int:
        await release.wait()
        return x

    workspace = f"test-{uuid.uuid4().hex[:12]}"
    async with Runtime(database_url, workspace=workspace, max_live_runs=2) as rt:
        first = await rt.create_flow_run(gated, {"x": 1})
        await rt.create_flow_run(gated, {"x": 2})
        with pytest.raises(ParameterValidationError):  # refused before it takes a place
            await rt.create_flow_run(gated, {"x": "three"})
        created: list[object] = []
        async with anyio.create_task_group() as tg:

            async def create(x: int, scope: anyio.CancelScope) -> None:
                with scope:
                    created.append((await rt.create_flow_run(gated, {"x": x})).parameters["x"])

            abandoned = anyio.CancelScope()  # a caller that gives up holds no place
            tg.start_soon(create, 3, abandoned)
            await anyio.wait_all_tasks_blocked()
            abandoned.cancel()
            tg.start_soon(create, 4, anyio.CancelScope())
            await anyio.wait_all_tasks_blocked()
            assert created == []  # two runs are live: the third waits
            await rt.cancel_flow_run(first.id)  # one ends: its place goes to the waiting one
            await anyio.wait_all_tasks_blocked()
            assert created == [4]
            release.set()
        runs = await rt.read_flow_runs()
        assert sorted(str(run.parameters["x"]) for run in runs) == ["1", "2", "4"]


async def test_a_workspace_past_its_live_runs_is_refused(database_url: str) -> None:
    release = anyio.Event()

    @flow
    async def gated() -> None:
        await release.wait()

    ws = f"test-{uuid.uuid4().hex[:12]}"
    async with Runtime(database_url, workspace=ws, max_live_runs_per_workspace=2) as rt:
        first = await rt.create_flow_run(gated)
        await rt.create_flow_run(gated)
        with pytest.raises(TooManyRunsError, match="2 runs in progress") as caught:
            await rt.create_flow_run(gated, idempotency_key="refused")
        assert caught.value.workspace == ws
        await rt.create_flow_run(gated, workspace=f"{ws}-other")  # another workspace's own
        await rt.cancel_flow_run(first.id)
        again = await rt.create_flow_run(gated, idempotency_key="refused")  # the key is free
        assert again.state.name == "Pending"
        assert len(await rt.read_flow_runs()) == 3
        release.set()


def test_max_live_runs_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_live_runs"):
        Runtime("sqlite:///unused.db", max_live_runs=0)


async def test_a_run_cancelled_right_after_it_was_created_ends_cancelled(
    make_runtime: Callable[[], Runtime],
) -> None:
    @flow
    async def forever() -> None:
        await anyio.sleep_forever()

    async with make_runtime() as rt:
        created = await rt.create_flow_run(forever)
        cancelled = await rt.cancel_flow_run(created.id)
        assert cancelled.state.name == "Cancelled"
        history = [s.name for s in await rt.read_state_history(created.id)]
        assert history[0] == "Pending"
        assert history[-1] == "Cancelled"


async def test_runs_still_running_at_exit_end_cancelled(database_url: str) -> None:
    started = anyio.Event()

    @flow
    async def forever() -> None:
        started.set()
        await anyio.sleep_forever()

    async with Runtime(database_url, workspace="exit-cancel") as rt:
        created = await rt.create_flow_run(forever)
        await started.wait()
    async with Runtime(database_url, workspace="exit-cancel") as rt:
        assert (await rt.read_flow_run(created.id)).state.name == "Cancelled"


async def test_reads_filter_page_and_stay_in_their_workspace(
    make_runtime: Callable[[], Runtime],
) -> None:
    @flow
    async def boom() -> None:
        raise ValueError

    async with make_runtime() as rt:
        for x in range(5):
            await square(x)
        await boom(return_state=True)
        assert len(await rt.read_flow_runs()) == 6
        assert len(await rt.read_flow_runs(flow_name="square")) == 5
        failed = await rt.read_flow_runs(state_type=StateType.FAILED)
        assert [run.flow_name for run in failed] == ["boom"]
        page = await rt.read_flow_runs(flow_name="square", limit=2, offset=1)
        assert [run.parameters["x"] for run in page] == [1, 2]
        runs = await rt.read_flow_runs()
        since = runs[2].created
        windows = (await rt.read_flow_runs(created_after=since)) + (
            await rt.read_flow_runs(created_before=since)
        )
        assert sorted(run.id for run in windows) == sorted(run.id for run in runs)  # no overlap
        assert all(run.created >= since for run in await rt.read_flow_runs(created_after=since))
        with pytest.raises(ValueError, match="time zone"):
            await rt.read_flow_runs(created_after=since.replace(tzinfo=None))
        other = "elsewhere"
        assert await rt.read_flow_runs(workspace=other) == []
        with pytest.raises(RunNotFoundError):
            await rt.read_flow_run(page[0].id, workspace=other)
        assert await rt.read_state_history(page[0].id, workspace=other) == []


async def test_an_unknown_run_is_not_found(make_runtime: Callable[[], Runtime]) -> None:
    async with make_runtime() as rt:
        with pytest.raises(RunNotFoundError, match="no run 'nope'"):
            await rt.read_flow_run("nope")


async def test_a_stopped_runtime_refuses_reads(make_runtime: Callable[[], Runtime]) -> None:
    rt = make_runtime()
    with pytest.raises(RuntimeNotRunningError):
        await rt.read_flow_runs()
    async with rt:
        pass
    with pytest.raises(RuntimeNotRunningError):
        await rt.read_flow_runs()


async def test_runs_survive_a_restart(database_url: str) -> None:
    async with Runtime(database_url, workspace="restart") as rt:
        state = await square(6, return_state=True)
    async with Runtime(database_url, workspace="restart") as rt:
        run = await rt.read_flow_run(state.run_id)
        assert run.state.name == "Completed"


async def test_a_database_that_cannot_be_opened(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match=r"cannot open database postgresql://u:\*+@"):
        async with Runtime("postgresql://u:secret@127.0.0.1:1/none"):
            pass
    with pytest.raises(StorageError, match="unsupported database URL scheme 'mysql'"):
        Runtime("mysql://127.0.0.1/x")
    blocker = tmp_path / "file"
    await anyio.Path(blocker).write_text("not a directory")
    with pytest.raises(StorageError, match="cannot open database"):
        async with Runtime(f"sqlite:///{blocker}/runs.db"):
            pass


STARTS_LIGHT = """
import sys, anyio
from repertory import Runtime, flow

@flow
async def double(x: int) -> int:
    return 2 * x

async def main() -> None:
    async with Runtime(sys.argv[1]) as rt:
        assert await double(2) == 4
        print(sorted({"databases", "sqlalchemy"} & set(sys.modules)))
        print(len(await rt.read_flow_runs()), "sqlalchemy" in sys.modules)

anyio.run(main, backend=sys.argv[2])
"""


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_a_sqlite_runtime_runs_flows_before_importing_databases(
    tmp_path: Path, backend: str
) -> None:
    # SQLAlchemy is most of a cold start: a runtime on a SQLite file does not load
    # `databases` (and it) to run flows, nor to read them back (its readers are sqlite3's).
    result = subprocess.run(
        [sys.executable, "-c", STARTS_LIGHT, f"sqlite:///{tmp_path / 'runs.db'}", backend],
        check=True,
        capture_output=True,
        text=True,
    )
    assert result.stdout.splitlines() == ["[]", "1 False"]


async def test_the_body_exception_reaches_the_caller_unwrapped(
    make_runtime: Callable[[], Runtime],
) -> None:
    with pytest.raises(KeyError):
        async with make_runtime():
            raise KeyError("mine")


async def test_open_test_runtime_gives_a_fresh_database() -> None:
    async with open_test_runtime() as rt:
        assert await square(3) == 9
        assert len(await rt.read_flow_runs()) == 1
    async with open_test_runtime() as rt:
        assert await rt.read_flow_runs() == []


def test_the_default_database_lives_in_repertory_home(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("REPERTORY_HOME", str(tmp_path))
    assert default_database_url() == f"sqlite:///{tmp_path / 'repertory.db'}"
    monkeypatch.delenv("REPERTORY_HOME")
    assert default_database_url().endswith("/.repertory/repertory.db")


async def test_a_locked_database_gives_a_clear_error_and_loses_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import sqlite3

    from repertory import StorageConflictError as Storage

    path = tmp_path / "runs.db"
    async with Runtime(f"sqlite:///{path}") as rt:
        assert await square(1) == 1
        locker = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        await anyio.to_thread.run_sync(locker.execute, "BEGIN IMMEDIATE")  # another writer
        try:
            with pytest.raises(Storage, match="database is locked"):
                await square(2)  # waits out SQLite's busy timeout (5 s), then says why
        finally:
            await anyio.to_thread.run_sync(locker.execute, "ROLLBACK")
            await anyio.to_thread.run_sync(locker.close)
        runs = await rt.read_flow_runs()  # the store, restarted, commits what was kept
        assert [run.parameters["x"] for run in runs] == [1, 2]
        assert all(run.state.name == "Completed" for run in runs)
    [told] = [r for r in caplog.records if r.name.startswith("repertory.actors")]
    assert (told.levelname, told.exc_info) == ("WARNING", None)  # one line, no traceback
    assert told.getMessage().endswith(": database is locked")
