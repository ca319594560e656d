"""A flow attempt's submitted task runs: queued by `submit` and `map`, which return their
futures at once, started a few at a time in the attempt's task group, and recorded Cancelled
when the attempt ends before they start.
"""

from __future__ import annotations

import collections
import dataclasses
from typing import TYPE_CHECKING, Final, cast, final

from anyio.lowlevel import checkpoint

from .._errors import TaskCancelledError, UsageError
from .._records import State, new_id
from ._futures import TaskFuture, TaskFutureList, needs_resolving, resolve, wait_all
from ._parameters import bind_parameters

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence

    from anyio.abc import TaskGroup

    from .._options import TaskOptions
    from .._records import TaskRun
    from ._context import RunContext
    from ._live_run import LiveRun
    from ._turns import Turns

#: Submitted task runs started at once, before those run and the loop goes round.
START_AT_ONCE: Final = 32

#: One call's arguments: positional, then keyword.
Call = tuple[tuple[object, ...], "Mapping[str, object]"]


def submit(
    definition: object,
    fn: Callable[..., object],
    options: TaskOptions,
    call: Call,
    wait_for: object,
    context: RunContext,
) -> TaskFuture[object]:
    """Queue a run of a task in the flow attempt of `context`; return its future.

    Raises:
        UsageError: `context` is not inside a flow attempt.
        TypeError: the arguments do not fit the task's signature.
    """
    submissions = _submissions_of(context, options, "submit")
    args, kwargs = call
    parameters = bind_parameters(options.name, fn, args, kwargs, validate=False)
    future: TaskFuture[object] = TaskFuture(new_id())
    task = SubmittedTask(definition, fn, options, wait_for, context)
    submissions.submit((Submission(task, args, kwargs, parameters, future),))
    return future


def submit_all(
    definition: object,
    fn: Callable[..., object],
    options: TaskOptions,
    calls: Sequence[Call],
    wait_for: object,
    context: RunContext,
) -> TaskFutureList[object]:
    """Queue one run of a task per call (a map); return their futures, in order.

    Raises:
        UsageError: `context` is not inside a flow attempt.
        TypeError: the first call's arguments do not fit the task's signature.
    """
    submissions = _submissions_of(context, options, "map")
    futures: TaskFutureList[object] = TaskFutureList()
    if not calls:
        return futures
    # The calls differ only in their values: if the first binds, all do. The others are
    # bound as their runs start, so that a map of thousands returns at once.
    args, kwargs = calls[0]
    first = bind_parameters(options.name, fn, args, kwargs, validate=False)
    task = SubmittedTask(definition, fn, options, wait_for, context)
    queued = []
    for index, (args, kwargs) in enumerate(calls):
        future: TaskFuture[object] = TaskFuture(new_id())
        futures.append(future)
        queued.append(Submission(task, args, kwargs, None if index else first, future))
    submissions.submit(queued)
    return futures


def _submissions_of(context: RunContext, options: TaskOptions, verb: str) -> Submissions:
    if context.submissions is None:
        raise UsageError(f"{options.name}.{verb}() called outside a flow")
    return context.submissions


@final
class Submissions:
    """Starts the task runs a flow attempt submits, in order, in the attempt's task group.

    `submit` only queues, so that a `map` of thousands returns at once; one feeder task
    starts them `START_AT_ONCE` at a time and lets those run (and the loop go round) before
    it starts more, and gives way when the turn is over, as runs do. Cancelled with its
    attempt, it abandons the ones it had not started (and `close` does, whatever happened).
    """

    __slots__ = ("_is_feeding", "_queue", "_task_group", "_turns")

    def __init__(self, task_group: TaskGroup, turns: Turns) -> None:
        self._task_group = task_group
        self._turns = turns
        self._queue: collections.deque[Submission] = collections.deque()
        self._is_feeding = False

    def submit(self, submissions: Iterable[Submission]) -> None:
        """Queue `submissions`, to start in order (on the event loop's thread; never blocks)."""
        self._queue.extend(submissions)
        if not self._is_feeding and self._queue:
            self._is_feeding = True
            self._task_group.start_soon(self._feed, name="submitted task runs")

    async def _feed(self) -> None:
        queue, turns, task_group = self._queue, self._turns, self._task_group
        try:
            while queue:
                if turns.is_over():
                    await turns.give_way()
                    continue
                for _ in range(min(START_AT_ONCE, len(queue))):
                    queue.popleft().start(task_group)
                await checkpoint()  # behind the runs just started
        finally:
            self._is_feeding = False
            self.close()  # cancelled with the attempt

    def close(self) -> None:
        """Abandon the submissions that have not started: their attempt is over."""
        queue = self._queue
        while queue:
            queue.popleft().abandon()


