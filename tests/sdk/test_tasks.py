"""Tasks inside flows: direct calls, submit and map, dependencies, retries, hooks, context."""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

import anyio
import pytest

from repertory import (
    Runtime,
    State,
    StateType,
    TaskFuture,
    UpstreamFailedError,
    UsageError,
    allow_failure,
    flow,
    get_run_context,
    task,
    unmapped,
)
from repertory.runtime import check_transition
from repertory.runtime.engine._submissions import START_AT_ONCE

if TYPE_CHECKING:
    from collections.abc import Callable


@task
async def double(x: int) -> int:
    return 2 * x


@task
def inc(x: int) -> int:
    return x + 1


@task(name="fail")
def fail(message: str) -> int:
    raise LookupError(message)


def test_an_unknown_option_names_the_decorator_and_what_was_meant() -> None:
    with pytest.raises(
        TypeError, match=r"^@task has no option 'retires': did you mean 'retries'\?$"
    ):
        task(retires=2)(lambda x: x)  # type: ignore[call-overload]  # the mistake on purpose
    with pytest.raises(TypeError, match=r"^@flow has no option 'timeout': did you mean 'timeout_s"):
        flow(timeout=3)(lambda: None)  # type: ignore[call-overload]
    with pytest.raises(TypeError, match=r"^@task\(persist_result=\.\.\.\) is a Prefect option "):
        task(persist_result=True)(lambda x: x)  # type: ignore[call-overload]
    with pytest.raises(UsageError, match=r"^@task has no option 'nonsense': it takes cache_"):
        task(lambda x: x).with_options(nonsense=1)


async def test_async_tasks_are_awaited_and_sync_tasks_run_inline(
    make_runtime: Callable[[], Runtime],
) -> None:
    @flow
    async def pipeline(x: int) -> int:
        return inc(await double(x))

    async with make_runtime() as rt:
        assert await pipeline(5) == 11
        [run] = await rt.read_flow_runs()
        task_runs = await rt.read_task_runs(flow_run_id=run.id)
        assert [t.task_name for t in task_runs] == ["double", "inc"]
        assert all(t.flow_run_id == run.id for t in task_runs)
        assert task_runs[0].parameters == {"x": 5}
        for task_run in task_runs:
            assert task_run.state.name == "Completed"
            history = await rt.read_state_history(task_run.id)
            assert [s.name for s in history] == ["Pending", "Running", "Completed"]


async def test_a_failing_task_raises_its_own_exception_in_the_flow(
    make_runtime: Callable[[], Runtime],
) -> None:
    seen: list[BaseException] = []

    @flow
    async def catches() -> str:
        try:
            fail("nope")
        except LookupError as exc:
            seen.append(exc)
        return "handled"

    async with make_runtime() as rt:
        assert await catches() == "handled"
        assert type(seen[0]) is LookupError  # the original, not a wrapper or a group
        [run] = await rt.read_flow_runs()
        [task_run] = await rt.read_task_runs(flow_run_id=run.id)
        assert task_run.state.name == "Failed"
        assert task_run.state.message == "LookupError: nope"


async def test_return_state_works_on_task_calls(make_runtime: Callable[[], Runtime]) -> None:
    @flow
    async def states() -> tuple[State, State]:
        good = await double(2, return_state=True)
        bad = fail("x", return_state=True)
        return good, bad

    async with make_runtime():
        good, bad = await states()
        assert good.type is StateType.COMPLETED
        assert good.result() == 4
        assert bad.type is StateType.FAILED
        with pytest.raises(LookupError):
            bad.result()


async def test_task_retries_then_success(make_runtime: Callable[[], Runtime]) -> None:
    attempts: list[int] = []

    @task(retries=3, retry_delay_seconds=[0, 0])
    async def flaky() -> str:
        attempts.append(get_run_context().attempt)
        if len(attempts) < 3:
            raise ConnectionError("again")
        return "ok"

    @flow
    async def uses() -> str:
        return await flaky()

    async with make_runtime() as rt:
        assert await uses() == "ok"
        assert attempts == [1, 2, 3]
        [run] = await rt.read_flow_runs()
        [task_run] = await rt.read_task_runs(flow_run_id=run.id)
        assert task_run.run_count == 3
        names = [s.name for s in await rt.read_state_history(task_run.id)]
        assert names == [
            "Pending",
            "Running",
            "AwaitingRetry",
            "Retrying",
            "AwaitingRetry",
            "Retrying",
            "Completed",
        ]
        messages = [s.message for s in await rt.read_state_history(task_run.id)]
        assert messages[2] == "ConnectionError: again"


