"""A real store in this process's memory: the `Store` protocol with the semantics of the SQL
stores (ordering, paging, filters, workspaces kept apart, compare-and-set updates, a group
commit written whole or not at all), for tests of the engine and of users' own code.

Thread-safe: one lock around every method, none of which waits while holding it. Values are
kept as the SQL stores keep them (times to the microsecond in UTC, parameters as JSON, free
text spelled out where a database would refuse it), so what reads back is what a database
would give back. Everything is gone when the store is.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Generic, TypeVar, final

from .._errors import StorageError
from .._records import CacheEntry, FlowRun, LogRecord, State, TaskRun, utc_now
from .._states import TERMINAL_TYPES, StateType
from .._tenancy_records import GENESIS, ApiKey, AuditRecord, Role, Workspace
from .._text import text
from ._rows import format_time, parse_time

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence
    from datetime import datetime

    from .._references import RunReference
    from ._rows import Progress, WriteBatch

T = TypeVar("T")
_NAME: Final = "the memory store"
#: The database URL of a runtime on a memory store of its own (`Runtime("memory://")`).
MEMORY_URL: Final = "memory://"


def is_memory_url(url: str) -> bool:
    return url.partition(":")[0].lower() == "memory"


def _time(value: datetime) -> datetime:
    """`value` as a database gives it back: UTC, to the microsecond."""
    stored = parse_time(format_time(value))
    assert stored is not None
    return stored


def _maybe_time(value: datetime | None) -> datetime | None:
    return None if value is None else _time(value)


def _page(items: Iterable[T], limit: int | None, offset: int) -> list[T]:
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    if offset < 0:
        raise ValueError(f"offset must be >= 0, got {offset}")
    found = list(items)
    return found[offset:] if limit is None else found[offset : offset + limit]


def _stored_state(state: State, *, in_history: bool = False) -> State:
    """`state` as stored: a run's own holds no traceback, a row of its history does."""
    return State(
        type=state.type,
        name=state.name,
        run_id=state.run_id,
        timestamp=_time(state.timestamp),
        message=text(state.message),
        _traceback=text(state.traceback) if in_history else None,
    )


R = TypeVar("R", FlowRun, TaskRun)


@dataclass(slots=True, kw_only=True)
class _Run(Generic[R]):
    """A flow run's or task run's row: the record, its parameters kept as JSON (so that each
    read gives a fresh copy), the owner of a flow run, the flow run of a task run."""

    record: R
    parameters: str
    workspace: str
    owner: str | None = None
    flow_run_id: str | None = None

    @classmethod
    def of(
        cls, run: R, progress: Progress, *, owner: str | None = None, flow_run_id: str | None = None
    ) -> _Run[R]:
        state, run_count, start_time, end_time = progress
        record = dataclasses.replace(
            run,
            name=text(run.name) or "",
            state=_stored_state(state),
            parameters={},
            run_count=run_count,
            start_time=_maybe_time(start_time),
            end_time=_maybe_time(end_time),
            created=_time(run.created),
        )
        return cls(
            record=record,
            parameters=json.dumps(run.parameters),
            workspace=run.workspace,
            owner=owner,
            flow_run_id=flow_run_id,
        )

    @property
    def order(self) -> tuple[datetime, str]:
        return (self.record.created, self.record.id)

    def read(self) -> R:
        return dataclasses.replace(self.record, parameters=json.loads(self.parameters))


@dataclass(slots=True, kw_only=True)
class _StateRow:
    workspace: str
    state: State


@dataclass(slots=True, kw_only=True)
class _KeyRow:
    key: ApiKey
    secret_hash: str


