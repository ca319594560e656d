"""The cache's tables: the index of entries, results kept in the database, and which entry
holds each cached task run's result. Reached as `SqlDatabase.cache`, through the store."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final, final

from .._records import CacheEntry
from .._text import text
from ._rows import format_time, parse_time, where

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from datetime import datetime

    from ._sql import SqlDatabase


@final
class CacheTables:
    def __init__(self, database: SqlDatabase) -> None:
        self._db = database

    async def put_entry(self, entry: CacheEntry) -> None:
        """Add or replace the entry of its key, and link its task run to it."""
        await self._db.transaction(
            (
                (
                    "INSERT INTO cache_entries (workspace, key, task_name, created, expires, "
                    "size, storage, location, task_run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (workspace, key) DO UPDATE SET task_name = excluded.task_name, "
                    "created = excluded.created, expires = excluded.expires, "
                    "size = excluded.size, storage = excluded.storage, "
                    "location = excluded.location, task_run_id = excluded.task_run_id",
                    [
                        (
                            entry.workspace,
                            entry.key,
                            text(entry.task_name),
                            format_time(entry.created),
                            format_time(entry.expires),
                            entry.size,
                            entry.storage,
                            text(entry.location),
                            entry.task_run_id,
                        )
                    ],
                ),
                (LINK_RESULT, [(entry.task_run_id, entry.workspace, entry.key)]),
            )
        )

    async def link(self, links: Sequence[tuple[str, str, str]]) -> None:
        """Note which entry holds each task run's result: (task_run_id, workspace, key)."""
        await self._db.transaction(((LINK_RESULT, links),))

    async def read_entry(self, workspace: str, key: str) -> CacheEntry | None:
        """The entry of `key` (each cold hit reads one: through the driver directly)."""
        rows = await self._db.fetch_rows(
            f"SELECT {_COLUMNS} FROM cache_entries WHERE workspace = ? AND key = ?",
            (workspace, key),
        )
        return _entry(dict(zip(_NAMES, rows[0], strict=True))) if rows else None

    async def read_entries(
        self,
        workspace: str,
        *,
        task_name: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[CacheEntry]:
        values: dict[str, object] = {}
        conditions = where(
            values, ("workspace = :workspace", workspace), ("task_name = :task_name", task_name)
        )
        query = f"SELECT * FROM cache_entries WHERE {conditions} ORDER BY created, key"
        query += self._db.page(limit, offset, values)
        return [_entry(row) for row in await self._db.fetch(query, values)]

    async def read_entry_of_run(self, workspace: str, task_run_id: str) -> CacheEntry | None:
        """The entry holding a task run's result; None if it had none, or it is gone."""
        rows = await self._db.fetch(
            "SELECT e.* FROM task_run_results r JOIN cache_entries e "
            "ON e.workspace = r.workspace AND e.key = r.cache_key "
            "WHERE r.workspace = :workspace AND r.task_run_id = :id",
            {"workspace": workspace, "id": task_run_id},
        )
        return _entry(rows[0]) if rows else None

    async def read_expired(self, workspace: str, now: datetime, limit: int) -> list[CacheEntry]:
        """Up to `limit` entries of the workspace that expired by `now`, oldest first."""
        rows = await self._db.fetch(
            "SELECT * FROM cache_entries WHERE workspace = :workspace AND expires IS NOT NULL "
            "AND expires <= :now ORDER BY expires LIMIT :limit",
            {"workspace": workspace, "now": format_time(now), "limit": limit},
        )
        return [_entry(row) for row in rows]

    async def delete_entries(self, entries: Sequence[CacheEntry]) -> None:
        """Remove these entries, if each is still the one of its key (not rewritten since)."""
        await self._db.transaction(
            (
                (
                    "DELETE FROM cache_entries WHERE workspace = ? AND key = ? AND created = ?",
                    [(e.workspace, e.key, format_time(e.created)) for e in entries],
                ),
            )
        )

    async def put_result(self, location: str, data: bytes) -> None:
        await self._db.transaction(
            (
                (
                    "INSERT INTO cache_results (location, data) VALUES (?, ?) "
                    "ON CONFLICT (location) DO UPDATE SET data = excluded.data",
                    [(location, data)],
                ),
            )
        )

    async def read_result(self, location: str) -> bytes | None:
        rows = await self._db.fetch(
            "SELECT data FROM cache_results WHERE location = :location", {"location": location}
        )
        if not rows:
            return None
        data = rows[0]["data"]
        assert isinstance(data, bytes | bytearray | memoryview)  # BLOB / BYTEA
        return bytes(data)

    async def delete_result(self, location: str) -> None:
        await self._db.transaction(
            (("DELETE FROM cache_results WHERE location = ?", [(location,)]),)
        )


#: Which entry holds a task run's result: (task_run_id, workspace, cache key).
LINK_RESULT: Final = (
    "INSERT INTO task_run_results (task_run_id, workspace, cache_key) VALUES (?, ?, ?) "
    "ON CONFLICT (task_run_id) DO UPDATE SET cache_key = excluded.cache_key"
)


_NAMES: Final = (
    "key",
    "workspace",
    "task_name",
    "created",
    "expires",
    "size",
    "storage",
    "location",
    "task_run_id",
)
_COLUMNS: Final = ", ".join(_NAMES)


def _entry(row: Mapping[str, object]) -> CacheEntry:
    created = parse_time(row["created"])
    assert created is not None
    return CacheEntry(
        key=str(row["key"]),
        workspace=str(row["workspace"]),
        task_name=str(row["task_name"]),
        created=created,
        expires=parse_time(row["expires"]),
        size=int(str(row["size"])),
        storage=str(row["storage"]),
        location=str(row["location"]),
        task_run_id=str(row["task_run_id"]),
    )
