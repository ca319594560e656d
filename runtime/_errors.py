"""Errors of the workflow runtime, one root for the package.

WorkflowError
└── InvalidTransitionError (ValueError)   a state change the transition table forbids
"""

from __future__ import annotations


class WorkflowError(Exception):
    """Root of every error the workflow runtime raises."""


class InvalidTransitionError(WorkflowError, ValueError):
    """Raised when a run is asked to move to a state the transition table does not allow.

    Nothing changes: the run keeps its current state.
    """

    def __init__(self, current: str, proposed: str, reason: str) -> None:
        super().__init__(f"cannot go from {current} to {proposed}: {reason}")
        self.current = current
        self.proposed = proposed
