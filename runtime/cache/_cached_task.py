"""Running a task through the cache: its key, a hit (from the memory tier, or from the
workspace's `CacheManagerActor`), or the computation under a lease, which then fills the key
or abandons it. Also `CacheManagers`, the runtime's managers, one per workspace.

A hit sets the task run Running then Completed, named Cached (the transition table has no
Pending to Completed), returns a fresh copy of the stored value, and runs neither the
function nor its retries.
"""

from __future__ import annotations

import itertools
import logging
from typing import TYPE_CHECKING, final

import anyio

from repertory.actors import Restart

from .._errors import UnserializableResultError
from .._records import CacheEntry, State
from .._serialization import dumps, loads
from .._states import StateType
from ..engine._context import RunLogger
from ._cache import (
    Abandon,
    CacheManagerActor,
    Claim,
    Fill,
    Hit,
    Lease,
    MemoryTier,
    Withdraw,
)
from ._cache_policy import CacheKeyContext

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from datetime import datetime, timedelta

    from repertory.actors import ActorRef, Supervisor

    from .._options import TaskOptions
    from .._records import TaskRun
    from ..engine._context import RunContext
    from ..engine._engine import Engine
    from ..engine._live_run import LiveRun
    from ..storage._requests import AskStore
    from ._result_storage import ResultStorage

logger = logging.getLogger("repertory.cache")


@final
class CacheHandle:
    """A workspace's manager and its memory tier."""

    __slots__ = ("ref", "tier")

    def __init__(self, ref: ActorRef, tier: MemoryTier) -> None:
        self.ref = ref
        self.tier = tier


@final
class CacheManagers:
    """The runtime's `CacheManagerActor`s, one per workspace, spawned on first use under the
    runtime's "caches" supervisor (restarted if one crashes: the index is durable)."""

    def __init__(
        self,
        *,
        supervisor: Supervisor,
        ask: AskStore,
        storage: ResultStorage,
        storages: Mapping[str, ResultStorage],
        clock: Callable[[], datetime],
        purge_every: float | None,
    ) -> None:
        self._supervisor = supervisor
        self._ask = ask
        #: Where new results are written; `storages` are all it can read from, by name.
        self.storage = storage
        self.storages = storages
        self.clock = clock
        self._purge_every = purge_every
        self._handles: dict[str, CacheHandle] = {}
        self._spawning = anyio.Lock()

    async def handle(self, workspace: str) -> CacheHandle:
        handle = self._handles.get(workspace)
        if handle is not None:
            return handle
        async with self._spawning:
            handle = self._handles.get(workspace)
            if handle is None:
                tier = MemoryTier()
                ref = await self._supervisor.spawn(
                    lambda: CacheManagerActor(
                        workspace=workspace,
                        ask=self._ask,
                        storages=self.storages,
                        tier=tier,
                        clock=self.clock,
                        purge_every=self._purge_every,
                    ),
                    name=f"cache:{workspace}",
                    restart=Restart.PERMANENT,
                )
                handle = self._handles[workspace] = CacheHandle(ref, tier)
            return handle

    async def forget(self, workspace: str) -> None:
        """Stop the workspace's manager and drop its memory tier (the workspace is gone)."""
        handle = self._handles.pop(workspace, None)
        if handle is not None:
            await self._supervisor.stop_child(handle.ref)


async def run_cached(
    engine: Engine,
    definition: object,
    fn: Callable[..., object],
    options: TaskOptions,
    run: LiveRun[TaskRun],
    context: RunContext,
) -> State:
    """Run a task whose options cache it; return its final state (already applied)."""
    caches = engine.caches
    try:
        key = cache_key(fn, options, run, context)
    except Exception as exc:  # an unhashable input, or a failing cache_key_fn
        failed = State.named("Failed", run.id, message=str(exc), outcome=exc)
        return await engine.finish_task(definition, options, run, failed)
    if key is None or caches is None:
        return await engine.task_attempts(definition, fn, options, run, context)
    workspace = run.base.workspace
    handle = await caches.handle(workspace)
    hit = None if options.refresh_cache else handle.tier.get(key, caches.clock())
    if hit is None:
        claimed = await _claim(handle, key, options.refresh_cache)
        if type(claimed) is Hit:
            hit = (claimed.entry, claimed.data)
    if hit is not None:
        run.transition("Running")
        engine.journal.cached_result(run.id, workspace, key)
        cached = State.named("Cached", run.id, outcome=loads(hit[1]))
        return await engine.finish_task(definition, options, run, cached)
    # The lease: this run computes the result; whatever happens, the key is filled or let go.
    filled = False
    try:
        final = await engine.task_attempts(definition, fn, options, run, context)
        if final.type is StateType.COMPLETED:
            filled = await _fill(caches, handle, options, run, key, final, context)
    finally:
        if not filled:
            with anyio.CancelScope(shield=True):
                await handle.ref.tell(Abandon(key=key))
    return final


async def _claim(handle: CacheHandle, key: str, refresh: bool) -> Hit | Lease:
    """Ask for the key; a claimant cancelled while it waits withdraws, so that the lease is
    never handed to a run that is no longer there to compute it."""
    claimant = next(_claimants)
    try:
        return await handle.ref.ask(Claim(key=key, claimant=claimant, refresh=refresh))
    except BaseException:
        with anyio.CancelScope(shield=True):
            await handle.ref.tell(Withdraw(key=key, claimant=claimant))
        raise


_claimants = itertools.count()


def cache_key(
    fn: Callable[..., object], options: TaskOptions, run: LiveRun[TaskRun], context: RunContext
) -> str | None:
    """The run's cache key, or None when this call is not to be cached."""
    return options.cache_policy.cache_key(
        CacheKeyContext(
            task_name=options.name,
            task_version=options.version,
            fn=fn,
            inputs=run.parameters,
            flow_parameters=context.flow_run.parameters,
            flow_run_id=context.flow_run_id,
        )
    )


async def _fill(
    caches: CacheManagers,
    handle: CacheHandle,
    options: TaskOptions,
    run: LiveRun[TaskRun],
    key: str,
    final: State,
    context: RunContext,
) -> bool:
    """Store the result and index it; False (and a stored log line saying why) if it cannot
    be: the task stays Completed, only uncached."""
    run_logger = RunLogger(logger, context)
    try:
        data = dumps(final.result(), options.result_serializer)
    except UnserializableResultError as exc:
        run_logger.warning("the result of task %s is not cached: %s", options.name, exc)
        return False
    storage = caches.storage
    workspace = run.base.workspace
    try:
        location = await storage.write(workspace, key, data)
    except Exception as exc:
        run_logger.warning(
            "the result of task %s is not cached: storage %r failed: %s",
            options.name,
            storage.name,
            exc,
        )
        return False
    now = caches.clock()
    expiration: timedelta | None = options.cache_expiration
    entry = CacheEntry(
        key=key,
        workspace=workspace,
        task_name=options.name,
        created=now,
        expires=None if expiration is None else now + expiration,
        size=len(data),
        storage=storage.name,
        location=location,
        task_run_id=run.id,
    )
    try:
        with anyio.CancelScope(shield=True):  # the stored result is indexed, and waiters woken
            await handle.ref.ask(Fill(entry=entry, data=data))
    except Exception as exc:  # the index cannot be written (its database is down, say)
        run_logger.warning("the result of task %s is not cached: %s", options.name, exc)
        return False
    return True
