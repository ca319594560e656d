"""The SQLite writer's thread: calls in order, errors handed back, no write cut short."""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

import anyio
import pytest

from repertory.runtime.storage._sqlite_writer import SqliteWriter

if TYPE_CHECKING:
    from pathlib import Path


async def test_calls_run_in_order_on_one_connection_and_errors_come_back(tmp_path: Path) -> None:
    writer = SqliteWriter(str(tmp_path / "w.db"), ["PRAGMA journal_mode=WAL"])
    await writer.open()
    try:
        await writer.run(lambda db: db.execute("CREATE TABLE t (n INTEGER)"))
        for n in range(3):
            await writer.run(lambda db, n=n: db.execute("INSERT INTO t VALUES (?)", (n,)))  # type: ignore[misc]
        rows = await writer.run(lambda db: db.execute("SELECT n FROM t").fetchall())
        assert rows == [(0,), (1,), (2,)]
        with pytest.raises(sqlite3.OperationalError, match="no such table"):
            await writer.run(lambda db: db.execute("SELECT * FROM missing"))
        mode = await writer.run(lambda db: db.execute("PRAGMA journal_mode").fetchone())
        assert mode == ("wal",)
    finally:
        await writer.close()
    with pytest.raises(RuntimeError, match="after close"):
        await writer.run(lambda db: None)


async def test_a_cancelled_caller_does_not_cut_a_write_short(tmp_path: Path) -> None:
    writer = SqliteWriter(str(tmp_path / "w.db"), [])
    await writer.open()
    try:
        await writer.run(lambda db: db.execute("CREATE TABLE t (n INTEGER)"))
        with anyio.CancelScope() as scope:
            scope.cancel()  # already cancelled when the write is handed over
            await writer.run(lambda db: db.execute("INSERT INTO t VALUES (1)"))
            await anyio.sleep_forever()  # the cancellation lands at the next checkpoint
        assert scope.cancelled_caught
        assert await writer.run(lambda db: db.execute("SELECT n FROM t").fetchall()) == [(1,)]
    finally:
        await writer.close()


async def test_a_file_that_cannot_be_opened_fails_open(tmp_path: Path) -> None:
    writer = SqliteWriter(str(tmp_path / "missing" / "w.db"), [])
    with pytest.raises(sqlite3.OperationalError):
        await writer.open()
