"""Task result caching on SQLite with local files, each figure beside the same trivial task
run uncached in the same run: warm hits, one key wanted by 1,000 callers at once, and hits
on a cold cache after a restart (the durable index and the result files, no memory tier).
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import time
from typing import TYPE_CHECKING

import anyio

from repertory import INPUTS, Runtime, flow, task
from repertory.runtime import LocalFileStorage

from ._harness import Scenario, Target, settle

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

SINGLE_FLIGHT_CALLERS = 1_000


async def _double(x: int) -> int:
    return 2 * x


plain_task = task(_double)
cached_task = task(cache_policy=INPUTS)(_double)


@contextlib.asynccontextmanager
async def _home() -> AsyncIterator[str]:
    """A fresh directory for the database and the result files."""
    directory = tempfile.mkdtemp(prefix="repertory-bench-")
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _runtime(directory: str) -> Runtime:
    """Result files in the benchmark's own directory, not the user's REPERTORY_HOME."""
    storage = LocalFileStorage(f"{directory}/results")
    return Runtime(f"sqlite:///{directory}/runs.db", result_storage=storage)


@flow
async def _sequential(count: int, cached: bool) -> None:
    body = cached_task if cached else plain_task
    for _ in range(count):
        await body(7)  # one key: every call after the first is a hit


async def warm_hits(n: int) -> float:
    async with _home() as directory, _runtime(directory):
        await _sequential(10, True)  # computes the entry, warms the tier
        await settle()
        start = time.perf_counter()
        await _sequential(n, True)
        return time.perf_counter() - start


async def uncached_calls(n: int) -> float:
    async with _home() as directory, _runtime(directory):
        await _sequential(10, False)
        await settle()
        start = time.perf_counter()
        await _sequential(n, False)
        return time.perf_counter() - start


@flow
async def _one_key(callers: int, cached: bool) -> None:
    body = cached_task if cached else plain_task
    async with anyio.create_task_group() as tg:
        for _ in range(callers):
            tg.start_soon(body, 11)


async def single_flight(n: int) -> float:
    """`n` callers of one key at once, in one flow: one computes, the others wait for it."""
    async with _home() as directory, _runtime(directory):
        await settle()
        start = time.perf_counter()
        await _one_key(n, True)
        return time.perf_counter() - start


async def concurrent_uncached(n: int) -> float:
    async with _home() as directory, _runtime(directory):
        await settle()
        start = time.perf_counter()
        await _one_key(n, False)
        return time.perf_counter() - start


@flow
async def _distinct(count: int, cached: bool) -> None:
    body = cached_task if cached else plain_task
    for x in range(count):
        await body(x)


async def cold_hits(n: int) -> float:
    """`n` distinct keys computed, the runtime restarted, then each read back once."""
    async with _home() as directory:
        async with _runtime(directory):
            await _distinct(n, True)
        async with _runtime(directory):
            await settle()
            start = time.perf_counter()
            await _distinct(n, True)
            return time.perf_counter() - start


async def distinct_uncached(n: int) -> float:
    async with _home() as directory, _runtime(directory):
        await settle()
        start = time.perf_counter()
        await _distinct(n, False)
        return time.perf_counter() - start


def scenarios(*, quick: bool) -> list[Scenario]:
    hits = 2_000 if quick else 20_000
    cold = 500 if quick else 2_000
    return [
        Scenario(
            name="cache-hits",
            title="cache hits, warm, sequential (vs the task uncached)",
            n=hits,
            unit="hits/s",
            actor=warm_hits,
            baseline=uncached_calls,
            target=Target(of="value", op=">=", limit=15_000),
        ),
        Scenario(
            name="cache-single-flight",
            title=f"{SINGLE_FLIGHT_CALLERS:,} callers of one key (vs uncached)",
            n=SINGLE_FLIGHT_CALLERS,
            unit="calls/s",
            actor=single_flight,
            baseline=concurrent_uncached,
        ),
        Scenario(
            name="cache-cold",
            title="cache hits after a restart, distinct keys (vs uncached)",
            n=cold,
            unit="hits/s",
            actor=cold_hits,
            baseline=distinct_uncached,
            max_repeats=3,
        ),
    ]
