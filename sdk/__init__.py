"""repertory: an async-native, actor-model workflow runtime for Python (asyncio and trio).

Importing this package is cheap: the runtime, the actor kernel, the gateway and the command
line load when a name that needs them is first used.
"""

from __future__ import annotations

import importlib

# `typing` alone costs ~10 ms to import: a constant of our own keeps this module cheap
# (type checkers read `TYPE_CHECKING` the same whatever its source).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from repertory.runtime import FLOW_PARAMETERS as FLOW_PARAMETERS
    from repertory.runtime import INPUTS as INPUTS
    from repertory.runtime import NO_CACHE as NO_CACHE
    from repertory.runtime import RUN_ID as RUN_ID
    from repertory.runtime import TASK_SOURCE as TASK_SOURCE
    from repertory.runtime import ApiKeyNotFoundError as ApiKeyNotFoundError
    from repertory.runtime import CacheEntry as CacheEntry
    from repertory.runtime import CacheKeyContext as CacheKeyContext
    from repertory.runtime import CachePolicy as CachePolicy
    from repertory.runtime import FlowRun as FlowRun
    from repertory.runtime import IdempotencyKeyReusedError as IdempotencyKeyReusedError
    from repertory.runtime import InvalidTransitionError as InvalidTransitionError
    from repertory.runtime import LocalFileStorage as LocalFileStorage
    from repertory.runtime import NoResultError as NoResultError
    from repertory.runtime import ParameterValidationError as ParameterValidationError
    from repertory.runtime import ResultNotFoundError as ResultNotFoundError
    from repertory.runtime import ResultStorage as ResultStorage
    from repertory.runtime import RoleExistsError as RoleExistsError
    from repertory.runtime import RoleInUseError as RoleInUseError
    from repertory.runtime import RunNotFoundError as RunNotFoundError
    from repertory.runtime import Runtime as Runtime
    from repertory.runtime import RuntimeNotRunningError as RuntimeNotRunningError
    from repertory.runtime import SchemaVersionError as SchemaVersionError
    from repertory.runtime import State as State
    from repertory.runtime import StateType as StateType
    from repertory.runtime import StorageConflictError as StorageConflictError
    from repertory.runtime import StorageError as StorageError
    from repertory.runtime import TaskCancelledError as TaskCancelledError
    from repertory.runtime import TaskFuture as TaskFuture
    from repertory.runtime import TaskFutureList as TaskFutureList
    from repertory.runtime import TaskRun as TaskRun
    from repertory.runtime import TooManyRunsError as TooManyRunsError
    from repertory.runtime import UnhashableInputError as UnhashableInputError
    from repertory.runtime import UnhashableInputWarning as UnhashableInputWarning
    from repertory.runtime import UnserializableResultError as UnserializableResultError
    from repertory.runtime import UpstreamFailedError as UpstreamFailedError
    from repertory.runtime import UsageError as UsageError
    from repertory.runtime import WorkflowError as WorkflowError
    from repertory.runtime import WorkspaceBusyError as WorkspaceBusyError
    from repertory.runtime import WorkspaceExistsError as WorkspaceExistsError
    from repertory.runtime import allow_failure as allow_failure
    from repertory.runtime import exponential_backoff as exponential_backoff
    from repertory.runtime import unmapped as unmapped

    from ._client import Client as Client
    from ._client import get_client as get_client
    from ._decorators import Flow as Flow
    from ._decorators import Task as Task
    from ._decorators import flow as flow
    from ._decorators import get_run_context as get_run_context
    from ._decorators import task as task
    from ._errors import AuthError as AuthError
    from ._errors import ClientError as ClientError
    from ._errors import ConflictError as ConflictError
    from ._errors import NotFoundError as NotFoundError
    from ._errors import ServerError as ServerError
    from ._errors import ValidationError as ValidationError
    from ._logging import get_run_logger as get_run_logger
    from ._sync_client import SyncClient as SyncClient
    from ._sync_client import get_sync_client as get_sync_client

__version__ = "0.1.0"

