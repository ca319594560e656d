"""The records users read: a run's `State`, `FlowRun`, `TaskRun` and `LogRecord` (pure data)."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final, final

from ._errors import NoResultError
from ._states import STATE_TYPES, TERMINAL_TYPES, StateType

if TYPE_CHECKING:
    from collections.abc import Mapping


#: What a state holds when it holds no outcome (no value, no exception).
NO_RESULT: Final = object()
# The `random` module's own generator: reseeded in a forked child, so ids never repeat there.
_random_bits: Final = random.getrandbits


def utc_now() -> datetime:
    """The wall-clock time stamped on states and logs (timezone-aware, UTC)."""
    return datetime.now(UTC)


def new_id() -> str:
    """A fresh run id: a UUID version 7 (time-ordered, so new rows land at the end of the
    index), with 74 random bits from the process's pseudo-random generator: unique, not
    secret (access is checked by workspace, never by knowing an id)."""
    value = (time.time_ns() // 1_000_000) << 80 | _random_bits(80)
    # version 7 in bits 76-79, variant 0b10 in bits 62-63
    value = (value & ~(0xF << 76)) | (7 << 76)
    value = (value & ~(0x3 << 62)) | (0x2 << 62)
    digits = f"{value:032x}"
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class State:
    """One state of a flow run or task run.

    A state returned from a call (`return_state=True`) also holds the run's outcome:
    `result()` returns the value or raises the run's exception. A state read back from the
    database holds no outcome.
    """

    type: StateType
    name: str
    run_id: str
    timestamp: datetime = field(default_factory=utc_now)
    message: str | None = None
    _outcome: object = field(default=NO_RESULT, repr=False, compare=False)

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
        return cls(
            type=STATE_TYPES[name],
            name=name,
            run_id=run_id,
            message=message,
            timestamp=timestamp or utc_now(),
            _outcome=outcome,
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
        return FlowRun(
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
        return TaskRun(
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
