"""Task result caching end to end: hits, misses, expiry on an injected clock, refresh,
policies, single-flight, invalidation, restarts, damaged results, storages, sync tasks."""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import anyio
import pytest

from repertory import (
    FLOW_PARAMETERS,
    INPUTS,
    NO_CACHE,
    RUN_ID,
    TASK_SOURCE,
    ResultNotFoundError,
    Runtime,
    UnhashableInputError,
    UsageError,
    flow,
    task,
)
from repertory.runtime import ResultStorage, UnhashableInputWarning
from repertory.testing import FakeClock

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
    from contextlib import AbstractAsyncContextManager
    from pathlib import Path

    from repertory.runtime import CacheKeyContext, CachePolicy

    OpenRuntime = Callable[..., AbstractAsyncContextManager[Runtime]]


async def until_waiting(rt: Runtime, count: int) -> None:
    """Until `count` runs wait for a result another run is computing (a condition, checked
    whenever every task is blocked, or waiting for a thread: no timing involved)."""
    while (await rt.cache_statistics()).waiting < count:
        await anyio.wait_all_tasks_blocked()


def stored_files(directory: Path) -> list[Path]:
    return [path for path in directory.rglob("*") if path.is_file()]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(utc=datetime(2026, 11, 26, 12, 0, tzinfo=UTC))


@pytest.fixture
def open_runtime(database_url: str, clock: FakeClock) -> OpenRuntime:
    """`async with open_runtime() as rt:` on this test's workspace and clock; opening it again
    is a restart on the same database and workspace."""
    workspace = f"test-{uuid.uuid4().hex[:12]}"

    @contextlib.asynccontextmanager
    async def open_it(**options: object) -> AsyncIterator[Runtime]:
        async with Runtime(database_url, workspace=workspace, clock=clock, **options) as rt:  # type: ignore[arg-type]
            yield rt

    return open_it


class Calls:
    """What the cached functions were called with, in order."""

    def __init__(self) -> None:
        self.seen: list[object] = []


@pytest.fixture
def calls() -> Calls:
    return Calls()


async def test_a_hit_returns_the_stored_value_without_running_the_task(
    open_runtime: OpenRuntime, calls: Calls
) -> None:
    @task(cache_policy=INPUTS)
    async def double(x: int) -> dict[str, object]:
        calls.seen.append(x)
        return {"double": 2 * x, "of": (x,)}

    @flow
    async def twice(x: int) -> list[dict[str, object]]:
        return [await double(x), await double(x), await double(x + 1)]

    async with open_runtime() as rt:
        first, again, other = await twice(3)
        assert first == again == {"double": 6, "of": (3,)}  # the tuple comes back a tuple
        assert first is not again  # each hit decodes a copy of its own
        assert other == {"double": 8, "of": (4,)}
        assert calls.seen == [3, 4]
        [run] = await rt.read_flow_runs()
        task_runs = await rt.read_task_runs(flow_run_id=run.id)
        assert [t.state.name for t in task_runs] == ["Completed", "Cached", "Completed"]
        history = await rt.read_state_history(task_runs[1].id)
        assert [s.name for s in history] == ["Pending", "Running", "Cached"]
        assert await rt.read_result(task_runs[1].id) == first  # a hit's result, read back
        assert await rt.read_result(task_runs[0].id) == first
        entries = await rt.read_cache_entries(task_name="double")
        assert len(entries) == 2
        assert {e.task_run_id for e in entries} == {task_runs[0].id, task_runs[2].id}
        assert all(e.storage == "local" and e.size > 0 for e in entries)


