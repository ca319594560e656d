"""The runtime's requests of storage: frozen, typed, plain data (no callable crosses into the
store), each answered by one method of the `Store` protocol, grouped by concern.

`await ask(ReadFlowRun(workspace=ws, run_id=run_id))` is typed `FlowRun | None`, and the same
request could be answered by another node's store, or over the REST API. A request whose
class says `commits_first` sees every write journalled before it: the store commits the
journal before answering it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Protocol, TypeVar, final

from repertory.actors import Request

if TYPE_CHECKING:
    from collections.abc import Awaitable, Sequence
    from datetime import datetime

    from .._records import CacheEntry, FlowRun, LogRecord, State, TaskRun
    from .._references import RunReference
    from .._states import StateType
    from .._tenancy_records import ApiKey, AuditRecord, Role, Workspace
    from ._protocol import Store

R = TypeVar("R")
T = TypeVar("T")


class StoreRequest(Request[R]):
    """A request of the store, answered by `answer(store)`."""

    __slots__ = ()

    #: Whether the store commits the journal before answering (a read of runs, states or
    #: logs, or a change that must come after them).
    commits_first: ClassVar[bool] = False

    def answer(self, store: Store) -> Awaitable[R]:
        raise NotImplementedError


class AskStore(Protocol):
    """How the runtime's parts ask the store: `await ask(request)`."""

    def __call__(self, request: StoreRequest[T], /) -> Awaitable[T]: ...


# -- runs, states and logs ---------------------------------------------------------------


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class ReadFlowRun(StoreRequest["FlowRun | None"]):
    commits_first: ClassVar[bool] = True
    workspace: str
    run_id: str

    def answer(self, store: Store) -> Awaitable[FlowRun | None]:
        return store.read_flow_run(self.workspace, self.run_id)


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class ReadFlowRuns(StoreRequest["list[FlowRun]"]):
    commits_first: ClassVar[bool] = True
    workspace: str
    flow_name: str | None = None
    state_type: StateType | None = None
    state_name: str | None = None
    parent_flow_run_id: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    after: tuple[datetime, str] | None = None
    newest_first: bool = False
    limit: int | None = None
    offset: int = 0

    def answer(self, store: Store) -> Awaitable[list[FlowRun]]:
        return store.read_flow_runs(
            self.workspace,
            flow_name=self.flow_name,
            state_type=self.state_type,
            state_name=self.state_name,
            parent_flow_run_id=self.parent_flow_run_id,
            created_after=self.created_after,
            created_before=self.created_before,
            after=self.after,
            newest_first=self.newest_first,
            limit=self.limit,
            offset=self.offset,
        )


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class ReadTaskRuns(StoreRequest["list[TaskRun]"]):
    commits_first: ClassVar[bool] = True
    workspace: str
    flow_run_id: str
    limit: int | None = None
    offset: int = 0

    def answer(self, store: Store) -> Awaitable[list[TaskRun]]:
        return store.read_task_runs(
            self.workspace, self.flow_run_id, limit=self.limit, offset=self.offset
        )


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class ReadTaskRun(StoreRequest["TaskRun | None"]):
    commits_first: ClassVar[bool] = True
    workspace: str
    run_id: str

    def answer(self, store: Store) -> Awaitable[TaskRun | None]:
        return store.read_task_run(self.workspace, self.run_id)


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class FindFlowRuns(StoreRequest["list[FlowRun]"]):
    commits_first: ClassVar[bool] = True
    workspace: str
    reference: RunReference
    limit: int

    def answer(self, store: Store) -> Awaitable[list[FlowRun]]:
        return store.find_flow_runs(self.workspace, self.reference, limit=self.limit)


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class FindTaskRuns(StoreRequest["list[TaskRun]"]):
    commits_first: ClassVar[bool] = True
    workspace: str
    reference: RunReference
    limit: int

    def answer(self, store: Store) -> Awaitable[list[TaskRun]]:
        return store.find_task_runs(self.workspace, self.reference, limit=self.limit)


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class ReadStateHistory(StoreRequest["list[State]"]):
    commits_first: ClassVar[bool] = True
    workspace: str
    run_id: str

    def answer(self, store: Store) -> Awaitable[list[State]]:
        return store.read_state_history(self.workspace, self.run_id)


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class ReadLogs(StoreRequest["list[LogRecord]"]):
    commits_first: ClassVar[bool] = True
    workspace: str
    flow_run_id: str
    task_run_id: str | None = None
    limit: int | None = None
    offset: int = 0

    def answer(self, store: Store) -> Awaitable[list[LogRecord]]:
        return store.read_logs(
            self.workspace,
            self.flow_run_id,
            task_run_id=self.task_run_id,
            limit=self.limit,
            offset=self.offset,
        )


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class ClaimIdempotencyKey(StoreRequest["tuple[str, str]"]):
    """The holder's run id and request hash: `flow_run_id`'s own when the key was free."""

    commits_first: ClassVar[bool] = True
    workspace: str
    key: str
    request_hash: str
    flow_run_id: str

    def answer(self, store: Store) -> Awaitable[tuple[str, str]]:
        return store.claim_idempotency_key(
            self.workspace, self.key, self.request_hash, self.flow_run_id
        )


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class ReleaseIdempotencyKey(StoreRequest[None]):
    commits_first: ClassVar[bool] = True
    workspace: str
    key: str

    def answer(self, store: Store) -> Awaitable[None]:
        return store.release_idempotency_key(self.workspace, self.key)


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class Ping(StoreRequest[None]):
    """Answered once the store has read its database: a health check."""

    def answer(self, store: Store) -> Awaitable[None]:
        return store.ping()


