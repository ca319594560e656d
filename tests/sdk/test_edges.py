"""Edge cases a review found: interrupts, odd arguments, cancellation while waiting, limits."""

from __future__ import annotations

import contextlib
import math
import time
from collections import namedtuple
from typing import TYPE_CHECKING

import anyio
import pytest

from repertory import Runtime, State, flow, get_run_logger, task
from repertory.runtime import RunNotFoundError

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

Point = namedtuple("Point", "x y")


async def test_an_interrupt_in_a_body_crashes_the_run_and_goes_on_unwrapped(
    make_runtime: Callable[[], Runtime],
) -> None:
    crashed: list[str] = []

    @flow(on_crashed=[lambda f, r, s: crashed.append(s.name)])
    async def leaves() -> None:
        raise SystemExit(3)

    async with make_runtime() as rt:
        with pytest.raises(SystemExit):
            await leaves()
        [run] = await rt.read_flow_runs()
        assert run.state.name == "Crashed"
        assert run.state.message == "SystemExit: 3"
    assert crashed == ["Crashed"]


async def test_odd_arguments_and_a_lone_wait_for(make_runtime: Callable[[], Runtime]) -> None:
    @task
    def first() -> int:
        return 1

    @task
    def keep(point: Point) -> Point:
        return point

    @flow
    async def odd() -> object:
        before = first.submit()
        return await keep.submit(Point(1, 2), wait_for=before)  # type: ignore[call-arg]

    async with make_runtime():
        assert await odd() == Point(1, 2)


async def test_a_submitted_run_cancelled_while_waiting_ends_cancelled(
    make_runtime: Callable[[], Runtime],
) -> None:
    started = anyio.Event()

    @task
    async def slow() -> int:
        started.set()
        await anyio.sleep_forever()
        return 1

    @task
    def ident(x: int) -> int:
        return x

    @flow
    async def waits() -> None:
        ident.submit(slow.submit())  # type: ignore[arg-type]  # a future stands for its value
        await anyio.sleep_forever()

    async with make_runtime() as rt:
        async with anyio.create_task_group() as tg:
            tg.start_soon(waits)
            await started.wait()
            tg.cancel_scope.cancel()
        [run] = await rt.read_flow_runs()
        task_runs = {t.task_name: t for t in await rt.read_task_runs(flow_run_id=run.id)}
        assert task_runs["slow"].state.name == "Cancelled"
        assert task_runs["ident"].state.name == "Cancelled"


async def test_sync_flows_never_wait_for_the_threads_their_tasks_need(database_url: str) -> None:
    @task
    def inc(x: int) -> int:
        return x + 1

    @flow
    def inner(x: int) -> int:
        return inc.submit(x).result()

    @flow
    def outer(x: int) -> int:
        return inner(x) + inc.submit(x).result()

    async with Runtime(database_url, workspace="threads", worker_threads=1):
        with anyio.fail_after(30):  # a deadlock would hang here
            assert await outer(1) == 4  # type: ignore[misc]  # awaited in async code


async def test_a_slow_sync_body_ends_timed_out(make_runtime: Callable[[], Runtime]) -> None:
    @task(timeout_seconds=0.01)
    def slow() -> int:
        time.sleep(0.2)  # the slow body under test, in a worker thread
        return 1

    @flow
    async def submits() -> State:
        return await slow.submit().wait()

    @flow
    def calls_inline() -> State:  # a sync body, in a worker thread: it may block
        return slow(return_state=True)

    async with make_runtime():
        submitted = await submits()
        inline = await calls_inline()  # type: ignore[misc]  # awaited in async code
        assert submitted.name == "TimedOut", submitted.message
        assert inline.name == "TimedOut"


async def test_created_runs_are_invisible_from_other_workspaces(
    make_runtime: Callable[[], Runtime],
) -> None:
    started = anyio.Event()

    @flow
    async def forever() -> None:
        started.set()
        await anyio.sleep_forever()

    async with make_runtime() as rt:
        created = await rt.create_flow_run(forever)
        await started.wait()
        with pytest.raises(RunNotFoundError):
            await rt.cancel_flow_run(created.id, workspace="someone-else")
        assert (await rt.read_flow_run(created.id)).state.name == "Running"
        await rt.cancel_flow_run(created.id)


async def test_a_run_created_in_another_workspace_lives_there_with_its_tasks_and_children(
    make_runtime: Callable[[], Runtime],
) -> None:
    @task
    async def inner(x: int) -> int:
        return x

    @flow
    async def child() -> int:
        return await inner(2)

    @flow
    async def parent() -> int:
        return await inner(1) + await child()

    async with make_runtime() as rt:
        other = f"{rt.workspace}-b"
        created = await rt.create_flow_run(parent, workspace=other)
        assert created.workspace == other
        with pytest.raises(RunNotFoundError):
            await rt.wait_for_flow_run(created.id)  # not in the runtime's own workspace
        finished = await rt.wait_for_flow_run(created.id, workspace=other)
        assert finished.state.name == "Completed"
        assert await rt.read_flow_runs() == []
        runs = await rt.read_flow_runs(workspace=other)
        assert {run.flow_name for run in runs} == {"parent", "child"}
        for run in runs:
            assert len(await rt.read_task_runs(flow_run_id=run.id, workspace=other)) == 1