async def test_expired_entries_are_recomputed_and_purged(
    open_runtime: OpenRuntime, calls: Calls, clock: FakeClock, repertory_home: Path
) -> None:
    @task(cache_policy=INPUTS, cache_expiration=timedelta(hours=1))
    async def stamp(x: int) -> int:
        calls.seen.append(x)
        return len(calls.seen)

    @flow
    async def once(x: int) -> int:
        return await stamp(x)

    async with open_runtime() as rt:
        assert await once(1) == 1
        clock.advance(timedelta(minutes=59))
        assert await once(1) == 1  # still fresh
        [entry] = await rt.read_cache_entries()
        assert entry.expires == entry.created + timedelta(hours=1)
        clock.advance(timedelta(minutes=1))
        assert await once(1) == 2  # expired: computed again, and the entry replaced
        [entry] = await rt.read_cache_entries()
        assert entry.created == clock.utc_now()
        computed = next(r for r in await rt.read_flow_runs() if r.state.name == "Completed")
        [first_run] = await rt.read_task_runs(flow_run_id=computed.id)
        clock.advance(timedelta(hours=2))
        with pytest.raises(ResultNotFoundError, match="expired"):
            await rt.read_result(first_run.id)
        results = repertory_home / "results"
        assert len(await anyio.to_thread.run_sync(stored_files, results)) == 1
        assert await rt.purge_expired_cache() == 1
        assert await rt.read_cache_entries() == []
        assert await anyio.to_thread.run_sync(stored_files, results) == []
        assert await rt.purge_expired_cache() == 0


async def test_refresh_cache_recomputes_and_replaces(
    open_runtime: OpenRuntime, calls: Calls
) -> None:
    @task(cache_policy=INPUTS)
    async def count(x: int) -> int:
        calls.seen.append(x)
        return len(calls.seen)

    refreshing = count.with_options(refresh_cache=True)

    @flow
    async def run_all() -> list[int]:
        return [await count(1), await refreshing(1), await count(1)]

    async with open_runtime():
        assert await run_all() == [1, 2, 2]  # the refresh replaced what the next call reads


POLICY_CALLS: list[str] = []


def counted(policy: CachePolicy, name: str) -> Callable[..., Awaitable[int]]:
    @task(name=name, cache_policy=policy)
    async def body(x: int, noise: int = 0) -> int:
        POLICY_CALLS.append(name)
        return x

    return body


# Defined at import, as tasks are: TASK_SOURCE reads the source file when a task is defined.
POLICIES = [
    counted(INPUTS, "by_inputs"),
    counted(INPUTS - "noise", "but_noise"),
    counted(RUN_ID, "by_run"),
    counted(FLOW_PARAMETERS, "by_flow"),
    counted(INPUTS + RUN_ID, "by_both"),
    counted(NO_CACHE, "never"),
    counted(INPUTS + TASK_SOURCE, "with_source"),
]


async def test_each_policy_and_their_sums(open_runtime: OpenRuntime) -> None:
    @flow
    async def calls_all(flow_parameter: int) -> None:
        for body in POLICIES:
            for noise in (1, 2):
                await body(1, noise)

    POLICY_CALLS.clear()
    async with open_runtime():
        await calls_all(1)
        await calls_all(1)
        await calls_all(2)
    assert Counter(POLICY_CALLS) == {
        "by_inputs": 2,  # one per noise, for ever after
        "but_noise": 1,  # noise left out of the key
        "by_run": 3,  # once per flow run
        "by_flow": 2,  # once per flow parameter value
        "by_both": 6,  # per noise and per run
        "never": 6,  # every call
        "with_source": 2,
    }


async def test_a_key_function_picks_the_key_or_declines(
    open_runtime: OpenRuntime, calls: Calls
) -> None:
    def by_parity(context: CacheKeyContext, parameters: Mapping[str, object]) -> str | None:
        x = parameters["x"]
        assert isinstance(x, int)
        assert context.task_name == "parity"
        return None if x < 0 else str(x % 2)

    @task(name="parity", cache_key_fn=by_parity)
    async def parity(x: int) -> int:
        calls.seen.append(x)
        return x

    @flow
    async def run_all() -> list[int]:
        return [await parity(x) for x in (1, 3, 2, -1, -1)]

    async with open_runtime():
        assert await run_all() == [1, 1, 2, -1, -1]  # 3 hits 1's entry: same parity
    assert calls.seen == [1, 2, -1, -1]
    with pytest.raises(ValueError, match="not both"):
        task(cache_policy=INPUTS, cache_key_fn=by_parity)(lambda x: x)