@final
class SubmittedTask:
    """What the runs of one `submit` or `map` share: the task, its flow attempt's context,
    and the futures to wait for first."""

    __slots__ = ("context", "definition", "fn", "options", "wait_for")

    def __init__(
        self,
        definition: object,
        fn: Callable[..., object],
        options: TaskOptions,
        wait_for: object,
        context: RunContext,
    ) -> None:
        self.definition = definition
        self.fn = fn
        self.options = options
        self.wait_for = wait_for
        self.context = context


@final
class Submission:
    """A submitted call of a task until its run starts: its arguments and its future, not a
    closure, which would be nine objects more for every run of a map of thousands, for the
    collector to scan."""

    __slots__ = ("args", "future", "kwargs", "parameters", "task")

    def __init__(
        self,
        task: SubmittedTask,
        args: tuple[object, ...],
        kwargs: Mapping[str, object],
        parameters: dict[str, object] | None,
        future: TaskFuture[object],
    ) -> None:
        self.task = task
        self.args = args
        self.kwargs = kwargs
        self.parameters = parameters  # None until bound
        self.future = future

    def _new_run(self) -> tuple[LiveRun[TaskRun], dict[str, object]]:
        task, future = self.task, self.future
        parameters = self.parameters
        if parameters is None:
            parameters = bind_parameters(
                task.options.name, task.fn, self.args, self.kwargs, validate=False
            )
        run = task.context.engine.new_task_run(
            task.options, parameters, task.context, run_id=future.task_run_id
        )
        future.started(run)
        return run, parameters

    def start(self, task_group: TaskGroup) -> None:
        """Create its run and start it in `task_group` (never raises)."""
        try:
            run, parameters = self._new_run()
        except Exception as exc:  # a parameter whose repr fails, say: the run cannot exist
            self.future.finish(
                State.named("Failed", self.future.task_run_id, message=str(exc), outcome=exc)
            )
            return
        task_group.start_soon(
            _run_when_ready,
            self.task,
            run,
            self.future,
            parameters,
            name=f"task run {run.base.name}",
        )

    def abandon(self) -> None:
        """Its flow attempt ended first: record its run Cancelled (never raises)."""
        try:
            run, _ = self._new_run()
        except Exception as exc:
            state = State.named("Cancelled", self.future.task_run_id, message=str(exc))
        else:
            state = run.transition("Cancelled", message="cancelled with its flow")
        error = TaskCancelledError(self.future.task_run_id)
        self.future.finish(dataclasses.replace(state, _outcome=error))


async def _run_when_ready(
    task: SubmittedTask,
    run: LiveRun[TaskRun],
    future: TaskFuture[object],
    parameters: dict[str, object],
) -> None:
    """Wait for the upstream runs, pass their values on, and run the task to its end; its
    future learns the final state, whatever happens (Cancelled if the flow ended first)."""
    state: State | None = None
    try:
        try:
            if task.wait_for is not None:
                await wait_all(task.wait_for)
            if needs_resolving(parameters.values()):
                run.parameters = {name: await resolve(value) for name, value in parameters.items()}
        except Exception as exc:  # an upstream failed, or its value cannot be passed
            state = run.transition("Failed", message=str(exc), outcome=exc)
            return
        context = task.context
        state = cast(
            "State",
            await context.engine.run_task(
                task.definition,
                task.fn,
                task.options,
                run,
                context,
                return_state=True,
                is_paced=True,
            ),
        )
    finally:
        if state is None:  # cancelled before it could end: say so, wake its waiters
            if not run.state.is_final:
                run.transition("Cancelled", message="cancelled with its flow")
            error = TaskCancelledError(run.id)
            state = dataclasses.replace(run.state, _outcome=error)
        future.finish(state)
