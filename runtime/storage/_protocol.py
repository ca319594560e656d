"""What the runtime asks of storage: the `Store` protocol, grouped by concern. SQLite and
PostgreSQL (`SqlDatabase`) and memory (`MemoryStore`) implement it, and pass one contract
suite; the runtime reaches it only through typed requests (`_requests.py`), plain data that
the store actor answers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

    from .._records import CacheEntry, FlowRun, LogRecord, State, TaskRun
    from .._references import RunReference
    from .._states import StateType
    from .._tenancy_records import ApiKey, AuditRecord, Role, Workspace
    from ._rows import WriteBatch


class AuditLog(Protocol):
    """The audit log's chains of records, one per workspace and one for the server."""

    async def append(
        self, chain: str, records: Sequence[AuditRecord], *, after: tuple[int, str]
    ) -> tuple[int, str] | None:
        """Add `records` after the chain's head `after` (place, hash), unless another writer
        moved it: then nothing is written, and the head it found is returned."""
        ...

    async def head(self, chain: str) -> tuple[int, str] | None:
        """The place and hash of the chain's last record (None: no record yet)."""
        ...

    async def read_one(self, chain: str, seq: int) -> AuditRecord | None: ...

    async def read(
        self,
        chain: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        action: str | None = None,
        key_id: str | None = None,
        after_seq: int = 0,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[AuditRecord]: ...


class CacheIndex(Protocol):
    """Cache entries by key, and the results kept in the database."""

    async def put_entry(self, entry: CacheEntry) -> None: ...

    async def read_entry(self, workspace: str, key: str) -> CacheEntry | None: ...

    async def read_entries(
        self,
        workspace: str,
        *,
        task_name: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[CacheEntry]: ...

    async def read_entry_of_run(self, workspace: str, task_run_id: str) -> CacheEntry | None: ...

    async def read_expired(self, workspace: str, now: datetime, limit: int) -> list[CacheEntry]: ...

    async def delete_entries(self, entries: Sequence[CacheEntry]) -> None: ...

    async def put_result(self, location: str, data: bytes) -> None: ...

    async def read_result(self, location: str) -> bytes | None: ...

    async def delete_result(self, location: str) -> None: ...


class WorkspaceDirectory(Protocol):
    """Workspaces and their custom roles."""

    async def create(self, workspace: Workspace) -> bool:
        """Add the workspace unless one has its name (then False)."""
        ...

    async def read_all(self) -> list[Workspace]: ...

    async def delete(self, name: str) -> None: ...

    async def rename(self, old: str, new: str) -> str:
        """Rename a workspace and everything of it: "renamed", "missing" or "taken"."""
        ...

    async def create_role(self, workspace: str, role: Role, created: datetime) -> bool: ...

    async def read_roles(self, workspace: str) -> list[Role]: ...

    async def delete_role(self, workspace: str, name: str) -> str:
        """Delete a custom role: "deleted", "missing" or "in use"."""
        ...


class Store(Protocol):
    """Runs, their states and logs, idempotency keys, API keys, the owners of runs; the audit
    log, the cache index and the workspaces by concern."""

    @property
    def audit(self) -> AuditLog: ...

    @property
    def cache(self) -> CacheIndex: ...

    @property
    def workspaces(self) -> WorkspaceDirectory: ...

    @property
    def writes_on_any_backend(self) -> bool:
        """Whether `write` may be awaited on the caller's event loop whatever its backend
        (else through the store's asyncio runner, which the `databases` drivers need)."""
        ...

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def ping(self) -> None:
        """Return once the store has been read, or raise `StorageError`: for health checks."""
        ...

    # -- runs, states and logs: written in group commits, read by id or filter ------------

    async def write(self, batch: WriteBatch, *, owner: str) -> None:
        """Commit one group commit's rows in one transaction, the runs as owned by `owner`."""
        ...

    async def read_flow_run(self, workspace: str, run_id: str) -> FlowRun | None: ...

    async def read_flow_runs(
        self,
        workspace: str,
        *,
        flow_name: str | None = None,
        state_type: StateType | None = None,
        state_name: str | None = None,
        parent_flow_run_id: str | None = None,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        after: tuple[datetime, str] | None = None,
        newest_first: bool = False,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[FlowRun]:
        """Ordered by (created, id), or the reverse if `newest_first`; `after` is where the
        page before ended, in that order."""
        ...

    async def read_task_runs(
        self, workspace: str, flow_run_id: str, *, limit: int | None = None, offset: int = 0
    ) -> list[TaskRun]: ...

    async def read_task_run(self, workspace: str, run_id: str) -> TaskRun | None: ...

    async def find_flow_runs(
        self, workspace: str, reference: RunReference, *, limit: int
    ) -> list[FlowRun]:
        """The runs `reference` may name (by name, id prefix or id suffix), newest first."""
        ...

    async def find_task_runs(
        self, workspace: str, reference: RunReference, *, limit: int
    ) -> list[TaskRun]:
        """As `find_flow_runs`, of task runs."""
        ...

    async def read_state_history(self, workspace: str, run_id: str) -> list[State]: ...

    async def read_logs(
        self,
        workspace: str,
        flow_run_id: str,
        *,
        task_run_id: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[LogRecord]: ...

    async def claim_idempotency_key(
        self, workspace: str, key: str, request_hash: str, flow_run_id: str
    ) -> tuple[str, str]:
        """Give `key` to `flow_run_id` unless a run holds it already, atomically; return the
        holder's run id and request hash."""
        ...

    async def release_idempotency_key(self, workspace: str, key: str) -> None: ...

    # -- the owners of runs: live runtimes, and the runs of dead ones --------------------

    async def register_owner(self, owner: str) -> None: ...

    async def unregister_owner(self, owner: str) -> None: ...

    async def other_owners(self, owner: str) -> list[str]: ...

    async def is_owner_alive(self, owner: str) -> bool: ...

    async def crash_runs_of(self, owner: str, message: str) -> list[str]:
        """Mark the unfinished runs of a dead owner Crashed (a compare-and-set); return the
        flow run ids."""
        ...

    # -- API keys ------------------------------------------------------------------------

    async def insert_api_key(self, key: ApiKey, secret_hash: str) -> None: ...

    async def read_api_key(self, key_id: str) -> tuple[ApiKey, str] | None:
        """The key and its secret's hash."""
        ...

    async def read_api_keys(self, workspace: str) -> list[ApiKey]: ...

    async def rotate_api_key(self, workspace: str, key_id: str, secret_hash: str) -> None: ...

    async def revoke_api_key(self, workspace: str, key_id: str) -> None: ...