async def test_many_callers_of_one_key_compute_it_once(
    open_runtime: OpenRuntime, calls: Calls
) -> None:
    gate = anyio.Event()

    @task(cache_policy=INPUTS)
    async def slow(x: int) -> int:
        calls.seen.append(x)
        await gate.wait()
        return x * 10

    @flow
    async def caller() -> int:
        return await slow(7)

    results: list[int] = []
    async with open_runtime() as rt:
        async with anyio.create_task_group() as tg:

            async def call() -> None:
                results.append(await caller())

            for _ in range(50):
                tg.start_soon(call)
            await until_waiting(rt, 49)  # one has the lease; 49 wait on the cache manager
            gate.set()
        assert results == [70] * 50
        assert calls.seen == [7]
        names = [
            task_run.state.name
            for run in await rt.read_flow_runs()
            for task_run in await rt.read_task_runs(flow_run_id=run.id)
        ]
        assert sorted(names) == ["Cached"] * 49 + ["Completed"]


def failing_first(calls: Calls, gate: anyio.Event, x: int) -> Callable[[], Awaitable[int]]:
    """A flow calling a cached task with `x`, whose first run waits for `gate`, then fails."""

    @task(cache_policy=INPUTS)
    async def flaky(x: int) -> int:
        calls.seen.append(x)
        if len(calls.seen) == 1:
            await gate.wait()
            raise RuntimeError("the first try fails")
        return x

    @flow
    async def caller() -> int:
        return await flaky(x)

    return caller


async def test_a_waiter_takes_over_when_the_computing_run_fails(
    open_runtime: OpenRuntime, calls: Calls
) -> None:
    gate = anyio.Event()
    caller = failing_first(calls, gate, 5)

    outcomes: list[object] = []
    async with open_runtime() as rt, anyio.create_task_group() as tg:

        async def call() -> None:
            try:
                outcomes.append(await caller())
            except RuntimeError as exc:
                outcomes.append(str(exc))

        for _ in range(5):
            tg.start_soon(call)
        await until_waiting(rt, 4)
        gate.set()
    assert calls.seen == [5, 5]  # the failure, then one waiter computing it
    assert sorted(map(str, outcomes)) == ["5"] * 4 + ["the first try fails"]


async def test_a_waiter_that_gives_up_is_never_handed_the_lease(
    open_runtime: OpenRuntime, calls: Calls
) -> None:
    gate = anyio.Event()
    caller = failing_first(calls, gate, 6)

    outcomes: list[object] = []
    impatient = anyio.CancelScope()

    async def call(scope: anyio.CancelScope) -> None:
        with scope:
            try:
                outcomes.append(await caller())
            except RuntimeError as exc:
                outcomes.append(str(exc))

    # Without the withdrawal, the lease would go to no one and the last caller wait for ever.
    with anyio.fail_after(30):
        async with open_runtime() as rt, anyio.create_task_group() as tg:
            tg.start_soon(call, anyio.CancelScope())  # the leader
            while (await rt.cache_statistics()).computing != 1:
                await anyio.wait_all_tasks_blocked()
            tg.start_soon(call, impatient)  # waits, then gives up
            tg.start_soon(call, anyio.CancelScope())  # waits, and takes over
            await until_waiting(rt, 2)
            impatient.cancel()
            while (await rt.cache_statistics()).waiting != 1:  # its withdrawal has arrived
                await anyio.wait_all_tasks_blocked()
            gate.set()
    assert sorted(map(str, outcomes)) == ["6", "the first try fails"]
    assert calls.seen == [6, 6]


