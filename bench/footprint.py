"""What a user feels besides throughput: the latency of one flow call, start-up, peak memory and
import time, each beside a raw baseline taken in the same run.

Start-up, memory and imports depend on what a process has done before, so each of their
samples is a fresh subprocess (`python -m bench.footprint KIND BACKEND`, which imports nothing
of repertory before it measures) that prints one JSON object.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Final

import anyio
import anyio.to_thread

from ._harness import Result, Target, progress

#: A probe that takes longer than this (seconds) has hung.
PROBE_TIMEOUT: Final = 300
RSS_TASKS: Final = 10_000
_ROOT: Final = Path(__file__).resolve().parent.parent


def _emit(report: dict[str, float]) -> None:
    sys.stdout.write(json.dumps(report) + "\n")
    sys.stdout.flush()


def _peak_rss_mb() -> float:
    """This process's peak RSS since it started its program: `VmHWM`, which `exec` resets
    (`ru_maxrss` is kept across `exec`, so a child forked from a big parent reports the
    parent's size)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024  # kB
    raise RuntimeError("no VmHWM in /proc/self/status")


# -- the raw baseline: what one durable flow run writes, by the driver, off the loop ---------


class RawStore:
    """One run row and three state rows per call, committed by `sqlite3` in a worker thread,
    as the runtime's store does (WAL, `synchronous=NORMAL`, the same indexes)."""

    def __init__(self, directory: str, name: str = "raw.db") -> None:
        self.connection = sqlite3.connect(
            f"{directory}/{name}", isolation_level=None, check_same_thread=False
        )
        self.connection.executescript(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
            "CREATE TABLE runs (id TEXT PRIMARY KEY, name TEXT, state TEXT, created BIGINT);"
            "CREATE INDEX runs_by_created ON runs (created);"
            "CREATE TABLE states (seq INTEGER PRIMARY KEY, run_id TEXT, name TEXT, ts BIGINT);"
            "CREATE INDEX states_by_run ON states (run_id, seq);"
        )
        self.count = 0

    def _write(self) -> None:
        self.count += 1
        run_id = f"run-{self.count}"
        self.connection.execute("BEGIN IMMEDIATE")
        self.connection.execute(
            "INSERT INTO runs VALUES (?, 'flow', 'Completed', ?)", (run_id, self.count)
        )
        self.connection.executemany(
            "INSERT INTO states (run_id, name, ts) VALUES (?, ?, 0)",
            [(run_id, name) for name in ("Pending", "Running", "Completed")],
        )
        self.connection.execute("COMMIT")

    async def commit_one_run(self) -> None:
        await anyio.to_thread.run_sync(self._write)


# -- latency of one flow call, in this process ---------------------------------------------


async def _flow_call_latencies(n: int) -> list[float]:
    from repertory import Runtime

    from .runtime import trivial_flow

    directory = tempfile.mkdtemp(prefix="repertory-bench-")
    try:
        async with Runtime(f"sqlite:///{directory}/runs.db"):
            for i in range(50):
                await trivial_flow(i)  # warm
            samples = []
            for i in range(n):
                start = time.perf_counter()
                await trivial_flow(i)
                samples.append(time.perf_counter() - start)
            return samples
    finally:
        shutil.rmtree(directory, ignore_errors=True)


async def _raw_commit_latencies(n: int) -> list[float]:
    directory = tempfile.mkdtemp(prefix="repertory-bench-")
    try:
        store = RawStore(directory)
        for _ in range(50):
            await store.commit_one_run()
        samples = []
        for _ in range(n):
            start = time.perf_counter()
            await store.commit_one_run()
            samples.append(time.perf_counter() - start)
        store.connection.close()
        return samples
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _percentile(samples: list[float], fraction: float) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[round(fraction * 100) - 1]


def measure_latency(backend: str, *, quick: bool) -> list[Result]:
    """p50 and p99 of a trivial flow call, durable at return, beside the driver's own commit
    of the same rows through a worker thread (the floor of a durable call), in ms."""
    n = 500 if quick else 3_000
    calls = anyio.run(_flow_call_latencies, n, backend=backend)
    raw = anyio.run(_raw_commit_latencies, n, backend=backend)
    results = []
    for label, fraction in (("p50", 0.5), ("p99", 0.99)):
        value, floor = _percentile(calls, fraction) * 1e3, _percentile(raw, fraction) * 1e3
        progress(f"  {'latency':<18} {backend:<8} {label}: {value:.2f} ms, raw {floor:.2f} ms")
        results.append(
            Result(
                name="latency",
                title=f"flow call latency {label} (SQLite)",
                backend=backend,
                n=n,
                unit="ms",
                actor_samples=(value,),
                baseline_samples=(floor,),
            )
        )
    return results


# -- probes: each runs in a fresh process ----------------------------------------------------


async def _probe_startup() -> None:
    """From entering `Runtime(...)` to the first flow body starting, in a cold process."""
    from repertory import Runtime, flow

    started = anyio.Event()

    @flow
    async def first() -> None:
        started.set()

    directory = tempfile.mkdtemp(prefix="repertory-bench-")
    try:
        begin = time.perf_counter()
        async with Runtime(f"sqlite:///{directory}/runs.db"), anyio.create_task_group() as tg:
            tg.start_soon(first)
            await started.wait()
            cold = time.perf_counter() - begin
        begin = time.perf_counter()  # again, in the same process: imports are done
        async with Runtime(f"sqlite:///{directory}/runs.db"):
            started = anyio.Event()
            async with anyio.create_task_group() as tg:
                tg.start_soon(first)
                await started.wait()
                warm = time.perf_counter() - begin
        _emit({"cold_ms": cold * 1e3, "warm_ms": warm * 1e3})
    finally:
        shutil.rmtree(directory, ignore_errors=True)


async def _probe_startup_baseline() -> None:
    """The same for the raw driver: open a new database, set it up, commit one run."""
    directory = tempfile.mkdtemp(prefix="repertory-bench-")
    try:
        begin = time.perf_counter()
        store = await anyio.to_thread.run_sync(RawStore, directory)
        await store.commit_one_run()
        cold = time.perf_counter() - begin
        begin = time.perf_counter()
        store = await anyio.to_thread.run_sync(RawStore, directory, "again.db")
        await store.commit_one_run()
        warm = time.perf_counter() - begin
        _emit({"cold_ms": cold * 1e3, "warm_ms": warm * 1e3})
    finally:
        shutil.rmtree(directory, ignore_errors=True)


async def _probe_rss() -> None:
    """Peak RSS of a process that runs one sequential flow of `RSS_TASKS` tasks."""
    from repertory import Runtime, flow, task

    @task
    async def async_task(x: int) -> int:
        return x

    @flow
    async def sequential(count: int) -> None:
        for i in range(count):
            await async_task(i)

    directory = tempfile.mkdtemp(prefix="repertory-bench-")
    try:
        async with Runtime(f"sqlite:///{directory}/runs.db"):
            await sequential(RSS_TASKS)
        _emit({"peak_rss_mb": _peak_rss_mb()})
    finally:
        shutil.rmtree(directory, ignore_errors=True)


async def _probe_rss_baseline() -> None:
    """The same process without repertory: the same libraries imported, the bare loop run,
    the same rows written by the driver."""
    import databases  # noqa: F401 - imported for its memory, as the runtime imports it
    import pydantic  # noqa: F401

    async def nothing_async(x: int) -> int:
        return x

    directory = tempfile.mkdtemp(prefix="repertory-bench-")
    try:
        store = RawStore(directory)
        for i in range(RSS_TASKS):
            await nothing_async(i)
        await store.commit_one_run()
        _emit({"peak_rss_mb": _peak_rss_mb()})
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def probe(kind: str, backend: str) -> None:
    """Child side: measure one thing in this fresh process, print it as JSON, and exit."""
    work = {
        "startup": _probe_startup,
        "startup-baseline": _probe_startup_baseline,
        "rss": _probe_rss,
        "rss-baseline": _probe_rss_baseline,
    }[kind]
    anyio.run(work, backend=backend)


def _run(command: list[str]) -> dict[str, float]:
    completed = subprocess.run(
        command,
        cwd=_ROOT,
        stdout=subprocess.PIPE,
        check=True,
        timeout=PROBE_TIMEOUT,
        text=True,
    )
    report: dict[str, float] = json.loads(completed.stdout.strip().splitlines()[-1])
    return report


def _run_probe(kind: str, backend: str) -> dict[str, float]:
    return _run([sys.executable, "-m", "bench.footprint", kind, backend])


def _import_ms(statement: str) -> float:
    """Milliseconds that `statement` takes as the first thing a fresh interpreter does."""
    code = (
        "import json, time; began = time.perf_counter(); "
        f"{statement}; "
        "print(json.dumps({'ms': (time.perf_counter() - began) * 1e3}))"
    )
    return _run([sys.executable, "-c", code])["ms"]


def _probed(kind: str, backend: str, key: str, repeats: int) -> tuple[float, ...]:
    return tuple(_run_probe(kind, backend)[key] for _ in range(repeats))


def measure_startup(backend: str, *, quick: bool) -> list[Result]:
    """Entering `Runtime(...)` to the first flow body starting: in a fresh process (imports
    included) and again in the same process, beside the driver setting up a new database."""
    repeats = 2 if quick else 5
    results = []
    for key, label, target in (
        ("cold_ms", "fresh process", Target(of="value", op="<=", limit=100)),
        ("warm_ms", "second runtime", Target(of="value", op="<=", limit=100)),
    ):
        actor = _probed("startup", backend, key, repeats)
        baseline = _probed("startup-baseline", backend, key, repeats)
        progress(
            f"  {'startup':<18} {backend:<8} {label}: {statistics.median(actor):.1f} ms, "
            f"raw {statistics.median(baseline):.1f} ms"
        )
        results.append(
            Result(
                name="startup",
                title=f"Runtime() to first flow start, {label}",
                backend=backend,
                n=1,
                unit="ms",
                actor_samples=actor,
                baseline_samples=baseline,
                target=target,
            )
        )
    return results


def measure_rss(backend: str, *, quick: bool) -> Result:
    """Peak RSS of a sequential 10,000-task flow, beside the same libraries and a bare loop."""
    repeats = 1 if quick else 3
    actor = _probed("rss", backend, "peak_rss_mb", repeats)
    baseline = _probed("rss-baseline", backend, "peak_rss_mb", repeats)
    progress(
        f"  {'rss':<18} {backend:<8} {statistics.median(actor):.1f} MB, "
        f"raw {statistics.median(baseline):.1f} MB"
    )
    return Result(
        name="rss",
        title=f"peak RSS, sequential {RSS_TASKS:,}-task flow",
        backend=backend,
        n=RSS_TASKS,
        unit="MB",
        actor_samples=actor,
        baseline_samples=baseline,
        target=Target(of="value", op="<=", limit=80),
    )


def measure_imports(*, quick: bool) -> list[Result]:
    """`import repertory`, and the first use (`from repertory import flow, Runtime`), each in
    a fresh interpreter, beside `import anyio`."""
    repeats = 3 if quick else 7
    baseline = tuple(_import_ms("import anyio") for _ in range(repeats))
    results = []
    for statement in ("import repertory", "from repertory import flow, Runtime"):
        actor = tuple(_import_ms(statement) for _ in range(repeats))
        progress(
            f"  {'import':<18} {'-':<8} {statement}: {statistics.median(actor):.1f} ms, "
            f"import anyio {statistics.median(baseline):.1f} ms"
        )
        results.append(
            Result(
                name="import",
                title=f"{statement} (baseline: import anyio)",
                backend="-",
                n=1,
                unit="ms",
                actor_samples=actor,
                baseline_samples=baseline,
            )
        )
    return results


if __name__ == "__main__":
    probe(sys.argv[1], sys.argv[2])
