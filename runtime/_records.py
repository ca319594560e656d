"""The records users read: a run's `State`, `FlowRun`, `TaskRun`, `LogRecord` and
`CacheEntry` (pure data)."""

from __future__ import annotations

import dataclasses
import random
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final, Protocol, TypeVar, final

from ._errors import NoResultError
from ._failures import describe_failure
from ._states import STATE_TYPES, TERMINAL_TYPES, StateType

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

T = TypeVar("T")


#: What a state holds when it holds no outcome (no value, no exception).
NO_RESULT: Final = object()
# The `random` module's own generator: reseeded in a forked child, so ids never repeat there.
_random_bits: Final = random.getrandbits


#: The states that keep a traceback of their exception.
_FAILURES: Final = frozenset({StateType.FAILED, StateType.CRASHED})


def utc_now() -> datetime:
    """The wall-clock time stamped on states and logs (timezone-aware, UTC)."""
    return datetime.now(UTC)


_RUN_ID: Final = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


def is_run_id(text: str) -> bool:
    """Whether `text` has the shape of a run id (`new_id`): anything else names no run."""
    return _RUN_ID.fullmatch(text) is not None


def new_id() -> str:
    """A fresh run id: a UUID version 7 (time-ordered, so new rows land at the end of the
    index), with 74 random bits from the process's pseudo-random generator: unique, not
    secret (access is checked by workspace, never by knowing an id)."""
    ms = time.time_ns() // 1_000_000  # 48 bits of time, then version 7, then the variant 0b10
    bits = _random_bits(74)
    return "%08x-%04x-7%03x-%04x-%012x" % (  # noqa: UP031 - quicker than f-strings with slicing
        ms >> 16,
        ms & 0xFFFF,
        bits >> 62,
        0x8000 | (bits >> 48) & 0x3FFF,
        bits & 0xFFFF_FFFF_FFFF,
    )


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class State:
    """One state of a flow run or task run.

    A state returned from a call (`return_state=True`) also holds the run's outcome:
    `result()` returns the value or raises the run's exception. A state read back from the
    database holds no outcome, but a Failed or Crashed one keeps its `traceback`.
    """

    type: StateType
    name: str
    run_id: str
    timestamp: datetime = field(default_factory=utc_now)
    message: str | None = None
    _outcome: object = field(default=NO_RESULT, repr=False, compare=False)
    _traceback: str | None = field(default=None, repr=False, compare=False)

    @classmethod
    def named(
        cls,
        name: str,
        run_id: str,
        *,
        message: str | None = None,
        outcome: object = NO_RESULT,
        timestamp: datetime | None = None,
    ) -> State:
        """Build the named state `name` (its type follows from the name)."""
        return build_state(
            type=STATE_TYPES[name],
            name=name,
            run_id=run_id,
            timestamp=timestamp or utc_now(),
            message=message,
            _outcome=outcome,
            _traceback=None,
        )

    @property
    def is_final(self) -> bool:
        """Whether the run ended in this state (completed, failed, crashed or cancelled)."""
        return self.type in TERMINAL_TYPES

    def result(self) -> object:
        """Return the run's value, or raise the run's exception.

        Raises:
            NoResultError: this state holds no outcome (it was read back from the database,
                or the run has not finished).
            Exception: the exception the run ended with.
        """
        outcome = self._outcome
        if outcome is NO_RESULT:
            raise NoResultError(self)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    @property
    def traceback(self) -> str | None:
        """Of a Failed or Crashed state, the exception as Python prints it uncaught: type,
        message and traceback (without repertory's own frames or any locals), capped at
        32 KiB, secrets (API keys, URL passwords) masked. None for other states, and for
        failures without an exception."""
        if self._traceback is not None:
            return self._traceback
        outcome = self._outcome  # (checked first: most states hold no exception, and it's quick)
        if isinstance(outcome, BaseException) and self.type in _FAILURES:
            return describe_failure(outcome)
        return None

    def without_outcome(self) -> State:
        """The same state, holding nothing but what is stored."""
        if self._outcome is NO_RESULT:
            return self
        return State(
            type=self.type,
            name=self.name,
            run_id=self.run_id,
            timestamp=self.timestamp,
            message=self.message,
        )


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class FlowRun:
    """A flow run as stored: one record across all its attempts."""

    id: str
    name: str
    flow_name: str
    state: State
    parameters: Mapping[str, object]
    run_count: int = 0
    start_time: datetime | None = None
    end_time: datetime | None = None
    parent_flow_run_id: str | None = None
    parent_task_run_id: str | None = None
    workspace: str = "default"
    flow_version: str | None = None
    created: datetime = field(default_factory=utc_now)

    def evolve(
        self,
        state: State,
        run_count: int,
        start_time: datetime | None,
        end_time: datetime | None,
    ) -> FlowRun:
        """This run in a new state (quicker than `dataclasses.replace`, on the hot path)."""
        return build_flow_run(
            id=self.id,
            name=self.name,
            flow_name=self.flow_name,
            state=state,
            parameters=self.parameters,
            run_count=run_count,
            start_time=start_time,
            end_time=end_time,
            parent_flow_run_id=self.parent_flow_run_id,
            parent_task_run_id=self.parent_task_run_id,
            workspace=self.workspace,
            flow_version=self.flow_version,
            created=self.created,
        )

    def as_stored(self) -> FlowRun:
        """This run as the database holds it: its state without an outcome."""
        state = self.state.without_outcome()
        if state is self.state:
            return self
        return self.evolve(state, self.run_count, self.start_time, self.end_time)


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class TaskRun:
    """A task run as stored: one record across all its attempts."""

    id: str
    name: str
    task_name: str
    flow_run_id: str
    state: State
    parameters: Mapping[str, object]
    run_count: int = 0
    start_time: datetime | None = None
    end_time: datetime | None = None
    tags: tuple[str, ...] = ()
    workspace: str = "default"
    created: datetime = field(default_factory=utc_now)

    def evolve(
        self,
        state: State,
        run_count: int,
        start_time: datetime | None,
        end_time: datetime | None,
    ) -> TaskRun:
        """This run in a new state (quicker than `dataclasses.replace`, on the hot path)."""
        return build_task_run(
            id=self.id,
            name=self.name,
            task_name=self.task_name,
            flow_run_id=self.flow_run_id,
            state=state,
            parameters=self.parameters,
            run_count=run_count,
            start_time=start_time,
            end_time=end_time,
            tags=self.tags,
            workspace=self.workspace,
            created=self.created,
        )


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class LogRecord:
    """A log line stored with its run."""

    flow_run_id: str
    level: int
    message: str
    timestamp: datetime
    task_run_id: str | None = None
    logger: str = "repertory"
    workspace: str = "default"


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class CacheEntry:
    """A cached task result as the cache index holds it (the result itself lies in storage)."""

    key: str
    workspace: str
    task_name: str
    created: datetime
    expires: datetime | None
    size: int  # bytes, as stored
    storage: str  # the `name` of the ResultStorage that holds it
    location: str
    task_run_id: str  # the run that computed it

    def is_valid_at(self, now: datetime) -> bool:
        return self.expires is None or now < self.expires


