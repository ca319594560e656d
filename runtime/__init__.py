"""The workflow runtime: states, the engine that runs flows and tasks, storage, `Runtime`.

Built on the actor kernel; knows nothing of the SDK or the gateway.
"""

from __future__ import annotations

from ._console import RUN_LABEL as RUN_LABEL
from ._console import ConsoleFormatter as ConsoleFormatter
from ._errors import ApiKeyNotFoundError as ApiKeyNotFoundError
from ._errors import IdempotencyKeyReusedError as IdempotencyKeyReusedError
from ._errors import InvalidTransitionError as InvalidTransitionError
from ._errors import NoResultError as NoResultError
from ._errors import ParameterValidationError as ParameterValidationError
from ._errors import ResultNotFoundError as ResultNotFoundError
from ._errors import RoleExistsError as RoleExistsError
from ._errors import RoleInUseError as RoleInUseError
from ._errors import RunNotFoundError as RunNotFoundError
from ._errors import RuntimeNotRunningError as RuntimeNotRunningError
from ._errors import SchemaVersionError as SchemaVersionError
from ._errors import StorageConflictError as StorageConflictError
from ._errors import StorageError as StorageError
from ._errors import TaskCancelledError as TaskCancelledError
from ._errors import TooManyRunsError as TooManyRunsError
from ._errors import UnhashableInputError as UnhashableInputError
from ._errors import UnhashableInputWarning as UnhashableInputWarning
from ._errors import UnserializableResultError as UnserializableResultError
from ._errors import UpstreamFailedError as UpstreamFailedError
from ._errors import UsageError as UsageError
from ._errors import WorkflowError as WorkflowError
from ._errors import WorkspaceBusyError as WorkspaceBusyError
from ._errors import WorkspaceExistsError as WorkspaceExistsError
from ._options import FlowOptions as FlowOptions
from ._options import RetryDelay as RetryDelay
from ._options import RetryPolicy as RetryPolicy
from ._options import TaskOptions as TaskOptions
from ._options import exponential_backoff as exponential_backoff
from ._records import CacheEntry as CacheEntry
from ._records import FlowRun as FlowRun
from ._records import LogRecord as LogRecord
from ._records import State as State
from ._records import TaskRun as TaskRun
from ._runtime import DEFAULT_MAX_LIVE_RUNS as DEFAULT_MAX_LIVE_RUNS
from ._runtime import MAX_IDEMPOTENCY_KEY as MAX_IDEMPOTENCY_KEY
from ._runtime import Runtime as Runtime
from ._runtime import default_database_url as default_database_url
from ._runtime import default_results_directory as default_results_directory
from ._runtime import repertory_home as repertory_home
from ._states import STATE_TYPES as STATE_TYPES
from ._states import TERMINAL_TYPES as TERMINAL_TYPES
from ._states import StateType as StateType
from ._states import check_transition as check_transition
from ._tenancy_records import ApiKey as ApiKey
from ._tenancy_records import AuditRecord as AuditRecord
from ._tenancy_records import Role as Role
from ._tenancy_records import Workspace as Workspace
from .cache._cache import CacheStatistics as CacheStatistics
from .cache._cache_policy import FLOW_PARAMETERS as FLOW_PARAMETERS
from .cache._cache_policy import INPUTS as INPUTS
from .cache._cache_policy import NO_CACHE as NO_CACHE
from .cache._cache_policy import RUN_ID as RUN_ID
from .cache._cache_policy import TASK_SOURCE as TASK_SOURCE
from .cache._cache_policy import CacheKeyContext as CacheKeyContext
from .cache._cache_policy import CachePolicy as CachePolicy
from .cache._result_storage import DatabaseStorage as DatabaseStorage
from .cache._result_storage import LocalFileStorage as LocalFileStorage
from .cache._result_storage import ResultStorage as ResultStorage
from .engine._context import RunContext as RunContext
from .engine._context import RunLogger as RunLogger
from .engine._flow_run import FlowDefinition as FlowDefinition
from .engine._futures import TaskFuture as TaskFuture
from .engine._futures import TaskFutureList as TaskFutureList
from .engine._futures import allow_failure as allow_failure
from .engine._futures import unmapped as unmapped
from .tenancy._audit import SERVER_CHAIN as SERVER_CHAIN
from .tenancy._audit import AuditCheckpoint as AuditCheckpoint
from .tenancy._audit import verify_chain as verify_chain
from .tenancy._audit_chain import AuditEvent as AuditEvent
from .tenancy._audit_chain import AuditVerdict as AuditVerdict
from .tenancy._audit_keys import KEY_VARIABLE as KEY_VARIABLE
from .tenancy._audit_keys import AuditKeyring as AuditKeyring
from .tenancy._audit_keys import load_audit_keys as load_audit_keys
from .tenancy._audit_keys import rotate_audit_key as rotate_audit_key
from .tenancy._roles import BUILTIN_ROLES as BUILTIN_ROLES
from .tenancy._roles import ROLE_SCOPES as ROLE_SCOPES
from .tenancy._roles import ROLES as ROLES
from .tenancy._roles import SCOPES as SCOPES
from .tenancy._roles import SERVER_SCOPE as SERVER_SCOPE
from .tenancy._roles import may_grant as may_grant
from .tenancy._roles import scopes_of as scopes_of

