"""One clock: retries wait on the runtime's clock, and key expiry is judged by it, so a test
of hours of backoff or of a key's last day takes no time (`repertory.testing.FakeClock`).
Cache expiry on the clock is tested with the cache (test_cache.py), rate limits with the
limits (tests/gateway/test_limits.py)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import TYPE_CHECKING

import anyio

from repertory import Runtime, flow, get_run_context, task
from repertory.testing import FakeClock, open_test_runtime

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable


async def _started(run: Callable[[], Awaitable[object]], results: list[object]) -> None:
    results.append(await run())


async def test_hours_of_task_backoff_wait_on_the_clock(database_url: str) -> None:
    clock = FakeClock()
    attempts: list[int] = []

    @task(retries=2, retry_delay_seconds=[3600, 7200])
    async def flaky() -> str:
        attempts.append(get_run_context().attempt)
        if len(attempts) < 3:
            raise ConnectionError("upstream away")
        return "ok"

    @flow
    async def uses() -> str:
        return await flaky()

    workspace = f"test-{uuid.uuid4().hex[:12]}"
    results: list[object] = []
    async with (
        Runtime(database_url, workspace=workspace, clock=clock) as rt,
        anyio.create_task_group() as tg,
    ):
        tg.start_soon(_started, uses, results)
        await clock.wait_for_sleepers()
        assert (attempts, clock.sleeps) == ([1], [3600])
        clock.advance(3600)
        await clock.wait_for_sleepers()
        assert (attempts, clock.sleeps) == ([1, 2], [3600, 7200])
        clock.advance(timedelta(hours=2))
    assert results == ["ok"]
    async with Runtime(database_url, workspace=workspace) as rt:
        [run] = await rt.read_flow_runs()
        [task_run] = await rt.read_task_runs(flow_run_id=run.id)
        names = [s.name for s in await rt.read_state_history(task_run.id)]
        assert names.count("AwaitingRetry") == 2
        assert names[-1] == "Completed"


async def test_a_flows_backoff_waits_on_the_clock() -> None:
    clock = FakeClock()
    attempts: list[int] = []

    @flow(retries=1, retry_delay_seconds=3600)
    async def flaky() -> int:
        attempts.append(len(attempts) + 1)
        if len(attempts) == 1:
            raise ConnectionError("upstream away")
        return len(attempts)

    results: list[object] = []
    async with open_test_runtime(clock=clock) as rt, anyio.create_task_group() as tg:
        tg.start_soon(_started, flaky, results)
        await clock.wait_for_sleepers()
        assert (attempts, clock.sleeps) == ([1], [3600])
        clock.advance(3600)
    assert results == [2]
    assert rt.clock is clock


async def test_a_sync_tasks_backoff_in_a_worker_thread_waits_on_the_clock() -> None:
    clock = FakeClock()
    attempts: list[int] = []

    @task(retries=1, retry_delay_seconds=600)
    def flaky() -> str:
        attempts.append(len(attempts) + 1)
        if len(attempts) == 1:
            raise ConnectionError("upstream away")
        return "ok"

    @flow
    def uses() -> str:
        return flaky()  # inline, in the sync flow's worker thread

    results: list[object] = []

    async def call_it() -> None:
        results.append(await uses())  # type: ignore[misc]  # a sync flow, awaited in async code

    async with open_test_runtime(clock=clock), anyio.create_task_group() as tg:
        tg.start_soon(call_it)
        await clock.wait_for_sleepers()
        assert (attempts, clock.sleeps) == ([1], [600])
        clock.advance(600)
    assert results == ["ok"]


async def test_a_key_expires_when_the_clock_passes_its_time() -> None:
    clock = FakeClock()
    async with open_test_runtime(clock=clock) as rt:
        expires = clock.utc_now() + timedelta(days=1)
        key, secret = await rt.create_api_key("ci", expires=expires)
        assert key.created == clock.utc_now()
        assert await rt.authenticate(secret) is not None
        clock.advance(timedelta(days=1, seconds=-1))
        assert await rt.authenticate(secret) is not None
        clock.advance(1)
        assert await rt.authenticate(secret) is None