@final
class MemoryStore:
    """See the module's docstring. `open` it before use; `close` refuses what follows."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._is_open = False
        self._flow_runs: dict[str, _Run[FlowRun]] = {}
        self._task_runs: dict[str, _Run[TaskRun]] = {}
        self._states: list[_StateRow] = []
        self._logs: list[LogRecord] = []
        self._owners: set[str] = set()
        self._idempotency: dict[tuple[str, str], tuple[str, str]] = {}  # -> (run id, hash)
        self._results: dict[str, tuple[str, str]] = {}  # task run id -> (workspace, cache key)
        self._keys: dict[str, _KeyRow] = {}
        self._roles: dict[tuple[str, str], Role] = {}
        self._workspaces: dict[str, Workspace] = {}
        self._chains: dict[str, list[AuditRecord]] = {}
        self._entries: dict[tuple[str, str], CacheEntry] = {}
        self._blobs: dict[str, bytes] = {}
        self.audit = _MemoryAuditLog(self)
        self.cache = _MemoryCacheIndex(self)
        self.workspaces = _MemoryWorkspaces(self)

    @property
    def writes_on_any_backend(self) -> bool:
        return True

    def reading(self) -> threading.Lock:
        """The lock, once the store is open (else StorageError): `with store.reading():`."""
        if not self._is_open:
            raise StorageError(f"cannot read {_NAME}: it is not open")
        return self._lock

    def writing(self) -> threading.Lock:
        if not self._is_open:
            raise StorageError(f"cannot write to {_NAME}: it is not open")
        return self._lock

    async def open(self) -> None:
        self._is_open = True

    async def close(self) -> None:
        self._is_open = False

    async def ping(self) -> None:
        with self.reading():
            pass

    # -- runs, states and logs -----------------------------------------------------------

    async def write(self, batch: WriteBatch, *, owner: str) -> None:
        # Every row is made before any is kept: a batch that cannot be written leaves no trace.
        flow_runs = [_Run.of(run, now, owner=owner) for run, now in batch.flow_runs.values()]
        task_runs = [
            _Run.of(run, now, flow_run_id=run.flow_run_id) for run, now in batch.task_runs.values()
        ]
        states = [
            _StateRow(workspace=ws, state=_stored_state(s, in_history=True))
            for ws, s in batch.states
        ]
        logs = [
            dataclasses.replace(
                log,
                logger=text(log.logger) or "",
                message=text(log.message) or "",
                timestamp=_time(log.timestamp),
            )
            for log in batch.logs
        ]
        links = {link[0]: link for link in batch.results}  # the last of a task run wins
        if any(not all(isinstance(part, str) for part in link) for link in links.values()):
            raise StorageError(f"cannot write to {_NAME}: a result link lacks a part")
        with self.writing():
            self._flow_runs.update((row.record.id, row) for row in flow_runs)
            self._task_runs.update((row.record.id, row) for row in task_runs)
            self._states += states
            self._logs += logs
            for task_run_id, workspace, key in links.values():
                self._link(task_run_id, workspace, key)

    def _link(self, task_run_id: str, workspace: str, key: str) -> None:
        kept = self._results.get(task_run_id)  # as the SQL upsert: only the key changes
        self._results[task_run_id] = (workspace if kept is None else kept[0], key)

    async def read_flow_run(self, workspace: str, run_id: str) -> FlowRun | None:
        with self.reading():
            row = self._flow_runs.get(run_id)
            return row.read() if row is not None and row.workspace == workspace else None

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
        checks: list[Callable[[FlowRun], bool]] = []
        if flow_name is not None:
            checks.append(lambda run: run.flow_name == flow_name)
        if state_type is not None:
            checks.append(lambda run: run.state.type == state_type)
        if state_name is not None:
            checks.append(lambda run: run.state.name == state_name)
        if parent_flow_run_id is not None:
            checks.append(lambda run: run.parent_flow_run_id == parent_flow_run_id)
        if created_after is not None:
            checks.append(lambda run: run.created >= created_after)
        if created_before is not None:
            checks.append(lambda run: run.created < created_before)
        if after is not None:  # a keyset: what follows (created, id) in the order below
            cursor = (_time(after[0]), after[1])
            if newest_first:
                checks.append(lambda run: (run.created, run.id) < cursor)
            else:
                checks.append(lambda run: (run.created, run.id) > cursor)
        with self.reading():
            rows = sorted(
                (
                    row
                    for row in self._flow_runs.values()
                    if row.workspace == workspace and all(check(row.record) for check in checks)
                ),
                key=lambda row: row.order,
                reverse=newest_first,
            )
            return [row.read() for row in _page(rows, limit, offset)]

    async def read_task_runs(
        self, workspace: str, flow_run_id: str, *, limit: int | None = None, offset: int = 0
    ) -> list[TaskRun]:
        with self.reading():
            rows = sorted(
                (
                    row
                    for row in self._task_runs.values()
                    if row.workspace == workspace and row.flow_run_id == flow_run_id
                ),
                key=lambda row: row.order,
            )
            return [row.read() for row in _page(rows, limit, offset)]

    async def read_task_run(self, workspace: str, run_id: str) -> TaskRun | None:
        with self.reading():
            row = self._task_runs.get(run_id)
            return row.read() if row is not None and row.workspace == workspace else None

    async def find_flow_runs(
        self, workspace: str, reference: RunReference, *, limit: int
    ) -> list[FlowRun]:
        with self.reading():
            return _found(self._flow_runs.values(), workspace, reference, limit)

    async def find_task_runs(
        self, workspace: str, reference: RunReference, *, limit: int
    ) -> list[TaskRun]:
        with self.reading():
            return _found(self._task_runs.values(), workspace, reference, limit)

    async def read_state_history(self, workspace: str, run_id: str) -> list[State]:
        with self.reading():
            return [
                row.state
                for row in self._states
                if row.workspace == workspace and row.state.run_id == run_id
            ]

    async def read_logs(
        self,
        workspace: str,
        flow_run_id: str,
        *,
        task_run_id: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[LogRecord]:
        with self.reading():
            logs = [
                log
                for log in self._logs
                if log.workspace == workspace
                and log.flow_run_id == flow_run_id
                and (task_run_id is None or log.task_run_id == task_run_id)
            ]
        return _page(logs, limit, offset)

    async def claim_idempotency_key(
        self, workspace: str, key: str, request_hash: str, flow_run_id: str
    ) -> tuple[str, str]:
        with self.writing():
            held = self._idempotency.setdefault(
                (workspace, text(key) or ""), (flow_run_id, request_hash)
            )
        return held

    async def release_idempotency_key(self, workspace: str, key: str) -> None:
        with self.writing():
            self._idempotency.pop((workspace, text(key) or ""), None)

    # -- owners --------------------------------------------------------------------------

    async def register_owner(self, owner: str) -> None:
        with self.writing():
            self._owners.add(owner)

    async def unregister_owner(self, owner: str) -> None:
        with self.writing():
            self._owners.discard(owner)

    async def other_owners(self, owner: str) -> list[str]:
        with self.reading():
            busy = {
                row.owner
                for row in self._flow_runs.values()
                if row.owner is not None and row.record.state.type not in TERMINAL_TYPES
            }
            return sorted((self._owners | busy) - {owner})

    async def is_owner_alive(self, owner: str) -> bool:
        """Every runtime on a memory store lives in this process: alive while registered."""
        with self.reading():
            return owner in self._owners

    async def crash_runs_of(self, owner: str, message: str) -> list[str]:
        now = _time(utc_now())
        pending: list[_StateRow] = []
        crashed: list[_StateRow] = []

        def end(rows: Sequence[_Run[FlowRun]] | Sequence[_Run[TaskRun]]) -> list[str]:
            ended = []
            for row in rows:
                state = row.record.state
                if state.type in TERMINAL_TYPES:
                    continue  # a compare-and-set: finished meanwhile, left alone
                if state.type is StateType.SCHEDULED:  # waiting to retry: through Pending
                    pending.append(self._state_row(row, "Pending", message, now))
                crashed.append(self._state_row(row, "Crashed", message, now))
                row.record = dataclasses.replace(row.record, state=crashed[-1].state, end_time=now)
                ended.append(row.record.id)
            return ended

        with self.writing():
            flows = end([row for row in self._flow_runs.values() if row.owner == owner])
            ended = set(flows)
            end([row for row in self._task_runs.values() if row.flow_run_id in ended])
            self._states += pending + crashed  # every Pending before every Crashed
            self._owners.discard(owner)
        return sorted(flows)

    @staticmethod
    def _state_row(
        row: _Run[FlowRun] | _Run[TaskRun], name: str, message: str, now: datetime
    ) -> _StateRow:
        return _StateRow(
            workspace=row.workspace,
            state=State.named(name, row.record.id, message=text(message), timestamp=now),
        )

    # -- API keys ------------------------------------------------------------------------

    async def insert_api_key(self, key: ApiKey, secret_hash: str) -> None:
        stored = dataclasses.replace(
            key,
            name=text(key.name) or "",
            created=_time(key.created),
            expires=_maybe_time(key.expires),
            revoked=_maybe_time(key.revoked),
        )
        with self.writing():
            if key.id in self._keys:
                raise StorageError(f"cannot write to {_NAME}: a key with id {key.id} exists")
            self._keys[key.id] = _KeyRow(key=stored, secret_hash=secret_hash)

    async def read_api_key(self, key_id: str) -> tuple[ApiKey, str] | None:
        with self.reading():
            row = self._keys.get(key_id)
            return None if row is None else (row.key, row.secret_hash)

    async def read_api_keys(self, workspace: str) -> list[ApiKey]:
        with self.reading():
            keys = [row.key for row in self._keys.values() if row.key.workspace == workspace]
        return sorted(keys, key=lambda key: (key.created, key.id))

    async def rotate_api_key(self, workspace: str, key_id: str, secret_hash: str) -> None:
        with self.writing():
            row = self._working_key(workspace, key_id)
            if row is not None:
                row.secret_hash = secret_hash

    async def revoke_api_key(self, workspace: str, key_id: str) -> None:
        now = _time(utc_now())
        with self.writing():
            row = self._working_key(workspace, key_id)
            if row is not None:
                row.key = dataclasses.replace(row.key, revoked=now)

    def _working_key(self, workspace: str, key_id: str) -> _KeyRow | None:
        row = self._keys.get(key_id)
        if row is None or row.key.workspace != workspace or row.key.revoked is not None:
            return None
        return row


@final
class _MemoryAuditLog:
    def __init__(self, store: MemoryStore) -> None:
        self._store = store

    async def append(
        self, chain: str, records: Sequence[AuditRecord], *, after: tuple[int, str]
    ) -> tuple[int, str] | None:
        stored = [
            dataclasses.replace(
                record,
                at=_time(record.at),
                key_name=text(record.key_name),
                target=text(record.target) or "",
                request_id=text(record.request_id) or "",
                client=text(record.client) or "",
            )
            for record in records
        ]
        with self._store.writing():
            kept = self._store._chains.setdefault(chain, [])
            head = (kept[-1].seq, kept[-1].hash) if kept else (0, GENESIS)
            if head != after:
                return head  # another writer moved the head: nothing written
            seen = {record.seq for record in kept}
            if any(record.seq in seen for record in stored):
                raise StorageError(f"cannot write to {_NAME}: a place of chain {chain!r} is taken")
            kept += stored
        return None

    async def head(self, chain: str) -> tuple[int, str] | None:
        with self._store.reading():
            kept = self._store._chains.get(chain)
            return (kept[-1].seq, kept[-1].hash) if kept else None

    async def read_one(self, chain: str, seq: int) -> AuditRecord | None:
        with self._store.reading():
            kept = self._store._chains.get(chain, [])
            return next((record for record in kept if record.seq == seq), None)

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
    ) -> list[AuditRecord]:
        with self._store.reading():
            kept = list(self._store._chains.get(chain, []))
        found = (
            record
            for record in kept
            if record.seq > after_seq
            and (since is None or record.at >= since)
            and (until is None or record.at < until)
            and (action is None or record.action == action)
            and (key_id is None or record.key_id == key_id)
        )
        return _page(found, limit, offset)


@final
class _MemoryCacheIndex:
    def __init__(self, store: MemoryStore) -> None:
        self._store = store

    async def put_entry(self, entry: CacheEntry) -> None:
        stored = dataclasses.replace(
            entry,
            task_name=text(entry.task_name) or "",
            location=text(entry.location) or "",
            created=_time(entry.created),
            expires=_maybe_time(entry.expires),
        )
        with self._store.writing():
            self._store._entries[entry.workspace, entry.key] = stored
            self._store._link(entry.task_run_id, entry.workspace, entry.key)

    async def read_entry(self, workspace: str, key: str) -> CacheEntry | None:
        with self._store.reading():
            return self._store._entries.get((workspace, key))

    async def read_entries(
        self,
        workspace: str,
        *,
        task_name: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[CacheEntry]:
        with self._store.reading():
            entries = [
                entry
                for (ws, _), entry in self._store._entries.items()
                if ws == workspace and (task_name is None or entry.task_name == task_name)
            ]
        return _page(sorted(entries, key=lambda e: (e.created, e.key)), limit, offset)

    async def read_entry_of_run(self, workspace: str, task_run_id: str) -> CacheEntry | None:
        with self._store.reading():
            link = self._store._results.get(task_run_id)
            if link is None or link[0] != workspace:
                return None
            return self._store._entries.get(link)

    async def read_expired(self, workspace: str, now: datetime, limit: int) -> list[CacheEntry]:
        with self._store.reading():
            expired = [
                entry
                for (ws, _), entry in self._store._entries.items()
                if ws == workspace and entry.expires is not None and entry.expires <= now
            ]
        return _page(sorted(expired, key=lambda e: e.expires or now), limit, 0)

    async def delete_entries(self, entries: Sequence[CacheEntry]) -> None:
        with self._store.writing():
            kept = self._store._entries
            for entry in entries:
                found = kept.get((entry.workspace, entry.key))
                if found is not None and found.created == _time(entry.created):
                    del kept[entry.workspace, entry.key]  # still the one of its key

    async def put_result(self, location: str, data: bytes) -> None:
        with self._store.writing():
            self._store._blobs[location] = bytes(data)

    async def read_result(self, location: str) -> bytes | None:
        with self._store.reading():
            return self._store._blobs.get(location)

    async def delete_result(self, location: str) -> None:
        with self._store.writing():
            self._store._blobs.pop(location, None)


@final
class _MemoryWorkspaces:
    def __init__(self, store: MemoryStore) -> None:
        self._store = store

    async def create(self, workspace: Workspace) -> bool:
        with self._store.writing():
            if workspace.name in self._store._workspaces:
                return False
            self._store._workspaces[workspace.name] = dataclasses.replace(
                workspace, created=_time(workspace.created)
            )
        return True

    async def read_all(self) -> list[Workspace]:
        with self._store.reading():
            return sorted(self._store._workspaces.values(), key=lambda ws: ws.name)

    async def delete(self, name: str) -> None:
        with self._store.writing():
            self._move(name, None)

    async def rename(self, old: str, new: str) -> str:
        with self._store.writing():
            if old not in self._store._workspaces:
                return "missing"
            if self._holds(new):  # a name in use, with a workspace or data without one
                return "taken"
            self._move(old, new)
        return "renamed"

    def _holds(self, name: str) -> bool:
        """Whether anything is of workspace `name`: the workspace, or data without one."""
        s = self._store
        return (
            name in s._workspaces
            or name in s._chains
            or any(row.workspace == name for row in s._flow_runs.values())
            or any(row.workspace == name for row in s._task_runs.values())
            or any(row.workspace == name for row in s._states)
            or any(log.workspace == name for log in s._logs)
            or any(ws == name for ws, _ in (*s._idempotency, *s._roles, *s._entries))
            or any(ws == name for ws, _ in s._results.values())
            or any(row.key.workspace == name for row in s._keys.values())
        )

    def _move(self, old: str, new: str | None) -> None:
        """Give everything of workspace `old` the name `new`; None: remove it all."""
        s = self._store
        gone = new is None
        name = old if new is None else new
        _move_runs(s._flow_runs, old, new)
        _move_runs(s._task_runs, old, new)
        s._states = [row for row in s._states if not (gone and row.workspace == old)]
        for state_row in s._states:
            if state_row.workspace == old:
                state_row.workspace = name
        s._logs = [
            dataclasses.replace(log, workspace=name) if log.workspace == old else log
            for log in s._logs
            if not (gone and log.workspace == old)
        ]
        s._idempotency = {
            (name if ws == old else ws, key): held
            for (ws, key), held in s._idempotency.items()
            if not (gone and ws == old)
        }
        s._roles = {
            (name if ws == old else ws, role_name): role
            for (ws, role_name), role in s._roles.items()
            if not (gone and ws == old)
        }
        s._entries = {
            (name, key) if ws == old else (ws, key): (
                dataclasses.replace(entry, workspace=name) if ws == old else entry
            )
            for (ws, key), entry in s._entries.items()
            if not (gone and ws == old)
        }
        s._results = {
            run_id: (name if ws == old else ws, key)
            for run_id, (ws, key) in s._results.items()
            if not (gone and ws == old)
        }
        for key_id, key_row in list(s._keys.items()):
            if key_row.key.workspace == old:
                if gone:
                    del s._keys[key_id]
                else:
                    key_row.key = dataclasses.replace(key_row.key, workspace=name)
        chain = s._chains.pop(old, None)
        if chain is not None and not gone:
            s._chains[name] = [dataclasses.replace(record, chain=name) for record in chain]
        workspace = s._workspaces.pop(old, None)
        if workspace is not None and not gone:
            s._workspaces[name] = dataclasses.replace(workspace, name=name)

    async def create_role(self, workspace: str, role: Role, created: datetime) -> bool:
        with self._store.writing():
            if (workspace, role.name) in self._store._roles:
                return False
            self._store._roles[workspace, role.name] = Role(
                name=role.name, scopes=frozenset(role.scopes)
            )
        return True

    async def read_roles(self, workspace: str) -> list[Role]:
        with self._store.reading():
            roles = [role for (ws, _), role in self._store._roles.items() if ws == workspace]
        return sorted(roles, key=lambda role: role.name)

    async def delete_role(self, workspace: str, name: str) -> str:
        with self._store.writing():
            if (workspace, name) not in self._store._roles:
                return "missing"
            if any(
                row.key.workspace == workspace and row.key.role == name and row.key.revoked is None
                for row in self._store._keys.values()
            ):
                return "in use"  # by a key that still works, or may again
            del self._store._roles[workspace, name]
        return "deleted"


def _move_runs(runs: dict[str, _Run[R]], old: str, new: str | None) -> None:
    for run_id, run in list(runs.items()):
        if run.workspace != old:
            continue
        if new is None:
            del runs[run_id]
        else:
            run.workspace = new
            run.record = dataclasses.replace(run.record, workspace=new)


def _found(rows: Iterable[_Run[R]], workspace: str, reference: RunReference, limit: int) -> list[R]:
    """The runs among `rows` that `reference` may name, newest first (as the SQL stores)."""

    def named(run: R) -> bool:
        prefix, suffix = reference.id_prefix, reference.id_suffix
        return (
            run.name == reference.name
            or (prefix is not None and run.id.startswith(prefix))
            or (suffix is not None and run.id.endswith(suffix))
        )

    found = [row for row in rows if row.workspace == workspace and named(row.record)]
    found.sort(key=lambda row: row.order, reverse=True)
    return [row.read() for row in found[:limit]]
