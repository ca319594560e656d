"""SQLite and PostgreSQL through `databases`: connections, migrations, batched writes, reads.

Used by one task at a time: the store actor owns it. Bulk writes go through a driver
connection, since `databases`' own `execute_many` runs one statement per row. On PostgreSQL
(and in-memory SQLite) that is the one `databases` connection, on asyncio only. A SQLite file
gets a writer thread of its own for every statement of ours, and `databases` connects when it
is first asked to read, so that a runtime starts without importing it and SQLAlchemy.
"""

from __future__ import annotations

import contextlib
import functools
import os
import socket
from typing import TYPE_CHECKING, Final, TypeVar, final

import anyio

from .._errors import SchemaVersionError, StorageError
from .._records import FlowRun, LogRecord, State, TaskRun, utc_now
from .._states import TERMINAL_TYPES, StateType
from .._tenancy_records import ApiKey
from .._text import text
from ._audit_sql import AuditTables
from ._cache_sql import LINK_RESULT, CacheTables
from ._conflicts import storage_error
from ._one_statement import one_statement, one_statement_arguments
from ._read_pool import current_reader
from ._rows import (
    FLOW_RUN_FIELDS,
    UPSERT_FLOW_RUN,
    UPSERT_TASK_RUN,
    WriteBatch,
    finding,
    flow_run_from,
    flow_run_row,
    format_time,
    opt_str,
    parse_time,
    task_run_from,
    task_run_row,
    time_from,
    where,
)
from ._schema import BLOB, LATEST_VERSION, MIGRATIONS, SERIAL
from ._sqlite_writer import SqliteWriter
from ._workspace_sql import WorkspaceTables

if TYPE_CHECKING:
    import sqlite3
    from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
    from datetime import datetime

    import databases

    from .._references import RunReference

T = TypeVar("T")
#: What a group commit writes, statement by statement (the rows of `SqlDatabase.write`).
_GROUP_COMMIT: Final = (
    UPSERT_FLOW_RUN,
    UPSERT_TASK_RUN,
    "INSERT INTO states (workspace, run_id, type, name, message, timestamp, traceback) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)",
    "INSERT INTO logs (workspace, flow_run_id, task_run_id, level, logger, message, timestamp) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)",
    LINK_RESULT,
)
#: ... and as one statement, on PostgreSQL: one round trip.
_GROUP_COMMIT_AT_ONCE: Final = one_statement(_GROUP_COMMIT)

_FLOW_RUN_COLUMNS: Final = ", ".join(FLOW_RUN_FIELDS)
_TERMINAL_SQL: Final = ", ".join(f"'{t}'" for t in sorted(TERMINAL_TYPES))
_MIGRATION_LOCK: Final = 0x7265_7065_7274  # any constant: one migrator at a time on PostgreSQL


def _new_database(url: str) -> databases.Database:
    """Blocking, for a worker thread: the first import of `databases` reads many files.

    (A SQLite file is known to open by then: its writer thread opened it first.)
    """
    import databases

    return databases.Database(url)


def dialect_of(url: str) -> str:
    """`sqlite` or `postgresql`, from a database URL.

    Raises:
        StorageError: any other kind of URL.
    """
    scheme = url.partition(":")[0].partition("+")[0].lower()
    if scheme == "sqlite":
        return "sqlite"
    if scheme in {"postgresql", "postgres"}:
        return "postgresql"
    raise StorageError(
        f"unsupported database URL scheme {scheme!r}: use sqlite:// or postgresql:// "
        "(or memory://, a runtime's own store in memory)"
    )


def sqlite_path(url: str) -> str | None:
    """The file a `sqlite:///` URL names (None for an in-memory database)."""
    path = url.partition("://")[2]
    path = path.removeprefix("/").partition("?")[0]
    return None if path in {"", ":memory:"} else path