async def test_retry_condition_can_refuse_a_retry(make_runtime: Callable[[], Runtime]) -> None:
    calls: list[str] = []

    def only_connection_errors(task_: object, task_run: object, state: State) -> bool:
        return "ConnectionError" in (state.message or "")

    @task(retries=5, retry_condition_fn=only_connection_errors)
    def picky(kind: str) -> None:
        calls.append(kind)
        raise (ConnectionError if len(calls) == 1 else ValueError)(kind)

    @flow
    async def uses() -> None:
        picky("x")

    async with make_runtime():
        with pytest.raises(ValueError, match="x"):
            await uses()
        assert calls == ["x", "x"]  # retried the ConnectionError, not the ValueError


async def test_submit_runs_tasks_concurrently(make_runtime: Callable[[], Runtime]) -> None:
    both_started = anyio.Event()
    started: list[int] = []

    @task
    async def meet(i: int) -> int:
        started.append(i)
        if len(started) == 2:
            both_started.set()
        await both_started.wait()  # only returns if both run at once
        return i

    @flow
    async def fan() -> list[int]:
        first, second = meet.submit(1), meet.submit(2)
        return [await first, await second]

    async with make_runtime() as rt:
        assert await fan() == [1, 2]
        [run] = await rt.read_flow_runs()
        assert len(await rt.read_task_runs(flow_run_id=run.id)) == 2


async def test_map_with_unmapped_and_futures_as_arguments(
    make_runtime: Callable[[], Runtime],
) -> None:
    @task
    def add(x: int, y: int) -> int:
        return x + y

    @flow
    async def mapped() -> list[int]:
        offset = double.submit(5)  # a future as an argument: resolved first
        return await add.map([1, 2, 3], unmapped(offset))

    async with make_runtime() as rt:
        assert await mapped() == [11, 12, 13]
        [run] = await rt.read_flow_runs()
        assert len(await rt.read_task_runs(flow_run_id=run.id)) == 4


async def test_a_map_returns_at_once_and_its_runs_are_made_as_they_start(
    make_runtime: Callable[[], Runtime],
) -> None:
    started: list[int] = []

    @task
    async def note(i: int) -> int:
        started.append(i)
        return i

    @flow
    async def mapped(n: int) -> list[TaskFuture[int]]:
        futures = note.map(range(n))
        assert started == []  # queued: they start once the body lets the loop go round
        assert {future.state.name for future in futures} == {"Pending"}
        assert await futures == list(range(n))
        return futures

    n = 10 * START_AT_ONCE
    async with make_runtime() as rt:
        futures = await mapped(n)
        [run] = await rt.read_flow_runs()
        stored = {t.id: t for t in await rt.read_task_runs(flow_run_id=run.id)}
    assert sorted(started) == list(range(n))
    # Each future names the run made for its own call, made later.
    assert [stored[f.task_run_id].parameters for f in futures] == [{"i": i} for i in range(n)]
    assert all(f.state.name == "Completed" for f in futures)


async def test_the_runs_a_map_had_not_started_when_its_flow_failed_end_cancelled(
    make_runtime: Callable[[], Runtime],
) -> None:
    futures: list[TaskFuture[int]] = []

    @flow
    async def gives_up() -> None:
        futures.extend(double.map(range(10 * START_AT_ONCE)))
        raise LookupError("gave up")  # before any of them could start

    async with make_runtime() as rt:
        with pytest.raises(LookupError):
            await gives_up()
        [run] = await rt.read_flow_runs()
        task_runs = {t.id: t for t in await rt.read_task_runs(flow_run_id=run.id)}
        histories = [await rt.read_state_history(run_id) for run_id in task_runs]
    assert sorted(task_runs) == sorted(future.task_run_id for future in futures)
    assert all(future.state.is_final for future in futures)
    assert {t.state.name for t in task_runs.values()} <= {"Completed", "Cancelled"}
    for history in histories:
        for before, after in itertools.pairwise(history):
            check_transition(before.name, after.name)
    never_started = [f for f in futures if f.state.message == "cancelled with its flow"]
    assert len(never_started) >= 9 * START_AT_ONCE  # at most one batch had started
    assert {f.state.name for f in never_started} == {"Cancelled"}
    with pytest.raises(Exception, match="was cancelled"):
        await never_started[0]


async def test_map_refuses_iterables_of_different_lengths(
    make_runtime: Callable[[], Runtime],
) -> None:
    @task
    def add(x: int, y: int) -> int:
        return x + y

    @flow
    async def uneven() -> None:
        add.map([1, 2], [1, 2, 3])

    async with make_runtime():
        with pytest.raises(ValueError, match="different lengths"):
            await uneven()


async def test_a_failed_upstream_fails_the_downstream_without_running_it(
    make_runtime: Callable[[], Runtime],
) -> None:
    ran: list[object] = []

    @task
    def record(value: object) -> None:
        ran.append(value)

    @flow
    async def chain() -> tuple[State, State]:
        upstream = fail.submit("broken")
        blocked = record.submit(upstream)
        allowed = record.submit(allow_failure(upstream))
        return await blocked.wait(), await allowed.wait()

    async with make_runtime():
        blocked, allowed = await chain()
        assert blocked.name == "Failed"
        with pytest.raises(UpstreamFailedError):
            blocked.result()
        assert allowed.name == "Completed"
        [passed] = ran
        assert isinstance(passed, LookupError)