def quick_constructor(cls: type[T]) -> Callable[..., T]:
    """A constructor of the frozen, slotted dataclass `cls` taking every field by keyword
    (each one: no defaults), typed by a `...Builder` protocol below.

    It fills each slot through its descriptor: the dataclass's own `__init__` goes through
    `object.__setattr__` for every field (that is how it stays frozen), which is ~4x slower,
    and records are built on every transition of every run.
    """
    names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]  # a dataclass
    namespace: dict[str, object] = {"_new": object.__new__, "_cls": cls}
    namespace.update({f"_set_{name}": cls.__dict__[name].__set__ for name in names})
    body = "".join(f"    _set_{name}(self, {name})\n" for name in names)
    source = f"def build(*, {', '.join(names)}):\n    self = _new(_cls)\n{body}    return self\n"
    exec(source, namespace)  # generated from the field names, as dataclasses does
    return namespace["build"]  # type: ignore[return-value]  # defined by the exec just above


class StateBuilder(Protocol):
    def __call__(
        self,
        *,
        type: StateType,
        name: str,
        run_id: str,
        timestamp: datetime,
        message: str | None,
        _outcome: object,
        _traceback: str | None,
    ) -> State: ...


class LogRecordBuilder(Protocol):
    def __call__(
        self,
        *,
        flow_run_id: str,
        level: int,
        message: str,
        timestamp: datetime,
        task_run_id: str | None,
        logger: str,
        workspace: str,
    ) -> LogRecord: ...


class FlowRunBuilder(Protocol):
    def __call__(
        self,
        *,
        id: str,
        name: str,
        flow_name: str,
        state: State,
        parameters: Mapping[str, object],
        run_count: int,
        start_time: datetime | None,
        end_time: datetime | None,
        parent_flow_run_id: str | None,
        parent_task_run_id: str | None,
        workspace: str,
        flow_version: str | None,
        created: datetime,
    ) -> FlowRun: ...


class TaskRunBuilder(Protocol):
    def __call__(
        self,
        *,
        id: str,
        name: str,
        task_name: str,
        flow_run_id: str,
        state: State,
        parameters: Mapping[str, object],
        run_count: int,
        start_time: datetime | None,
        end_time: datetime | None,
        tags: tuple[str, ...],
        workspace: str,
        created: datetime,
    ) -> TaskRun: ...


# ~2.5x quicker than the dataclasses' own __init__, and, by keyword and typed by the
# protocols (tests/runtime/test_records.py checks they name every field), as safe.
build_state: Final[StateBuilder] = quick_constructor(State)
build_flow_run: Final[FlowRunBuilder] = quick_constructor(FlowRun)
build_task_run: Final[TaskRunBuilder] = quick_constructor(TaskRun)
build_log_record: Final[LogRecordBuilder] = quick_constructor(LogRecord)
