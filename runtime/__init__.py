"""The workflow runtime: states, workflow actors and storage.

Built on the actor kernel; knows nothing of the SDK or the gateway.
"""

from __future__ import annotations

from ._errors import InvalidTransitionError as InvalidTransitionError
from ._errors import WorkflowError as WorkflowError
from ._states import STATE_TYPES as STATE_TYPES
from ._states import TERMINAL_TYPES as TERMINAL_TYPES
from ._states import StateType as StateType
from ._states import check_transition as check_transition

__all__ = [  # noqa: RUF022 - plain sorted() order, as tests/test_architecture.py checks
    "InvalidTransitionError",
    "STATE_TYPES",
    "StateType",
    "TERMINAL_TYPES",
    "WorkflowError",
    "check_transition",
]
