"""A failure tells its story: Failed and Crashed states keep their exception's traceback
(capped, secrets masked), and retries, timeouts, failures, cancellations and crashes write a
line to their run's log."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import anyio
import pytest

from repertory import RunNotFoundError, Runtime, flow, task
from repertory.runtime._failures import MAX_TRACEBACK, describe_failure, mask_secrets

if TYPE_CHECKING:
    from collections.abc import Callable

    from repertory import State


def parse_rows(text: str) -> list[int]:
    return [int(row) for row in text.split(",")]


@task
async def parse(text: str) -> list[int]:
    return parse_rows(text)


@flow
async def load(text: str) -> list[int]:
    return await parse(text)


async def test_a_failure_keeps_its_traceback_in_the_history(
    make_runtime: Callable[[], Runtime],
) -> None:
    async with make_runtime() as rt:
        state: State = await load("1,x", return_state=True)
        assert state.name == "Failed"
        live = state.traceback  # a state returned from a call has it too
        assert live is not None
        [task_run] = await rt.read_task_runs(flow_run_id=state.run_id)
        for run_id in (state.run_id, task_run.id):
            history = await rt.read_state_history(run_id)
            assert [s.name for s in history] == ["Pending", "Running", "Failed"]
            stored = history[-1].traceback
            assert stored is not None
            assert stored.startswith("Traceback (most recent call last):")
            assert "in parse_rows" in stored  # the frame that raised
            assert "_engine.py" not in stored  # repertory's own frames tell nothing
            assert stored.rstrip().endswith(
                "ValueError: invalid literal for int() with base 10: 'x'"
            )
            assert all(s.traceback is None for s in history[:-1])
        assert (await rt.read_flow_run(state.run_id)).state.traceback is None  # history only


async def test_a_completed_run_keeps_no_traceback(make_runtime: Callable[[], Runtime]) -> None:
    async with make_runtime() as rt:
        state: State = await load("1,2", return_state=True)
        assert state.traceback is None
        assert all(s.traceback is None for s in await rt.read_state_history(state.run_id))


def test_secrets_are_masked() -> None:
    key = "rpk_0123abcd_" + "S3cr3t" * 10
    text = f"cannot reach postgresql://app:hunter2@db:5432/x with {key} (or ftp://u:p@h/)"
    assert mask_secrets(text) == (
        "cannot reach postgresql://app:***@db:5432/x with rpk_0123abcd_*** (or ftp://u:***@h/)"
    )
    assert mask_secrets("https://example.com/a@b and user@host") == (
        "https://example.com/a@b and user@host"  # no password, nothing to mask
    )


async def test_a_stored_traceback_is_masked_and_capped(make_runtime: Callable[[], Runtime]) -> None:
    secret = "rpk_0123abcd_" + "f" * 64

    @flow
    async def leaky() -> None:
        raise ConnectionError(f"postgresql://app:hunter2@db/x refused {secret} " + "y" * 100_000)

    async with make_runtime() as rt:
        state: State = await leaky(return_state=True)
        [*_, failed] = await rt.read_state_history(state.run_id)
    stored = failed.traceback
    assert stored is not None
    assert "hunter2" not in stored
    assert secret not in stored
    assert "postgresql://app:***@db/x refused rpk_0123abcd_***" in stored
    assert len(stored) <= MAX_TRACEBACK + 100
    assert " characters cut ...\n" in stored
    assert stored.startswith("Traceback (most recent call last):")
    assert stored.rstrip().endswith("y" * 1000)  # the end, where the exception is said


def test_an_exception_whose_str_fails_is_still_described() -> None:
    class BrokenError(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no")

    assert "BrokenError" in describe_failure(BrokenError())


async def test_retries_and_the_final_failure_are_written_to_the_run_log(
    make_runtime: Callable[[], Runtime],
) -> None:
    @task(retries=2, retry_delay_seconds=0)
    def flaky() -> None:
        raise ConnectionError("upstream is down")

    @flow(retries=1, retry_delay_seconds=0)
    def pipeline() -> None:
        flaky()

    async with make_runtime() as rt:
        state: State = await anyio.to_thread.run_sync(lambda: pipeline(return_state=True))
        logs = await rt.read_logs(flow_run_id=state.run_id)
    lines = [(log.level, log.message) for log in logs if log.logger == "repertory.engine"]
    task_lines = [text for _, text in lines if text.startswith("task run")]
    flow_lines = [(level, text) for level, text in lines if text.startswith("flow run")]
    failed = "failed: ConnectionError: upstream is down"
    assert len(task_lines) == 6  # each flow attempt: two retries, then the failure
    assert task_lines[0].endswith(f"{failed}; retry 1 of 2 in 0 s")
    assert task_lines[1].endswith(f"{failed}; retry 2 of 2 in 0 s")
    assert task_lines[2].endswith(f"' {failed}")
    assert flow_lines[0][0] == logging.WARNING
    assert flow_lines[0][1].endswith(f"' {failed}; retry 1 of 1 in 0 s")
    assert flow_lines[-1][0] == logging.ERROR
    assert flow_lines[-1][1].endswith(failed)
    assert {level for level, text in lines if "retry" in text} == {logging.WARNING}


async def test_a_timeout_and_a_cancellation_are_written_to_the_run_log(
    make_runtime: Callable[[], Runtime],
) -> None:
    @task(timeout_seconds=0.01)
    async def stuck() -> None:
        await anyio.sleep_forever()

    @flow
    async def waits() -> None:
        await stuck(return_state=True)
        await anyio.sleep_forever()

    async with make_runtime() as rt:
        with anyio.move_on_after(0.2):  # the caller gives up: the run ends Cancelled
            await waits()
        [run] = await rt.read_flow_runs(flow_name="waits")
        logs = await rt.read_logs(flow_run_id=run.id)
    lines = [(log.level, log.message) for log in logs if log.logger == "repertory.engine"]
    assert lines[0][0] == logging.ERROR
    assert lines[0][1].endswith("timed out after 0.01 s")
    assert lines[1][0] == logging.WARNING
    assert lines[1][1].endswith("was cancelled: cancelled by its caller")


async def test_a_crash_keeps_its_traceback(make_runtime: Callable[[], Runtime]) -> None:
    @flow
    async def interrupted() -> None:
        raise KeyboardInterrupt

    async with make_runtime() as rt:
        with pytest.raises(KeyboardInterrupt):
            await interrupted()
        [run] = await rt.read_flow_runs(flow_name="interrupted")
        [*_, crashed] = await rt.read_state_history(run.id)
        logs = await rt.read_logs(flow_run_id=run.id)
    assert crashed.name == "Crashed"
    assert crashed.traceback is not None
    assert crashed.traceback.rstrip().endswith("KeyboardInterrupt")
    assert [(log.level, log.message.split("' ")[1]) for log in logs] == [
        (logging.ERROR, "crashed: KeyboardInterrupt")
    ]


async def test_a_sync_task_called_directly_that_crashes_says_so(
    make_runtime: Callable[[], Runtime],
) -> None:
    @task
    def leaves() -> None:
        raise SystemExit("told to stop")

    @flow
    async def calls_it() -> None:
        leaves()  # inline, on the event loop's thread

    async with make_runtime() as rt:
        with pytest.raises(SystemExit):
            await calls_it()
        [run] = await rt.read_flow_runs(flow_name="calls_it")
        [task_run] = await rt.read_task_runs(flow_run_id=run.id)
        [*_, crashed] = await rt.read_state_history(task_run.id)
        logs = await rt.read_logs(flow_run_id=run.id, task_run_id=task_run.id)
    assert crashed.name == "Crashed"
    assert crashed.traceback is not None
    assert crashed.traceback.rstrip().endswith("SystemExit: told to stop")
    assert [(log.level, log.message.split("' ")[1]) for log in logs] == [
        (logging.ERROR, "crashed: SystemExit: told to stop")
    ]


async def test_a_task_run_is_read_by_its_id_and_only_in_its_workspace(
    make_runtime: Callable[[], Runtime],
) -> None:
    async with make_runtime() as rt:
        state: State = await load("1,x", return_state=True)
        [listed] = await rt.read_task_runs(flow_run_id=state.run_id)
        read = await rt.read_task_run(listed.id)
        assert read == listed
        assert (read.state.name, read.flow_run_id) == ("Failed", state.run_id)
        with pytest.raises(RunNotFoundError):
            await rt.read_task_run(state.run_id)  # a flow run's id
        with pytest.raises(RunNotFoundError):
            await rt.read_task_run(listed.id, workspace="elsewhere")
