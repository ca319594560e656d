"""`CacheManagerActor`: one workspace's cache index, single-flight and invalidation; and the
bounded in-memory tier in front of it, from which hits are served without a message.

A task run that needs key K first looks in the tier (a dict read on the event loop's thread,
so no lock). On a miss it asks the workspace's manager to `Claim` K. The manager answers at
once with a `Hit` (from the durable index and the result's storage) or a `Lease` (compute
it); while a lease is out, later claims of K wait, and get the leader's result as a `Hit`
when it `Fill`s the entry. A leader that fails `Abandon`s K, and the first waiter gets the
lease in its turn. The index is durable (`cache_entries`); the tier and the waiting lists
live only in memory.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, final

import anyio

from repertory.actors import Actor, DeferredReply, Request

from .._errors import StorageError
from .._records import CacheEntry
from .._serialization import loads
from ..storage._requests import (
    DeleteCacheEntries,
    PutCacheEntry,
    ReadCacheEntries,
    ReadCacheEntry,
    ReadExpiredCacheEntries,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from datetime import datetime

    from ..storage._requests import AskStore
    from ._result_storage import ResultStorage

logger = logging.getLogger("repertory.cache")

#: The memory tier's bound per workspace, and the largest result it keeps.
TIER_BYTES: Final = 64 * 1024 * 1024
TIER_ITEM_BYTES: Final = 1024 * 1024
#: Expired entries removed per pass, and the pause between passes (seconds).
PURGE_BATCH: Final = 500
PURGE_EVERY: Final = 60.0


@final
class MemoryTier:
    """The most recently used results of one workspace, as stored bytes, bounded in size.

    Bytes, not values: each hit decodes its own copy, so no caller sees another's changes.
    """

    __slots__ = ("_bytes", "_items", "max_bytes")

    def __init__(self, max_bytes: int = TIER_BYTES) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[str, tuple[CacheEntry, bytes]] = OrderedDict()
        self._bytes = 0

    def get(self, key: str, now: datetime) -> tuple[CacheEntry, bytes] | None:
        item = self._items.get(key)
        if item is None:
            return None
        if item[0].expires is not None and now >= item[0].expires:
            self.discard(key)
            return None
        self._items.move_to_end(key)
        return item

    def put(self, entry: CacheEntry, data: bytes) -> None:
        self.discard(entry.key)
        if len(data) > min(TIER_ITEM_BYTES, self.max_bytes):
            return  # a big result is read from storage each time rather than crowd others out
        self._items[entry.key] = (entry, data)
        self._bytes += len(data)
        while self._bytes > self.max_bytes:
            _, (_, dropped) = self._items.popitem(last=False)
            self._bytes -= len(dropped)

    def discard(self, key: str) -> None:
        item = self._items.pop(key, None)
        if item is not None:
            self._bytes -= len(item[1])

    def __len__(self) -> int:
        return len(self._items)

    @property
    def size(self) -> int:
        """The bytes it holds."""
        return self._bytes


# -- messages -----------------------------------------------------------------------------


@final
@dataclass(frozen=True, slots=True)
class Hit:
    """A valid entry of the key, and its result's stored bytes."""

    entry: CacheEntry
    data: bytes


@final
@dataclass(frozen=True, slots=True)
class Lease:
    """No valid entry: the asker computes the result, then `Fill`s or `Abandon`s the key."""


LEASE: Final = Lease()


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class Claim(Request[Hit | Lease]):
    key: str
    #: Names this claim for `Withdraw`: unique among the claims of a runtime.
    claimant: int
    refresh: bool = False  # a lease even when an entry is valid (unless one is being made)


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class Withdraw:
    """A claimant that stopped waiting (it was cancelled): drop its claim; if the lease had
    already come its way, pass it on as `Abandon` does."""

    key: str
    claimant: int


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class Fill(Request[None]):
    """The leader's result, stored: index it, and answer the key's waiters with it."""

    entry: CacheEntry
    data: bytes


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class Abandon:
    """The leader made no result (it failed, or its result could not be stored)."""

    key: str


@final
class _Computing:
    """A key being computed: who holds the lease, and the claims waiting, oldest first."""

    __slots__ = ("leader", "waiters")

    def __init__(self, leader: int) -> None:
        self.leader = leader
        self.waiters: list[tuple[int, DeferredReply]] = []


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class Invalidate(Request[int]):
    """Remove the entry of `key`, or every entry of `task_name`; answers how many went."""

    key: str | None = None
    task_name: str | None = None


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class ReadEntries(Request[list[CacheEntry]]):
    task_name: str | None = None
    limit: int | None = None
    offset: int = 0


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class CacheStatistics:
    """A workspace's cache as its manager sees it now (for metrics, and for tests)."""

    results_in_memory: int
    bytes_in_memory: int
    computing: int  # keys whose result one run is computing now
    waiting: int  # runs waiting for those results


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class GetCacheStatistics(Request[CacheStatistics]):
    pass


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class PurgeExpired(Request[int]):
    """Remove up to `limit` expired entries and their results; answers how many went."""

    limit: int = PURGE_BATCH


# -- the actor ----------------------------------------------------------------------------


