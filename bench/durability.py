"""Durability under a busy flow: a child process runs a flow whose tasks never block and is
killed (SIGKILL) at a random moment 150-600 ms into the flow's body; the parent then opens the
database and compares what is stored with what the child had finished.

The child's tasks write their own ids and end times to a side file with one unbuffered
`os.write` each (the page cache outlives a killed process; a buffered file would not), just
before each task run's Completed state is journalled, so that a task counts as finished a
little before its state exists: the ages reported are upper bounds. Both processes read the
same clock (`time.monotonic`, system-wide on Linux). A finished task whose Completed state is
not in the database was lost; the figure is the age, at the kill, of the oldest one lost
(0 when none was). The flow run's own row should always be there: its body had started more
than 100 ms before the kill.

`python -m bench.durability WORKLOAD URL WORKSPACE SIDE_FILE BACKEND` is the child.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import anyio

from ._harness import Result, Target, progress
from .runtime import postgres_url

WORKLOADS: Final = ("seq", "map")
#: Sequential tasks in the child's flow: more than it can run before the latest kill.
SEQ_TASKS: Final = 200_000
#: Tasks of each `map` in the child's flow, which maps again until it is killed.
MAP_TASKS: Final = 2_000
#: When the child is killed, in seconds after its flow's body started.
KILL_AFTER: Final = (0.150, 0.600)
#: The pass mark for the age of the oldest finished task whose state was lost, in ms.
TARGET_MS: Final = 100.0
#: A child that has not started its flow by then has hung.
START_TIMEOUT: Final = 120
_ROOT: Final = Path(__file__).resolve().parent.parent


# -- the child: a runtime, a warm-up flow, then the busy flow until it is killed --------------


async def _child(workload: str, url: str, workspace: str, side_file: str) -> None:
    from repertory import Runtime, flow, get_run_context, task

    done = os.open(side_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    @task
    async def step(i: int) -> int:
        os.write(done, f"{get_run_context().task_run_id} {time.monotonic():.6f}\n".encode())
        return i

    @flow
    async def warm_up() -> None:
        await step.map(range(10))
        for i in range(10):
            await step(i)

    @flow
    async def busy() -> None:
        began = time.monotonic()
        sys.stdout.write(f"started {get_run_context().flow_run_id} {began:.6f}\n")
        sys.stdout.flush()
        if workload == "seq":
            for i in range(SEQ_TASKS):
                await step(i)
        else:
            while True:
                await step.map(range(MAP_TASKS))

    async with Runtime(url, workspace=workspace):
        await warm_up()
        os.ftruncate(done, 0)  # only the busy flow's tasks count
        await busy()


# -- the parent ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Trial:
    """What one killed child had finished, and what of it the database kept."""

    killed_after_ms: float
    finished: int
    lost: int
    oldest_lost_ms: float
    has_run_row: bool


async def _stored(url: str, workspace: str, run_id: str) -> tuple[bool, set[str]]:
    """Whether the flow run's row is stored, and the ids of its task runs stored Completed."""
    from repertory import Runtime
    from repertory.runtime import RunNotFoundError

    async with Runtime(url, workspace=workspace) as rt:
        try:
            await rt.read_flow_run(run_id)
        except RunNotFoundError:
            return False, set()
        runs = await rt.read_task_runs(flow_run_id=run_id)
        return True, {run.id for run in runs if run.state.name == "Completed"}


