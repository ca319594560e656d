"""Errors of the workflow runtime, one root for the package.

WorkflowError
├── InvalidTransitionError (ValueError)      a state change the transition table forbids
├── ParameterValidationError (ValueError)    flow parameters that do not fit the signature
├── NoResultError                            a state that holds no outcome was asked for one
├── RunNotFoundError (LookupError)           no run with that id in that workspace
├── ApiKeyNotFoundError (LookupError)        no API key with that id in that workspace
├── ResultNotFoundError (LookupError)        a task run's result was not stored, or is gone
├── IdempotencyKeyReusedError (ValueError)   a key already used for another request
├── RuntimeNotRunningError                   a runtime used outside its `async with`
├── TooManyRunsError                         a workspace has its most runs in progress
├── WorkspaceExistsError (ValueError)         a workspace of that name exists already
├── WorkspaceBusyError                       a workspace to delete still has runs in progress
├── RoleExistsError (ValueError)             a role of that name exists already
├── RoleInUseError                           a role to delete is carried by a key
└── StorageError                             the database cannot be opened, read or written
    └── SchemaVersionError                   the database was written by a newer repertory
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping

    from ._records import State


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


class ParameterValidationError(WorkflowError, ValueError):
    """Raised before a flow run exists when its parameters do not fit the flow's signature.

    `errors` maps every bad parameter to why it is bad; no run is created.
    """

    def __init__(self, flow_name: str, errors: Mapping[str, str]) -> None:
        details = "; ".join(f"{name}: {why}" for name, why in errors.items())
        super().__init__(f"invalid parameters for flow {flow_name!r}: {details}")
        self.flow_name = flow_name
        self.errors = dict(errors)


class NoResultError(WorkflowError):
    """Raised by `State.result()` on a state that holds no outcome.

    States read back from the database hold none; only states returned from a call do.
    """

    def __init__(self, state: State) -> None:
        super().__init__(
            f"state {state.name} of run {state.run_id} holds no result "
            "(only states returned from a call do)"
        )
        self.state = state


class RunNotFoundError(WorkflowError, LookupError):
    """Raised when no run has the given id in the given workspace."""

    def __init__(self, run_id: str, workspace: str) -> None:
        super().__init__(f"no run {run_id!r} in workspace {workspace!r}")
        self.run_id = run_id
        self.workspace = workspace


class ApiKeyNotFoundError(WorkflowError, LookupError):
    """No API key with that id in the workspace asked about."""

    def __init__(self, key_id: str, workspace: str) -> None:
        super().__init__(f"no API key {key_id!r} in workspace {workspace!r}")
        self.key_id = key_id
        self.workspace = workspace


class ResultNotFoundError(WorkflowError, LookupError):
    """A task run's result cannot be read back: it was not cached, or its entry expired or
    was invalidated, or its stored bytes are gone."""

    def __init__(self, task_run_id: str, why: str) -> None:
        super().__init__(f"no result of task run {task_run_id!r}: {why}")
        self.task_run_id = task_run_id


class IdempotencyKeyReusedError(WorkflowError, ValueError):
    """Raised when an idempotency key comes back with another flow or other parameters than
    the run it made: a key names one request, and its replays must be that request."""

    def __init__(self, key: str, flow_run_id: str) -> None:
        super().__init__(
            f"idempotency key {key!r} was used for another request (flow run {flow_run_id})"
        )
        self.key = key
        self.flow_run_id = flow_run_id


class RuntimeNotRunningError(WorkflowError):
    """Raised when a runtime is used before it started or after it stopped."""

    def __init__(self) -> None:
        super().__init__("the runtime is not running: use it inside `async with Runtime(...)`")


class TooManyRunsError(WorkflowError):
    """A run was not created: its workspace has `max_live_runs_per_workspace` in progress."""

    def __init__(self, workspace: str, limit: int) -> None:
        super().__init__(
            f"workspace {workspace!r} has {limit} runs in progress, its most: "
            "try again when some have ended"
        )
        self.workspace = workspace
        self.limit = limit


class WorkspaceExistsError(WorkflowError, ValueError):
    def __init__(self, name: str) -> None:
        super().__init__(f"workspace {name!r} exists already")
        self.name = name


class WorkspaceBusyError(WorkflowError):
    """A workspace was not deleted: it has runs in progress (delete with force to cancel them)."""

    def __init__(self, name: str, live: int) -> None:
        super().__init__(
            f"workspace {name!r} has {live} runs in progress: wait for them, or delete with force "
            "(which cancels them)"
        )
        self.name = name


class RoleExistsError(WorkflowError, ValueError):
    def __init__(self, name: str) -> None:
        super().__init__(f"a role {name!r} exists already")
        self.name = name


class RoleInUseError(WorkflowError):
    def __init__(self, name: str) -> None:
        super().__init__(f"role {name!r} is carried by keys not revoked: revoke them first")
        self.name = name


class StorageError(WorkflowError):
    """Raised when the database cannot be opened, read or written.

    The message names the database (never its password) and what went wrong.
    """


class SchemaVersionError(StorageError):
    """Raised at start when the database was written by a newer repertory; it is left untouched."""

    def __init__(self, url: str, found: int, known: int) -> None:
        super().__init__(
            f"database {url} has schema version {found}, but this repertory knows only up to "
            f"{known}: upgrade repertory (the database was left untouched)"
        )
        self.found = found
        self.known = known