# -- API keys and roles --------------------------------------------------------------------


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class InsertApiKey(StoreRequest[None]):
    key: ApiKey
    secret_hash: str

    def answer(self, store: Store) -> Awaitable[None]:
        return store.insert_api_key(self.key, self.secret_hash)


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class ReadApiKey(StoreRequest["tuple[ApiKey, str] | None"]):
    """A key by id, in any workspace, with its secret's hash."""

    key_id: str

    def answer(self, store: Store) -> Awaitable[tuple[ApiKey, str] | None]:
        return store.read_api_key(self.key_id)


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class ReadApiKeys(StoreRequest["list[ApiKey]"]):
    workspace: str

    def answer(self, store: Store) -> Awaitable[list[ApiKey]]:
        return store.read_api_keys(self.workspace)


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class RotateApiKey(StoreRequest[None]):
    workspace: str
    key_id: str
    secret_hash: str

    def answer(self, store: Store) -> Awaitable[None]:
        return store.rotate_api_key(self.workspace, self.key_id, self.secret_hash)


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class RevokeApiKey(StoreRequest[None]):
    workspace: str
    key_id: str

    def answer(self, store: Store) -> Awaitable[None]:
        return store.revoke_api_key(self.workspace, self.key_id)


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class CreateRole(StoreRequest[bool]):
    """False when the workspace has a role of that name already."""

    workspace: str
    role: Role
    created: datetime

    def answer(self, store: Store) -> Awaitable[bool]:
        return store.workspaces.create_role(self.workspace, self.role, self.created)


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class ReadRoles(StoreRequest["list[Role]"]):
    workspace: str

    def answer(self, store: Store) -> Awaitable[list[Role]]:
        return store.workspaces.read_roles(self.workspace)


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class DeleteRole(StoreRequest[str]):
    """Answered "deleted", "missing", or "in use"."""

    workspace: str
    name: str

    def answer(self, store: Store) -> Awaitable[str]:
        return store.workspaces.delete_role(self.workspace, self.name)


# -- workspaces ----------------------------------------------------------------------------


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class CreateWorkspace(StoreRequest[bool]):
    """False when a workspace has its name already."""

    commits_first: ClassVar[bool] = True
    created: Workspace

    def answer(self, store: Store) -> Awaitable[bool]:
        return store.workspaces.create(self.created)


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class ReadWorkspaces(StoreRequest["list[Workspace]"]):
    commits_first: ClassVar[bool] = True

    def answer(self, store: Store) -> Awaitable[list[Workspace]]:
        return store.workspaces.read_all()


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class RenameWorkspace(StoreRequest[str]):
    """Answered "renamed", "missing" or "taken", after the journal's writes."""

    commits_first: ClassVar[bool] = True
    old: str
    new: str

    def answer(self, store: Store) -> Awaitable[str]:
        return store.workspaces.rename(self.old, self.new)


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class DeleteWorkspace(StoreRequest[None]):
    """Delete a workspace and everything of it, after the journal's writes."""

    commits_first: ClassVar[bool] = True
    name: str

    def answer(self, store: Store) -> Awaitable[None]:
        return store.workspaces.delete(self.name)


