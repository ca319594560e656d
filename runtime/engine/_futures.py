"""Futures of submitted tasks, and the wrappers that steer how arguments are passed.

A submitted task runs in its flow attempt's task group. Its future is awaited in async code
(`await fut`) and read with the blocking `fut.result()` in sync code (a sync flow's body).
A future passed as an argument to another task is resolved to its value first; if that
upstream run failed, the downstream run fails without running, unless the future is wrapped
in `allow_failure`, which passes the upstream's exception along instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Generic, TypeVar, cast, final

import anyio
import anyio.from_thread

from .._errors import UpstreamFailedError, UsageError
from .._records import State

if TYPE_CHECKING:
    from collections.abc import Generator, Iterable

    from .._records import TaskRun
    from ._live_run import LiveRun

T = TypeVar("T")
_CONTAINERS = (list, tuple, set)


@final
class unmapped(Generic[T]):  # noqa: N801 - named like the function users know from Prefect
    """Pass `value` whole to every mapped call of `Task.map`, instead of mapping over it."""

    __slots__ = ("value",)

    def __init__(self, value: T) -> None:
        self.value = value


@final
class allow_failure(Generic[T]):  # noqa: N801 - named like the function users know from Prefect
    """Run the downstream task even if this upstream future failed (it gets the exception)."""

    __slots__ = ("future",)

    def __init__(self, future: TaskFuture[T]) -> None:
        self.future = future


@final
class TaskFuture(Generic[T]):
    """The run of a submitted task. `await fut` gives its value (or raises its exception)."""

    __slots__ = ("_final", "_run", "_waiter", "task_run_id")

    def __init__(self, task_run_id: str) -> None:
        #: The id of its run, which starts soon after the submission (as in Prefect).
        self.task_run_id = task_run_id
        self._run: LiveRun[TaskRun] | None = None
        self._final: State | None = None
        # Made only if someone waits before the run ends: most futures are read after.
        self._waiter: anyio.Event | None = None

    @property
    def state(self) -> State:
        """The run's current state (its final state, with its outcome, once done); Pending
        until the run has started."""
        if self._final is not None:
            return self._final
        if self._run is None:
            return State.named("Pending", self.task_run_id)
        return self._run.state

    def started(self, run: LiveRun[TaskRun]) -> None:
        """Its run exists now."""
        self._run = run

    def finish(self, state: State) -> None:
        self._final = state
        if self._waiter is not None:
            self._waiter.set()

    async def wait(self) -> State:
        """Wait until the run has ended and return its final state (blocks)."""
        if self._final is None:
            if self._waiter is None:
                self._waiter = anyio.Event()
            await self._waiter.wait()
        assert self._final is not None
        return self._final

    async def _value(self) -> T:
        return cast("T", (await self.wait()).result())

    def __await__(self) -> Generator[object, None, T]:
        return self._value().__await__()

    def result(self) -> T:
        """Wait for the run and return its value, or raise its exception (for sync code).

        Raises:
            UsageError: called on the event loop's thread; `await` the future there.
        """
        if self._final is not None:
            return cast("T", self._final.result())
        try:
            state = anyio.from_thread.run(self.wait)
        except anyio.NoEventLoopError:
            raise UsageError("fut.result() blocks: in async code, use `await fut`") from None
        return cast("T", state.result())

    def __repr__(self) -> str:
        return f"<TaskFuture {self.task_run_id} {self.state.name}>"


@final
class TaskFutureList(list[TaskFuture[T]]):
    """The futures of `Task.map`: `await` it for every value, or call `.result()` in sync code."""

    async def _values(self) -> list[T]:
        # A run that has ended is read at once, without a coroutine per future.
        return [
            cast("T", future._final.result()) if future._final is not None else await future
            for future in self
        ]

    def __await__(self) -> Generator[object, None, list[T]]:
        return self._values().__await__()

    def result(self) -> list[T]:
        """Every value in order (blocks; for sync code); raises the first failure's exception."""
        return [future.result() for future in self]


async def resolve(value: object) -> object:
    """`value` with futures (at the top, or one level into a list, tuple, set or dict) replaced
    by their values.

    Raises:
        UpstreamFailedError: a future that is not wrapped in `allow_failure` failed.
    """
    if isinstance(value, TaskFuture):
        state = await value.wait()
        if state.type != "COMPLETED":
            raise UpstreamFailedError(value)
        return state.result()
    if isinstance(value, allow_failure):
        state = await value.future.wait()
        try:
            return state.result()
        except Exception as exc:
            return exc
    if isinstance(value, unmapped):
        return await resolve(value.value)
    # Exactly these containers: subclasses (a namedtuple, say) pass as they are.
    if isinstance(value, list | tuple | set) and type(value) in _CONTAINERS:
        return type(value)([await _resolve_flat(item) for item in value])
    if isinstance(value, dict) and type(value) is dict:
        return {key: await _resolve_flat(item) for key, item in value.items()}
    return value


_WRAPPERS = (TaskFuture, allow_failure, unmapped)


def needs_resolving(values: Iterable[object]) -> bool:
    """Whether any of `values` holds a future or a wrapper that `resolve` would replace."""
    for value in values:
        if isinstance(value, _WRAPPERS):
            return True
        if isinstance(value, dict):
            value = value.values()
        elif not isinstance(value, list | tuple | set):
            continue
        if any(isinstance(item, _WRAPPERS) for item in value):
            return True
    return False


async def _resolve_flat(value: object) -> object:
    if isinstance(value, TaskFuture | allow_failure):
        return await resolve(value)
    return value


async def wait_all(futures: object) -> None:
    """Wait for every future in `wait_for`; raise UpstreamFailedError if one failed."""
    if futures is None:
        return
    if isinstance(futures, TaskFuture | allow_failure):
        futures = [futures]  # one future given alone
    for future in cast("list[object]", futures):
        await resolve(future)