@final
class SqlDatabase:
    """Connections to SQLite or PostgreSQL, used by one task at a time."""

    def __init__(self, url: str, *, synchronous: str = "NORMAL") -> None:
        self.url = url
        self.dialect = dialect_of(url)
        if synchronous not in {"NORMAL", "FULL"}:
            raise ValueError(f"synchronous must be NORMAL or FULL, got {synchronous!r}")
        self._is_open = False
        self._database: databases.Database | None = None
        self._connection: databases.core.Connection | None = None
        # SQLite files: our statements go through a connection of the driver's own in a
        # worker thread, so that a whole group commit costs one hop to a thread, not one per
        # statement, and opening needs no `databases`.
        self._pragmas = (
            f"PRAGMA synchronous={synchronous}",
            "PRAGMA busy_timeout=5000",
            "PRAGMA foreign_keys=ON",
        )
        path = sqlite_path(url) if self.dialect == "sqlite" else None
        self._writer = SqliteWriter(path, self._pragmas) if path is not None else None
        self.cache = CacheTables(self)
        self.audit = AuditTables(self)
        self.workspaces = WorkspaceTables(self)

    @property
    def writes_on_any_backend(self) -> bool:
        """Whether `write` may be awaited on any backend (SQLite files: it hands the work to
        the writer's thread), rather than only on asyncio, as the drivers of `databases` need."""
        return self._writer is not None

    @property
    def safe_url(self) -> str:
        """The URL without its password, for messages."""
        if self.dialect == "sqlite":
            return self.url  # no password to hide, and no need to import `databases`
        from databases import DatabaseURL

        return DatabaseURL(self.url).obscure_password

    async def open(self) -> None:
        """Connect and bring the schema up to date (blocks).

        Raises:
            StorageError: the database cannot be opened.
            SchemaVersionError: the database was written by a newer repertory.
        """
        try:
            if self._writer is not None:
                await self._writer.open()
            else:
                await self._connect()
        except Exception as exc:
            raise StorageError(f"cannot open database {self.safe_url}: {exc}") from exc
        self._is_open = True
        try:
            await self._migrate()
        except BaseException:
            await self.close()
            raise

    async def _connect(self) -> databases.core.Connection:
        """The `databases` connection, connected on first use (blocks; asyncio only)."""
        if self._connection is not None:
            return self._connection
        url = self.url
        if self.dialect == "postgresql":
            url = "postgresql://" + url.partition("://")[2]  # the asyncpg driver either way
        database = await anyio.to_thread.run_sync(_new_database, url)
        await database.connect()
        connection = database.connection()
        try:
            await connection.__aenter__()
            for pragma in self._pragmas if self.dialect == "sqlite" else ():
                await connection.raw_connection.execute(pragma)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await database.disconnect()
            raise
        self._database = database
        self._connection = connection
        return connection

    async def close(self) -> None:
        connection, database = self._connection, self._database
        self._connection = self._database = None
        self._is_open = False
        if self._writer is not None:
            await self._writer.close()
        if connection is not None:
            await connection.__aexit__(None, None, None)
        if database is not None:
            await database.disconnect()

    # -- low level -------------------------------------------------------------------------

    def _check_open(self) -> None:
        if not self._is_open:
            raise StorageError(f"database {self.safe_url} is not open")

    async def _in_writer(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """`work(connection)` on a SQLite file's writer thread (blocks)."""
        assert self._writer is not None, "SQLite files only"
        self._check_open()
        return await self._writer.run(work)

    @property
    def _raw(self) -> object:
        """The `databases` connection's driver connection (not for SQLite files)."""
        self._check_open()
        assert self._connection is not None, "connected at open when there is no writer"
        return self._connection.raw_connection

    def _sql(self, statement: str) -> str:
        """`?` placeholders in the driver's own style."""
        if self.dialect == "sqlite" or "?" not in statement:
            return statement
        parts = statement.split("?")
        out = [parts[0]]
        for index, part in enumerate(parts[1:], start=1):
            out.append(f"${index}{part}")
        return "".join(out)

    async def _raw_execute(self, statement: str, args: Sequence[object] = ()) -> None:
        if self._writer is not None:
            await self._in_writer(lambda connection: connection.execute(statement, args))
            return
        raw = self._raw
        await raw.execute(self._sql(statement), *((args,) if self.dialect == "sqlite" else args))  # type: ignore[attr-defined]  # driver connection, untyped

    async def _raw_fetch(
        self, statement: str, args: Sequence[object] = ()
    ) -> list[tuple[object, ...]]:
        if self._writer is not None:
            return await self._in_writer(
                lambda connection: connection.execute(statement, args).fetchall()
            )
        raw = self._raw
        if self.dialect == "sqlite":
            async with raw.execute(statement, args) as cursor:  # type: ignore[attr-defined]  # aiosqlite
                return [tuple(row) for row in await cursor.fetchall()]
        rows = await raw.fetch(self._sql(statement), *args)  # type: ignore[attr-defined]  # asyncpg
        return [tuple(row) for row in rows]

    async def execute_rows(self, statement: str, args: Sequence[object] = ()) -> None:
        """One `?`-placeholder statement through the driver's connection (inside `atomically`)."""
        await self._raw_execute(statement, args)

    async def execute_many_rows(self, statement: str, rows: Iterable[Sequence[object]]) -> None:
        """One `?`-placeholder statement for each of `rows` (inside `atomically`)."""
        await self._raw_execute_many(statement, rows)

    async def fetch_rows(
        self, statement: str, args: Sequence[object] = ()
    ) -> list[tuple[object, ...]]:
        """Rows of a `?`-placeholder query through the driver's own connection: for hot reads,
        where compiling through SQLAlchemy would cost as much as the query. In a read of the
        read pool, through its connection."""
        reader = current_reader.get()
        try:
            if reader is not None:
                return await reader.fetch_rows(statement, args)
            return await self._raw_fetch(statement, args)
        except StorageError:
            raise
        except Exception as exc:
            raise StorageError(f"cannot read database {self.safe_url}: {exc}") from exc

    async def _raw_execute_many(self, statement: str, rows: Iterable[Sequence[object]]) -> None:
        rows = list(rows)
        if self._writer is not None:
            await self._in_writer(lambda connection: connection.executemany(statement, rows))
            return
        await self._raw.executemany(self._sql(statement), rows)  # type: ignore[attr-defined]  # driver connection, untyped

    async def _begin(self) -> None:
        # SQLite: take the write lock at once, so a read-then-write cannot fail on upgrade.
        await self._raw_execute("BEGIN IMMEDIATE" if self.dialect == "sqlite" else "BEGIN")

    @contextlib.asynccontextmanager
    async def atomically(self, doing: str) -> AsyncIterator[None]:
        """One transaction on the connection our statements use: committed, or rolled back
        and reported as a StorageError saying what it was `doing`."""
        try:
            await self._begin()
            yield
            await self._raw_execute("COMMIT")
        except Exception as exc:
            await self._rollback()
            raise storage_error(f"cannot {doing} database {self.safe_url}", exc) from exc

    async def transaction(self, work: Sequence[tuple[str, Sequence[Sequence[object]]]]) -> None:
        """Run statements (each with its rows) in one transaction."""
        if self._writer is not None:
            if not self._is_open:
                raise StorageError(f"cannot write to database {self.safe_url}: it is not open")
            await self._writer.run(functools.partial(self._write_in_thread, work=work))
            return
        async with self.atomically("write to"):
            for statement, rows in work:
                if rows:
                    await self._raw_execute_many(statement, rows)

    def _write_in_thread(
        self, writer: sqlite3.Connection, *, work: Sequence[tuple[str, Sequence[Sequence[object]]]]
    ) -> None:
        try:
            writer.execute("BEGIN IMMEDIATE")
            for statement, rows in work:
                if rows:
                    writer.executemany(statement, rows)
            writer.execute("COMMIT")
        except Exception as exc:
            if writer.in_transaction:
                writer.execute("ROLLBACK")
            raise storage_error(f"cannot write to database {self.safe_url}", exc) from exc

    async def _rollback(self) -> None:
        # Nothing to roll back is fine: the original error is the one that matters.
        with contextlib.suppress(Exception):
            await self._raw_execute("ROLLBACK")

    # -- schema ----------------------------------------------------------------------------

    async def schema_version(self) -> int:
        """The schema version the database holds (0 for an empty one)."""
        await self._raw_execute(
            "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)"
        )
        return await self._version()

    async def _version(self) -> int:
        rows = await self._raw_fetch("SELECT MAX(version) FROM schema_version")
        found = rows[0][0] if rows else None
        return int(str(found)) if found is not None else 0

    async def _migrate(self) -> None:
        found = await self.schema_version()
        if found > LATEST_VERSION:
            raise SchemaVersionError(self.safe_url, found, LATEST_VERSION)
        if self.dialect == "sqlite":
            # Written into the file: only once the database is known to be one of ours.
            await self._raw_execute("PRAGMA journal_mode=WAL")
        if found == LATEST_VERSION:
            return
        async with self.atomically("migrate"):
            if self.dialect == "postgresql":
                await self._raw_execute(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})")
            current = await self._version()  # again: another process may have migrated
            for version, statements in MIGRATIONS:
                if version <= current:
                    continue
                for statement in statements:
                    await self._raw_execute(
                        statement.replace("{serial}", SERIAL[self.dialect]).replace(
                            "{blob}", BLOB[self.dialect]
                        )
                    )
                await self._raw_execute(
                    "INSERT INTO schema_version (version) VALUES (?)", (version,)
                )

    # -- writes ----------------------------------------------------------------------------

    async def write(self, batch: WriteBatch, *, owner: str) -> None:
        """Write `batch` in one transaction (a group commit).

        Raises:
            StorageError: nothing of the batch was written.
        """
        rows = (
            [flow_run_row(run, now, owner) for run, now in batch.flow_runs.values()],
            [task_run_row(run, now) for run, now in batch.task_runs.values()],
            [
                (
                    workspace,
                    state.run_id,
                    str(state.type),
                    state.name,
                    text(state.message),
                    format_time(state.timestamp),
                    text(state.traceback),
                )
                for workspace, state in batch.states
            ],
            [
                (
                    log.workspace,
                    log.flow_run_id,
                    log.task_run_id,
                    log.level,
                    text(log.logger),
                    text(log.message),
                    format_time(log.timestamp),
                )
                for log in batch.logs
            ],
            # The last link of a task run wins, as one statement must see each once.
            list({link[0]: link for link in batch.results}.values()),
        )
        if self._writer is not None or self.dialect != "postgresql":
            await self.transaction(tuple(zip(_GROUP_COMMIT, rows, strict=True)))
            return
        arguments = one_statement_arguments(_GROUP_COMMIT, rows)
        try:  # (a closed database too: "cannot write to ...: ... is not open")
            await self._raw.execute(_GROUP_COMMIT_AT_ONCE, *arguments)  # type: ignore[attr-defined]  # asyncpg
        except Exception as exc:
            raise storage_error(f"cannot write to database {self.safe_url}", exc) from exc

    # -- owners ----------------------------------------------------------------------------

    async def register_owner(self, owner: str) -> None:
        """Record this runtime as a live owner (PostgreSQL: hold its session advisory lock)."""
        if self.dialect == "postgresql":
            await self._raw_execute("SELECT pg_advisory_lock(hashtextextended(?, 0))", (owner,))
        await self.transaction(
            (
                (
                    # Again after a restart whose stop did not unregister: the same owner.
                    "INSERT INTO owners (id, started, host, pid) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (id) DO UPDATE SET started = excluded.started, "
                    "host = excluded.host, pid = excluded.pid",
                    [(owner, format_time(utc_now()), socket.gethostname(), os.getpid())],
                ),
            )
        )

    async def unregister_owner(self, owner: str) -> None:
        await self.transaction((("DELETE FROM owners WHERE id = ?", [(owner,)]),))
        if self.dialect == "postgresql":
            await self._raw_execute("SELECT pg_advisory_unlock(hashtextextended(?, 0))", (owner,))

    async def other_owners(self, owner: str) -> list[str]:
        """Owners other than `owner` that are registered or still hold unfinished runs."""
        rows = await self._raw_fetch(
            "SELECT id FROM owners WHERE id <> ? UNION SELECT DISTINCT owner FROM flow_runs "
            f"WHERE owner IS NOT NULL AND owner <> ? AND state_type NOT IN ({_TERMINAL_SQL})",
            (owner, owner),
        )
        return sorted(str(row[0]) for row in rows)

    async def is_owner_alive(self, owner: str) -> bool:
        """Whether the runtime `owner` still holds its liveness token: on PostgreSQL a session
        advisory lock, on SQLite a `flock` on a file beside the database."""
        if self.dialect != "postgresql":
            from ._liveness import is_sqlite_owner_alive

            return await anyio.to_thread.run_sync(is_sqlite_owner_alive, self.url, owner)
        rows = await self._raw_fetch(
            "SELECT pg_try_advisory_lock(hashtextextended(?, 0))", (owner,)
        )
        if rows[0][0]:
            await self._raw_execute("SELECT pg_advisory_unlock(hashtextextended(?, 0))", (owner,))
            return False
        return True

    async def crash_runs_of(self, owner: str, message: str) -> list[str]:
        """Mark every unfinished flow run of a dead `owner`, and its task runs, Crashed.

        A compare-and-set: runs that finished meanwhile are left alone. A run that was
        waiting (a SCHEDULED state: AwaitingRetry, when its process died before the retry)
        cannot go to CRASHED directly under the transition table: it goes to Pending first,
        then to Crashed, two rows of its history with the same message and time. Returns the
        flow run ids.
        """
        now = format_time(utc_now())
        waiting = (
            "UPDATE {table} SET state_type = 'PENDING', state_name = 'Pending', "
            "state_message = ?, state_timestamp = ? "
            "WHERE {where} AND state_type = 'SCHEDULED' RETURNING id, workspace"
        )
        update = (
            "UPDATE {table} SET state_type = 'CRASHED', state_name = 'Crashed', "
            "state_message = ?, state_timestamp = ?, end_time = ? "
            f"WHERE {{where}} AND state_type NOT IN ({_TERMINAL_SQL}) RETURNING id, workspace"
        )
        history = (
            "INSERT INTO states (workspace, run_id, type, name, message, timestamp) "
            "VALUES (?, ?, ?, ?, ?, ?)"
        )
        async with self.atomically("write to"):
            where = "owner = ?"
            args: tuple[object, ...] = (owner,)
            pending = await self._raw_fetch(
                waiting.format(table="flow_runs", where=where), (message, now, *args)
            )
            crashed_rows = await self._raw_fetch(
                update.format(table="flow_runs", where=where), (message, now, now, *args)
            )
            crashed = [str(row[0]) for row in crashed_rows]
            if crashed:
                where, args = f"flow_run_id IN ({', '.join('?' * len(crashed))})", tuple(crashed)
                pending += await self._raw_fetch(
                    waiting.format(table="task_runs", where=where), (message, now, *args)
                )
                crashed_rows += await self._raw_fetch(
                    update.format(table="task_runs", where=where), (message, now, now, *args)
                )
            # Every Pending row before every Crashed row: the history is read in insertion order.
            await self._raw_execute_many(
                history,
                [
                    *((row[1], row[0], "PENDING", "Pending", message, now) for row in pending),
                    *((row[1], row[0], "CRASHED", "Crashed", message, now) for row in crashed_rows),
                ],
            )
            await self._raw_execute("DELETE FROM owners WHERE id = ?", (owner,))
        return crashed

    # -- reads -----------------------------------------------------------------------------

    async def ping(self) -> None:
        """Return once the database has been read, or raise StorageError."""
        await self.fetch_rows("SELECT 1")

    async def fetch(self, query: str, values: Mapping[str, object]) -> list[Mapping[str, object]]:
        """Rows of a query with `:name` parameters, through `databases` (asyncio only); in a
        read of the read pool, through its connection (open whether or not the store's is:
        a store restarting after a failed commit closes its own for a moment)."""
        reader = current_reader.get()
        if reader is None:
            self._check_open()
        try:
            if reader is not None:
                return list(await reader.fetch(query, values))
            connection = await self._connect()
            rows = await connection.fetch_all(query=query, values=dict(values))
        except Exception as exc:
            raise StorageError(f"cannot read database {self.safe_url}: {exc}") from exc
        return [row._mapping for row in rows]

    async def read_flow_run(self, workspace: str, run_id: str) -> FlowRun | None:
        """One run by id (the API's hottest read: through the driver directly)."""
        rows = await self.fetch_rows(
            f"SELECT {_FLOW_RUN_COLUMNS} FROM flow_runs WHERE workspace = ? AND id = ?",
            (workspace, run_id),
        )
        return flow_run_from(dict(zip(FLOW_RUN_FIELDS, rows[0], strict=True))) if rows else None

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
        values: dict[str, object] = {}
        conditions = where(
            values,
            ("workspace = :workspace", workspace),
            ("flow_name = :flow_name", flow_name),
            ("state_type = :state_type", None if state_type is None else str(state_type)),
            ("state_name = :state_name", state_name),
            ("parent_flow_run_id = :parent", parent_flow_run_id),
            ("created >= :after", format_time(created_after)),
            ("created < :before", format_time(created_before)),
        )
        beyond, order = ("<", "created DESC, id DESC") if newest_first else (">", "created, id")
        if after is not None:  # a keyset: what follows (created, id) in the order below
            conditions += (
                f" AND (created {beyond} :cursor_created"
                f" OR (created = :cursor_created AND id {beyond} :cursor_id))"
            )
            values |= {"cursor_created": format_time(after[0]), "cursor_id": after[1]}
        query = f"SELECT * FROM flow_runs WHERE {conditions} ORDER BY {order}"
        query += self.page(limit, offset, values)
        return [flow_run_from(row) for row in await self.fetch(query, values)]

    async def read_task_runs(
        self, workspace: str, flow_run_id: str, *, limit: int | None = None, offset: int = 0
    ) -> list[TaskRun]:
        values: dict[str, object] = {"workspace": workspace, "flow_run_id": flow_run_id}
        query = (
            "SELECT * FROM task_runs WHERE workspace = :workspace AND flow_run_id = :flow_run_id "
            "ORDER BY created, id"
        ) + self.page(limit, offset, values)
        return [task_run_from(row) for row in await self.fetch(query, values)]

    async def read_task_run(self, workspace: str, run_id: str) -> TaskRun | None:
        rows = await self.fetch(
            "SELECT * FROM task_runs WHERE workspace = :workspace AND id = :id",
            {"workspace": workspace, "id": run_id},
        )
        return task_run_from(rows[0]) if rows else None

    async def find_flow_runs(
        self, workspace: str, reference: RunReference, *, limit: int
    ) -> list[FlowRun]:
        query, values = finding("flow_runs", workspace, reference, limit)
        return [flow_run_from(row) for row in await self.fetch(query, values)]

    async def find_task_runs(
        self, workspace: str, reference: RunReference, *, limit: int
    ) -> list[TaskRun]:
        query, values = finding("task_runs", workspace, reference, limit)
        return [task_run_from(row) for row in await self.fetch(query, values)]

    async def read_state_history(self, workspace: str, run_id: str) -> list[State]:
        rows = await self.fetch(
            "SELECT type, name, message, timestamp, traceback FROM states "
            "WHERE workspace = :workspace AND run_id = :run_id ORDER BY seq",
            {"workspace": workspace, "run_id": run_id},
        )
        return [
            State(
                type=StateType(str(row["type"])),
                name=str(row["name"]),
                run_id=run_id,
                message=opt_str(row["message"]),
                timestamp=time_from(row["timestamp"]),
                _traceback=opt_str(row["traceback"]),
            )
            for row in rows
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
        values: dict[str, object] = {"workspace": workspace, "flow_run_id": flow_run_id}
        query = "SELECT * FROM logs WHERE workspace = :workspace AND flow_run_id = :flow_run_id"
        if task_run_id is not None:
            query += " AND task_run_id = :task_run_id"
            values["task_run_id"] = task_run_id
        query += " ORDER BY seq" + self.page(limit, offset, values)
        return [
            LogRecord(
                workspace=workspace,
                flow_run_id=flow_run_id,
                task_run_id=opt_str(row["task_run_id"]),
                level=int(str(row["level"])),
                logger=str(row["logger"]),
                message=str(row["message"]),
                timestamp=time_from(row["timestamp"]),
            )
            for row in await self.fetch(query, values)
        ]

    # -- idempotency keys ------------------------------------------------------------------

    async def claim_idempotency_key(
        self, workspace: str, key: str, request_hash: str, flow_run_id: str
    ) -> tuple[str, str]:
        """Give `key` to `flow_run_id` unless a run holds it already, atomically; return the
        holder's run id and request hash (this run's own when the key was free)."""
        async with self.atomically("claim an idempotency key in"):
            await self._raw_execute(
                "INSERT INTO idempotency_keys (workspace, key, request_hash, flow_run_id, "
                "created) VALUES (?, ?, ?, ?, ?) ON CONFLICT (workspace, key) DO NOTHING",
                (workspace, text(key), request_hash, flow_run_id, format_time(utc_now())),
            )
            rows = await self._raw_fetch(
                "SELECT flow_run_id, request_hash FROM idempotency_keys "
                "WHERE workspace = ? AND key = ?",
                (workspace, text(key)),
            )
        return str(rows[0][0]), str(rows[0][1])

    async def release_idempotency_key(self, workspace: str, key: str) -> None:
        await self.transaction(
            (
                (
                    "DELETE FROM idempotency_keys WHERE workspace = ? AND key = ?",
                    [(workspace, text(key))],
                ),
            )
        )

    # -- API keys --------------------------------------------------------------------------

    async def insert_api_key(self, key: ApiKey, secret_hash: str) -> None:
        await self.transaction(
            (
                (
                    "INSERT INTO api_keys (id, workspace, name, role, secret_hash, created, "
                    "expires, revoked, server_admin) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        (
                            key.id,
                            key.workspace,
                            text(key.name),
                            key.role,
                            secret_hash,
                            format_time(key.created),
                            format_time(key.expires),
                            format_time(key.revoked),
                            int(key.is_server_admin),
                        )
                    ],
                ),
            )
        )

    async def read_api_key(self, key_id: str) -> tuple[ApiKey, str] | None:
        """The key `key_id` in any workspace, with its secret's hash (to authenticate)."""
        rows = await self.fetch("SELECT * FROM api_keys WHERE id = :id", {"id": key_id})
        return (_api_key_from(rows[0]), str(rows[0]["secret_hash"])) if rows else None

    async def read_api_keys(self, workspace: str) -> list[ApiKey]:
        rows = await self.fetch(
            "SELECT * FROM api_keys WHERE workspace = :workspace ORDER BY created, id",
            {"workspace": workspace},
        )
        return [_api_key_from(row) for row in rows]

    async def rotate_api_key(self, workspace: str, key_id: str, secret_hash: str) -> None:
        """Give a key that works a new secret's hash: the old secret stops working."""
        await self.transaction(
            (
                (
                    "UPDATE api_keys SET secret_hash = ? "
                    "WHERE workspace = ? AND id = ? AND revoked IS NULL",
                    [(secret_hash, workspace, key_id)],
                ),
            )
        )

    async def revoke_api_key(self, workspace: str, key_id: str) -> None:
        """Revoke the key, if it is in `workspace` and not revoked yet."""
        await self.transaction(
            (
                (
                    "UPDATE api_keys SET revoked = ? "
                    "WHERE workspace = ? AND id = ? AND revoked IS NULL",
                    [(format_time(utc_now()), workspace, key_id)],
                ),
            )
        )

    def page(self, limit: int | None, offset: int, values: dict[str, object]) -> str:
        if limit is not None and limit < 0:
            raise ValueError(f"limit must be >= 0, got {limit}")
        if offset < 0:
            raise ValueError(f"offset must be >= 0, got {offset}")
        values["offset"] = offset
        if limit is not None:
            values["limit"] = limit
            return " LIMIT :limit OFFSET :offset"
        # No implicit cap: SQLite reads LIMIT -1 as none; PostgreSQL says ALL.
        return (" LIMIT -1" if self.dialect == "sqlite" else " LIMIT ALL") + " OFFSET :offset"


def _api_key_from(row: Mapping[str, object]) -> ApiKey:
    return ApiKey(
        id=str(row["id"]),
        workspace=str(row["workspace"]),
        name=str(row["name"]),
        role=str(row["role"]),
        created=time_from(row["created"]),
        expires=parse_time(row["expires"]),
        revoked=parse_time(row["revoked"]),
        is_server_admin=bool(row["server_admin"]),
    )