async def test_invalidation_by_key_and_by_task(open_runtime: OpenRuntime, calls: Calls) -> None:
    @task(cache_policy=INPUTS)
    async def keep(x: int) -> int:
        calls.seen.append(x)
        return x

    @flow
    async def run_all(xs: list[int]) -> None:
        for x in xs:
            await keep(x)

    async with open_runtime() as rt:
        await run_all([1, 2, 3])
        entries = await rt.read_cache_entries()
        assert len(entries) == 3
        gone = await rt.read_result(entries[0].task_run_id)
        assert await rt.invalidate_cache(key=entries[0].key) == 1
        assert await rt.invalidate_cache(key=entries[0].key) == 0
        await run_all([1, 2, 3])
        assert calls.seen == [1, 2, 3, gone]  # only the invalidated one ran again
        assert await rt.invalidate_cache(task_name="keep") == 3
        assert await rt.read_cache_entries() == []
        await run_all([2])
        assert calls.seen == [1, 2, 3, gone, 2]
        with pytest.raises(ValueError, match="one of them"):
            await rt.invalidate_cache()


@pytest.mark.parametrize("storage", ["local", "database"])
async def test_valid_entries_outlive_a_restart(
    open_runtime: OpenRuntime, calls: Calls, storage: str
) -> None:
    @task(cache_policy=INPUTS)
    async def keep(x: int) -> list[int]:
        calls.seen.append(x)
        return [x]

    @flow
    async def once(x: int) -> list[int]:
        return await keep(x)

    async with open_runtime(result_storage=storage):
        assert await once(1) == [1]
    async with open_runtime(result_storage=storage) as rt:
        assert await once(1) == [1]  # from the durable index and storage: no memory left
        [entry] = await rt.read_cache_entries()
        assert entry.storage == storage
    assert calls.seen == [1]


@pytest.mark.parametrize("damage", ["missing", "corrupt"])
async def test_a_damaged_result_is_a_logged_miss(
    open_runtime: OpenRuntime,
    calls: Calls,
    damage: str,
    repertory_home: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    @task(cache_policy=INPUTS)
    async def keep(x: int) -> int:
        calls.seen.append(x)
        return x

    @flow
    async def once(x: int) -> int:
        return await keep(x)

    async with open_runtime() as rt:
        await once(1)
        [entry] = await rt.read_cache_entries()
    path = anyio.Path(repertory_home / "results" / entry.location)
    if damage == "missing":
        await path.unlink()
    else:
        await path.write_bytes(b"m\xc1 not msgpack")
    with caplog.at_level(logging.WARNING, logger="repertory.cache"):
        async with open_runtime() as rt:
            assert await once(1) == 1
    assert calls.seen == [1, 1]
    assert "computing it again" in caplog.text


async def test_an_unhashable_input_is_an_error_naming_it_or_a_warning(
    open_runtime: OpenRuntime, calls: Calls
) -> None:
    @task(cache_policy=INPUTS)
    async def strict(handle: object) -> int:
        calls.seen.append("strict")
        return 1

    @task(cache_policy=INPUTS.configure(unhashable="warn"))
    async def lenient(handle: object) -> int:
        calls.seen.append("lenient")
        return 1

    @flow
    async def with_a_lock(which: str) -> int:
        lock = anyio.Lock()
        return await (strict if which == "strict" else lenient)(lock)

    async with open_runtime() as rt:
        with pytest.raises(UnhashableInputError, match="parameter 'handle'") as caught:
            await with_a_lock("strict")
        assert caught.value.parameter == "handle"
        with pytest.warns(UnhashableInputWarning, match="'handle'"):
            assert await with_a_lock("lenient") == 1
        with pytest.warns(UnhashableInputWarning):
            assert await with_a_lock("lenient") == 1
        assert await rt.read_cache_entries() == []
    assert calls.seen == ["lenient", "lenient"]  # the strict one never ran


async def test_an_unserializable_result_completes_uncached_and_says_why(
    open_runtime: OpenRuntime, calls: Calls
) -> None:
    class Point:
        def __init__(self, x: int) -> None:
            self.x = x

    @task(cache_policy=INPUTS)
    async def point(x: int) -> Point:
        calls.seen.append(x)
        return Point(x)

    @flow
    async def twice() -> int:
        return (await point(1)).x + (await point(1)).x

    async with open_runtime() as rt:
        assert await twice() == 2
        assert calls.seen == [1, 1]
        assert await rt.read_cache_entries() == []
        [run] = await rt.read_flow_runs()
        logs = [log.message for log in await rt.read_logs(flow_run_id=run.id)]
        assert any("is not cached" in line and "Point" in line for line in logs), logs
        [task_run, _] = await rt.read_task_runs(flow_run_id=run.id)
        with pytest.raises(ResultNotFoundError, match="not cached"):
            await rt.read_result(task_run.id)


class Pickled:
    """Not plain data: pickled by a task that allows it (module level, so pickle finds it)."""

    def __init__(self, x: int) -> None:
        self.x = x

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Pickled) and other.x == self.x

    __hash__ = None  # type: ignore[assignment]


