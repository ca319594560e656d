"""Flows called directly: results, states and their history, parameters, retries, child runs."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import anyio
import pytest

from repertory import (
    ParameterValidationError,
    Runtime,
    State,
    StateType,
    exponential_backoff,
    flow,
    get_run_context,
)

if TYPE_CHECKING:
    from collections.abc import Callable


@flow
async def add(x: int, y: int = 1) -> int:
    """Adds."""
    return x + y


@flow(name="explode")
async def explode(message: str) -> None:
    raise ValueError(message)


async def test_an_async_flow_returns_its_value_and_stores_its_states(
    make_runtime: Callable[[], Runtime],
) -> None:
    async with make_runtime() as rt:
        assert await add(2, y=3) == 5
        [run] = await rt.read_flow_runs()
        assert run.flow_name == "add"
        assert run.parameters == {"x": 2, "y": 3}
        assert run.state.type is StateType.COMPLETED
        assert run.run_count == 1
        assert run.start_time is not None
        assert run.end_time is not None
        assert run.start_time <= run.end_time
        history = await rt.read_state_history(run.id)
        assert [s.name for s in history] == ["Pending", "Running", "Completed"]
        assert all(s.run_id == run.id for s in history)


async def test_the_decorator_keeps_the_function(make_runtime: Callable[[], Runtime]) -> None:
    assert getattr(add, "__name__", None) == "add"  # functools.update_wrapper
    assert add.__doc__ == "Adds."
    assert await add.fn(1, 2) == 3  # the original, untracked
    assert explode.name == "explode"


async def test_a_failing_flow_raises_its_own_exception(make_runtime: Callable[[], Runtime]) -> None:
    async with make_runtime() as rt:
        with pytest.raises(ValueError, match=r"^bad$"):
            await explode("bad")
        [run] = await rt.read_flow_runs()
        assert run.state.name == "Failed"
        assert run.state.message == "ValueError: bad"


async def test_return_state_gives_the_final_state(make_runtime: Callable[[], Runtime]) -> None:
    async with make_runtime():
        state = await add(1, return_state=True)
        assert isinstance(state, State)
        assert state.type is StateType.COMPLETED
        assert state.result() == 2
        failed = await explode("no", return_state=True)
        assert isinstance(failed, State)
        assert failed.name == "Failed"
        with pytest.raises(ValueError, match="no"):
            failed.result()


async def test_parameters_are_coerced_from_the_hints(make_runtime: Callable[[], Runtime]) -> None:
    async with make_runtime() as rt:
        assert await add("4", "5") == 9  # type: ignore[call-overload]  # coerced on purpose
        [run] = await rt.read_flow_runs()
        assert run.parameters == {"x": 4, "y": 5}


async def test_bad_parameters_fail_before_any_run_exists(
    make_runtime: Callable[[], Runtime],
) -> None:
    async with make_runtime() as rt:
        with pytest.raises(ParameterValidationError) as caught:
            await add("four", "five")  # type: ignore[call-overload]  # bad on purpose
        assert set(caught.value.errors) == {"x", "y"}
        assert "x:" in str(caught.value)
        assert "y:" in str(caught.value)
        assert isinstance(caught.value, ValueError)
        with pytest.raises(ParameterValidationError, match="missing"):
            await add()  # type: ignore[call-overload]  # missing on purpose
        assert await rt.read_flow_runs() == []


async def test_validation_can_be_turned_off(make_runtime: Callable[[], Runtime]) -> None:
    @flow(validate_parameters=False)
    async def echo(x: int) -> object:
        return x

    async with make_runtime():
        assert await echo("raw") == "raw"  # type: ignore[call-overload]  # not validated


async def test_unserializable_parameters_are_stored_as_their_repr(
    make_runtime: Callable[[], Runtime],
) -> None:
    class Opaque:
        def __repr__(self) -> str:
            return "<opaque>"

    @flow
    async def takes(thing: object) -> str:
        return repr(thing)

    async with make_runtime() as rt:
        assert await takes(Opaque()) == "<opaque>"
        [run] = await rt.read_flow_runs()
        assert run.parameters == {"thing": {"__repr__": "<opaque>"}}


async def test_flow_retries_show_in_the_history(make_runtime: Callable[[], Runtime]) -> None:
    attempts: list[int] = []

    @flow(retries=2, retry_delay_seconds=0)
    async def flaky() -> str:
        attempts.append(get_run_context().attempt)
        if len(attempts) < 3:
            raise RuntimeError("not yet")
        return "done"

    async with make_runtime() as rt:
        assert await flaky() == "done"
        assert attempts == [1, 2, 3]
        [run] = await rt.read_flow_runs()
        assert run.run_count == 3
        names = [s.name for s in await rt.read_state_history(run.id)]
        assert names == [
            "Pending",
            "Running",
            "AwaitingRetry",
            "Retrying",
            "AwaitingRetry",
            "Retrying",
            "Completed",
        ]


async def test_a_flow_that_runs_out_of_retries_fails(make_runtime: Callable[[], Runtime]) -> None:
    @flow(retries=1)
    async def always() -> None:
        raise KeyError("k")

    async with make_runtime() as rt:
        with pytest.raises(KeyError):
            await always()
        [run] = await rt.read_flow_runs()
        assert run.state.name == "Failed"
        assert run.run_count == 2


def test_exponential_backoff_doubles() -> None:
    assert exponential_backoff(0.5)(4) == [0.5, 1.0, 2.0, 4.0]
    with pytest.raises(ValueError, match="backoff_factor"):
        exponential_backoff(-1)


def test_retry_options_are_checked() -> None:
    with pytest.raises(ValueError, match="retries"):
        flow(retries=-1)(add.fn)
    with pytest.raises(ValueError, match="delays"):
        flow(retries=1, retry_delay_seconds=-2)(add.fn)
    assert flow(retries=3, retry_delay_seconds=[1, 2])(add.fn).options.retry_delay_seconds == (
        1.0,
        2.0,
        2.0,
    )


async def test_a_flow_called_in_a_flow_is_a_child_run(make_runtime: Callable[[], Runtime]) -> None:
    @flow
    async def parent() -> int:
        return await add(10)

    async with make_runtime() as rt:
        assert await parent() == 11
        runs = {run.flow_name: run for run in await rt.read_flow_runs()}
        assert runs["add"].parent_flow_run_id == runs["parent"].id
        assert runs["parent"].parent_flow_run_id is None
        children = await rt.read_flow_runs(parent_flow_run_id=runs["parent"].id)
        assert [c.id for c in children] == [runs["add"].id]


async def test_a_timeout_ends_the_run_timed_out(make_runtime: Callable[[], Runtime]) -> None:
    @flow(timeout_seconds=0.01)
    async def stuck() -> None:
        await anyio.sleep_forever()

    async with make_runtime() as rt:
        with pytest.raises(TimeoutError):
            await stuck()
        [run] = await rt.read_flow_runs()
        assert run.state.type is StateType.FAILED
        assert run.state.name == "TimedOut"


async def test_the_callers_cancel_scope_cancels_the_run(
    make_runtime: Callable[[], Runtime],
) -> None:
    started = anyio.Event()

    @flow
    async def forever() -> None:
        started.set()
        await anyio.sleep_forever()

    async with make_runtime() as rt:
        async with anyio.create_task_group() as tg:
            tg.start_soon(forever)
            await started.wait()
            tg.cancel_scope.cancel()
        [run] = await rt.read_flow_runs()
        assert run.state.name == "Cancelled"
        history = [s.name for s in await rt.read_state_history(run.id)]
        assert history[-2:] == ["Cancelling", "Cancelled"]


async def test_hooks_run_in_order_and_a_failing_hook_is_not_fatal(
    make_runtime: Callable[[], Runtime], caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[str] = []

    def first(flow_: object, run: object, state: State) -> None:
        calls.append(f"first {state.name}")
        raise RuntimeError("hook broke")

    async def second(flow_: object, run: object, state: State) -> None:
        calls.append(f"second {state.name}")

    def on_running(flow_: object, run: object, state: State) -> None:
        calls.append(f"running {state.name}")

    def on_failure(flow_: object, run: object, state: State) -> None:
        calls.append(f"failure {state.name}")

    hooked = flow(on_completion=[first, second], on_running=[on_running])(add.fn)
    failing = flow(on_failure=[on_failure])(explode.fn)
    async with make_runtime():
        assert await hooked(1) == 2
        with pytest.raises(ValueError, match="x"):
            await failing("x")
    assert calls == ["running Running", "first Completed", "second Completed", "failure Failed"]
    assert "hook first failed" in caplog.text


async def test_with_options_changes_a_copy(make_runtime: Callable[[], Runtime]) -> None:
    renamed = add.with_options(name="plus", version="2")
    assert renamed.name == "plus"
    assert add.name == "add"
    async with make_runtime() as rt:
        assert await renamed(1) == 2
        [run] = await rt.read_flow_runs(flow_name="plus")
        assert run.flow_name == "plus"


async def test_flow_run_names_come_from_the_template(make_runtime: Callable[[], Runtime]) -> None:
    named = add.with_options(flow_run_name="add-{x}-{y}")
    async with make_runtime() as rt:
        await named(7)
        [run] = await rt.read_flow_runs()
        assert run.name == "add-7-1"


async def test_default_names_are_slugs_for_flow_runs_and_numbers_for_task_runs(
    make_runtime: Callable[[], Runtime],
) -> None:
    from repertory import task

    @task
    async def fetch(x: int) -> int:
        return x

    @task
    async def parse(x: int) -> int:
        return x

    @flow
    async def pipeline() -> None:
        await fetch.map([1, 2, 3])
        await parse(await fetch(4))

    broken = add.with_options(flow_run_name="{missing}")  # cannot format: the default name
    async with make_runtime() as rt:
        for _ in range(12):
            await pipeline()
        await broken(1)
        runs = await rt.read_flow_runs()
        assert all(re.fullmatch(r"[a-z]+-[a-z]+", run.name) for run in runs), runs
        assert len({run.name for run in runs}) > 1  # random, not derived from the id's time
        tasks = await rt.read_task_runs(flow_run_id=runs[0].id)
        assert sorted(t.name for t in tasks) == [
            "fetch-0",
            "fetch-1",
            "fetch-2",
            "fetch-3",
            "parse-0",
        ]


async def test_a_sync_flow_runs_in_a_worker_thread(make_runtime: Callable[[], Runtime]) -> None:
    @flow
    def square(x: int) -> int:
        return x * x

    async with make_runtime() as rt:
        assert await square(4) == 16  # type: ignore[misc]  # awaited in async code
        [run] = await rt.read_flow_runs()
        assert run.state.name == "Completed"


async def test_cancelling_a_flow_cancels_its_running_tasks_and_runs_its_hooks(
    make_runtime: Callable[[], Runtime],
) -> None:
    from repertory import task

    started = anyio.Event()
    hooks: list[str] = []

    @task
    async def endless() -> None:
        started.set()
        await anyio.sleep_forever()

    @flow(on_cancellation=[lambda f, r, s: hooks.append(s.name)])
    async def parent() -> None:
        endless.submit()
        await anyio.sleep_forever()

    async with make_runtime() as rt:
        async with anyio.create_task_group() as tg:
            tg.start_soon(parent)
            await started.wait()
            tg.cancel_scope.cancel()
        [run] = await rt.read_flow_runs()
        assert run.state.name == "Cancelled"
        [task_run] = await rt.read_task_runs(flow_run_id=run.id)
        assert task_run.state.name == "Cancelled"
        names = [s.name for s in await rt.read_state_history(task_run.id)]
        assert names == ["Pending", "Running", "Cancelling", "Cancelled"]
    assert hooks == ["Cancelled"]


async def test_cancelling_during_a_retry_delay(make_runtime: Callable[[], Runtime]) -> None:
    failed_once = anyio.Event()

    @flow(retries=1, retry_delay_seconds=3600)
    async def slow_retry() -> None:
        failed_once.set()
        raise RuntimeError("first")

    async with make_runtime() as rt:
        async with anyio.create_task_group() as tg:
            tg.start_soon(slow_retry)
            await failed_once.wait()
            await anyio.wait_all_tasks_blocked()  # asleep before its retry
            tg.cancel_scope.cancel()
        [run] = await rt.read_flow_runs()
        names = [s.name for s in await rt.read_state_history(run.id)]
        assert names == ["Pending", "Running", "AwaitingRetry", "Cancelled"]


async def test_keyword_arguments_in_any_order(make_runtime: Callable[[], Runtime]) -> None:
    @flow
    async def pair(x: int, y: str, z: str = "z") -> str:
        return f"{x}-{y}-{z}"

    async with make_runtime() as rt:
        assert await pair(y="b", x=1) == "1-b-z"
        assert await pair(z="c", y="b", x=1) == "1-b-c"
        assert await pair(1, z="c", y="b") == "1-b-c"
        created = await rt.create_flow_run(pair, {"y": "b", "x": "2"})
        finished = await rt.wait_for_flow_run(created.id)
        assert finished.state.name == "Completed"
        assert finished.parameters == {"x": 2, "y": "b", "z": "z"}