# -- the audit log -------------------------------------------------------------------------


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class AppendAudit(StoreRequest["tuple[int, str] | None"]):
    """None once written; else the chain's head, which another writer moved from `after`."""

    chain: str
    records: Sequence[AuditRecord]
    after: tuple[int, str]

    def answer(self, store: Store) -> Awaitable[tuple[int, str] | None]:
        return store.audit.append(self.chain, self.records, after=self.after)


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class ReadAuditHead(StoreRequest["tuple[int, str] | None"]):
    chain: str

    def answer(self, store: Store) -> Awaitable[tuple[int, str] | None]:
        return store.audit.head(self.chain)


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class ReadAuditRecord(StoreRequest["AuditRecord | None"]):
    chain: str
    seq: int

    def answer(self, store: Store) -> Awaitable[AuditRecord | None]:
        return store.audit.read_one(self.chain, self.seq)


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class ReadAudit(StoreRequest["list[AuditRecord]"]):
    chain: str
    since: datetime | None = None
    until: datetime | None = None
    action: str | None = None
    key_id: str | None = None
    after_seq: int = 0
    limit: int | None = None
    offset: int = 0

    def answer(self, store: Store) -> Awaitable[list[AuditRecord]]:
        return store.audit.read(
            self.chain,
            since=self.since,
            until=self.until,
            action=self.action,
            key_id=self.key_id,
            after_seq=self.after_seq,
            limit=self.limit,
            offset=self.offset,
        )


# -- the cache index and results -----------------------------------------------------------


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class PutCacheEntry(StoreRequest[None]):
    entry: CacheEntry

    def answer(self, store: Store) -> Awaitable[None]:
        return store.cache.put_entry(self.entry)


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class ReadCacheEntry(StoreRequest["CacheEntry | None"]):
    workspace: str
    key: str

    def answer(self, store: Store) -> Awaitable[CacheEntry | None]:
        return store.cache.read_entry(self.workspace, self.key)


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class ReadCacheEntries(StoreRequest["list[CacheEntry]"]):
    workspace: str
    task_name: str | None = None
    limit: int | None = None
    offset: int = 0

    def answer(self, store: Store) -> Awaitable[list[CacheEntry]]:
        return store.cache.read_entries(
            self.workspace, task_name=self.task_name, limit=self.limit, offset=self.offset
        )


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class ReadCacheEntryOfRun(StoreRequest["CacheEntry | None"]):
    """The entry that holds a task run's result (linked to the run in a group commit)."""

    commits_first: ClassVar[bool] = True
    workspace: str
    task_run_id: str

    def answer(self, store: Store) -> Awaitable[CacheEntry | None]:
        return store.cache.read_entry_of_run(self.workspace, self.task_run_id)


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class ReadExpiredCacheEntries(StoreRequest["list[CacheEntry]"]):
    workspace: str
    now: datetime
    limit: int

    def answer(self, store: Store) -> Awaitable[list[CacheEntry]]:
        return store.cache.read_expired(self.workspace, self.now, self.limit)


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class DeleteCacheEntries(StoreRequest[None]):
    entries: Sequence[CacheEntry]

    def answer(self, store: Store) -> Awaitable[None]:
        return store.cache.delete_entries(self.entries)


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class PutResult(StoreRequest[None]):
    location: str
    data: bytes

    def answer(self, store: Store) -> Awaitable[None]:
        return store.cache.put_result(self.location, self.data)


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class ReadResult(StoreRequest["bytes | None"]):
    location: str

    def answer(self, store: Store) -> Awaitable[bytes | None]:
        return store.cache.read_result(self.location)


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class DeleteResult(StoreRequest[None]):
    location: str

    def answer(self, store: Store) -> Awaitable[None]:
        return store.cache.delete_result(self.location)
