"""State types, named states and the allowed transitions between them (pure: no I/O).

The table is DESIGN.md's. A rename within one type (Scheduled to Late, say) is allowed only
where the table lists it; terminal types allow nothing.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Final

from ._errors import InvalidTransitionError

if TYPE_CHECKING:
    from collections.abc import Mapping


class StateType(enum.StrEnum):
    """The kind of a state; several named states share one type."""

    SCHEDULED = "SCHEDULED"
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CRASHED = "CRASHED"
    CANCELLING = "CANCELLING"
    CANCELLED = "CANCELLED"
    PAUSED = "PAUSED"


#: Every named state and its type.
STATE_TYPES: Final[Mapping[str, StateType]] = {
    "Scheduled": StateType.SCHEDULED,
    "Late": StateType.SCHEDULED,
    "AwaitingRetry": StateType.SCHEDULED,
    "Pending": StateType.PENDING,
    "Running": StateType.RUNNING,
    "Retrying": StateType.RUNNING,
    "Completed": StateType.COMPLETED,
    "Cached": StateType.COMPLETED,
    "Failed": StateType.FAILED,
    "TimedOut": StateType.FAILED,
    "Crashed": StateType.CRASHED,
    "Cancelling": StateType.CANCELLING,
    "Cancelled": StateType.CANCELLED,
    "Paused": StateType.PAUSED,
}

#: Types a run never leaves.
TERMINAL_TYPES: Final = frozenset(
    {StateType.COMPLETED, StateType.FAILED, StateType.CRASHED, StateType.CANCELLED}
)

_ANY: Final[frozenset[str]] = frozenset()  # any named state of the target type

# From a type, to a type: which named states of the target type are allowed (_ANY: all).
_ALLOWED: Final[Mapping[StateType, Mapping[StateType, frozenset[str]]]] = {
    StateType.SCHEDULED: {
        StateType.SCHEDULED: frozenset({"Late"}),
        StateType.PENDING: _ANY,
        StateType.RUNNING: _ANY,
        StateType.CANCELLED: _ANY,
    },
    StateType.PENDING: {
        StateType.RUNNING: _ANY,
        StateType.SCHEDULED: frozenset({"AwaitingRetry"}),
        StateType.FAILED: _ANY,
        StateType.CRASHED: _ANY,
        StateType.CANCELLING: _ANY,
        StateType.CANCELLED: _ANY,
    },
    StateType.RUNNING: {
        StateType.COMPLETED: _ANY,
        StateType.FAILED: _ANY,
        StateType.CRASHED: _ANY,
        StateType.CANCELLING: _ANY,
        StateType.PAUSED: _ANY,
        StateType.SCHEDULED: frozenset({"AwaitingRetry"}),
    },
    StateType.PAUSED: {
        StateType.RUNNING: _ANY,
        StateType.FAILED: _ANY,
        StateType.CRASHED: _ANY,
        StateType.CANCELLING: _ANY,
        StateType.CANCELLED: _ANY,
    },
    StateType.CANCELLING: {
        StateType.CANCELLED: _ANY,
        StateType.CRASHED: _ANY,
    },
}


def state_type(name: str) -> StateType:
    """Return the type of the named state `name`.

    Raises:
        InvalidTransitionError: no state has that name.
    """
    try:
        return STATE_TYPES[name]
    except KeyError:
        raise InvalidTransitionError("?", name, "no state has that name") from None


def check_transition(current: str, proposed: str) -> None:
    """Check that a run in the named state `current` may move to the named state `proposed`.

    Raises:
        InvalidTransitionError: the table forbids it (or a name is unknown).
    """
    if (current, proposed) not in _ALLOWED_PAIRS:  # the hot path: one lookup
        _check_slowly(current, proposed)  # raises, saying why (the pairs come from it)


def _check_slowly(current: str, proposed: str) -> None:
    """The table itself, read rule by rule; says why a transition is refused."""
    from_type = state_type(current)
    to_type = state_type(proposed)
    if from_type in TERMINAL_TYPES:
        raise InvalidTransitionError(current, proposed, f"{from_type} is terminal")
    names = _ALLOWED[from_type].get(to_type)
    if names is None:
        raise InvalidTransitionError(current, proposed, f"{from_type} never goes to {to_type}")
    if names and proposed not in names:
        allowed = ", ".join(sorted(names))
        raise InvalidTransitionError(
            current, proposed, f"from {from_type}, only {allowed} of type {to_type} is allowed"
        )


def _allowed_pairs() -> frozenset[tuple[str, str]]:
    """Every allowed (from, to) pair of named states, from the table above."""
    pairs = set()
    for current in STATE_TYPES:
        for proposed in STATE_TYPES:
            try:
                _check_slowly(current, proposed)
            except InvalidTransitionError:
                continue
            pairs.add((current, proposed))
    return frozenset(pairs)


_ALLOWED_PAIRS: Final = _allowed_pairs()
