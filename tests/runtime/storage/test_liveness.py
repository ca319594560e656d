"""Liveness of owners: SQLite lock files, and PostgreSQL session advisory locks."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import TYPE_CHECKING

import anyio
import pytest
from anyio.streams.buffered import BufferedByteReceiveStream

from repertory.runtime.storage._liveness import SqliteOwnerLock, is_sqlite_owner_alive, new_owner_id
from repertory.runtime.storage._sql import SqlDatabase

if TYPE_CHECKING:
    from pathlib import Path

    from repertory.runtime.storage._asyncio_thread import AsyncioRunner

# Takes the lock of (url, owner), says so, and holds it until its stdin closes or it is killed.
HOLDER = """
import sys
from repertory.runtime.storage._liveness import SqliteOwnerLock
SqliteOwnerLock(sys.argv[1], sys.argv[2]).acquire()
print("locked", flush=True)
sys.stdin.read()
"""


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/t.db"


async def is_alive(url: str, owner: str) -> bool:
    return await anyio.to_thread.run_sync(is_sqlite_owner_alive, url, owner)


def test_owner_ids_are_fresh_hex_strings() -> None:
    ids = {new_owner_id() for _ in range(100)}
    assert len(ids) == 100
    assert all(len(owner) == 32 and int(owner, 16) >= 0 for owner in ids)


async def test_a_held_token_is_alive_and_a_released_one_is_not(url: str, tmp_path: Path) -> None:
    lock = SqliteOwnerLock(url, "o1")
    await anyio.to_thread.run_sync(lock.acquire)

    assert await is_alive(url, "o1")
    assert await is_alive(url, "o1")  # asking does not take the token away

    await anyio.to_thread.run_sync(lock.release)
    assert not await is_alive(url, "o1")
    assert not await anyio.Path(tmp_path / "t.db.owners" / "o1.lock").exists()


async def test_an_owner_that_never_took_a_token_is_not_alive(url: str) -> None:
    assert not await is_alive(url, "nobody")


async def test_a_token_cannot_be_held_twice(url: str) -> None:
    first, second = SqliteOwnerLock(url, "o1"), SqliteOwnerLock(url, "o1")
    await anyio.to_thread.run_sync(first.acquire)
    try:
        with pytest.raises(BlockingIOError):
            await anyio.to_thread.run_sync(second.acquire)
        assert await is_alive(url, "o1")
    finally:
        await anyio.to_thread.run_sync(first.release)
    await anyio.to_thread.run_sync(second.release)  # never held: nothing to do


async def test_tokens_are_per_owner(url: str) -> None:
    lock = SqliteOwnerLock(url, "o1")
    await anyio.to_thread.run_sync(lock.acquire)
    try:
        assert await is_alive(url, "o1")
        assert not await is_alive(url, "o2")
    finally:
        await anyio.to_thread.run_sync(lock.release)


async def test_an_in_memory_database_has_no_tokens() -> None:
    lock = SqliteOwnerLock("sqlite:///:memory:", "o1")
    await anyio.to_thread.run_sync(lock.acquire)
    assert not await is_alive("sqlite:///:memory:", "o1")
    await anyio.to_thread.run_sync(lock.release)


async def test_a_token_held_by_another_process_dies_with_it(url: str, tmp_path: Path) -> None:
    async with await anyio.open_process(
        [sys.executable, "-c", HOLDER, url, "other"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    ) as process:
        assert process.stdout is not None
        line = await BufferedByteReceiveStream(process.stdout).receive_until(b"\n", 100)
        assert line.strip() == b"locked"

        assert await is_alive(url, "other")

        process.kill()  # SIGKILL: no chance to release anything
        await process.wait()

    assert not await is_alive(url, "other")
    # The dead owner's file is cleared away once it is found dead.
    assert not await anyio.Path(tmp_path / "t.db.owners" / "other.lock").exists()


@pytest.mark.skipif(
    not os.environ.get("REPERTORY_TEST_DATABASE_URL"),
    reason="needs PostgreSQL: set REPERTORY_TEST_DATABASE_URL (.ci/run does)",
)
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_a_postgresql_owner_is_alive_while_its_session_holds_its_lock(
    database_url: str, runner: AsyncioRunner
) -> None:
    observer, owner = SqlDatabase(database_url), SqlDatabase(database_url)
    await runner.call(observer.open)
    await runner.call(owner.open)
    try:
        await runner.call(lambda: owner.register_owner("o1"))
        assert await runner.call(lambda: observer.is_owner_alive("o1"))
        assert await runner.call(lambda: observer.is_owner_alive("o1"))  # still held
        assert not await runner.call(lambda: observer.is_owner_alive("o2"))
        await runner.call(lambda: owner.unregister_owner("o1"))
        assert not await runner.call(lambda: observer.is_owner_alive("o1"))

        await runner.call(lambda: owner.register_owner("o1"))
        await runner.call(owner.close)  # as when its process dies: the session ends
        assert not await runner.call(lambda: observer.is_owner_alive("o1"))
    finally:
        await runner.call(owner.close)
        await runner.call(observer.close)
