"""A run while it is live: its progress kept current in memory, every transition checked
against the table and journalled for the store without waiting."""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Final, Generic, TypeVar, final

from .._records import NO_RESULT, FlowRun, State, TaskRun
from .._states import check_transition
from ..storage._rows import progress_of

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping

    from ..storage._rows import Progress

R = TypeVar("R", FlowRun, TaskRun)

#: States that begin an attempt.
_STARTS: Final = frozenset({"Running", "Retrying"})


@final
class LiveRun(Generic[R]):
    """A run while it is live: its progress, kept current, and every transition journalled.

    Its record is built only when someone reads it: a run moves through several states, and
    records are frozen, so building one per transition would cost every run for nothing.
    """

    __slots__ = ("_now", "_record", "_task_counts", "_write", "base", "id", "parameters")

    def __init__(
        self,
        record: R,
        parameters: Mapping[str, object],
        write: Callable[[R, State, Progress], None],
    ) -> None:
        self.id = record.id
        self.parameters = parameters  # the values themselves; the record holds their JSON
        #: The record as created: read what never changes (names, ids) here, for free.
        self.base: R = record
        # One tuple, replaced whole: a reader in another thread never sees half a transition.
        self._now: Progress = progress_of(record)
        self._record: R | None = record
        self._write: Callable[[R, State, Progress], None] = write
        # Counters, not ints: `next` on one is atomic, and sync tasks number from threads.
        self._task_counts: dict[str, Iterator[int]] = {}
        write(record, record.state, self._now)

    def next_task_number(self, task_name: str) -> int:
        """How many runs of `task_name` this (flow) run started before: `fetch-0`, `fetch-1`..."""
        return next(self._task_counts.setdefault(task_name, itertools.count()))

    @property
    def record(self) -> R:
        """The run as it is now."""
        record = self._record
        if record is None:
            state, run_count, start_time, end_time = self._now
            record = self._record = self.base.evolve(state, run_count, start_time, end_time)
        return record

    @property
    def state(self) -> State:
        return self._now[0]

    @property
    def run_count(self) -> int:
        return self._now[1]

    def transition(
        self, name: str, *, message: str | None = None, outcome: object = NO_RESULT
    ) -> State:
        """Move to the named state `name` (raises InvalidTransitionError, changing nothing)."""
        return self.apply(State.named(name, self.id, message=message, outcome=outcome))

    def apply(self, state: State) -> State:
        """Move to `state` (raises InvalidTransitionError, changing nothing) and return it.

        The live record keeps the state's outcome; what is stored never includes it.
        """
        current, run_count, start_time, end_time = self._now
        check_transition(current.name, state.name)
        if state.name in _STARTS:
            run_count += 1
            start_time = start_time or state.timestamp
        elif state.is_final:
            end_time = state.timestamp
        self._now = now = (state, run_count, start_time, end_time)
        self._record = None
        self._write(self.base, state, now)
        return state
