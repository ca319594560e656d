"""Runs flow and task bodies: states, retries, timeouts, cancellation, hooks, durability.

A flow awaited directly runs in the caller's task, so the caller's context variables and
cancel scopes apply. Task runs are executions inside their flow run, not actors. Every
transition is checked against the table, applied in memory, and journalled for the store
without waiting; a top-level call waits for durability once, before it returns.
"""

from __future__ import annotations

import functools
import inspect
import logging
import math
import time
from typing import TYPE_CHECKING, Final, TypeVar, cast, final

import anyio

from repertory.actors import SystemClock

from .._console import RUN_LABEL
from .._errors import UsageError
from .._names import new_slug
from .._records import (
    NO_RESULT,
    FlowRun,
    LogRecord,
    State,
    TaskRun,
    build_log_record,
    build_task_run,
    new_id,
)
from .._states import StateType
from ..cache._cached_task import run_cached
from ..storage._store import Flush
from ._context import RunContext, build_run_context, current_run, run_label
from ._live_run import LiveRun
from ._parameters import bind_parameters, call_arguments, summarize
from ._prints import capture_prints
from ._submissions import Submissions, submit, submit_all
from ._turns import Turns

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping, Sequence
    from datetime import datetime

    from repertory.actors import ActorRef, Clock

    from .._options import FlowOptions, TaskOptions
    from ..cache._cached_task import CacheManagers
    from ..storage._store import Journal
    from ._futures import TaskFuture, TaskFutureList
    from ._submissions import Call

R = TypeVar("R", FlowRun, TaskRun)
logger = logging.getLogger("repertory.engine")
#: Where the engine's word on a run's states goes in Python logging (the console shows it).
_FLOW_RUNS: Final = logging.getLogger("repertory.flow_runs")
_TASK_RUNS: Final = logging.getLogger("repertory.task_runs")

_is_async: Final = functools.cache(inspect.iscoroutinefunction)


def _start(
    fn: Callable[..., object], parameters: Mapping[str, object], limiter: anyio.CapacityLimiter
) -> Awaitable[object]:
    """The body's call, to await: its own coroutine (no frame of ours around it, on the hot
    path), or a sync body's call in a worker thread (the context variables go with it)."""
    args, kwargs = call_arguments(fn, parameters)
    if _is_async(fn):
        return cast("Callable[..., Awaitable[object]]", fn)(*args, **kwargs)
    return anyio.to_thread.run_sync(lambda: fn(*args, **kwargs), limiter=limiter)


