"""Memory per idle actor, against bare tasks parked on a stream, each in a fresh subprocess.

The parent (`measure`) runs `python -m bench --probe KIND` once per kind and backend, so that
earlier scenarios leave nothing behind in the RSS it reads; the child (`probe`) spawns, reads
its RSS growth and prints one JSON object on stdout.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import psutil  # type: ignore[import-untyped]  # psutil ships no type hints; one call used

from repertory.actors import open_actor_system

from ._harness import Result, Target, progress
from .kernel import IDLE_MAILBOX_SIZE, IdleActor, raw_parked

if TYPE_CHECKING:
    from anyio.streams.memory import MemoryObjectSendStream

KINDS = ("actors", "tasks")
#: Spawned before the first reading, so that one-time allocations are not counted.
WARMUP = 200
#: A probe that takes longer than this (seconds) has hung.
PROBE_TIMEOUT = 600
#: The pass mark for an idle actor.
TARGET_KIB = 10.0


def _rss() -> int:
    gc.collect()
    rss: int = psutil.Process().memory_info().rss
    return rss


def _emit(report: dict[str, object]) -> None:
    """Print the report and leave at once.

    Stopping 100,000 actors one by one takes longer than the measurement itself, and this
    process has nothing left to do; `os._exit` skips that.
    """
    sys.stdout.write(json.dumps(report) + "\n")
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


async def _probe_actors(n: int) -> None:
    async with open_actor_system() as system:
        for _ in range(WARMUP):
            await system.spawn(IdleActor, mailbox_size=IDLE_MAILBOX_SIZE)
        before = _rss()
        # The collector only costs time here (the RSS is read after a full collection), and
        # it dominates spawning this many actors.
        gc.disable()
        start = time.perf_counter()
        for _ in range(n):
            await system.spawn(IdleActor, mailbox_size=IDLE_MAILBOX_SIZE)
        seconds = time.perf_counter() - start
        gc.enable()
        after = _rss()
        _emit({"rss_before": before, "rss_after": after, "spawn_seconds": seconds})


async def _probe_tasks(n: int) -> None:
    sends: list[MemoryObjectSendStream[object]] = []
    async with anyio.create_task_group() as tg:
        sends.extend([await tg.start(raw_parked) for _ in range(WARMUP)])
        before = _rss()
        gc.disable()
        start = time.perf_counter()
        sends.extend([await tg.start(raw_parked) for _ in range(n)])
        seconds = time.perf_counter() - start
        gc.enable()
        after = _rss()
        _emit({"rss_before": before, "rss_after": after, "spawn_seconds": seconds})


def probe(kind: str, backend: str, n: int) -> None:
    """Child side: spawn `n` idle actors (or bare tasks), print the RSS growth, exit."""
    anyio.run(_probe_actors if kind == "actors" else _probe_tasks, n, backend=backend)


def _run_probe(kind: str, backend: str, n: int) -> dict[str, float]:
    command = [sys.executable, "-m", "bench", "--probe", kind, "--backend", backend]
    command += ["--probe-n", str(n)]
    completed = subprocess.run(
        command,
        cwd=Path(__file__).resolve().parent.parent,
        stdout=subprocess.PIPE,
        check=True,
        timeout=PROBE_TIMEOUT,
        text=True,
    )
    report: dict[str, float] = json.loads(completed.stdout.strip().splitlines()[-1])
    report["kib_per_item"] = (report["rss_after"] - report["rss_before"]) / n / 1024
    return report


def measure(backend: str, *, quick: bool) -> Result:
    """Parent side: probe idle actors and bare tasks in fresh subprocesses, in KiB each."""
    n = 10_000 if quick else 100_000
    reports = {}
    for kind in KINDS:
        reports[kind] = report = _run_probe(kind, backend, n)
        progress(
            f"  {'memory':<18} {backend:<8} {kind}: {report['kib_per_item']:.2f} KiB each "
            f"(spawned {n:,} in {report['spawn_seconds']:.1f} s)"
        )
    actors, tasks = reports["actors"], reports["tasks"]
    return Result(
        name="memory",
        title="memory per idle actor",
        backend=backend,
        n=n,
        unit="KiB/actor",
        actor_samples=(actors["kib_per_item"],),
        baseline_samples=(tasks["kib_per_item"],),
        target=Target(of="value", op="<=", limit=TARGET_KIB),
        extra={
            "repertory_rss_growth_bytes": actors["rss_after"] - actors["rss_before"],
            "baseline_rss_growth_bytes": tasks["rss_after"] - tasks["rss_before"],
            "repertory_spawn_per_second": n / actors["spawn_seconds"],
            "baseline_spawn_per_second": n / tasks["spawn_seconds"],
        },
    )
