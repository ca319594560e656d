"""Run loggers and captured prints: stored with their run, readable back, never raising."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import pytest

from repertory import Runtime, UsageError, flow, get_run_logger, task

if TYPE_CHECKING:
    from collections.abc import Callable


async def test_run_loggers_store_lines_with_their_runs(
    make_runtime: Callable[[], Runtime],
) -> None:
    @task
    def step(x: int) -> int:
        get_run_logger().info("step got %d", x)
        get_run_logger().debug("not stored: below INFO")
        return x

    @flow
    async def logged() -> int:
        get_run_logger().warning("starting")
        return step(3)

    async with make_runtime() as rt:
        await logged()
        [run] = await rt.read_flow_runs()
        logs = await rt.read_logs(flow_run_id=run.id)
        assert [(log.message, log.level) for log in logs] == [
            ("starting", logging.WARNING),
            ("step got 3", logging.INFO),
        ]
        [task_run] = await rt.read_task_runs(flow_run_id=run.id)
        assert logs[0].task_run_id is None
        assert logs[1].task_run_id == task_run.id
        only_task = await rt.read_logs(flow_run_id=run.id, task_run_id=task_run.id)
        assert [log.message for log in only_task] == ["step got 3"]
        assert [log.message for log in await rt.read_logs(flow_run_id=run.id, limit=1)] == [
            "starting"
        ]


async def test_log_prints_stores_print_output(
    make_runtime: Callable[[], Runtime], capsys: pytest.CaptureFixture[str]
) -> None:
    @flow(log_prints=True)
    async def chatty() -> None:
        print("hello", "world")  # noqa: T201 - what is tested

    @flow
    async def quiet() -> None:
        print("not stored")  # noqa: T201 - what is tested

    async with make_runtime() as rt:
        await chatty()
        await quiet()
        runs = {run.flow_name: run for run in await rt.read_flow_runs()}
        assert [log.message for log in await rt.read_logs(flow_run_id=runs["chatty"].id)] == [
            "hello world"
        ]
        assert await rt.read_logs(flow_run_id=runs["quiet"].id) == []
    assert capsys.readouterr().out == "hello world\nnot stored\n"  # printed as usual too


async def test_lines_beyond_the_bound_are_dropped_with_a_notice(database_url: str) -> None:
    @flow
    async def flood() -> None:
        logger = get_run_logger()
        for i in range(20):  # no await between lines: the store cannot keep up
            logger.info("line %d", i)

    async with Runtime(database_url, workspace="flood", max_pending_logs=5) as rt:
        state = await flood(return_state=True)
        logs = await rt.read_logs(flow_run_id=state.run_id)
        messages = [log.message for log in logs]
        assert messages[:5] == [f"line {i}" for i in range(5)]
        assert len(messages) >= 6
        assert any("log line(s) dropped" in message for message in messages)


def test_get_run_logger_outside_a_run_is_refused() -> None:
    with pytest.raises(UsageError, match="outside a flow run"):
        get_run_logger()
