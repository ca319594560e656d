"""What the code of a run can see about it: the current flow run, task run and attempt.

Carried in context variables, so it follows the run into worker threads and child tasks.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Protocol, final

from .._console import RUN_LABEL
from .._records import FlowRun, LogRecord, quick_constructor, utc_now

if TYPE_CHECKING:
    from collections.abc import MutableMapping

    from .._records import TaskRun
    from ._engine import Engine
    from ._live_run import LiveRun
    from ._submissions import Submissions


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class RunContext:
    """The run the current code belongs to (see `get_run_context`)."""

    engine: Engine
    flow_run: LiveRun[FlowRun]
    task_run: LiveRun[TaskRun] | None = None
    #: Where tasks submitted by the current attempt start (None until the body starts).
    submissions: Submissions | None = None
    #: Whether `print` is stored as log lines of this run.
    log_prints: bool = False

    @property
    def flow_run_id(self) -> str:
        return self.flow_run.id

    @property
    def flow_run_name(self) -> str:
        record: FlowRun = self.flow_run.base
        return record.name

    @property
    def task_run_id(self) -> str | None:
        return None if self.task_run is None else self.task_run.id

    @property
    def task_run_name(self) -> str | None:
        if self.task_run is None:
            return None
        record: TaskRun = self.task_run.base
        return record.name

    @property
    def parameters(self) -> Mapping[str, object]:
        run = self.task_run if self.task_run is not None else self.flow_run
        return run.parameters

    @property
    def attempt(self) -> int:
        """Which attempt this is, from 1."""
        run = self.task_run if self.task_run is not None else self.flow_run
        return run.run_count


class RunContextBuilder(Protocol):
    def __call__(
        self,
        *,
        engine: Engine,
        flow_run: LiveRun[FlowRun],
        task_run: LiveRun[TaskRun] | None,
        submissions: Submissions | None,
        log_prints: bool,
    ) -> RunContext: ...


#: A `RunContext`, built quickly (one per run).
build_run_context: Final[RunContextBuilder] = quick_constructor(RunContext)

current_run: Final[contextvars.ContextVar[RunContext | None]] = contextvars.ContextVar(
    "repertory_run", default=None
)


def run_label(run: LiveRun[FlowRun] | LiveRun[TaskRun]) -> str:
    """How a log line names its run: `flow run 'crimson-otter'`, `task run 'fetch-0'`."""
    base = run.base
    return f"{'flow' if isinstance(base, FlowRun) else 'task'} run {base.name!r}"


#: What `extra` may not name: a log record's own attributes (logging raises KeyError).
_RECORD_KEYS: Final = frozenset(
    {*logging.LogRecord("", 0, "", 0, "", (), None).__dict__, "message", "asctime"}
)

#: Lines at this level and above are stored with the run.
STORED_LOG_LEVEL: Final = logging.INFO


@final
class RunLogger(logging.LoggerAdapter[logging.Logger]):
    """Logs to Python logging as usual and stores each line with its run."""

    def __init__(self, logger: logging.Logger, context: RunContext) -> None:
        extra: dict[str, object] = {"flow_run_id": context.flow_run_id}
        if context.task_run is not None:
            extra["task_run_id"] = context.task_run.id
        extra[RUN_LABEL] = run_label(context.task_run or context.flow_run)
        super().__init__(logger, extra)
        self._context = context

    def process(
        self, msg: object, kwargs: MutableMapping[str, object]
    ) -> tuple[object, MutableMapping[str, object]]:
        given, ours = kwargs.get("extra"), self.extra or {}
        if isinstance(given, Mapping):  # theirs, but never a record's own (logging raises)
            ours = {**{k: v for k, v in given.items() if k not in _RECORD_KEYS}, **ours}
        kwargs["extra"] = ours
        return msg, kwargs

    def _store(self, level: int, msg: object, args: tuple[object, ...]) -> None:
        context = self._context
        # Formatted as logging formats it (a single mapping argument included).
        record = logging.LogRecord(self.logger.name, level, "", 0, msg, args, None)
        try:
            text = record.getMessage()
        except (TypeError, ValueError, KeyError):  # bad format arguments: keep what was given
            text = f"{msg} {args}"
        context.engine.journal.log(
            LogRecord(
                workspace=context.flow_run.base.workspace,
                flow_run_id=context.flow_run_id,
                task_run_id=context.task_run_id,
                level=level,
                logger=self.logger.name,
                message=text,
                timestamp=utc_now(),
            )
        )

    def log(self, level: int, msg: object, *args: object, **kwargs: object) -> None:
        if level >= STORED_LOG_LEVEL:
            try:
                self._store(level, msg, args)
            except Exception:  # logging never raises into user code
                logging.getLogger("repertory.logs").exception("cannot store a log line")
        super().log(level, msg, *args, **kwargs)  # type: ignore[arg-type]  # logging's own kwargs