def _trial(workload: str, database: str, backend: str, kill_after: float) -> Trial:
    directory = tempfile.mkdtemp(prefix="repertory-bench-")
    try:
        url = postgres_url() if database == "postgresql" else f"sqlite:///{directory}/runs.db"
        workspace = f"durability-{uuid.uuid4().hex[:8]}"
        side_file = f"{directory}/finished.txt"
        command = [
            sys.executable,
            "-m",
            "bench.durability",
            workload,
            url,
            workspace,
            side_file,
            backend,
        ]
        with subprocess.Popen(command, cwd=_ROOT, stdout=subprocess.PIPE, text=True) as child:
            assert child.stdout is not None
            try:
                line = _read_line(child, START_TIMEOUT)
                word, run_id, began = line.split()
                assert word == "started", line
                time.sleep(max(0.0, float(began) + kill_after - time.monotonic()))
            finally:
                child.send_signal(signal.SIGKILL)
            killed = time.monotonic()
            child.wait()
        finished: dict[str, float] = {}
        for record in Path(side_file).read_text().splitlines():
            task_run_id, _, ended = record.partition(" ")
            if ended:  # a line cut by the kill is not a finished task
                finished[task_run_id] = float(ended)
        has_run_row, completed = anyio.run(_stored, url, workspace, run_id)
        ages = [
            killed - ended
            for task_run_id, ended in finished.items()
            if task_run_id not in completed
        ]
        return Trial(
            killed_after_ms=(killed - float(began)) * 1e3,
            finished=len(finished),
            lost=len(ages),
            oldest_lost_ms=max(ages, default=0.0) * 1e3,
            has_run_row=has_run_row,
        )
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _read_line(child: subprocess.Popen[str], timeout: float) -> str:
    """The child's first line of output, or an error once `timeout` seconds have passed."""
    assert child.stdout is not None
    import selectors

    with selectors.DefaultSelector() as selector:
        selector.register(child.stdout, selectors.EVENT_READ)
        if not selector.select(timeout):
            raise TimeoutError(f"the child did not start its flow within {timeout} s")
    return child.stdout.readline()


def measure(backend: str, *, quick: bool) -> list[Result]:
    """Kill children at random moments, `trials` per workload and database, and report the
    age of the oldest finished task whose state was lost, and how often the run row was there."""
    trials = 3 if quick else 10
    databases = ["sqlite"] + (["postgresql"] if postgres_url() else [])
    results = []
    for database in databases:
        label = "SQLite" if database == "sqlite" else "PostgreSQL"
        for workload in WORKLOADS:
            # The same kill moments for every run of the harness: comparable across commits.
            moments = random.Random(f"{workload}-{database}-{backend}")
            runs = [
                _trial(workload, database, backend, moments.uniform(*KILL_AFTER))
                for _ in range(trials)
            ]
            oldest = [run.oldest_lost_ms for run in runs]
            with_row = sum(run.has_run_row for run in runs)
            what = "sequential tasks" if workload == "seq" else f"maps of {MAP_TASKS:,} tasks"
            progress(
                f"  {'durability':<18} {backend:<8} {workload:<4} {label}: oldest lost "
                f"{max(oldest):.0f} ms (median {statistics.median(oldest):.0f}), run row in "
                f"{with_row}/{trials}, finished {statistics.median(r.finished for r in runs):.0f}, "
                f"lost {statistics.median(r.lost for r in runs):.0f} (medians)"
            )
            extra: dict[str, float | list[float]] = {
                "trials": float(trials),
                "oldest_lost_ms_per_trial_median": statistics.median(oldest),
                "killed_after_ms_min": min(run.killed_after_ms for run in runs),
                "killed_after_ms_max": max(run.killed_after_ms for run in runs),
                "finished_median": float(statistics.median(run.finished for run in runs)),
                "lost_median": float(statistics.median(run.lost for run in runs)),
                "lost_max": float(max(run.lost for run in runs)),
            }
            results += [
                Result(
                    name="durability",
                    title=f"oldest lost finished task, killed 150-600 ms into {what} ({label})",
                    backend=backend,
                    n=trials,
                    unit="ms",
                    actor_samples=(max(oldest),),
                    baseline_samples=(),
                    target=Target(of="value", op="<=", limit=TARGET_MS),
                    extra={**extra, "oldest_lost_ms_per_trial": oldest},
                ),
                Result(
                    name="durability",
                    title=f"flow run row stored when killed, {what} ({label})",
                    backend=backend,
                    n=trials,
                    unit="% of kills",
                    actor_samples=(100.0 * with_row / trials,),
                    baseline_samples=(),
                    target=Target(of="value", op=">=", limit=100),
                ),
            ]
    return results


if __name__ == "__main__":
    workload_, url_, workspace_, side_file_, backend_ = sys.argv[1:6]
    anyio.run(_child, workload_, url_, workspace_, side_file_, backend=backend_)