@final
class CacheManagerActor(Actor):
    """Owns one workspace's cache index; see the module's docstring."""

    def __init__(
        self,
        *,
        workspace: str,
        ask: AskStore,
        storages: Mapping[str, ResultStorage],
        tier: MemoryTier,
        clock: Callable[[], datetime],
        purge_every: float | None = PURGE_EVERY,
    ) -> None:
        self._workspace = workspace
        self._ask = ask
        self._storages = storages
        self._tier = tier
        self._clock = clock
        self._purge_every = purge_every
        # Keys being computed: their leaders and the claims waiting for them.
        self._computing: dict[str, _Computing] = {}

    async def background(self) -> None:
        """Purge expired entries now and then, a bounded batch at a time."""
        every = self._purge_every
        if every is None:
            await anyio.sleep_forever()
            return
        while True:
            await anyio.sleep(every)
            await self.ref.tell(PurgeExpired())

    async def receive(self, message: object) -> object:
        try:
            return await self._handle(message)
        except StorageError as exc:  # this message's own failure: a restart would not cure it
            self.refuse(exc)

    async def _handle(self, message: object) -> object:
        match message:
            case Claim(key=key, claimant=claimant, refresh=refresh):
                return await self._claim(key, claimant, refresh)
            case Fill(entry=entry, data=data):
                try:
                    await self._ask(PutCacheEntry(entry=entry))
                except StorageError as exc:  # the waiters still get the result in hand
                    logger.warning("cache entry %s is not durable: %s", entry.key[:12], exc)
                self._tier.put(entry, data)
                computing = self._computing.pop(entry.key, None)
                for _, waiter in computing.waiters if computing else ():
                    waiter.set_result(Hit(entry, data))
                return None
            case Abandon(key=key):
                self._abandon(key)
                return None
            case Withdraw(key=key, claimant=claimant):
                self._withdraw(key, claimant)
                return None
            case Invalidate(key=key, task_name=task_name):
                return await self._invalidate(key, task_name)
            case ReadEntries(task_name=task_name, limit=limit, offset=offset):
                return await self._ask(
                    ReadCacheEntries(
                        workspace=self._workspace, task_name=task_name, limit=limit, offset=offset
                    )
                )
            case PurgeExpired(limit=limit):
                return await self._purge(limit)
            case GetCacheStatistics():
                return CacheStatistics(
                    results_in_memory=len(self._tier),
                    bytes_in_memory=self._tier.size,
                    computing=len(self._computing),
                    waiting=sum(len(c.waiters) for c in self._computing.values()),
                )
            case _:
                return self.unhandled(message)

    async def _claim(self, key: str, claimant: int, refresh: bool) -> object:
        computing = self._computing.get(key)
        if computing is not None:  # single-flight: wait for the one computing it
            waiter = DeferredReply()
            computing.waiters.append((claimant, waiter))
            return waiter
        if not refresh:
            hit = self._tier.get(key, self._clock()) or await self._load(key)
            if hit is not None:
                return Hit(*hit)
        self._computing[key] = _Computing(claimant)
        return LEASE

    def _abandon(self, key: str) -> None:
        computing = self._computing.pop(key, None)
        if computing is not None and computing.waiters:
            # The oldest waiter computes it now; the others go on waiting.
            claimant, waiter = computing.waiters.pop(0)
            computing.leader = claimant
            self._computing[key] = computing
            waiter.set_result(LEASE)

    def _withdraw(self, key: str, claimant: int) -> None:
        computing = self._computing.get(key)
        if computing is None:
            return
        if computing.leader == claimant:  # it was handed the lease, and is gone
            self._abandon(key)
        else:
            computing.waiters = [w for w in computing.waiters if w[0] != claimant]

    async def _load(self, key: str) -> tuple[CacheEntry, bytes] | None:
        """The valid entry of `key` and its result from the index and storage, if both are
        there and readable; what is damaged or missing is a miss, logged, never an error."""
        try:
            entry = await self._ask(ReadCacheEntry(workspace=self._workspace, key=key))
        except StorageError as exc:  # a miss: the caller computes, and the actor lives on
            logger.warning("cannot read the cache index: %s", exc)
            return None
        if entry is None or not entry.is_valid_at(self._clock()):
            return None
        data = await self.read_result(entry)
        if data is None:
            return None
        self._tier.put(entry, data)
        return entry, data

    async def read_result(self, entry: CacheEntry) -> bytes | None:
        storage = self._storages.get(entry.storage)
        if storage is None:
            logger.warning(
                "cache entry %s of task %s is in storage %r, which this runtime does not have: "
                "computing it again",
                entry.key[:12],
                entry.task_name,
                entry.storage,
            )
            return None
        try:
            data = await storage.read(entry.location)
            loads(data)  # a damaged result is a miss now, not a failure of every hit later
        except (LookupError, ValueError, OSError) as exc:  # a storage's own KeyError too
            logger.warning(
                "cached result %s of task %s cannot be read (%s): computing it again",
                entry.key[:12],
                entry.task_name,
                exc,
            )
            return None
        return data

    async def _invalidate(self, key: str | None, task_name: str | None) -> int:
        ws = self._workspace
        if key is not None:
            entry = await self._ask(ReadCacheEntry(workspace=ws, key=key))
            entries = [] if entry is None else [entry]
        else:
            entries = await self._ask(ReadCacheEntries(workspace=ws, task_name=task_name))
        await self._remove(entries)
        return len(entries)

    async def _purge(self, limit: int) -> int:
        now = self._clock()
        ws = self._workspace
        expired = await self._ask(ReadExpiredCacheEntries(workspace=ws, now=now, limit=limit))
        await self._remove(expired)
        if expired:
            logger.info("purged %d expired cache entries of workspace %s", len(expired), ws)
        return len(expired)

    async def _remove(self, entries: list[CacheEntry]) -> None:
        if not entries:
            return
        await self._ask(DeleteCacheEntries(entries=entries))
        for entry in entries:
            self._tier.discard(entry.key)
            storage = self._storages.get(entry.storage)
            if storage is not None:
                try:
                    await storage.delete(entry.location)
                except Exception:  # the entry is gone: a stray file is only space
                    logger.warning("cannot delete cached result at %s", entry.location)