async def test_pickle_stores_what_msgpack_cannot(open_runtime: OpenRuntime, calls: Calls) -> None:
    @task(cache_policy=INPUTS, result_serializer="pickle")
    async def make(x: int) -> Pickled:
        calls.seen.append(x)
        return Pickled(x)

    @flow
    async def twice() -> bool:
        return await make(1) == await make(1)

    async with open_runtime():
        assert await twice()
    assert calls.seen == [1]


async def test_sync_tasks_cache_called_directly_or_submitted(
    open_runtime: OpenRuntime, calls: Calls
) -> None:
    @task(cache_policy=INPUTS)
    def square(x: int) -> int:
        calls.seen.append(x)
        return x * x

    @flow
    def direct() -> list[int]:
        return [square(3), square(3)]

    @flow
    async def submitted() -> list[int]:
        return [await square.submit(3), await square.submit(4)]

    @flow
    async def on_the_loop() -> int:
        return square(3)

    async with open_runtime():
        assert await direct() == [9, 9]  # type: ignore[misc]  # awaited in async code
        assert await submitted() == [9, 16]
        with pytest.raises(UsageError, match="cannot wait for the cache"):
            await on_the_loop()
    assert calls.seen == [3, 4]


class MemoryStorage:
    """A result storage of the user's own: the documented interface, kept in a dict."""

    name = "memory"

    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}

    async def write(self, workspace: str, key: str, data: bytes) -> str:
        location = f"{workspace}/{key}"
        self.blobs[location] = data
        return location

    async def read(self, location: str) -> bytes:
        try:
            return self.blobs[location]
        except KeyError:
            raise ResultNotFoundError(f"no blob at {location!r}", location=location) from None

    async def delete(self, location: str) -> None:
        self.blobs.pop(location, None)


async def test_a_storage_of_ones_own_plugs_in(open_runtime: OpenRuntime, calls: Calls) -> None:
    storage = MemoryStorage()
    assert isinstance(storage, ResultStorage)

    @task(cache_policy=INPUTS)
    async def keep(x: int) -> int:
        calls.seen.append(x)
        return x

    @flow
    async def once(x: int) -> int:
        return await keep(x)

    async with open_runtime(result_storage=storage) as rt:
        assert await once(1) == 1
        [entry] = await rt.read_cache_entries()
        assert (entry.storage, list(storage.blobs)) == ("memory", [entry.location])
    async with open_runtime(result_storage=storage) as rt:
        assert await once(1) == 1  # read back through it after a restart
        assert await rt.invalidate_cache(task_name="keep") == 1
        assert storage.blobs == {}
    assert calls.seen == [1]


async def test_a_missing_result_says_which_run_and_where_it_was_looked_for(
    open_runtime: OpenRuntime, repertory_home: Path
) -> None:
    @task(cache_policy=INPUTS)
    async def keep(x: int) -> int:
        return x

    @flow
    async def once(x: int) -> int:
        return await keep(x)

    async with open_runtime() as rt:
        await once(1)
        [entry] = await rt.read_cache_entries()
        await anyio.Path(repertory_home / "results" / entry.location).unlink()
        with pytest.raises(ResultNotFoundError, match="unreadable: no result file") as caught:
            await rt.read_result(entry.task_run_id)
    assert caught.value.task_run_id == entry.task_run_id
    assert caught.value.location is None
    cause = caught.value.__cause__
    assert isinstance(cause, ResultNotFoundError)  # what the storage raised, as documented
    assert (cause.location, cause.task_run_id) == (entry.location, None)
