"""SqlDatabase against SQLite and (when configured) PostgreSQL, driven from asyncio and trio."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, TypeVar

import anyio
import databases
import pytest
from databases import DatabaseURL

from repertory.runtime._errors import SchemaVersionError, StorageError
from repertory.runtime.storage._schema import LATEST_VERSION, MIGRATIONS, SERIAL
from repertory.runtime.storage._sql import SqlDatabase, sqlite_path

if TYPE_CHECKING:
    from repertory.runtime.storage._asyncio_thread import AsyncioRunner

T = TypeVar("T")
T0 = datetime(2025, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)
TABLES = {
    "flow_runs",
    "task_runs",
    "states",
    "logs",
    "owners",
    "api_keys",
    "idempotency_keys",
    "cache_entries",
    "cache_results",
    "task_run_results",
    "audit_log",
    "workspaces",
    "roles",
    "schema_version",
}


async def on_raw_database(runner: AsyncioRunner, url: str, *statements: str) -> list[object]:
    """Run statements on a plain `databases` connection; the first column of the last's rows."""

    async def run() -> list[object]:
        database = databases.Database(url)
        await database.connect()
        try:
            for statement in statements[:-1]:
                await database.execute(statement)
            rows = await database.fetch_all(statements[-1])
        finally:
            await database.disconnect()
        return sorted(next(iter(row._mapping.values())) for row in rows)

    return await runner.call(run)


def list_tables(url: str) -> str:
    if url.startswith("sqlite"):
        return "SELECT name FROM sqlite_master WHERE type = 'table' AND name <> 'sqlite_sequence'"
    return "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"


async def test_open_creates_the_schema_and_reopening_migrates_nothing(
    database_url: str, runner: AsyncioRunner
) -> None:
    for _ in range(2):
        database = SqlDatabase(database_url)
        await runner.call(database.open)
        try:
            assert await runner.call(database.schema_version) == LATEST_VERSION
        finally:
            await runner.call(database.close)
    assert set(await on_raw_database(runner, database_url, list_tables(database_url))) == TABLES
    versions = await on_raw_database(runner, database_url, "SELECT version FROM schema_version")
    assert versions == list(range(1, LATEST_VERSION + 1))
    if database_url.startswith("sqlite"):
        assert await on_raw_database(runner, database_url, "PRAGMA journal_mode") == ["wal"]


async def test_a_database_of_version_1_is_migrated_forward_keeping_its_runs(
    database_url: str, runner: AsyncioRunner
) -> None:
    dialect = "sqlite" if database_url.startswith("sqlite") else "postgresql"
    [(_, version_1)] = [m for m in MIGRATIONS if m[0] == 1]
    await on_raw_database(
        runner,
        database_url,
        *(statement.replace("{serial}", SERIAL[dialect]) for statement in version_1),
        "CREATE TABLE schema_version (version INTEGER NOT NULL)",
        "INSERT INTO schema_version (version) VALUES (1)",
        "INSERT INTO flow_runs (id, workspace, flow_name, name, parameters, state_type, "
        "state_name, state_timestamp, run_count, created) "
        "VALUES ('old', 'default', 'f', 'f-old', '{}', 'COMPLETED', 'Completed', 0, 1, 0)",
        "SELECT version FROM schema_version",
    )
    database = SqlDatabase(database_url)
    await runner.call(database.open)
    try:
        assert await runner.call(database.schema_version) == LATEST_VERSION
        old = await runner.call(lambda: database.read_flow_run("default", "old"))
        assert old is not None
        assert old.state.name == "Completed"
    finally:
        await runner.call(database.close)
    assert set(await on_raw_database(runner, database_url, list_tables(database_url))) == TABLES


async def test_a_newer_schema_is_refused_and_left_untouched(
    database_url: str, runner: AsyncioRunner
) -> None:
    newer = LATEST_VERSION + 1
    await on_raw_database(
        runner,
        database_url,
        "CREATE TABLE schema_version (version INTEGER NOT NULL)",
        f"INSERT INTO schema_version (version) VALUES ({newer})",
        "SELECT version FROM schema_version",
    )
    path = sqlite_path(database_url) if database_url.startswith("sqlite") else None
    before = await anyio.Path(path).read_bytes() if path else b""

    database = SqlDatabase(database_url)
    with pytest.raises(SchemaVersionError, match=f"schema version {newer}") as caught:
        await runner.call(database.open)

    assert (caught.value.found, caught.value.known) == (newer, LATEST_VERSION)
    assert database.safe_url in str(caught.value)
    assert await on_raw_database(runner, database_url, list_tables(database_url)) == [
        "schema_version"
    ]
    versions = await on_raw_database(runner, database_url, "SELECT version FROM schema_version")
    assert versions == [newer]
    if path:
        assert await anyio.Path(path).read_bytes() == before


async def test_a_database_that_cannot_be_opened_gives_storage_error_without_password(
    database_url: str, runner: AsyncioRunner
) -> None:
    if database_url.startswith("sqlite"):
        bad = database_url.replace("/t.db", "/no/such/dir/t.db")
    else:
        bad = str(DatabaseURL(database_url).replace(password="s3cret", database="no_such_db"))
    database = SqlDatabase(bad)

    with pytest.raises(StorageError, match="cannot open database") as caught:
        await runner.call(database.open)

    assert database.safe_url in str(caught.value)
    assert "s3cret" not in str(caught.value)


def test_an_unsupported_url_scheme_is_refused() -> None:
    with pytest.raises(StorageError, match="unsupported database URL scheme 'mysql'"):
        SqlDatabase("mysql://localhost/x")