__all__ = [  # noqa: RUF022 - plain sorted() order, as tests/test_architecture.py checks
    "ApiKey",
    "ApiKeyNotFoundError",
    "AuditCheckpoint",
    "AuditEvent",
    "AuditKeyring",
    "AuditRecord",
    "AuditVerdict",
    "BUILTIN_ROLES",
    "CacheEntry",
    "CacheKeyContext",
    "CachePolicy",
    "CacheStatistics",
    "ConsoleFormatter",
    "DEFAULT_MAX_LIVE_RUNS",
    "DatabaseStorage",
    "FLOW_PARAMETERS",
    "FlowDefinition",
    "FlowOptions",
    "FlowRun",
    "INPUTS",
    "IdempotencyKeyReusedError",
    "InvalidTransitionError",
    "KEY_VARIABLE",
    "LocalFileStorage",
    "LogRecord",
    "MAX_IDEMPOTENCY_KEY",
    "NO_CACHE",
    "NoResultError",
    "ParameterValidationError",
    "ROLES",
    "ROLE_SCOPES",
    "RUN_ID",
    "RUN_LABEL",
    "ResultNotFoundError",
    "ResultStorage",
    "RetryDelay",
    "RetryPolicy",
    "Role",
    "RoleExistsError",
    "RoleInUseError",
    "RunContext",
    "RunLogger",
    "RunNotFoundError",
    "Runtime",
    "RuntimeNotRunningError",
    "SCOPES",
    "SERVER_CHAIN",
    "SERVER_SCOPE",
    "STATE_TYPES",
    "SchemaVersionError",
    "State",
    "StateType",
    "StorageConflictError",
    "StorageError",
    "TASK_SOURCE",
    "TERMINAL_TYPES",
    "TaskCancelledError",
    "TaskFuture",
    "TaskFutureList",
    "TaskOptions",
    "TaskRun",
    "TooManyRunsError",
    "UnhashableInputError",
    "UnhashableInputWarning",
    "UnserializableResultError",
    "UpstreamFailedError",
    "UsageError",
    "WorkflowError",
    "Workspace",
    "WorkspaceBusyError",
    "WorkspaceExistsError",
    "allow_failure",
    "check_transition",
    "default_database_url",
    "default_results_directory",
    "exponential_backoff",
    "load_audit_keys",
    "may_grant",
    "repertory_home",
    "rotate_audit_key",
    "scopes_of",
    "unmapped",
    "verify_chain",
]
