"""Reading connections beside the writer's: reads never wait in line behind group commits,
nor behind each other.

A read is the same code as ever (`read(database)`, which calls `database.fetch` and
`database.fetch_rows`); run through the pool, those two go to a connection of the pool's
(`reading_through`), while writes keep the store's one connection. SQLite files are read by a
few threads, each with a read-only connection of its own: in WAL mode readers see committed
data and never block the writer. PostgreSQL is read through an asyncpg pool, on an asyncio
loop of its own where the host runs trio, where reads run at once side by side.
"""

from __future__ import annotations

import contextlib
import contextvars
import re
import sqlite3
from typing import TYPE_CHECKING, Any, Final, Protocol, TypeVar, cast, final

import anyio

from .._errors import StorageError
from ._asyncio_thread import AsyncioRunner
from ._sqlite_writer import SqliteWriter

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence

T = TypeVar("T")
#: Reading connections of one pool: SQLite threads, or PostgreSQL connections at most.
READERS: Final = 4
_NAMED: Final = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


class Reader(Protocol):
    """One reading connection, as `SqlDatabase.fetch` and `fetch_rows` use it."""

    async def fetch(self, query: str, values: Mapping[str, object]) -> list[Mapping[str, object]]:
        """The rows of `query`, as the driver gives them (sqlite3.Row, asyncpg Record): read
        them by column name only (`in` and `.get` differ between the two)."""

    async def fetch_rows(
        self, statement: str, args: Sequence[object]
    ) -> list[tuple[object, ...]]: ...


#: The reader the reads of the current task go through, if any (else the store's connection).
current_reader: contextvars.ContextVar[Reader | None] = contextvars.ContextVar(
    "repertory_reader", default=None
)


@final
class _SqliteReader:
    def __init__(self, thread: SqliteWriter) -> None:
        self._thread = thread

    async def fetch(self, query: str, values: Mapping[str, object]) -> list[Mapping[str, object]]:
        def fetch(connection: sqlite3.Connection) -> list[Mapping[str, object]]:
            cursor = connection.cursor()
            cursor.row_factory = sqlite3.Row  # by name, and a third cheaper than a dict
            return cast("list[Mapping[str, object]]", cursor.execute(query, values).fetchall())

        return await self._thread.run(fetch)

    async def fetch_rows(self, statement: str, args: Sequence[object]) -> list[tuple[object, ...]]:
        return await self._thread.run(lambda c: c.execute(statement, tuple(args)).fetchall())


@final
class _PostgresReader:
    def __init__(self, connection: object) -> None:
        self._connection = connection

    async def fetch(self, query: str, values: Mapping[str, object]) -> list[Mapping[str, object]]:
        names: list[str] = []

        def number(found: re.Match[str]) -> str:
            names.append(found[1])
            return f"${len(names)}"

        statement = _NAMED.sub(number, query)
        rows = await self._connection.fetch(statement, *(values[n] for n in names))  # type: ignore[attr-defined]  # asyncpg
        return cast("list[Mapping[str, object]]", rows)  # Records: read by name

    async def fetch_rows(self, statement: str, args: Sequence[object]) -> list[tuple[object, ...]]:
        parts = statement.split("?")
        numbered = parts[0] + "".join(f"${i}{part}" for i, part in enumerate(parts[1:], 1))
        return [tuple(row) for row in await self._connection.fetch(numbered, *args)]  # type: ignore[attr-defined]  # asyncpg


class ReadPool:
    """Runs reads on reading connections of their own; opened on first use."""

    async def read(self, read: Callable[[], Awaitable[T]]) -> T:
        """`read()` with its `fetch` and `fetch_rows` calls on a connection of the pool (blocks)."""
        raise NotImplementedError

    async def aclose(self) -> None:
        """Close every connection (blocks)."""


@final
class SqliteReadPool(ReadPool):
    def __init__(self, path: str, *, size: int = READERS) -> None:
        self._path = path
        self._size = size
        self._idle: list[SqliteWriter] = []
        self._all: list[SqliteWriter] = []
        self._free = anyio.Semaphore(size)

    async def read(self, read: Callable[[], Awaitable[T]]) -> T:
        async with self._free, self._reader() as reader:
            token = current_reader.set(reader)
            try:
                return await read()
            finally:
                current_reader.reset(token)

    @contextlib.asynccontextmanager
    async def _reader(self) -> AsyncIterator[Reader]:
        thread = self._idle.pop() if self._idle else await self._open()
        try:
            yield _SqliteReader(thread)
        finally:
            self._idle.append(thread)

    async def _open(self) -> SqliteWriter:
        pragmas = ("PRAGMA query_only=ON", "PRAGMA busy_timeout=5000")
        thread = SqliteWriter(self._path, pragmas, name="repertory-sqlite-reader")
        try:
            await thread.open()
        except Exception as exc:
            raise StorageError(f"cannot open a reader of {self._path}: {exc}") from exc
        self._all.append(thread)
        return thread

    async def aclose(self) -> None:
        threads, self._all, self._idle = self._all, [], []
        with anyio.CancelScope(shield=True):
            for thread in threads:
                await thread.close()


@final
class PostgresReadPool(ReadPool):
    def __init__(self, url: str, *, size: int = READERS) -> None:
        self._url = url
        self._size = size
        self._pool: object | None = None
        self._opening = anyio.Lock()
        self._stack: contextlib.AsyncExitStack | None = None
        self._runner: AsyncioRunner | None = None

    async def read(self, read: Callable[[], Awaitable[T]]) -> T:
        runner = await self._open()
        pool: Any = self._pool  # asyncpg's, untyped

        async def on_asyncio() -> T:
            async with pool.acquire() as connection:
                token = current_reader.set(_PostgresReader(connection))
                try:
                    return await read()
                finally:
                    current_reader.reset(token)

        try:
            return await runner.call(on_asyncio)
        except StorageError:
            raise
        except Exception as exc:  # the driver's own
            raise StorageError(f"cannot read the database: {exc}") from exc

    async def _open(self) -> AsyncioRunner:
        async with self._opening:
            if self._runner is None:
                stack = contextlib.AsyncExitStack()
                runner = await stack.enter_async_context(AsyncioRunner(concurrent=True))
                try:
                    self._pool = await runner.call(self._create_pool)
                except BaseException:
                    await stack.aclose()
                    raise
                self._stack, self._runner = stack, runner
            return self._runner

    async def _create_pool(self) -> object:
        import asyncpg  # type: ignore[import-untyped]  # ships no type information

        dsn = "postgresql://" + self._url.partition("://")[2]
        return await asyncpg.create_pool(dsn, min_size=1, max_size=self._size)

    async def aclose(self) -> None:
        runner, pool, stack = self._runner, self._pool, self._stack
        self._runner = self._pool = self._stack = None
        with anyio.CancelScope(shield=True):
            if runner is not None and pool is not None:
                await runner.call(pool.close)  # type: ignore[attr-defined]  # asyncpg
            if stack is not None:
                await stack.aclose()


def read_pool_of(url: str) -> ReadPool | None:
    """The read pool of a database: none for an in-memory SQLite database, which only the
    store's connection sees."""
    from ._sql import dialect_of, sqlite_path  # (that module reads through this one)

    if dialect_of(url) == "postgresql":
        return PostgresReadPool(url)
    path = sqlite_path(url)
    return None if path is None or "mode=memory" in url else SqliteReadPool(path)
