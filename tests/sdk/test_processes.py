"""Across processes: sync code on the default runtime, killed owners, live neighbours."""

from __future__ import annotations

import os
import signal
import sys
import textwrap
from typing import TYPE_CHECKING

import anyio
import pytest

from repertory import Runtime, StateType

if TYPE_CHECKING:
    from pathlib import Path

    from anyio.abc import Process

LONG_RUN = """
import sys
import anyio
from repertory import Runtime, flow, get_run_context, task
from repertory.runtime import current_runtime

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
