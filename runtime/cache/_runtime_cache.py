"""The runtime's methods over its workspaces' caches: a part of `Runtime` (see `RuntimeBase`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._errors import ResultNotFoundError
from .._parts import RuntimeBase
from .._serialization import loads
from .._text import check_text
from ..storage._requests import ReadCacheEntryOfRun
from ._cache import (
    PURGE_BATCH,
    CacheStatistics,
    GetCacheStatistics,
    Invalidate,
    PurgeExpired,
    ReadEntries,
)

if TYPE_CHECKING:
    from .._records import CacheEntry
    from ._cached_task import CacheHandle


class CacheAccess(RuntimeBase):
    """Reading back cached results, listing, invalidating and purging cache entries."""

    async def read_result(self, task_run_id: str, *, workspace: str | None = None) -> object:
        """The result a cached task run returned (computed or a hit), read back (blocks).

        Raises:
            ResultNotFoundError: the run was not cached, or its entry expired, was
                invalidated, or lies in a storage this runtime does not have, or its stored
                bytes are gone or damaged.
        """
        caches = self._running_caches()
        ws = workspace or self.workspace
        entry = await self._ask(ReadCacheEntryOfRun(workspace=ws, task_run_id=task_run_id))
        if entry is None:
            raise _not_found(task_run_id, "it was not cached, or its entry is gone")
        if not entry.is_valid_at(caches.clock()):
            raise _not_found(task_run_id, f"its cache entry expired at {entry.expires}")
        storage = caches.storages.get(entry.storage)
        if storage is None:
            raise _not_found(task_run_id, f"it is in storage {entry.storage!r}")
        try:
            return loads(await storage.read(entry.location))
        except (LookupError, ValueError, OSError) as exc:
            raise _not_found(task_run_id, f"its stored result is unreadable: {exc}") from exc

    async def read_cache_entries(
        self,
        *,
        task_name: str | None = None,
        limit: int | None = None,
        offset: int = 0,
        workspace: str | None = None,
    ) -> list[CacheEntry]:
        """The workspace's cache entries, oldest first, expired ones not yet purged included;
        all that match unless `limit` is given (blocks)."""
        check_text(task_name, "a task's name")
        handle = await self._cache_handle(workspace)
        return await handle.ref.ask(ReadEntries(task_name=task_name, limit=limit, offset=offset))

    async def invalidate_cache(
        self,
        *,
        key: str | None = None,
        task_name: str | None = None,
        workspace: str | None = None,
    ) -> int:
        """Remove the entry of `key`, or every entry of `task_name`, with their stored
        results; return how many went (blocks). The next call computes again.

        Raises:
            ValueError: neither or both of `key` and `task_name`.
        """
        if (key is None) == (task_name is None):
            raise ValueError("invalidate the cache by key or by task_name (one of them)")
        check_text(key, "a cache key")
        check_text(task_name, "a task's name")
        handle = await self._cache_handle(workspace)
        return await handle.ref.ask(Invalidate(key=key, task_name=task_name))

    async def purge_expired_cache(
        self, *, limit: int = PURGE_BATCH, workspace: str | None = None
    ) -> int:
        """Remove up to `limit` expired entries and their results now; return how many went
        (blocks). The runtime does this in the background every minute as well."""
        handle = await self._cache_handle(workspace)
        return await handle.ref.ask(PurgeExpired(limit=limit))

    async def cache_statistics(self, *, workspace: str | None = None) -> CacheStatistics:
        """What the workspace's cache holds in memory and is computing now (blocks)."""
        handle = await self._cache_handle(workspace)
        return await handle.ref.ask(GetCacheStatistics())

    async def _cache_handle(self, workspace: str | None) -> CacheHandle:
        return await self._running_caches().handle(workspace or self.workspace)


def _not_found(task_run_id: str, why: str) -> ResultNotFoundError:
    return ResultNotFoundError(
        f"no result of task run {task_run_id!r}: {why}", task_run_id=task_run_id
    )
