"""The transition table of DESIGN.md, checked pair by pair against a restatement of it."""

from __future__ import annotations

import itertools

import pytest

from repertory.runtime import (
    STATE_TYPES,
    TERMINAL_TYPES,
    InvalidTransitionError,
    StateType,
    check_transition,
)

S, P, R = StateType.SCHEDULED, StateType.PENDING, StateType.RUNNING
CO, F, CR = StateType.COMPLETED, StateType.FAILED, StateType.CRASHED
CG, CA, PA = StateType.CANCELLING, StateType.CANCELLED, StateType.PAUSED

# DESIGN.md, "States": from a type, the types it may go to.
TABLE = {
    S: {S, P, R, CA},
    P: {R, S, F, CR, CG, CA},
    R: {CO, F, CR, CG, PA, S},
    PA: {R, F, CR, CG, CA},
    CG: {CA, CR},
    CO: set(),
    F: set(),
    CR: set(),
    CA: set(),
}
# The moves into SCHEDULED that the table restricts to one named state.
ONLY = {(S, S): "Late", (P, S): "AwaitingRetry", (R, S): "AwaitingRetry"}

PAIRS = list(itertools.product(STATE_TYPES, repeat=2))


def is_allowed(current: str, proposed: str) -> bool:
    from_type, to_type = STATE_TYPES[current], STATE_TYPES[proposed]
    if to_type not in TABLE[from_type]:
        return False
    only = ONLY.get((from_type, to_type))
    return only is None or proposed == only


def test_every_named_state_has_the_type_design_gives_it() -> None:
    assert {name for name, kind in STATE_TYPES.items() if kind is S} == {
        "Scheduled",
        "Late",
        "AwaitingRetry",
    }
    assert {name for name, kind in STATE_TYPES.items() if kind is R} == {"Running", "Retrying"}
    assert {name for name, kind in STATE_TYPES.items() if kind is CO} == {"Completed", "Cached"}
    assert {name for name, kind in STATE_TYPES.items() if kind is F} == {"Failed", "TimedOut"}
    assert len(STATE_TYPES) == 14
    assert set(TERMINAL_TYPES) == {CO, F, CR, CA}


def test_state_types_are_strings() -> None:
    assert StateType.RUNNING == "RUNNING"
    assert StateType("CANCELLED") is CA


@pytest.mark.parametrize(("current", "proposed"), PAIRS, ids=[f"{a}->{b}" for a, b in PAIRS])
def test_transition_follows_the_table(current: str, proposed: str) -> None:
    if is_allowed(current, proposed):
        check_transition(current, proposed)
    else:
        with pytest.raises(InvalidTransitionError, match=f"cannot go from {current} to"):
            check_transition(current, proposed)


def test_the_table_allows_a_sensible_number_of_moves() -> None:
    allowed = sum(is_allowed(a, b) for a, b in PAIRS)
    # By hand: from the 3 SCHEDULED names 5 moves each, PENDING 8, the 2 RUNNING names 8
    # each, PAUSED 7, CANCELLING 2; a guard against a restatement that allows everything.
    assert allowed == 15 + 8 + 16 + 7 + 2


@pytest.mark.parametrize("name", ["Done", "", "running"])
def test_unknown_names_are_rejected(name: str) -> None:
    with pytest.raises(InvalidTransitionError, match="no state has that name"):
        check_transition("Running", name)
    with pytest.raises(InvalidTransitionError, match="no state has that name"):
        check_transition(name, "Running")


def test_the_error_says_why() -> None:
    with pytest.raises(InvalidTransitionError, match="COMPLETED is terminal"):
        check_transition("Completed", "Running")
    with pytest.raises(InvalidTransitionError, match="only AwaitingRetry"):
        check_transition("Running", "Scheduled")
    with pytest.raises(InvalidTransitionError, match="CANCELLING never goes to RUNNING"):
        check_transition("Cancelling", "Running")
