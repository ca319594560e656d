"""Across processes: sync code on the default runtime, killed owners, live neighbours."""

from __future__ import annotations

import itertools
import os
import signal
import sys
import textwrap
from typing import TYPE_CHECKING

import anyio
import pytest

from repertory import Runtime, StateType
from repertory.runtime import check_transition

if TYPE_CHECKING:
    from pathlib import Path

    from anyio.abc import Process

LONG_RUN = """
import sys
import anyio
from repertory import Runtime, flow, get_run_context, task
from repertory.runtime.lowlevel import current_runtime

@task
def prepare() -> int:
    return 1

@flow
async def long_run() -> None:
    prepare()
    runtime = current_runtime.get()
    await runtime.read_flow_run(get_run_context().flow_run_id)  # reads commit what came before
    print("running", get_run_context().flow_run_id, flush=True)
    await anyio.sleep_forever()

async def main() -> None:
    async with Runtime(sys.argv[1], workspace="processes"):
        await long_run()

anyio.run(main)
"""


async def _start(script: Path, url: str) -> tuple[Process, str]:
    process = await anyio.open_process([sys.executable, str(script), url])
    assert process.stdout is not None
    output = b""
    with anyio.fail_after(30):
        while b"\n" not in output:
            output += await process.stdout.receive()
    word, run_id = output.decode().split()
    assert word == "running"
    return process, run_id


async def _kill(process: Process) -> None:
    process.send_signal(signal.SIGKILL)
    await process.wait()
    await process.aclose()


@pytest.fixture
def long_run_script(tmp_path: Path) -> Path:
    script = tmp_path / "long_run.py"
    script.write_text(LONG_RUN)
    return script


async def test_a_killed_owners_runs_are_found_crashed(
    database_url: str, long_run_script: Path
) -> None:
    process, run_id = await _start(long_run_script, database_url)
    await _kill(process)
    async with Runtime(database_url, workspace="processes") as rt:
        run = await rt.read_flow_run(run_id)
        assert run.state.type is StateType.CRASHED
        history = [s.name for s in await rt.read_state_history(run_id)]
        assert history == ["Pending", "Running", "Crashed"]
        [task_run] = await rt.read_task_runs(flow_run_id=run_id)
        assert task_run.state.name == "Completed"  # it had finished: left alone


async def test_a_live_neighbours_runs_are_left_alone(
    database_url: str, long_run_script: Path
) -> None:
    process, run_id = await _start(long_run_script, database_url)
    try:
        async with Runtime(database_url, workspace="processes") as rt:
            assert (await rt.read_flow_run(run_id)).state.name == "Running"
    finally:
        await _kill(process)


# A flow run and a task run of another flow, each asleep until a retry an hour away.
WAITING_TO_RETRY = """
import sys
import anyio
from repertory import Runtime, flow, get_run_context, task

ids = {}

def retry_later(task, task_run, state) -> bool:
    task_failed.set()  # its run goes AwaitingRetry as this returns
    return True

@task(retries=1, retry_delay_seconds=3600, retry_condition_fn=retry_later)
async def flaky() -> None:
    raise ValueError("first attempt")

@flow
async def with_a_waiting_task() -> None:
    ids["task_flow"] = get_run_context().flow_run_id
    ids["task"] = flaky.submit().task_run_id
    await anyio.sleep_forever()

@flow(retries=1, retry_delay_seconds=3600)
async def waiting_flow() -> None:
    ids["flow"] = get_run_context().flow_run_id
    flow_failed.set()
    raise ValueError("first attempt")

async def main() -> None:
    global flow_failed, task_failed
    flow_failed, task_failed = anyio.Event(), anyio.Event()
    async with Runtime(sys.argv[1], workspace="processes") as rt, anyio.create_task_group() as tg:
        tg.start_soon(waiting_flow)
        tg.start_soon(with_a_waiting_task)
        await flow_failed.wait()
        await task_failed.wait()
        await anyio.wait_all_tasks_blocked()  # both asleep until their retries
        await rt.read_flow_run(ids["flow"])  # reads commit what came before
        print("waiting", ids["flow"], ids["task_flow"], ids["task"], flush=True)
        await anyio.sleep_forever()

anyio.run(main)
"""


async def test_runs_killed_while_waiting_to_retry_end_crashed_by_allowed_transitions(
    database_url: str, tmp_path: Path
) -> None:
    script = tmp_path / "waiting.py"
    await anyio.Path(script).write_text(WAITING_TO_RETRY)
    process = await anyio.open_process([sys.executable, str(script), database_url])
    assert process.stdout is not None
    output = b""
    with anyio.fail_after(30):
        while b"\n" not in output:
            output += await process.stdout.receive()
    word, flow_id, task_flow_id, task_id = output.decode().split()
    assert word == "waiting"
    await _kill(process)

    async with Runtime(database_url, workspace="processes") as rt:
        histories = {run_id: await rt.read_state_history(run_id) for run_id in (flow_id, task_id)}
        histories[task_flow_id] = await rt.read_state_history(task_flow_id)
    for history in histories.values():
        for before, after in itertools.pairwise(history):
            check_transition(before.name, after.name)  # raises InvalidTransitionError
    waited = ["Pending", "Running", "AwaitingRetry", "Pending", "Crashed"]
    assert [s.name for s in histories[flow_id]] == waited
    assert [s.name for s in histories[task_id]] == waited
    assert [s.name for s in histories[task_flow_id]] == ["Pending", "Running", "Crashed"]
    for history in histories.values():
        assert history[-1].message == "the process that ran it died"
    for run_id in (flow_id, task_id):
        pending, crashed = histories[run_id][-2:]
        assert (pending.message, pending.timestamp) == (crashed.message, crashed.timestamp)


SYNC_CODE = """
from repertory import flow, task

@task
def inc(x: int) -> int:
    return x + 1

@flow
def sync_flow(x: int) -> int:
    return inc(x) * 2

@flow
async def async_flow(x: int) -> int:
    return inc(x) * 3

print(sync_flow(1), async_flow(1), sync_flow("2"))
"""


async def test_flows_called_from_sync_code_run_on_the_default_runtime(tmp_path: Path) -> None:
    script = tmp_path / "sync_code.py"
    await anyio.Path(script).write_text(textwrap.dedent(SYNC_CODE))
    env = {**os.environ, "REPERTORY_HOME": str(tmp_path / "home")}
    with anyio.fail_after(60):
        done = await anyio.run_process([sys.executable, str(script)], env=env)
    assert done.stdout.decode().split() == ["4", "6", "6"]
    async with Runtime(f"sqlite:///{tmp_path / 'home' / 'repertory.db'}") as rt:
        runs = await rt.read_flow_runs()
        assert [run.flow_name for run in runs] == ["sync_flow", "async_flow", "sync_flow"]
        assert all(run.state.name == "Completed" for run in runs)
        assert len(await rt.read_task_runs(flow_run_id=runs[0].id)) == 1
