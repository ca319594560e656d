"""`Runtime("memory://")`: the whole runtime on a memory store of its own, for tests that need
no database (the store itself passes the storage contract suite)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from repertory import INPUTS, Runtime, flow, get_run_logger, task
from repertory.runtime import AuditEvent, StorageError


@task(retries=1)
async def flaky(x: int, seen: list[int]) -> int:
    seen.append(x)
    if len(seen) == 1:
        raise ConnectionError("once")
    return x * 2


@task(cache_policy=INPUTS)
async def cached(x: int) -> int:
    return x + 1


@flow
async def pipeline(x: int, seen: list[int]) -> int:
    get_run_logger().info("doubling %d", x)
    doubled = await flaky(x, seen)
    futures = cached.map([doubled, doubled])
    return sum([await future for future in futures])


async def test_flows_tasks_retries_logs_and_the_cache_run_on_a_memory_store() -> None:
    seen: list[int] = []
    async with Runtime("memory://") as rt:
        assert await pipeline(3, seen) == 14
        [run] = await rt.read_flow_runs()
        assert run.state.name == "Completed"
        tasks = await rt.read_task_runs(flow_run_id=run.id)
        assert [t.task_name for t in tasks] == ["flaky", "cached", "cached"]
        history = [s.name for s in await rt.read_state_history(tasks[0].id)]
        assert history.count("AwaitingRetry") == 1
        logs = await rt.read_logs(flow_run_id=run.id)
        assert any(line.message == "doubling 3" for line in logs)
        assert len(await rt.read_cache_entries()) == 1  # the second was a hit
        assert await rt.read_result(tasks[1].id) == 7

        created = await rt.create_flow_run(pipeline, {"x": 1, "seen": []})
        ended = await rt.wait_for_flow_run(created.id)
        assert ended.state.name == "Completed"


async def test_keys_workspaces_and_the_audit_log_work_on_a_memory_store() -> None:
    async with Runtime("memory://") as rt:
        key, secret = await rt.create_api_key("ci", role="runner")
        assert await rt.authenticate(secret) == key
        await rt.revoke_api_key(key.id)
        assert await rt.authenticate(secret) is None

        await rt.create_workspace("team")
        assert "team" in [ws.name for ws in await rt.read_workspaces()]

        event = AuditEvent(
            at=datetime.now(UTC),
            key_id=None,
            key_name=None,
            action="create_flow_run",
            target="/api/workspaces/default/flow_runs",
            outcome="ok",
            status=201,
            request_id="r1",
            client="127.0.0.1",
        )
        await rt.audit(event)
        assert (await rt.verify_audit()).checked == 1


async def test_each_runtime_on_memory_has_a_store_of_its_own() -> None:
    async with Runtime("memory://") as first:
        await pipeline(1, [])
        async with Runtime("memory://") as second:
            assert await second.read_flow_runs() == []
        assert len(await first.read_flow_runs()) == 1


async def test_a_memory_runtime_starts_no_asyncio_thread_for_drivers_it_has_not() -> None:
    async with Runtime("memory://"):
        await pipeline(1, [])
        threads = [t.name for t in threading.enumerate() if t.name.startswith("repertory-")]
        assert threads == []  # (a SQL runtime on trio runs its drivers in "repertory-asyncio")


def test_an_unknown_scheme_is_still_refused() -> None:
    with pytest.raises(StorageError, match="unsupported database URL scheme 'memroy'"):
        Runtime("memroy://")