def _message(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _in_worker_thread() -> bool:
    """Whether this is an anyio worker thread, which can wait on the event loop (else the
    loop's own thread, where sync code cannot await). Raises the host's cancellation."""
    try:
        anyio.from_thread.check_cancelled()
    except anyio.NoEventLoopError:
        return False
    return True


def _sleep_blocking(clock: Clock, seconds: float) -> None:
    """Wait on `clock` in a sync body's thread, which the wait blocks anyway: through the
    event loop from a worker thread (so that a fake clock moves it too); on the loop's own
    thread, where nothing can be awaited, by the system's sleep."""
    if _in_worker_thread():
        anyio.from_thread.run(clock.sleep, seconds)
    else:
        time.sleep(seconds)


@final
class Engine:
    """Runs flows and tasks for one runtime and workspace."""

    def __init__(
        self,
        *,
        journal: Journal,
        store: ActorRef,
        workspace: str,
        thread_limiter: anyio.CapacityLimiter,
        caches: CacheManagers | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.journal = journal
        #: What retries wait on (a test's fake clock moves them).
        self.clock = clock or SystemClock()
        #: The workspaces' caches, for tasks whose options cache them.
        self.caches = caches
        self.store = store
        self.workspace = workspace
        self.thread_limiter = thread_limiter
        # Sync flow bodies block on their tasks and child flows: they must never wait for
        # the tokens those need, so they draw on a limiter of their own, without a bound.
        self.flow_limiter = anyio.CapacityLimiter(math.inf)
        #: Runs take turns on the event loop with the store (see `Turns`).
        self.turns = Turns(journal, store)

    async def flush(self) -> None:
        """Wait until everything journalled so far is durable."""
        with anyio.CancelScope(shield=True):
            await self.store.ask(Flush())

    # -- flows -----------------------------------------------------------------------------

    def new_flow_run(
        self,
        options: FlowOptions,
        parameters: Mapping[str, object],
        *,
        workspace: str | None = None,
        run_id: str | None = None,
    ) -> LiveRun[FlowRun]:
        """Create a flow run in state Pending, linked to the run that calls it, if any.

        It belongs to `workspace` if given, else to its parent's, else to the engine's; its id
        is `run_id` if given (one claimed beforehand), else a new one.
        """
        parent = current_run.get()
        if workspace is None:
            workspace = self.workspace if parent is None else parent.flow_run.base.workspace
        run_id = run_id or new_id()
        record = FlowRun(
            id=run_id,
            name=_templated_name(options.flow_run_name, options.name, parameters) or new_slug(),
            flow_name=options.name,
            flow_version=options.version,
            state=State.named("Pending", run_id),
            parameters=summarize(parameters),
            workspace=workspace,
            parent_flow_run_id=None if parent is None else parent.flow_run_id,
            parent_task_run_id=None if parent is None else parent.task_run_id,
        )
        return LiveRun(record, parameters, self.journal.flow_run)

    async def call_flow(
        self,
        definition: object,
        fn: Callable[..., object],
        options: FlowOptions,
        args: tuple[object, ...],
        kwargs: Mapping[str, object],
        *,
        return_state: bool,
    ) -> object:
        """A flow called directly, as `run_flow` runs it: its arguments bound (and validated,
        unless its options say not to), its run made, and run to its final state."""
        parameters = bind_parameters(
            options.name, fn, args, kwargs, validate=options.validate_parameters
        )
        run = self.new_flow_run(options, parameters)
        return await self.run_flow(definition, fn, options, run, return_state=return_state)

    async def run_flow(
        self,
        definition: object,
        fn: Callable[..., object],
        options: FlowOptions,
        run: LiveRun[FlowRun],
        *,
        return_state: bool,
    ) -> object:
        """Run a flow's body to its final state; return its value (or its `State`).

        Raises the body's own exception when it fails (unless `return_state`), and the
        cancellation when the caller's scope cancels it (the run ends Cancelled).
        """
        is_top_level = run.base.parent_flow_run_id is None
        if options.log_prints:
            capture_prints()
        try:
            state = await self._attempts(definition, fn, options, run)
        finally:
            if is_top_level:
                await self.flush()
        return _outcome(state, return_state)

    async def _attempts(
        self,
        definition: object,
        fn: Callable[..., object],
        options: FlowOptions,
        run: LiveRun[FlowRun],
    ) -> State:
        try:
            return await self._flow_attempts(definition, fn, options, run)
        except anyio.get_cancelled_exc_class():
            await _end_abruptly(self.journal, run, "Cancelled", options.on_cancellation, definition)
            raise
        except (KeyboardInterrupt, SystemExit) as exc:  # recorded, then on their way
            await _end_abruptly(self.journal, run, "Crashed", options.on_crashed, definition, exc)
            raise

    async def _flow_attempts(
        self,
        definition: object,
        fn: Callable[..., object],
        options: FlowOptions,
        run: LiveRun[FlowRun],
    ) -> State:
        if run.base.parent_flow_run_id is not None:  # a child flow takes turns as tasks do
            while self.turns.is_over():
                await self.turns.give_way()
        retry = 0
        while True:
            running = run.transition("Running" if retry == 0 else "Retrying")
            await _run_hooks(options.on_running, definition, run, running)
            context = build_run_context(
                engine=self,
                flow_run=run,
                task_run=None,
                submissions=None,
                log_prints=options.log_prints,
            )
            state = await self._attempt(fn, run, context, options.timeout_seconds)
            delay = options.retry_policy.delay_after(state, retry)
            if delay is not None:
                run.transition("AwaitingRetry", message=state.message)
                retry += 1
                self.journal.log(_retrying(run, state, retry, options.retries, delay))
                await self.clock.sleep(delay)
                continue
            final = run.apply(state)
            if final.type is StateType.FAILED:
                self.journal.log(_ended(run, final, logging.ERROR))
            hooks = options.on_completion if final.name == "Completed" else options.on_failure
            await _run_hooks(hooks, definition, run, final)
            return final

    async def _attempt(
        self,
        fn: Callable[..., object],
        run: LiveRun[FlowRun] | LiveRun[TaskRun],
        context: RunContext,
        time_limit: float | None,
    ) -> State:
        """Run a flow's body once and return the (not yet applied) state it ends in.

        Tasks the body submits run in a task group of this attempt, which ends with them. The
        caller's cancellation goes on through (see `_end_abruptly`).
        """
        outcome: object = NO_RESULT
        timed_out = False
        submissions: Submissions | None = None
        try:
            async with anyio.create_task_group() as task_group:
                submissions = Submissions(task_group, self.turns)
                token = current_run.set(
                    build_run_context(
                        engine=context.engine,
                        flow_run=context.flow_run,
                        task_run=None,
                        submissions=submissions,
                        log_prints=context.log_prints,
                    )
                )
                try:
                    outcome, timed_out = await self._call_within(
                        fn, run.parameters, time_limit, self.flow_limiter
                    )
                finally:
                    current_run.reset(token)
                if timed_out or isinstance(outcome, BaseException):
                    task_group.cancel_scope.cancel()  # what the body left running goes too
        finally:
            if submissions is not None:
                submissions.close()  # what is still queued, if the feeder never began
        if isinstance(outcome, KeyboardInterrupt | SystemExit):
            raise outcome
        return _attempt_state(run, outcome, timed_out, time_limit)

    async def _task_attempt(
        self,
        fn: Callable[..., object],
        run: LiveRun[TaskRun],
        context: RunContext,
        time_limit: float | None,
    ) -> State:
        """Run a task's body once (in this task) and return the state it ends in."""
        token = current_run.set(context)
        try:
            outcome, timed_out = await self._call_within(
                fn, run.parameters, time_limit, self.thread_limiter
            )
        finally:
            current_run.reset(token)
        if isinstance(outcome, KeyboardInterrupt | SystemExit):
            raise outcome
        return _attempt_state(run, outcome, timed_out, time_limit)

    async def _call_within(
        self,
        fn: Callable[..., object],
        parameters: Mapping[str, object],
        time_limit: float | None,
        limiter: anyio.CapacityLimiter,
    ) -> tuple[object, bool]:
        """Call the body: (its value or its exception, whether it ran out of time).

        An interrupt (KeyboardInterrupt, SystemExit) is returned too, for the caller to raise
        outside any task group, so that it is never wrapped in an exception group.
        """
        try:
            if time_limit is None:  # the common case, without a cancel scope's cost
                return await _start(fn, parameters, limiter), False
            with anyio.move_on_after(time_limit) as scope:
                value = await _start(fn, parameters, limiter)
            # A body in a worker thread cannot be interrupted: it may return after its time.
            if scope.cancel_called:
                return None, True
            return value, False
        except (Exception, KeyboardInterrupt, SystemExit) as exc:  # the body's outcome
            return exc, False

    # -- tasks -----------------------------------------------------------------------------

    def submit_task(
        self,
        definition: object,
        fn: Callable[..., object],
        options: TaskOptions,
        call: Call,
        wait_for: object,
        context: RunContext,
    ) -> TaskFuture[object]:
        """A task submitted in the flow attempt of `context`: its run queued to start soon,
        after the runs in `wait_for` and those whose futures are among its arguments; its
        future, at once (see `Submissions`)."""
        return submit(definition, fn, options, call, wait_for, context)

    def map_task(
        self,
        definition: object,
        fn: Callable[..., object],
        options: TaskOptions,
        calls: Sequence[Call],
        wait_for: object,
        context: RunContext,
    ) -> TaskFutureList[object]:
        """`submit_task` for each of `calls`, in order; their futures, at once."""
        return submit_all(definition, fn, options, calls, wait_for, context)

    def call_task(
        self,
        definition: object,
        fn: Callable[..., object],
        options: TaskOptions,
        args: tuple[object, ...],
        kwargs: Mapping[str, object],
        context: RunContext,
        *,
        return_state: bool,
    ) -> object:
        """A task called directly in the flow run of `context`: its run made, then an async
        task's run as a coroutine to await (`run_task`), a sync task's run in this thread to
        its end (`run_task_inline`)."""
        parameters = bind_parameters(options.name, fn, args, kwargs, validate=False)
        run = self.new_task_run(options, parameters, context)
        if _is_async(fn):
            return self.run_task(definition, fn, options, run, context, return_state=return_state)
        return self.run_task_inline(
            definition, fn, options, run, context, return_state=return_state
        )

    def new_task_run(
        self,
        options: TaskOptions,
        parameters: Mapping[str, object],
        context: RunContext,
        *,
        run_id: str | None = None,
    ) -> LiveRun[TaskRun]:
        """Create a task run of the flow run of `context` in state Pending; its id is `run_id`
        if given (a submitted run's, known to its future beforehand), else a new one."""
        if options.log_prints:
            capture_prints()
        run_id = run_id or new_id()
        pending = State.named("Pending", run_id)
        record = build_task_run(
            id=run_id,
            # `fetch-0`, `fetch-1`...: a task's runs numbered within their flow run (Prefect's).
            name=_templated_name(options.task_run_name, options.name, parameters)
            or f"{options.name}-{context.flow_run.next_task_number(options.name)}",
            task_name=options.name,
            flow_run_id=context.flow_run_id,
            state=pending,
            parameters=summarize(parameters),
            run_count=0,
            start_time=None,
            end_time=None,
            tags=options.tags,
            workspace=context.flow_run.base.workspace,  # where its flow run belongs
            created=pending.timestamp,
        )
        return LiveRun(record, parameters, self.journal.task_run)

    async def run_task(
        self,
        definition: object,
        fn: Callable[..., Awaitable[object]] | Callable[..., object],
        options: TaskOptions,
        run: LiveRun[TaskRun],
        flow_context: RunContext,
        *,
        return_state: bool,
        is_paced: bool = False,
    ) -> object:
        """Run a task to its final state in this task; return its value (or its `State`).

        Unless `is_paced` (a submitted run, which its attempt's `Submissions` started when it
        was the runs' turn), it first waits for its turn on the loop (see `Turns`).
        """
        context = _task_context(flow_context, run, options)
        try:
            while not is_paced and self.turns.is_over():
                await self.turns.give_way()
            if options.is_cached:
                final = await run_cached(self, definition, fn, options, run, context)
            else:
                final = await self.task_attempts(definition, fn, options, run, context)
        except anyio.get_cancelled_exc_class():
            await _end_abruptly(self.journal, run, "Cancelled", (), definition)
            raise
        except (KeyboardInterrupt, SystemExit) as exc:  # recorded, then on their way
            await _end_abruptly(self.journal, run, "Crashed", (), definition, exc)
            raise
        return _outcome(final, return_state)

    async def task_attempts(
        self,
        definition: object,
        fn: Callable[..., object],
        options: TaskOptions,
        run: LiveRun[TaskRun],
        context: RunContext,
    ) -> State:
        while True:
            _begin_attempt(run)
            state = await self._task_attempt(fn, run, context, options.timeout_seconds)
            delay = self._retry_after(definition, options, run, state)
            if delay is None:
                return await self.finish_task(definition, options, run, state)
            await self.clock.sleep(delay)

    async def finish_task(
        self, definition: object, options: TaskOptions, run: LiveRun[TaskRun], state: State
    ) -> State:
        """Apply a task run's final state, run its hooks, and return it."""
        final = run.apply(state)
        if final.type is StateType.FAILED:
            self.journal.log(_ended(run, final, logging.ERROR))
        await _run_hooks(_task_hooks(options, final), definition, run, final)
        return final

    def run_task_inline(
        self,
        definition: object,
        fn: Callable[..., object],
        options: TaskOptions,
        run: LiveRun[TaskRun],
        flow_context: RunContext,
        *,
        return_state: bool,
    ) -> object:
        """Run a sync task in the calling thread (a sync task called directly).

        A cached one needs its workspace's cache manager, an actor of the event loop: from a
        worker thread (a sync flow's body) it runs there, its body in a worker thread of its
        own; on the event loop's own thread it cannot wait for the manager, and says so.
        """
        if options.is_cached:
            if not _in_worker_thread():
                raise UsageError(
                    f"the cached sync task {options.name!r} was called directly on the event "
                    "loop's thread, where it cannot wait for the cache: await a submitted one "
                    f"({options.name}.submit(...)), or make it async"
                )
            run_async = functools.partial(
                self.run_task, definition, fn, options, run, flow_context, return_state=True
            )
            return _outcome(cast("State", anyio.from_thread.run(run_async)), return_state)
        # `task_attempts`, but in this thread, which cannot await: the same steps.
        context = _task_context(flow_context, run, options)
        while True:
            _begin_attempt(run)
            state = _task_attempt_inline(self.journal, fn, run, context, options.timeout_seconds)
            delay = self._retry_after(definition, options, run, state)
            if delay is None:
                break
            if delay:
                _sleep_blocking(self.clock, delay)
        final = run.apply(state)
        if final.type is StateType.FAILED:
            self.journal.log(_ended(run, final, logging.ERROR))
        _run_hooks_inline(_task_hooks(options, final), definition, run, final)
        return _outcome(final, return_state)

    def _retry_after(
        self, definition: object, options: TaskOptions, run: LiveRun[TaskRun], state: State
    ) -> float | None:
        """After an attempt that ended in `state`: None when the task is done trying, else
        the run is AwaitingRetry and this is the delay before the next attempt. Its retry
        policy decides, unless its `retry_condition_fn` says no (or fails: then no too)."""
        delay = options.retry_policy.delay_after(state, run.run_count - 1)
        condition = options.retry_condition_fn
        if delay is not None and condition is not None:
            try:
                if not condition(definition, run.record, state):
                    delay = None
            except Exception:
                logger.exception("retry_condition_fn of task %s failed", options.name)
                delay = None
        if delay is not None:
            run.transition("AwaitingRetry", message=state.message)
            self.journal.log(_retrying(run, state, run.run_count, options.retries, delay))
        return delay


async def _end_abruptly(
    journal: Journal,
    run: LiveRun[FlowRun] | LiveRun[TaskRun],
    name: str,
    hooks: tuple[Callable[..., object], ...],
    definition: object,
    error: BaseException | None = None,
) -> None:
    """End a run that is being cancelled (or torn down) and run its hooks, shielded."""
    if run.state.is_final:
        return  # it ended just before (a final hook was being cancelled)
    if run.state.name in {"Running", "Retrying"} and name == "Cancelled":
        run.transition("Cancelling")
    elif run.state.type is StateType.SCHEDULED and name == "Crashed":
        name = "Cancelled"  # waiting for a retry, it was not running: nothing crashed
    message = "cancelled by its caller" if error is None else _message(error)
    outcome = NO_RESULT if error is None else error  # a crash keeps its traceback
    state = run.transition(name, message=message, outcome=outcome)
    journal.log(_ended(run, state, logging.ERROR if name == "Crashed" else logging.WARNING))
    with anyio.CancelScope(shield=True):
        await _run_hooks(hooks, definition, run, state)


def _attempt_state(
    run: LiveRun[FlowRun] | LiveRun[TaskRun],
    outcome: object,
    timed_out: bool,
    time_limit: float | None,
) -> State:
    if timed_out:
        message = f"timed out after {time_limit} s"
        return State.named("TimedOut", run.id, message=message, outcome=TimeoutError(message))
    if isinstance(outcome, Exception):
        return State.named("Failed", run.id, message=_message(outcome), outcome=outcome)
    return State.named("Completed", run.id, outcome=outcome)


def _run_log(
    run: LiveRun[FlowRun] | LiveRun[TaskRun], level: int, text: str, when: datetime
) -> LogRecord:
    """A line of `run`'s log, written by the engine (what became of the run, and why), and
    passed to Python logging too (the console shows it)."""
    base = run.base
    if isinstance(base, TaskRun):
        flow_run_id, task_run_id = base.flow_run_id, base.id
    else:
        flow_run_id, task_run_id = base.id, None
    label = run_label(run)
    message = f"{label} {text}"
    to = _TASK_RUNS if task_run_id is not None else _FLOW_RUNS
    if to.isEnabledFor(level):
        to.log(level, "%s", message, extra={RUN_LABEL: label, "flow_run_id": flow_run_id})
    return build_log_record(
        workspace=base.workspace,
        flow_run_id=flow_run_id,
        task_run_id=task_run_id,
        level=level,
        logger="repertory.engine",
        message=message,
        timestamp=when,
    )


def _retrying(
    run: LiveRun[FlowRun] | LiveRun[TaskRun], failed: State, retry: int, retries: int, delay: float
) -> LogRecord:
    text = f"{_ended_as(failed)}; retry {retry} of {retries} in {delay:g} s"
    return _run_log(run, logging.WARNING, text, failed.timestamp)


def _ended(run: LiveRun[FlowRun] | LiveRun[TaskRun], state: State, level: int) -> LogRecord:
    return _run_log(run, level, _ended_as(state), state.timestamp)


_SAID: Final = {"Failed": "failed", "Crashed": "crashed", "Cancelled": "was cancelled"}


def _ended_as(state: State) -> str:
    if state.name == "TimedOut" and state.message:
        return state.message  # "timed out after 2 s"
    what = _SAID.get(state.name) or f"ended {state.name}"
    return f"{what}: {state.message}" if state.message else what


def _begin_attempt(run: LiveRun[FlowRun] | LiveRun[TaskRun]) -> None:
    run.transition("Retrying" if run.run_count else "Running")


def _task_attempt_inline(
    journal: Journal,
    fn: Callable[..., object],
    run: LiveRun[TaskRun],
    context: RunContext,
    limit: float | None,
) -> State:
    """`Engine._task_attempt` for a sync task called directly: its body in this thread."""
    token = current_run.set(context)
    began = time.monotonic()
    try:
        args, kwargs = call_arguments(fn, run.parameters)
        value = fn(*args, **kwargs)
    except Exception as exc:
        outcome: object = exc
    except (KeyboardInterrupt, SystemExit) as exc:  # recorded, then on their way
        crashed = run.transition("Crashed", message=_message(exc), outcome=exc)
        journal.log(_ended(run, crashed, logging.ERROR))
        raise
    else:
        outcome = value
    finally:
        current_run.reset(token)
    # Nothing can interrupt a sync call: it is judged when it returns, whatever it returned.
    timed_out = limit is not None and time.monotonic() - began > limit
    return _attempt_state(run, outcome, timed_out, limit)


def _task_context(
    flow_context: RunContext, run: LiveRun[TaskRun], options: TaskOptions
) -> RunContext:
    """The context a task's body runs in, within its flow's."""
    return build_run_context(
        engine=flow_context.engine,
        flow_run=flow_context.flow_run,
        task_run=run,
        submissions=flow_context.submissions,
        log_prints=options.log_prints or flow_context.log_prints,
    )


def _outcome(state: State, return_state: bool) -> object:
    return state if return_state else state.result()


def _task_hooks(
    options: TaskOptions, state: State
) -> tuple[Callable[[object, TaskRun, State], object], ...]:
    return options.on_completion if state.name in {"Completed", "Cached"} else options.on_failure


async def _run_hooks(
    hooks: tuple[Callable[..., object], ...],
    definition: object,
    run: LiveRun[FlowRun] | LiveRun[TaskRun],
    state: State,
) -> None:
    """Run hooks in order; a failing hook is logged, not fatal."""
    for hook in hooks:
        try:
            result = hook(definition, run.record, state)
            if inspect.isawaitable(result):
                await result
        except Exception:
            logger.exception("hook %s failed", getattr(hook, "__name__", hook))


def _run_hooks_inline(
    hooks: tuple[Callable[..., object], ...],
    definition: object,
    run: LiveRun[TaskRun],
    state: State,
) -> None:
    """`_run_hooks` for a sync task called directly: in its thread, where the task ran (it
    cannot await); an async hook is awaited through the event loop from a worker thread."""
    for hook in hooks:  # (the run's record is made only for a hook: it costs a record)
        try:
            result = hook(definition, run.record, state)
            if inspect.isawaitable(result):
                _await_in_thread(result)
        except Exception:
            logger.exception("hook %s failed", getattr(hook, "__name__", hook))


def _await_in_thread(awaitable: Awaitable[object]) -> None:
    if not _in_worker_thread():
        if inspect.iscoroutine(awaitable):
            awaitable.close()  # never awaited: said once, in the log, not as a warning
        raise TypeError(
            "an async hook of a sync task called on the event loop's thread cannot be awaited "
            "(the task runs there when an async flow calls it): make the hook sync, or the "
            "task async"
        )
    anyio.from_thread.run(_awaited, awaitable)


async def _awaited(awaitable: Awaitable[object]) -> None:
    await awaitable


def _templated_name(
    template: str | Callable[[], str] | None, name: str, parameters: Mapping[str, object]
) -> str | None:
    """The run's name from its template (formatted with the parameters); None without one or
    when it fails (logged), so that the run takes its default name (an empty one does too)."""
    if template is None:
        return None
    try:
        if callable(template):
            return str(template())
        return template.format(**parameters)
    except Exception:
        logger.exception("cannot build the run name of %s", name)
        return None