# Each public name and the module it lives in, imported on first use.
_LAZY = {
    "ApiKeyNotFoundError": "repertory.runtime",
    "IdempotencyKeyReusedError": "repertory.runtime",
    "InvalidTransitionError": "repertory.runtime",
    "NoResultError": "repertory.runtime",
    "RoleExistsError": "repertory.runtime",
    "RoleInUseError": "repertory.runtime",
    "RunNotFoundError": "repertory.runtime",
    "RuntimeNotRunningError": "repertory.runtime",
    "SchemaVersionError": "repertory.runtime",
    "StorageConflictError": "repertory.runtime",
    "StorageError": "repertory.runtime",
    "TooManyRunsError": "repertory.runtime",
    "UnserializableResultError": "repertory.runtime",
    "WorkflowError": "repertory.runtime",
    "WorkspaceBusyError": "repertory.runtime",
    "WorkspaceExistsError": "repertory.runtime",
    "TaskCancelledError": "repertory.runtime",
    "FLOW_PARAMETERS": "repertory.runtime",
    "INPUTS": "repertory.runtime",
    "NO_CACHE": "repertory.runtime",
    "RUN_ID": "repertory.runtime",
    "TASK_SOURCE": "repertory.runtime",
    "CacheEntry": "repertory.runtime",
    "CacheKeyContext": "repertory.runtime",
    "CachePolicy": "repertory.runtime",
    "LocalFileStorage": "repertory.runtime",
    "ResultNotFoundError": "repertory.runtime",
    "ResultStorage": "repertory.runtime",
    "UnhashableInputError": "repertory.runtime",
    "UnhashableInputWarning": "repertory.runtime",
    "AuthError": "repertory._errors",
    "Client": "repertory._client",
    "ClientError": "repertory._errors",
    "ConflictError": "repertory._errors",
    "NotFoundError": "repertory._errors",
    "ServerError": "repertory._errors",
    "SyncClient": "repertory._sync_client",
    "ValidationError": "repertory._errors",
    "get_client": "repertory._client",
    "get_sync_client": "repertory._sync_client",
    "Flow": "repertory._decorators",
    "FlowRun": "repertory.runtime",
    "ParameterValidationError": "repertory.runtime",
    "Runtime": "repertory.runtime",
    "State": "repertory.runtime",
    "StateType": "repertory.runtime",
    "Task": "repertory._decorators",
    "TaskFuture": "repertory.runtime",
    "TaskFutureList": "repertory.runtime",
    "UpstreamFailedError": "repertory.runtime",
    "allow_failure": "repertory.runtime",
    "unmapped": "repertory.runtime",
    "TaskRun": "repertory.runtime",
    "UsageError": "repertory.runtime",
    "exponential_backoff": "repertory.runtime",
    "flow": "repertory._decorators",
    "get_run_context": "repertory._decorators",
    "get_run_logger": "repertory._logging",
    "task": "repertory._decorators",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'repertory' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [  # noqa: RUF022 - plain sorted() order, as tests/test_architecture.py checks
    "ApiKeyNotFoundError",
    "AuthError",
    "CacheEntry",
    "CacheKeyContext",
    "CachePolicy",
    "Client",
    "ClientError",
    "ConflictError",
    "FLOW_PARAMETERS",
    "Flow",
    "FlowRun",
    "INPUTS",
    "IdempotencyKeyReusedError",
    "InvalidTransitionError",
    "LocalFileStorage",
    "NO_CACHE",
    "NoResultError",
    "NotFoundError",
    "ParameterValidationError",
    "RUN_ID",
    "ResultNotFoundError",
    "ResultStorage",
    "RoleExistsError",
    "RoleInUseError",
    "RunNotFoundError",
    "Runtime",
    "RuntimeNotRunningError",
    "SchemaVersionError",
    "ServerError",
    "State",
    "StateType",
    "StorageConflictError",
    "StorageError",
    "SyncClient",
    "TASK_SOURCE",
    "Task",
    "TaskCancelledError",
    "TaskFuture",
    "TaskFutureList",
    "TaskRun",
    "TooManyRunsError",
    "UnhashableInputError",
    "UnhashableInputWarning",
    "UnserializableResultError",
    "UpstreamFailedError",
    "UsageError",
    "ValidationError",
    "WorkflowError",
    "WorkspaceBusyError",
    "WorkspaceExistsError",
    "__version__",
    "allow_failure",
    "exponential_backoff",
    "flow",
    "get_client",
    "get_run_context",
    "get_run_logger",
    "get_sync_client",
    "task",
    "unmapped",
]
