"""Database fixtures: a fresh SQLite file, and a fresh PostgreSQL database when one is given.

Set REPERTORY_TEST_DATABASE_URL (say postgresql://postgres@127.0.0.1:5432/test) to run the
storage tests against PostgreSQL too: each test gets a database of its own, created on that
server (through its `postgres` database) and dropped afterwards.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from typing import TYPE_CHECKING

import asyncpg  # type: ignore[import-untyped]  # ships no type information
import pytest
from databases import DatabaseURL

from repertory.runtime.storage._asyncio_thread import AsyncioRunner

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

POSTGRES_ENV = "REPERTORY_TEST_DATABASE_URL"
_POSTGRES_URL = os.environ.get(POSTGRES_ENV)


async def _on_admin_database(url: str, statement: str) -> None:
    """Run `statement` on the `postgres` database of the server at `url` (asyncio only)."""
    connection = await asyncpg.connect(str(DatabaseURL(url).replace(database="postgres")))
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@pytest.fixture
async def runner() -> AsyncIterator[AsyncioRunner]:
    """Runs the asyncio-only database code, whatever backend the test runs on."""
    async with AsyncioRunner() as runner:
        yield runner


DATABASES = ["sqlite", *(["postgresql"] if _POSTGRES_URL else [])]


@contextlib.asynccontextmanager
async def empty_database(kind: str, directory: Path, runner: AsyncioRunner) -> AsyncIterator[str]:
    """The URL of an empty database of `kind`: an SQLite file in `directory`, or a PostgreSQL
    database of its own, dropped afterwards."""
    if kind == "sqlite":
        yield f"sqlite:///{directory}/t.db"
        return
    assert _POSTGRES_URL is not None
    name = f"repertory_test_{uuid.uuid4().hex}"
    await runner.call(lambda: _on_admin_database(_POSTGRES_URL, f'CREATE DATABASE "{name}"'))
    try:
        yield str(DatabaseURL(_POSTGRES_URL).replace(database=name))
    finally:
        await runner.call(
            lambda: _on_admin_database(
                _POSTGRES_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
            )
        )


@pytest.fixture(params=DATABASES)
async def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, runner: AsyncioRunner
) -> AsyncIterator[str]:
    """The URL of an empty database: an SQLite file, or a PostgreSQL database of its own."""
    async with empty_database(request.param, tmp_path, runner) as url:
        yield url
