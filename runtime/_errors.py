"""Errors of the workflow runtime (and the SDK built on it), one root for the package.

WorkflowError
├── UsageError (TypeError)                   called in a way it does not support; says how
├── InvalidTransitionError (ValueError)      a state change the transition table forbids
├── ParameterValidationError (ValueError)    flow parameters that do not fit the signature
├── NoResultError                            a state that holds no outcome was asked for one
├── UpstreamFailedError                      an upstream task run failed: this one never ran
├── TaskCancelledError                       a submitted task run was cancelled with its flow
├── UnhashableInputError (TypeError)         a cached task's input has no stable hash
├── UnserializableResultError (TypeError)    a result its serializer cannot store
├── RunNotFoundError (LookupError)           no run with that id in that workspace
├── ApiKeyNotFoundError (LookupError)        no API key with that id in that workspace
├── ResultNotFoundError (LookupError)        a result was not stored, or is gone
├── IdempotencyKeyReusedError (ValueError)   a key already used for another request
├── RuntimeNotRunningError                   a runtime used outside its `async with`
├── TooManyRunsError                         a workspace has its most runs in progress
├── WorkspaceExistsError (ValueError)        a workspace of that name exists already
├── WorkspaceBusyError                       a workspace to delete still has runs in progress
├── RoleExistsError (ValueError)             a role of that name exists already
├── RoleInUseError                           a role to delete is carried by a key
└── StorageError                             the database cannot be opened, read or written
    ├── StorageConflictError (TransientError) another process kept a write waiting too long
    └── SchemaVersionError                   the database was written by a newer repertory

UnhashableInputWarning (UserWarning)         a cached task ran uncached, as its policy said
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from repertory.actors import TransientError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from ._records import State


class _Future(Protocol):  # a TaskFuture, as far as its errors need to know
    @property
    def task_run_id(self) -> str: ...
    @property
    def state(self) -> State: ...


class WorkflowError(Exception):
    """Root of every error the workflow runtime raises."""


class UsageError(WorkflowError, TypeError):
    """Raised when repertory is called in a way it does not support; the message says how."""


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


class UpstreamFailedError(WorkflowError):
    """An upstream task run failed, so the downstream run was not started."""

    def __init__(self, upstream: _Future) -> None:
        super().__init__(f"upstream task run {upstream.task_run_id} ended {upstream.state.name}")
        #: The upstream run's future.
        self.upstream = upstream


class TaskCancelledError(WorkflowError):
    """A submitted task run was cancelled (with its flow) before it ended."""

    def __init__(self, task_run_id: str) -> None:
        super().__init__(f"task run {task_run_id} was cancelled")
        self.task_run_id = task_run_id


class UnhashableInputError(WorkflowError, TypeError):
    """An input of a cached task has no stable hash, so no cache key can be made of it."""

    def __init__(self, task_name: str, parameter: str, value: object) -> None:
        super().__init__(
            f"task {task_name!r} cannot be cached on its inputs: parameter {parameter!r} is a "
            f"{type(value).__qualname__}, which has no stable hash. Leave it out "
            f"(cache_policy=INPUTS - {parameter!r}), give a cache_key_fn, or pass plain data"
        )
        self.task_name = task_name
        self.parameter = parameter


class UnhashableInputWarning(UserWarning):
    """A task was not cached because an input has no stable hash (as its policy asked)."""


class UnserializableResultError(WorkflowError, TypeError):
    """A result that the task's serializer cannot store."""


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
    """A result cannot be read back: its task run was not cached, or its entry expired or
    was invalidated, or its stored bytes are gone.

    The runtime raises it naming the task run (`task_run_id`); a `ResultStorage` raises it
    naming the place it looked (`location`), from `read`.
    """

    def __init__(
        self, message: str, *, task_run_id: str | None = None, location: str | None = None
    ) -> None:
        super().__init__(message)
        self.task_run_id = task_run_id
        self.location = location


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


class StorageConflictError(StorageError, TransientError):
    """Raised when another process writing the same database kept this write waiting too
    long (it held SQLite's lock past the 5 s busy timeout; a PostgreSQL deadlock, lock
    timeout or serialization failure).

    Expected when processes share a database, and cured by trying again. The store keeps
    the writes of a group commit that met one and writes them once its supervisor has
    restarted it, with one log line (a `TransientError`); a single request that meets one
    fails with it (over REST, a 503: try again).
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