async def test_a_workspace_name_cannot_reach_into_another_workspaces_live_runs(
    make_runtime: Callable[[], Runtime],
) -> None:
    @flow
    async def forever() -> None:
        await anyio.sleep_forever()

    async with make_runtime() as rt:
        created = await rt.create_flow_run(forever, workspace=f"{rt.workspace}:prod")
        for crafted in (f"prod:{created.id}", f"{created.id}:prod", created.id + "x"):
            with pytest.raises(RunNotFoundError):
                await rt.read_flow_run(crafted)
            with pytest.raises(RunNotFoundError):
                await rt.cancel_flow_run(crafted)
        with pytest.raises(RunNotFoundError):
            await rt.read_flow_run(created.id)  # not in the runtime's own workspace either
        cancelled = await rt.cancel_flow_run(created.id, workspace=f"{rt.workspace}:prod")
        assert cancelled.state.name == "Cancelled"


async def test_a_cancelled_exit_still_releases_the_liveness_token(tmp_path: Path) -> None:
    with anyio.CancelScope() as scope:
        async with Runtime(f"sqlite:///{tmp_path / 'runs.db'}"):
            scope.cancel()
    assert await anyio.Path(tmp_path / "runs.db.owners").exists()
    assert [path async for path in anyio.Path(tmp_path / "runs.db.owners").iterdir()] == []


async def test_with_options_adds_retries(make_runtime: Callable[[], Runtime]) -> None:
    calls: list[int] = []

    @task
    def flaky() -> int:
        calls.append(1)
        if len(calls) < 2:
            raise ValueError
        return len(calls)

    @flow
    async def uses() -> int:
        return flaky.with_options(retries=2)()

    async with make_runtime():
        assert await uses() == 2


async def test_async_tasks_and_mapping_log_arguments_in_sync_flows(
    make_runtime: Callable[[], Runtime],
) -> None:
    @task
    async def double(x: int) -> int:
        return 2 * x

    @flow
    def sync_flow() -> int:
        get_run_logger().info("user %(name)s", {"name": "bob"})
        return double(21)  # type: ignore[return-value]  # run to its end in a sync body

    async with make_runtime() as rt:
        assert await sync_flow() == 42  # type: ignore[misc]  # awaited in async code
        [run] = await rt.read_flow_runs()
        assert [log.message for log in await rt.read_logs(flow_run_id=run.id)] == ["user bob"]
        [task_run] = await rt.read_task_runs(flow_run_id=run.id)
        assert task_run.state.name == "Completed"


async def test_a_flow_of_tasks_that_never_block_lets_the_loop_and_the_store_keep_up(
    make_runtime: Callable[[], Runtime],
) -> None:
    from repertory import get_run_context
    from repertory.runtime.storage._store import BACKLOG

    ticks = 0
    most_pending = 0
    send, receive = anyio.create_memory_object_stream[None](math.inf)

    async def other_task() -> None:  # runs only when the loop gets back control
        nonlocal ticks
        async for _ in receive:
            ticks += 1

    @task
    async def nothing() -> None:
        nonlocal most_pending
        most_pending = max(most_pending, get_run_context().engine.journal.pending)
        send.send_nowait(None)

    @flow
    async def busy(count: int) -> int:
        for _ in range(count):
            await nothing()  # never suspends by itself
        return ticks

    count = 3 * BACKLOG // 4  # three rows and more per task run: past the backlog
    with send, receive:
        async with make_runtime(), anyio.create_task_group() as tg:
            tg.start_soon(other_task)
            others_ran = await busy(count)
            tg.cancel_scope.cancel()
    assert others_ran > 0  # the flow yielded to the loop now and then
    # It waited for the store whenever the journal was behind: memory stays bounded (by the
    # backlog and what one turn on the loop writes, far less than the 11,000 rows and more
    # that would wait without).
    assert most_pending < 2 * BACKLOG


async def test_a_map_of_tasks_that_never_block_leaves_the_store_the_loop(
    database_url: str, make_runtime: Callable[[], Runtime]
) -> None:
    from repertory import get_run_context

    count = 2_000
    done = 0
    started = anyio.Event()
    run_ids: list[str] = []

    @task
    async def nothing(_: int) -> None:  # never suspends
        nonlocal done
        done += 1

    @flow
    async def fan_out() -> None:
        run_ids.append(get_run_context().flow_run_id)
        started.set()
        await nothing.map(range(count))

    seen: list[int] = []

    async def watch(other: Runtime) -> None:
        """Note how many task runs had ended when the flow run could first be read committed."""
        await started.wait()
        while True:  # each read needs the loop: it runs only when the map lets it
            with contextlib.suppress(RunNotFoundError):
                await other.read_flow_run(run_ids[0])
                seen.append(done)
                return

    # A runtime of its own reads through a connection of its own: only what is committed.
    async with (
        make_runtime() as rt,
        Runtime(database_url, workspace=rt.workspace) as other,
        anyio.create_task_group() as tg,
    ):
        tg.start_soon(watch, other)
        await fan_out()
    # The flow run's row was committed while its map was still running, not only at its end.
    assert seen[0] < count