async def test_wait_for_orders_tasks_without_data(make_runtime: Callable[[], Runtime]) -> None:
    order: list[str] = []
    gate = anyio.Event()

    @task
    async def first() -> None:
        await gate.wait()
        order.append("first")

    @task
    def second() -> None:
        order.append("second")

    @flow
    async def ordered() -> None:
        before = first.submit()
        after = second.submit(wait_for=[before])  # type: ignore[call-arg]  # wait_for is ours
        gate.set()
        await after

    async with make_runtime():
        await ordered()
    assert order == ["first", "second"]


async def test_sync_flow_bodies_submit_and_block_on_results(
    make_runtime: Callable[[], Runtime],
) -> None:
    @flow
    def sync_flow(n: int) -> list[int]:
        futures = inc.map(range(n))
        single = inc.submit(100)
        return [*futures.result(), single.result(), inc(0)]

    async with make_runtime() as rt:
        assert await sync_flow(3) == [1, 2, 3, 101, 1]  # type: ignore[misc]  # awaited
        [run] = await rt.read_flow_runs()
        assert len(await rt.read_task_runs(flow_run_id=run.id)) == 5


async def test_future_result_on_the_event_loop_thread_is_refused(
    make_runtime: Callable[[], Runtime],
) -> None:
    @flow
    async def misuse() -> None:
        future = double.submit(1)
        future.result()

    async with make_runtime():
        with pytest.raises(UsageError, match="await fut"):
            await misuse()


async def test_submit_outside_a_flow_is_refused() -> None:
    with pytest.raises(UsageError, match="outside a flow"):
        double.submit(1)
    with pytest.raises(UsageError, match="outside a flow"):
        double.map([1, 2])


def test_map_in_plain_sync_code_is_refused() -> None:
    with pytest.raises(UsageError, match=r"map\(\) called outside a flow"):
        inc.map([1, 2])


async def test_a_task_outside_a_flow_just_runs() -> None:
    assert await double(4) == 8
    assert inc(1) == 2


async def test_task_hooks_and_context(make_runtime: Callable[[], Runtime]) -> None:
    seen: list[str] = []

    def done(task_: object, task_run: object, state: State) -> None:
        seen.append(f"done {state.name}")

    def failed(task_: object, task_run: object, state: State) -> None:
        seen.append(f"failed {state.name}")

    @task(on_completion=[done], on_failure=[failed], task_run_name="ctx-{x}", tags=["a"])
    def inspect_context(x: int) -> tuple[str | None, str | None, object]:
        context = get_run_context()
        if x < 0:
            raise ValueError(x)
        return context.task_run_name, context.task_run_id, context.parameters

    @flow
    async def uses() -> tuple[str | None, str | None, object]:
        with pytest.raises(ValueError, match="-1"):
            inspect_context(-1)
        return inspect_context(7)

    async with make_runtime() as rt:
        name, task_run_id, parameters = await uses()
        assert name == "ctx-7"
        assert parameters == {"x": 7}
        [run] = await rt.read_flow_runs()
        task_runs = await rt.read_task_runs(flow_run_id=run.id)
        assert task_runs[-1].id == task_run_id
        assert task_runs[-1].tags == ("a",)
    assert seen == ["failed Failed", "done Completed"]


async def test_an_async_hook_of_a_sync_task_called_directly_is_awaited_from_its_thread(
    make_runtime: Callable[[], Runtime], caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[str] = []

    async def done(task_: object, task_run: object, state: State) -> None:
        await anyio.lowlevel.checkpoint()
        seen.append(f"done {state.name}")

    @task(on_completion=[done])
    def step(x: int) -> int:
        return x + 1

    @flow
    def in_a_thread() -> int:  # a sync flow's body runs in a worker thread
        return step(1)

    @flow
    async def on_the_loop() -> int:  # here the task runs on the event loop's thread
        return step(2)

    async with make_runtime():
        assert await in_a_thread() == 2  # type: ignore[misc]  # awaited in async code
        assert seen == ["done Completed"]
        assert await on_the_loop() == 3  # the hook cannot be awaited: logged, not fatal
    assert seen == ["done Completed"]
    assert "an async hook of a sync task called on the event loop's thread" in caplog.text


async def test_a_task_timeout_fails_it_timed_out(make_runtime: Callable[[], Runtime]) -> None:
    @task(timeout_seconds=0.01)
    async def stuck() -> None:
        await anyio.sleep_forever()

    @flow
    async def uses() -> State:
        return await stuck(return_state=True)

    async with make_runtime():
        state = await uses()
        assert state.name == "TimedOut"
        assert state.type is StateType.FAILED
        with pytest.raises(TimeoutError):
            state.result()
