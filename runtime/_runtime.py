"""`Runtime`: the whole workflow runtime embedded in the caller's event loop.

It owns an actor system with the store actor, the engine that runs flows and tasks, and a
supervisor of the runs it was asked to create (one `FlowRunActor` each). Reads and writes on
it are what the gateway will translate REST calls into.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import json
import os
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Final, Literal, TypeVar, final

import anyio
from anyio.lowlevel import current_token

from repertory.actors import (
    ActorNotFoundError,
    ActorStoppedError,
    Restart,
    SystemClock,
    open_actor_system,
)

from ._console import console_level, hide_logs, show_logs
from ._errors import (
    IdempotencyKeyReusedError,
    InvalidTransitionError,
    RunNotFoundError,
    RuntimeNotRunningError,
    StorageError,
    TooManyRunsError,
    WorkspaceBusyError,
    WorkspaceExistsError,
)
from ._records import is_run_id, new_id
from ._references import RunReference
from ._states import STATE_TYPES
from ._tenancy_records import Workspace
from ._text import check_text, text
from .cache._cache import (
    PURGE_EVERY,
)
from .cache._cached_task import CacheManagers
from .cache._result_storage import DatabaseStorage, LocalFileStorage, ResultStorage
from .cache._runtime_cache import CacheAccess
from .engine._engine import Engine
from .engine._flow_run import (
    CancelFlowRun,
    FlowDefinition,
    FlowRunActor,
    GetFlowRun,
    LiveRunSlot,
    WaitForFlowRun,
    flow_run_actor_name,
)
from .engine._parameters import bind_parameters, summarize
from .storage._asyncio_thread import AsyncioRunner
from .storage._liveness import SqliteOwnerLock, new_owner_id
from .storage._memory import MemoryStore, is_memory_url
from .storage._read_pool import ReadPool, read_pool_of
from .storage._requests import (
    ClaimIdempotencyKey,
    CreateWorkspace,
    DeleteWorkspace,
    FindFlowRuns,
    FindTaskRuns,
    Ping,
    ReadFlowRun,
    ReadFlowRuns,
    ReadLogs,
    ReadStateHistory,
    ReadTaskRun,
    ReadTaskRuns,
    ReadWorkspaces,
    ReleaseIdempotencyKey,
    RenameWorkspace,
    StoreRequest,
)
from .storage._sql import SqlDatabase, dialect_of, sqlite_path
from .storage._store import DEFAULT_MAX_PENDING_LOGS, Committer, Flush, Journal, StoreActor
from .tenancy._audit_keys import load_audit_keys
from .tenancy._runtime_audit import AuditAccess
from .tenancy._runtime_keys import KeysAccess
from .tenancy._workspace import Workspaces

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from datetime import datetime
    from types import TracebackType

    from repertory.actors import ActorRef, ActorSystem, Clock, Supervisor

    from ._records import FlowRun, LogRecord, State, TaskRun
    from ._states import StateType
    from .storage._protocol import Store

#: The runtime the current code runs under (set inside `async with Runtime(...)`).
current_runtime: Final[contextvars.ContextVar[Runtime | None]] = contextvars.ContextVar(
    "repertory_runtime", default=None
)

DEFAULT_WORKER_THREADS: Final = 16
_WORKSPACE_NAME: Final = re.compile(r"[A-Za-z0-9_.:-]{1,200}")
#: Runs created through `create_flow_run` that may be live at once (see `max_live_runs`).
DEFAULT_MAX_LIVE_RUNS: Final = 1_000
MAX_IDEMPOTENCY_KEY: Final = 200
T = TypeVar("T")


def repertory_home() -> Path:
    """`$REPERTORY_HOME`, or `~/.repertory`: the default database, results and audit keys."""
    return Path(os.environ.get("REPERTORY_HOME") or Path.home() / ".repertory")


def default_database_url() -> str:
    """`sqlite:///$REPERTORY_HOME/repertory.db`, where REPERTORY_HOME defaults to ~/.repertory."""
    return f"sqlite:///{repertory_home() / 'repertory.db'}"


def default_results_directory() -> Path:
    """`$REPERTORY_HOME/results`: where cached results are kept by default."""
    return repertory_home() / "results"


@final
class Runtime(AuditAccess, CacheAccess, KeysAccess):
    """The workflow runtime, embedded in the caller's event loop (asyncio or trio).

    Use it as an async context manager; flows called inside it run on it::

        async with Runtime("sqlite:///runs.db") as rt:
            result = await my_flow(3)
            runs = await rt.read_flow_runs()

    Args:
        database_url: `sqlite:///path` or `postgresql://...`; by default
            `$REPERTORY_HOME/repertory.db` (REPERTORY_HOME defaults to `~/.repertory`).
            `memory://` keeps everything in a store of this runtime's own, in memory, gone
            when it stops (for tests).
        workspace: the workspace runs are created in and read from by default.
        synchronous: SQLite's `synchronous` setting: `NORMAL` survives a killed process,
            `FULL` also a power cut.
        worker_threads: how many sync flow and task bodies may run in threads at once.
        max_pending_logs: log lines that may wait for the store; beyond that, lines are
            dropped and a stored notice says how many.
        max_live_runs: runs created through `create_flow_run` that may be live (not yet
            ended and durable) at once; beyond that, `create_flow_run` waits for one to end.
            Without the bound, runs created faster than they end would pile up in memory.
        max_live_runs_per_workspace: of those, how many one workspace may have; beyond
            that, `create_flow_run` raises TooManyRunsError (no bound when None).
        result_storage: where cached task results are kept: "local" (files under
            `$REPERTORY_HOME/results`, the default), "database" (this runtime's database),
            or any `ResultStorage`.
        clock: the clock retries wait on and expiry, limits and windows are judged by: the
            system's by default; tests pass a `FakeClock` to move time by hand.
        console: run log lines on stderr (`12:01:03 | INFO    | flow run 'crimson-otter' -
            ...`): True shows them from `REPERTORY_LOGGING_LEVEL` (INFO by default), a
            level ("DEBUG", `logging.WARNING`) from that level, False none (the runtime's
            own warnings still show). Ignored when the program configured logging itself.
    """

    def __init__(
        self,
        database_url: str | None = None,
        *,
        workspace: str = "default",
        synchronous: str = "NORMAL",
        worker_threads: int = DEFAULT_WORKER_THREADS,
        max_pending_logs: int = DEFAULT_MAX_PENDING_LOGS,
        max_live_runs: int = DEFAULT_MAX_LIVE_RUNS,
        max_live_runs_per_workspace: int | None = None,
        result_storage: ResultStorage | Literal["local", "database"] = "local",
        clock: Clock | None = None,
        console: int | str | bool = True,
    ) -> None:
        if not isinstance(result_storage, ResultStorage) and result_storage not in {
            "local",
            "database",
        }:
            raise ValueError(
                f"result_storage is 'local', 'database' or a ResultStorage, not {result_storage!r}"
            )
        if max_live_runs < 1:
            raise ValueError(f"max_live_runs must be >= 1, got {max_live_runs}")
        if max_live_runs_per_workspace is not None and max_live_runs_per_workspace < 1:
            raise ValueError(
                f"max_live_runs_per_workspace must be >= 1, got {max_live_runs_per_workspace}"
            )
        super().__init__()  # the parts' own state
        self.database_url = database_url or default_database_url()
        if not is_memory_url(self.database_url):
            dialect_of(self.database_url)  # an unsupported URL fails here, not at start
        check_text(workspace, "a workspace's name")
        self.workspace = workspace
        self._synchronous = synchronous
        self._worker_threads = worker_threads
        self._max_pending_logs = max_pending_logs
        self._max_live_runs = max_live_runs
        self._max_per_workspace = max_live_runs_per_workspace
        self._live_by_workspace: dict[str, int] = {}
        self._live_runs: anyio.Semaphore | None = None
        self._result_storage = result_storage
        self._clock: Clock = clock or SystemClock()
        self._console_level = console_level(console)  # a bad level fails here, not at start
        self._caches: CacheManagers | None = None
        self._workspaces: Workspaces | None = None
        self._stack: contextlib.AsyncExitStack | None = None
        self._engine: Engine | None = None
        self._store: ActorRef | None = None
        self._system: ActorSystem | None = None
        self._flow_runs: Supervisor | None = None
        self._context_token: contextvars.Token[Runtime | None] | None = None
        self._store_checked = -1.0  # when the store last read the database for check_store
        self._read_pool: ReadPool | None = None
        self._database: Store | None = None
        self._journal: Journal | None = None

    # -- lifetime --------------------------------------------------------------------------

    async def __aenter__(self) -> Runtime:
        if self._stack is not None:
            raise RuntimeError("this Runtime is already running")
        async with contextlib.AsyncExitStack() as stack:
            await self._start(stack)  # on failure, what started is stopped in reverse order
            self._stack = stack.pop_all()
        self._context_token = current_runtime.set(self)
        return self

    async def _start(self, stack: contextlib.AsyncExitStack) -> None:
        if show_logs(self._console_level):
            stack.callback(hide_logs, self._console_level)
        url = self.database_url
        owner = new_owner_id()
        database: Store
        runner = None  # a memory store answers on any loop, beside its one reader: itself
        if is_memory_url(url):
            database = MemoryStore()
        else:
            database = await self._open_sql(stack, url, owner)
            # The database's loop outlives the system, whose store actor still uses it on stop.
            runner = await stack.enter_async_context(AsyncioRunner())
            # Reads beside the store's connection; closed once the system (every reader) stopped.
            self._read_pool = read_pool_of(url)
            if self._read_pool is not None:
                stack.push_async_callback(self._read_pool.aclose)
        system = await stack.enter_async_context(open_actor_system(clock=self._clock))
        journal = Journal(max_pending_logs=self._max_pending_logs)
        self._database, self._journal = database, journal
        store = await system.spawn(
            lambda: StoreActor(database=database, runner=runner, journal=journal, owner=owner),
            name="store",
            mailbox_size=1_000_000,
        )
        # The runs created through `create_flow_run`: FlowRunActors, stopped (their runs end
        # Cancelled) before the store, which the system stops last as it started it first.
        self._flow_runs = await system.spawn_supervisor(name="flow-runs")
        self._live_runs = anyio.Semaphore(self._max_live_runs)
        committer = Committer(store, journal)
        journal.attach(committer.wake, current_token())
        self._system = system
        self._store = store
        self._caches = self._cache_managers(await system.spawn_supervisor(name="caches"))
        self._workspaces = Workspaces(
            supervisor=await system.spawn_supervisor(name="workspaces"),
            ask=self._ask,
            load_keys=lambda: load_audit_keys(repertory_home()),
            clock=self._clock,
        )
        self._engine = Engine(
            clock=self._clock,
            journal=journal,
            store=store,
            workspace=self.workspace,
            thread_limiter=anyio.CapacityLimiter(self._worker_threads),
            caches=self._caches,
        )
        # At exit the committer is cancelled; what it had not sent, the store's stop commits.
        task_group = await stack.enter_async_context(anyio.create_task_group())
        stack.callback(task_group.cancel_scope.cancel)
        task_group.start_soon(committer.serve, name="repertory committer")

    async def _open_sql(
        self, stack: contextlib.AsyncExitStack, url: str, owner: str
    ) -> SqlDatabase:
        """The SQL database of `url`, on SQLite with this runtime's liveness token held."""
        database = SqlDatabase(url, synchronous=self._synchronous)
        if database.dialect == "sqlite":
            lock = SqliteOwnerLock(url, owner)
            try:
                await anyio.to_thread.run_sync(_ensure_parent, url)
                await anyio.to_thread.run_sync(lock.acquire)
            except OSError as exc:
                raise StorageError(f"cannot open database {database.safe_url}: {exc}") from exc
            stack.push_async_callback(_shielded, lock.release)
        return database

    def _cache_managers(self, supervisor: Supervisor) -> CacheManagers:
        storages: dict[str, ResultStorage] = {
            "local": LocalFileStorage(default_results_directory()),
            "database": DatabaseStorage(self._ask),
        }
        chosen = self._result_storage
        if isinstance(chosen, ResultStorage):
            storages[chosen.name] = chosen
        else:
            chosen = storages[chosen]
        return CacheManagers(
            supervisor=supervisor,
            ask=self._ask,  # the index is written directly, never through the journal
            storage=chosen,
            storages=storages,
            clock=self._clock.utc_now,
            purge_every=PURGE_EVERY,
        )

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        stack, self._stack = self._stack, None
        if self._context_token is not None:
            with contextlib.suppress(ValueError):  # exited in another context
                current_runtime.reset(self._context_token)
            self._context_token = None
        self._engine = self._system = self._flow_runs = self._live_runs = self._caches = None
        self._workspaces = None
        if stack is not None:
            # Closed without the body's exception, so that it reaches the caller as it was
            # (never wrapped in an exception group by the task groups in the stack). Each
            # step that must run even for a cancelled caller shields itself.
            await stack.aclose()

    @property
    def clock(self) -> Clock:
        """The clock this runtime waits on and judges time by (a server's limits share it)."""
        return self._clock

    @property
    def engine(self) -> Engine:
        """The engine that runs flows and tasks (raises RuntimeNotRunningError when stopped)."""
        if self._engine is None:
            raise RuntimeNotRunningError
        return self._engine

    async def _ask(self, request: StoreRequest[T]) -> T:
        """The store actor's answer to `request` (after a commit, if the request's class
        says it `commits_first`)."""
        if self._store is None or self._engine is None:
            raise RuntimeNotRunningError
        return await self._store.ask(request)

    async def _read(self, request: StoreRequest[T], *, workspace: str | None = None) -> T:
        """A read on a reading connection of the pool, beside the store (never in line behind
        its commits or other reads). If its class says it `commits_first`, it sees everything
        of `workspace` (the runtime's by default) written before it: it waits for a commit
        only when writes of that workspace are pending or being committed."""
        store, pool, database = self._store, self._read_pool, self._database
        if store is None or self._engine is None or database is None:
            raise RuntimeNotRunningError
        if pool is None:  # an in-memory database: the store's one connection
            return await store.ask(request)
        journal = self._journal
        if (
            request.commits_first
            and journal is not None
            and not journal.is_settled(workspace or self.workspace)
        ):
            await store.ask(Flush())
        return await pool.read(lambda: request.answer(database))

    async def check_store(self) -> None:
        """Return once the store has read the database, or raise (blocks): for a health
        check. A success is trusted for a second, so that checks cost the store little.

        Raises:
            RuntimeNotRunningError: the runtime (or its store) has stopped.
            StorageError: the database cannot be read.
        """
        if self._engine is None:
            raise RuntimeNotRunningError
        now = time.monotonic()
        if now < self._store_checked + 1.0:
            return
        try:
            await self._ask(Ping())
        except ActorStoppedError:  # it gave up: its supervisor is failing the runtime
            raise RuntimeNotRunningError from None
        self._store_checked = now

    # -- reads -----------------------------------------------------------------------------

    async def read_flow_run(self, run_id: str, *, workspace: str | None = None) -> FlowRun:
        """The flow run `run_id` as stored (blocks).

        Raises:
            RunNotFoundError: no such run in the workspace.
        """
        live = self._live_run(run_id, workspace)
        if live is not None:  # the authority on a live run, fresher than the database
            with contextlib.suppress(ActorStoppedError):
                return await live.ask(GetFlowRun())
        ws = workspace or self.workspace
        run = await self._read(ReadFlowRun(workspace=ws, run_id=run_id), workspace=ws)
        if run is None:
            raise RunNotFoundError(run_id, ws)
        return run

    async def read_flow_runs(
        self,
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
        workspace: str | None = None,
    ) -> list[FlowRun]:
        """Flow runs, oldest first (newest first if `newest_first`), filtered by flow, state
        type or state name (`Late`, `AwaitingRetry`...); all that match unless `limit` is
        given (blocks).

        `created_after` is inclusive and `created_before` exclusive, so that consecutive
        windows neither miss nor repeat a run. Times without a zone are rejected. Page with
        `after`, the `(created, id)` of the last run of the page before (an index finds where
        it was, however deep), rather than `offset` (which reads and drops every run before).

        Raises:
            ValueError: a time without a zone, or an unknown state name.
        """
        for bound in (created_after, created_before):
            if bound is not None and bound.tzinfo is None:
                raise ValueError("created_after and created_before need a time zone")
        check_text(flow_name, "a flow's name")
        if state_name is not None:
            if state_name not in STATE_TYPES:
                raise ValueError(
                    f"unknown state name {state_name[:50]!r}: one of {', '.join(STATE_TYPES)}"
                )
            # Its type too, so that the index of state types narrows the search.
            state_type = state_type or STATE_TYPES[state_name]
        ws = workspace or self.workspace
        return await self._read(
            ReadFlowRuns(
                workspace=ws,
                flow_name=flow_name,
                state_type=state_type,
                state_name=state_name,
                parent_flow_run_id=parent_flow_run_id,
                created_after=created_after,
                created_before=created_before,
                after=after,
                newest_first=newest_first,
                limit=limit,
                offset=offset,
            ),
            workspace=ws,
        )

    async def read_task_runs(
        self,
        *,
        flow_run_id: str,
        limit: int | None = None,
        offset: int = 0,
        workspace: str | None = None,
    ) -> list[TaskRun]:
        """The task runs of a flow run, oldest first (blocks)."""
        ws = workspace or self.workspace
        return await self._read(
            ReadTaskRuns(workspace=ws, flow_run_id=flow_run_id, limit=limit, offset=offset),
            workspace=ws,
        )

    async def read_task_run(self, run_id: str, *, workspace: str | None = None) -> TaskRun:
        """The task run `run_id` as stored (blocks).

        Raises:
            RunNotFoundError: no such task run in the workspace.
        """
        ws = workspace or self.workspace
        run = await self._read(ReadTaskRun(workspace=ws, run_id=run_id), workspace=ws)
        if run is None:
            raise RunNotFoundError(run_id, ws)
        return run

    async def find_flow_runs(
        self, reference: str, *, limit: int = 10, workspace: str | None = None
    ) -> list[FlowRun]:
        """The flow runs `reference` may name, newest first, at most `limit` (blocks): by its
        exact name, a prefix of its id, or its id's last 6 or more hex digits. One run found
        is the one meant; several are candidates to tell apart. A NUL or a lone surrogate
        matches it as names store them, spelled out (`\\x00`).

        Raises:
            ValueError: `limit` is below 1.
        """
        ws = workspace or self.workspace
        found = FindFlowRuns(workspace=ws, reference=_reference(reference, limit), limit=limit)
        return await self._read(found, workspace=ws)

    async def find_task_runs(
        self, reference: str, *, limit: int = 10, workspace: str | None = None
    ) -> list[TaskRun]:
        """As `find_flow_runs`, of task runs (blocks)."""
        ws = workspace or self.workspace
        found = FindTaskRuns(workspace=ws, reference=_reference(reference, limit), limit=limit)
        return await self._read(found, workspace=ws)

    async def read_state_history(self, run_id: str, *, workspace: str | None = None) -> list[State]:
        """Every state of a flow run or task run, oldest first (blocks)."""
        ws = workspace or self.workspace
        return await self._read(ReadStateHistory(workspace=ws, run_id=run_id), workspace=ws)

    async def read_logs(
        self,
        *,
        flow_run_id: str,
        task_run_id: str | None = None,
        limit: int | None = None,
        offset: int = 0,
        workspace: str | None = None,
    ) -> list[LogRecord]:
        """The stored log lines of a flow run (or one of its task runs), oldest first (blocks)."""
        ws = workspace or self.workspace
        return await self._read(
            ReadLogs(
                workspace=ws,
                flow_run_id=flow_run_id,
                task_run_id=task_run_id,
                limit=limit,
                offset=offset,
            ),
            workspace=ws,
        )

    # -- writes ----------------------------------------------------------------------------

    async def create_flow_run(
        self,
        flow: FlowDefinition,
        parameters: Mapping[str, object] | None = None,
        *,
        workspace: str | None = None,
        idempotency_key: str | None = None,
    ) -> FlowRun:
        """Create a run of `flow` owned by this runtime, start it, and return it (Pending).

        The run goes on in its own `FlowRunActor`; see `wait_for_flow_run` (blocks until the
        run has been created). With an `idempotency_key`, the same request made again (the
        same flow and parameters, by any runtime on the database) returns the run the first
        one made instead of making another.

        Raises:
            ParameterValidationError: bad parameters; no run was created.
            IdempotencyKeyReusedError: the key was used for another flow or parameters.
            ValueError: an empty idempotency key, or one over 200 characters.
        """
        engine = self.engine
        supervisor, live_runs = self._flow_runs, self._live_runs
        assert supervisor is not None
        assert live_runs is not None
        options = flow.options
        values = bind_parameters(
            options.name, flow.fn, (), dict(parameters or {}), validate=options.validate_parameters
        )
        ws = workspace or self.workspace
        check_text(ws, "a workspace's name")
        check_text(idempotency_key, "an idempotency key")
        run_id = None
        if idempotency_key is not None:
            if not 0 < len(idempotency_key) <= MAX_IDEMPOTENCY_KEY:
                raise ValueError(f"an idempotency key has 1 to {MAX_IDEMPOTENCY_KEY} characters")
            run_id = new_id()
            request = _request_hash(options.name, values)
            holder, holder_request = await self._ask(
                ClaimIdempotencyKey(
                    workspace=ws, key=idempotency_key, request_hash=request, flow_run_id=run_id
                )
            )
            if holder != run_id:
                if holder_request != request:
                    raise IdempotencyKeyReusedError(idempotency_key, holder)
                return await self.read_flow_run(holder, workspace=ws)
        slot = LiveRunSlot(live_runs, self._live_by_workspace, ws)
        try:
            live = await slot.acquire()  # backpressure: wait while max_live_runs are live
            if self._max_per_workspace is not None and live > self._max_per_workspace:
                raise TooManyRunsError(ws, self._max_per_workspace)
            run = engine.new_flow_run(options, values, workspace=ws, run_id=run_id)
            created = run.record.as_stored()  # as it starts: it may be running once spawned
            await supervisor.spawn(
                lambda: FlowRunActor(engine, flow, run, slot=slot),
                name=flow_run_actor_name(run.base.workspace, run.id),
                restart=Restart.TEMPORARY,
            )
        except BaseException:
            slot.release()
            if idempotency_key is not None:  # the key must not point at a run never started
                with anyio.CancelScope(shield=True):
                    await self._ask(ReleaseIdempotencyKey(workspace=ws, key=idempotency_key))
            raise
        return created

    # -- workspaces ----------------------------------------------------------------------------

    async def create_workspace(self, name: str) -> Workspace:
        """Create a workspace (blocks). Runs, keys and caches of any name work without one; a
        server manages its tenants' as objects.

        Raises:
            ValueError: a name that is empty, too long or not made of A-Z a-z 0-9 _ . : -
            WorkspaceExistsError: there is one of that name.
        """
        if not _WORKSPACE_NAME.fullmatch(name):
            raise ValueError(
                f"a workspace's name has 1 to 200 of A-Z a-z 0-9 _ . : - , not {name[:50]!r}"
            )
        workspace = Workspace(name=name, created=self._clock.utc_now())
        if not await self._ask(CreateWorkspace(created=workspace)):
            raise WorkspaceExistsError(name)
        return workspace

    async def read_workspaces(self) -> list[Workspace]:
        """Every workspace created, by name (blocks)."""
        return await self._read(ReadWorkspaces())

    async def rename_workspace(self, name: str, new_name: str) -> Workspace:
        """Rename a workspace: its runs, keys (which go on working, under the new name),
        cache entries, roles and audit log follow (blocks).

        Raises:
            ValueError: a bad new name.
            LookupError: there is no workspace `name`.
            WorkspaceExistsError: there is one called `new_name`.
            WorkspaceBusyError: it has runs in progress here (actors know it by its name).
        """
        if not _WORKSPACE_NAME.fullmatch(new_name):
            raise ValueError(
                f"a workspace's name has 1 to 200 of A-Z a-z 0-9 _ . : - , not {new_name[:50]!r}"
            )
        live = self._live_by_workspace.get(name, 0)
        if live:
            raise WorkspaceBusyError(name, live)
        outcome = await self._ask(RenameWorkspace(old=name, new=new_name))
        if outcome == "missing":
            raise LookupError(f"no workspace {name!r}")
        if outcome == "taken":
            raise WorkspaceExistsError(new_name)
        self._forget_keys_of(name)
        if self._caches is not None:
            await self._caches.forget(name)
        if self._workspaces is not None:
            await self._workspaces.forget(name)
        [renamed] = [ws for ws in await self.read_workspaces() if ws.name == new_name]
        return renamed

    async def delete_workspace(self, name: str, *, force: bool = False) -> None:
        """Delete a workspace and everything of it: runs, task runs, states, logs, keys (which
        stop working at once), cache entries and results, and its audit log (blocks).

        Raises:
            WorkspaceBusyError: it has runs in progress here, and `force` is False; with
                `force`, they are cancelled first.
        """
        live = self._live_by_workspace.get(name, 0)
        if live and not force:
            raise WorkspaceBusyError(name, live)
        if live:
            for run in await self.read_flow_runs(workspace=name):
                if self._live_run(run.id, name) is not None:
                    with contextlib.suppress(InvalidTransitionError, RunNotFoundError):
                        await self.cancel_flow_run(run.id, workspace=name)
        caches = self._caches
        entries = await self.read_cache_entries(workspace=name)
        await self._ask(DeleteWorkspace(name=name))
        self._forget_keys_of(name)
        if caches is not None:
            for entry in entries:  # the results, once nothing points at them any more
                storage = caches.storages.get(entry.storage)
                if storage is not None:
                    with contextlib.suppress(Exception):
                        await storage.delete(entry.location)
            await caches.forget(name)
        if self._workspaces is not None:
            await self._workspaces.forget(name)

    def _running_caches(self) -> CacheManagers:
        if self._caches is None:
            raise RuntimeNotRunningError
        return self._caches

    def _running_workspaces(self) -> Workspaces:
        if self._workspaces is None:
            raise RuntimeNotRunningError
        return self._workspaces

    async def _workspace_ref(self, chain: str) -> ActorRef:
        if self._workspaces is None:
            raise RuntimeNotRunningError
        return await self._workspaces.ref(chain)

    def _live_run(self, run_id: str, workspace: str | None) -> ActorRef | None:
        """The actor of a run this runtime is running, if it is in the workspace asked about."""
        if self._system is None or not is_run_id(run_id):
            return None
        try:
            return self._system.lookup(flow_run_actor_name(workspace or self.workspace, run_id))
        except ActorNotFoundError:
            return None

    async def wait_for_flow_run(self, run_id: str, *, workspace: str | None = None) -> FlowRun:
        """Wait until the run ends (if this runtime runs it) and return it as stored (blocks)."""
        live = self._live_run(run_id, workspace)
        if live is not None:
            with contextlib.suppress(ActorStoppedError):  # it ended meanwhile: read it back
                return await live.ask(WaitForFlowRun())
        return await self.read_flow_run(run_id, workspace=workspace)

    async def cancel_flow_run(self, run_id: str, *, workspace: str | None = None) -> FlowRun:
        """Cancel a live run of this runtime; it ends Cancelled (blocks until it has).

        Raises:
            RunNotFoundError: no such run.
            InvalidTransitionError: the run has already ended.
        """
        live = self._live_run(run_id, workspace)
        if live is not None:
            with contextlib.suppress(ActorStoppedError):  # it ended meanwhile: see below
                return await live.ask(CancelFlowRun())
        run = await self.read_flow_run(run_id, workspace=workspace)
        raise InvalidTransitionError(run.state.name, "Cancelling", "the run is not live here")


def _request_hash(flow_name: str, parameters: Mapping[str, object]) -> str:
    """What an idempotency key's replays must match: the flow and its stored parameters."""
    request = json.dumps([flow_name, summarize(parameters)], sort_keys=True)
    return hashlib.sha256(request.encode()).hexdigest()


async def _shielded(release: Callable[[], None]) -> None:
    """Run a blocking release in a worker thread, even when the caller is being cancelled."""
    with anyio.CancelScope(shield=True):
        await anyio.to_thread.run_sync(release)


def _ensure_parent(url: str) -> None:
    path = sqlite_path(url)
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)


def _reference(reference: str, limit: int) -> RunReference:
    if limit < 1:
        raise ValueError(f"limit must be >= 1, got {limit}")
    return RunReference.of(text(reference) or "")
