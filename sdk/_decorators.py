"""`@flow` and `@task`: ordinary functions, run by the runtime with tracked, persisted states.

One implementation: every call goes through the runtime's async engine. The sync surfaces
(a flow called from plain sync code, a sync task called directly) are thin adapters.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import functools
import inspect
from typing import (
    TYPE_CHECKING,
    Any,
    Final,
    Generic,
    Literal,
    ParamSpec,
    TypeVar,
    cast,
    final,
    overload,
)

import anyio.from_thread
import anyio.to_thread
import sniffio

from repertory.runtime import NO_CACHE, FlowOptions, State, TaskOptions, UsageError, unmapped
from repertory.runtime.lowlevel import KeyFunction, current_run, current_runtime, retry_delays

from ._default import run_sync_on_default_runtime

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine, Iterable, Mapping
    from datetime import timedelta

    from repertory.runtime import (
        CacheKeyContext,
        CachePolicy,
        RetryDelay,
        RunContext,
        TaskFuture,
        TaskFutureList,
    )
    from repertory.runtime.lowlevel import Engine

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")


def _is_async_context() -> bool:
    try:
        sniffio.current_async_library()
    except sniffio.AsyncLibraryNotFoundError:
        return False
    return True


@final
class Flow(Generic[P, R]):
    """A function run as a flow: every call is a tracked, persisted flow run.

    Call it like the function. Inside an anyio program, await the call (it returns a
    coroutine); from plain sync code the call runs to completion and returns the value.
    `return_state=True` returns the final `State` instead of the value.
    """

    def __init__(self, fn: Callable[P, R], options: FlowOptions) -> None:
        self.fn = fn
        self.options = options
        self.name = options.name
        functools.update_wrapper(self, fn)

    def with_options(self, **changes: object) -> Flow[P, R]:
        """A copy of this flow with some options changed (same names as `@flow`)."""
        return Flow(self.fn, _flow_options(self.fn, {**_as_kwargs(self.options), **changes}))

    # `return_state=True` gives the final `State` (awaited, for an async function).
    @overload
    def __call__(  # type: ignore[overload-overlap]  # the first match wins: async ones first
        self: Flow[P, Coroutine[Any, Any, T]],
        *args: object,
        return_state: Literal[True],
        **kwargs: object,
    ) -> Coroutine[Any, Any, State]: ...
    @overload
    def __call__(
        self: Flow[P, T], *args: object, return_state: Literal[True], **kwargs: object
    ) -> State: ...
    @overload
    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R: ...
    def __call__(self, *args: object, **kwargs: object) -> Any:
        return_state = bool(kwargs.pop("return_state", False))
        call = functools.partial(self._call_async, args, kwargs, return_state=return_state)
        if _is_async_context():
            return call()  # a coroutine, for `await`
        if current_run.get() is not None or current_runtime.get() is not None:
            # Sync code in a worker thread of a runtime's event loop (a sync flow's body, or
            # `anyio.to_thread.run_sync`): run on that runtime.
            with contextlib.suppress(anyio.NoEventLoopError):
                return anyio.from_thread.run(call)
        return run_sync_on_default_runtime(call)

    async def _call_async(
        self, args: tuple[object, ...], kwargs: dict[str, object], *, return_state: bool
    ) -> object:
        context = current_run.get()
        runtime = current_runtime.get()
        if context is not None:
            engine: Engine = context.engine
        elif runtime is not None:
            engine = runtime.engine
        else:
            return await _on_default_runtime(
                functools.partial(self._call_async, args, kwargs, return_state=return_state)
            )
        return await engine.call_flow(
            self, self.fn, self.options, args, kwargs, return_state=return_state
        )

    def __repr__(self) -> str:
        return f"<Flow {self.name!r}>"


@final
class Task(Generic[P, R]):
    """A function run as a task inside a flow: each call is a tracked task run.

    An async task is awaited (`await t(x)`); a sync task called directly runs inline and
    returns its value. Outside any flow, a call simply runs the function.
    """

    def __init__(self, fn: Callable[P, R], options: TaskOptions) -> None:
        self.fn = fn
        self.options = options
        self.name = options.name
        self._is_async = inspect.iscoroutinefunction(fn)
        functools.update_wrapper(self, fn)

    def with_options(self, **changes: object) -> Task[P, R]:
        """A copy of this task with some options changed (same names as `@task`)."""
        current = _as_kwargs(self.options)
        if "cache_key_fn" in changes and "cache_policy" not in changes:
            current.pop("cache_policy")  # the new key function replaces the policy
        return Task(self.fn, _task_options(self.fn, {**current, **changes}))

    # `return_state=True` gives the final `State` (awaited, for an async function).
    @overload
    def __call__(  # type: ignore[overload-overlap]  # the first match wins: async ones first
        self: Task[P, Coroutine[Any, Any, T]],
        *args: object,
        return_state: Literal[True],
        **kwargs: object,
    ) -> Coroutine[Any, Any, State]: ...
    @overload
    def __call__(
        self: Task[P, T], *args: object, return_state: Literal[True], **kwargs: object
    ) -> State: ...
    @overload
    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R: ...
    def __call__(self, *args: object, **kwargs: object) -> Any:
        return_state = bool(kwargs.pop("return_state", False))
        context = current_run.get()
        if context is None:
            return cast("Callable[..., object]", self.fn)(*args, **kwargs)
        called = context.engine.call_task(
            self, self.fn, self.options, args, kwargs, context, return_state=return_state
        )
        if not self._is_async or _is_async_context():
            return called  # a sync task's outcome, or an async task's coroutine, for `await`
        # An async task called in a sync flow's body (a worker thread): run it to the end.
        coroutine = cast("Coroutine[Any, Any, object]", called)
        return anyio.from_thread.run(lambda: coroutine)

    @overload
    def submit(
        self: Task[P, Coroutine[Any, Any, T]], *args: P.args, **kwargs: P.kwargs
    ) -> TaskFuture[T]: ...
    @overload
    def submit(self: Task[P, T], *args: P.args, **kwargs: P.kwargs) -> TaskFuture[T]: ...
    def submit(self, *args: P.args, **kwargs: P.kwargs) -> TaskFuture[Any]:
        """Start a run of this task alongside the flow's body and return its future.

        Futures among the arguments are waited for and replaced by their values first.
        `wait_for=[futures]` (a keyword) also waits for runs whose values are not passed.
        Sync tasks run in worker threads. Call it inside a flow (sync or async).

        Raises:
            UsageError: called outside a flow.
        """
        wait_for = kwargs.pop("wait_for", None)
        if _is_async_context():
            return self._submit(args, kwargs, wait_for)
        # A sync flow's body, in a worker thread: submit on the event loop's thread.
        try:
            return anyio.from_thread.run_sync(self._submit, args, kwargs, wait_for)
        except anyio.NoEventLoopError:
            raise UsageError(f"{self.name}.submit() called outside a flow") from None

    def _submit(
        self, args: tuple[object, ...], kwargs: dict[str, object], wait_for: object
    ) -> TaskFuture[object]:
        context = self._flow_context("submit")
        return context.engine.submit_task(
            self, self.fn, self.options, (args, kwargs), wait_for, context
        )

    @overload
    def map(
        self: Task[P, Coroutine[Any, Any, T]], *args: object, **kwargs: object
    ) -> TaskFutureList[T]: ...
    @overload
    def map(self: Task[P, T], *args: object, **kwargs: object) -> TaskFutureList[T]: ...
    def map(self, *args: object, **kwargs: object) -> TaskFutureList[Any]:
        """Submit one run per item of the iterable arguments (zipped; all the same length).

        Arguments wrapped in `unmapped(...)`, and strings, are passed whole to every run.

        Raises:
            ValueError: the iterables differ in length.
        """
        wait_for = kwargs.pop("wait_for", None)
        mapped = {
            key: list(value)  # type: ignore[call-overload]  # checked iterable just below
            for key, value in (*enumerate(args), *kwargs.items())
            if _is_mappable(value)
        }
        lengths = {len(items) for items in mapped.values()}
        if len(lengths) > 1:
            raise ValueError(f"{self.name}.map() got iterables of different lengths: {lengths}")
        count = lengths.pop() if lengths else 0
        calls = [
            (
                tuple(
                    mapped[position][index] if position in mapped else _whole(value)
                    for position, value in enumerate(args)
                ),
                {
                    key: mapped[key][index] if key in mapped else _whole(value)
                    for key, value in kwargs.items()
                },
            )
            for index in range(count)
        ]
        if _is_async_context():
            return self._submit_all(calls, wait_for)
        # A sync flow's body, in a worker thread: submit them all on the event loop's thread.
        try:
            return anyio.from_thread.run_sync(self._submit_all, calls, wait_for)
        except anyio.NoEventLoopError:
            raise UsageError(f"{self.name}.map() called outside a flow") from None

    def _submit_all(
        self, calls: list[tuple[tuple[object, ...], dict[str, object]]], wait_for: object
    ) -> TaskFutureList[object]:
        context = self._flow_context("map")
        return context.engine.map_task(self, self.fn, self.options, calls, wait_for, context)

    def _flow_context(self, verb: str) -> RunContext:
        context = current_run.get()
        if context is None:
            raise UsageError(f"{self.name}.{verb}() called outside a flow")
        return context

    def __repr__(self) -> str:
        return f"<Task {self.name!r}>"


def _is_mappable(value: object) -> bool:
    if isinstance(value, unmapped | str | bytes | dict):
        return False
    try:
        iter(value)  # type: ignore[call-overload]  # probing
    except TypeError:
        return False
    return True


def _whole(value: object) -> object:
    return value.value if isinstance(value, unmapped) else value


async def _on_default_runtime(call: Callable[[], Coroutine[object, object, object]]) -> object:
    """Run `call` on the process-wide default runtime, from async code with no runtime."""
    return await anyio.to_thread.run_sync(run_sync_on_default_runtime, call)


def _as_kwargs(options: FlowOptions | TaskOptions) -> dict[str, object]:
    return {
        field.name: getattr(options, field.name)
        for field in dataclasses.fields(options)
        if field.init  # (not what the options make of the others, such as the retry policy)
    }


def _hooks(value: object) -> tuple[Callable[..., object], ...]:
    if value is None:
        return ()
    if callable(value):
        return (value,)
    return tuple(cast("Iterable[Callable[..., object]]", value))


def _check_options(decorator: str, kwargs: Mapping[str, object], options: type) -> None:
    """A clear error for an option the decorator does not take (a TypeError, as Python's)."""
    known = {field.name for field in dataclasses.fields(options)} | {"cache_key_fn"}
    for name in kwargs:
        if name in known:
            continue
        if name in _PREFECT_ONLY:
            raise UsageError(f"@{decorator}({name}=...) is a Prefect option repertory lacks yet")
        close = difflib.get_close_matches(name, sorted(known), n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"it takes {', '.join(sorted(known))}"
        raise UsageError(f"@{decorator} has no option {name!r}: {hint}")


#: Options of Prefect 3's decorators that repertory does not have yet (#16 brings most).
_PREFECT_ONLY: Final = frozenset(
    {
        "persist_result",
        "result_storage",
        "result_storage_key",
        "cache_result_in_memory",
        "task_runner",
        "validate_parameters",
        "viz_return_value",
        "on_running",
        "on_rollback",
        "on_commit",
        "asset_deps",
    }
)


def _flow_options(fn: Callable[..., object], kwargs: dict[str, object]) -> FlowOptions:
    _check_options("flow", kwargs, FlowOptions)
    retries = int(kwargs.pop("retries", 0) or 0)  # type: ignore[call-overload]
    delay = kwargs.pop("retry_delay_seconds", 0) or 0  # none stored (no retries): no delay
    if not isinstance(delay, tuple) or retries != len(delay):
        delay = retry_delays(retries, delay)  # type: ignore[arg-type]
    for hook in ("on_completion", "on_failure", "on_cancellation", "on_crashed", "on_running"):
        kwargs[hook] = _hooks(kwargs.get(hook))
    kwargs.setdefault("name", getattr(fn, "__name__", "flow"))
    kwargs.setdefault("description", inspect.getdoc(fn))
    return FlowOptions(retries=retries, retry_delay_seconds=delay, **kwargs)  # type: ignore[arg-type]


def _task_options(fn: Callable[..., object], kwargs: dict[str, object]) -> TaskOptions:
    _check_options("task", kwargs, TaskOptions)
    retries = int(kwargs.pop("retries", 0) or 0)  # type: ignore[call-overload]
    delay = kwargs.pop("retry_delay_seconds", 0) or 0  # none stored (no retries): no delay
    if not isinstance(delay, tuple) or retries != len(delay):
        delay = retry_delays(retries, delay)  # type: ignore[arg-type]
    for hook in ("on_completion", "on_failure"):
        kwargs[hook] = _hooks(kwargs.get(hook))
    kwargs["tags"] = tuple(cast("Iterable[str]", kwargs.get("tags") or ()))
    key_fn = kwargs.pop("cache_key_fn", None)
    if key_fn is not None:
        if kwargs.get("cache_policy") not in {None, NO_CACHE}:
            raise ValueError("give a task cache_policy or cache_key_fn, not both")
        kwargs["cache_policy"] = KeyFunction(cast("Callable[..., str | None]", key_fn))
    elif kwargs.get("cache_policy") is None:
        kwargs.pop("cache_policy", None)
    kwargs.setdefault("name", getattr(fn, "__name__", "task"))
    kwargs.setdefault("description", inspect.getdoc(fn))
    options = TaskOptions(retries=retries, retry_delay_seconds=delay, **kwargs)  # type: ignore[arg-type]
    options.cache_policy.prepare(fn)
    return options


@overload
def flow(fn: Callable[P, R], /) -> Flow[P, R]: ...
@overload
def flow(
    *,
    name: str | None = None,
    version: str | None = None,
    description: str | None = None,
    flow_run_name: str | Callable[[], str] | None = None,
    retries: int = 0,
    retry_delay_seconds: RetryDelay = 0,
    timeout_seconds: float | None = None,
    validate_parameters: bool = True,
    log_prints: bool = False,
    on_completion: Iterable[Callable[..., object]] | None = None,
    on_failure: Iterable[Callable[..., object]] | None = None,
    on_cancellation: Iterable[Callable[..., object]] | None = None,
    on_crashed: Iterable[Callable[..., object]] | None = None,
    on_running: Iterable[Callable[..., object]] | None = None,
) -> Callable[[Callable[P, R]], Flow[P, R]]: ...
def flow(
    fn: Callable[P, R] | None = None, /, **options: object
) -> Flow[P, R] | Callable[[Callable[P, R]], Flow[P, R]]:
    """Make a function a flow: `@flow` or `@flow(name=..., retries=..., ...)`.

    Args:
        name: the flow's name (default: the function's).
        version: stored with each run.
        description: default: the function's docstring.
        flow_run_name: a template formatted with the parameters, or a callable.
        retries: how many times a failed run is retried.
        retry_delay_seconds: a delay, a list of delays (one per retry), or a callable
            `(retries) -> list[float]` such as `exponential_backoff(1)`.
        timeout_seconds: a run that takes longer ends Failed, named TimedOut.
        validate_parameters: validate (and coerce) parameters from the type hints.
        log_prints: store `print` output with the run.
        on_completion, on_failure, on_cancellation, on_crashed, on_running: hooks called
            as `hook(flow, flow_run, state)`, in order; a failing hook is logged.

    Raises:
        ValueError: an invalid option (a negative retry count or delay).
    """
    options.setdefault("name", None)
    if options["name"] is None:
        options.pop("name")

    def decorate(function: Callable[P, R]) -> Flow[P, R]:
        if not callable(function):
            raise UsageError(f"@flow decorates a function, not {function!r}")
        return Flow(function, _flow_options(function, dict(options)))

    return decorate if fn is None else decorate(fn)


@overload
def task(fn: Callable[P, R], /) -> Task[P, R]: ...
@overload
def task(
    *,
    name: str | None = None,
    version: str | None = None,
    description: str | None = None,
    tags: Iterable[str] | None = None,
    task_run_name: str | Callable[[], str] | None = None,
    retries: int = 0,
    retry_delay_seconds: RetryDelay = 0,
    retry_jitter_factor: float | None = None,
    retry_condition_fn: Callable[..., bool] | None = None,
    timeout_seconds: float | None = None,
    log_prints: bool = False,
    on_completion: Iterable[Callable[..., object]] | None = None,
    on_failure: Iterable[Callable[..., object]] | None = None,
    cache_policy: CachePolicy | None = None,
    cache_key_fn: Callable[[CacheKeyContext, Mapping[str, object]], str | None] | None = None,
    cache_expiration: timedelta | None = None,
    refresh_cache: bool = False,
    result_serializer: Literal["msgpack", "pickle"] = "msgpack",
) -> Callable[[Callable[P, R]], Task[P, R]]: ...
def task(
    fn: Callable[P, R] | None = None, /, **options: object
) -> Task[P, R] | Callable[[Callable[P, R]], Task[P, R]]:
    """Make a function a task: `@task` or `@task(name=..., retries=..., ...)`.

    Args:
        name: the task's name (default: the function's).
        version, description, tags: stored with each run.
        task_run_name: a template formatted with the parameters, or a callable.
        retries, retry_delay_seconds: as for `flow`.
        retry_jitter_factor: stretch each delay by up to this fraction of itself, at random.
        retry_condition_fn: `(task, task_run, state) -> bool`; retry only when it says so.
        timeout_seconds: an attempt that takes longer fails, named TimedOut.
        log_prints: store `print` output with the run.
        on_completion, on_failure: hooks called as `hook(task, task_run, state)`.
        cache_policy: what the cache key is made of (`INPUTS + TASK_SOURCE`, ...); with
            none, results are not cached. The key also covers the task's name and version.
        cache_key_fn: `(context, parameters) -> str | None`, instead of a policy (None: do
            not cache this call).
        cache_expiration: how long a cached result is used; for ever when None.
        refresh_cache: compute again, and replace what was cached.
        result_serializer: "msgpack" (plain data: the default) or "pickle" (any picklable
            value; unpickling runs code, so only for results you trust).

    Raises:
        ValueError: an invalid option (both a policy and a key function, say).
    """
    options.setdefault("name", None)
    if options["name"] is None:
        options.pop("name")

    def decorate(function: Callable[P, R]) -> Task[P, R]:
        if not callable(function):
            raise UsageError(f"@task decorates a function, not {function!r}")
        return Task(function, _task_options(function, dict(options)))

    return decorate if fn is None else decorate(fn)


def get_run_context() -> RunContext:
    """The run the calling code belongs to: ids, names, parameters, attempt number.

    Raises:
        UsageError: called outside any flow run.
    """
    context = current_run.get()
    if context is None:
        raise UsageError("get_run_context() called outside a flow run")
    return context
