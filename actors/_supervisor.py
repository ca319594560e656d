"""Supervisors: restart children by strategy and restart type, within an intensity, with backoff.

This follows Erlang/OTP: a crash goes to the supervisor, which restarts the crashed child (and,
by strategy, its siblings) after a backoff delay, or gives up and fails upward when children
crash too often. Stopping a supervisor stops its children in reverse start order.
"""

from __future__ import annotations

import collections
import contextlib
import enum
import logging
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, final

import anyio

from ._backoff import ExponentialBackoff
from ._cell import ActorCell
from ._errors import ActorNotFoundError, ActorStoppedError, RestartIntensityError
from ._slot import ChildSlot, Restart

if TYPE_CHECKING:
    from collections.abc import Callable

    from anyio.abc import TaskGroup, TaskStatus

    from ._actor import Actor
    from ._ref import ActorRef
    from ._system import ActorSystem

logger = logging.getLogger("repertory.actors")

DEFAULT_MAILBOX_SIZE = 1000
DEFAULT_SHUTDOWN_TIMEOUT = 5.0


class Strategy(enum.Enum):
    """Which children a supervisor restarts when one of them crashes."""

    ONE_FOR_ONE = "one_for_one"  # only the crashed child
    ONE_FOR_ALL = "one_for_all"  # every child
    REST_FOR_ONE = "rest_for_one"  # the crashed child and those started after it


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class RestartIntensity:
    """At most `max_restarts` restarts within `within_seconds`; one more and the supervisor
    stops its children and fails upward."""

    max_restarts: int = 3
    within_seconds: float = 5.0

    def __post_init__(self) -> None:
        if self.max_restarts < 0:
            raise ValueError(f"max_restarts must be >= 0, got {self.max_restarts}")
        if self.within_seconds <= 0:
            raise ValueError(f"within_seconds must be > 0, got {self.within_seconds}")


@final
@dataclass(frozen=True, slots=True)
class _Exited:
    slot: ChildSlot
    error: Exception | None
    is_stopped_on_purpose: bool


@final
class Supervisor:
    """Starts, watches and restarts children: actors and nested supervisors.

    Get one from `ActorSystem.spawn_supervisor` or `Supervisor.spawn_supervisor`; the system's
    root supervisor is `system.root`.
    """

    def __init__(
        self,
        system: ActorSystem,
        name: str,
        *,
        strategy: Strategy = Strategy.ONE_FOR_ONE,
        intensity: RestartIntensity | None = None,
        backoff: ExponentialBackoff | None = None,
    ) -> None:
        self.name = name
        self.strategy = strategy
        self.intensity = intensity or RestartIntensity()
        self.backoff = backoff or ExponentialBackoff()
        self._system = system
        # Insertion-ordered: start order. A dict, so that removing one of many is O(1).
        self._slots: dict[ChildSlot, None] = {}
        self._task_group: TaskGroup | None = None
        self._is_closing = False
        self._restarts: collections.deque[float] = collections.deque()
        self._events_send, self._events = anyio.create_memory_object_stream[_Exited | None](
            math.inf
        )

    @property
    def children(self) -> tuple[str, ...]:
        """The names of the children, in start order."""
        return tuple(slot.child.name for slot in self._slots)

    async def spawn(
        self,
        factory: Callable[[], Actor],
        *,
        name: str | None = None,
        restart: Restart = Restart.PERMANENT,
        mailbox_size: int = DEFAULT_MAILBOX_SIZE,
        shutdown_timeout: float | None = DEFAULT_SHUTDOWN_TIMEOUT,
    ) -> ActorRef:
        """Start an actor under this supervisor and return its ref once `on_start` is done.

        Blocks until the actor has started.

        Args:
            factory: builds a fresh actor (a class, or a callable such as a partial).
            name: unique in the system; one is made up from the factory's name if omitted.
            restart: when the supervisor starts the actor again after it exits.
            mailbox_size: how many messages may wait; `tell` waits beyond that.
            shutdown_timeout: how long the actor may take to finish when stopped, in seconds,
                before it is cancelled (None: no limit).

        Raises:
            ActorNameTakenError: another live actor has this name.
            ActorStoppedError: this supervisor is not running.
            Exception: whatever the actor's `on_start` raised (the actor is then discarded).
        """
        registry = self._system.registry
        name = registry.claim(name, getattr(factory, "__name__", "actor"))
        try:
            cell = ActorCell(self._system, name, factory, mailbox_size)
        except BaseException:
            registry.release(name)
            raise
        slot = ChildSlot(cell, restart, shutdown_timeout, self)
        cell.supervisor = self
        cell.slot = slot
        registry.bind(cell)
        await self._add(slot)
        return cell.ref

    async def spawn_supervisor(
        self,
        *,
        name: str | None = None,
        strategy: Strategy = Strategy.ONE_FOR_ONE,
        intensity: RestartIntensity | None = None,
        backoff: ExponentialBackoff | None = None,
        restart: Restart = Restart.PERMANENT,
        shutdown_timeout: float | None = None,
    ) -> Supervisor:
        """Start a nested supervisor under this one and return it (blocks until it runs).

        When the nested supervisor gives up (`RestartIntensityError`), this one handles it like
        any crashed child.
        """
        supervisor = Supervisor(
            self._system,
            name or self._system.registry.make_name("supervisor"),
            strategy=strategy,
            intensity=intensity,
            backoff=backoff,
        )
        await self._add(ChildSlot(supervisor, restart, shutdown_timeout, self))
        return supervisor

    async def stop_child(self, ref: ActorRef) -> None:
        """Stop a child for good (it is not restarted) and wait until it has stopped.

        Raises:
            ActorNotFoundError: `ref` is not a live child of this supervisor.
        """
        cell = self._system.registry.cell(ref.name)
        slot = cell.slot
        if cell.supervisor is not self or slot is None:
            raise ActorNotFoundError(ref.name)
        await self._stop(slot)
        self._remove(slot)

    # The supervisor as a child of its own supervisor.

    async def run(self, slot: ChildSlot, *, task_status: TaskStatus[None]) -> None:
        """Supervise until asked to stop; raise `RestartIntensityError` on giving up.

        A supervisor that is itself restarted starts again the children it had, but for
        temporary ones.
        """
        with slot:
            self._is_closing = False
            self._restarts.clear()
            for child in [child for child in self._slots if child.restart is Restart.TEMPORARY]:
                self._remove(child)
            failure: RestartIntensityError | None = None
            async with anyio.create_task_group() as task_group:
                self._task_group = task_group
                try:
                    for child in list(self._slots):
                        await self._start(child)
                    slot.started(task_status)
                    failure = await self._supervise()
                finally:
                    self._task_group = None
                    task_group.cancel_scope.cancel()  # backoff timers of restarts that won't be
            if failure is not None:
                raise failure

    def request_stop(self) -> None:
        """Ask the supervisor to stop its children (last started first) and finish."""
        with contextlib.suppress(anyio.ClosedResourceError):
            self._events_send.send_nowait(None)

    def close(self) -> None:
        """Retire every child for good (their mailboxes turn into dead-letter sinks)."""
        for slot in reversed(list(self._slots)):
            self._remove(slot)
        self._events_send.close()
        self._events.close()

    # Internals.

    async def _add(self, slot: ChildSlot) -> None:
        if self._task_group is None or self._is_closing:
            self._remove(slot)
            raise ActorStoppedError(self.name)
        self._slots[slot] = None
        try:
            await self._start(slot)
        except BaseException:
            self._remove(slot)
            raise

    async def _start(self, slot: ChildSlot) -> None:
        assert self._task_group is not None
        slot.is_stopping = False
        slot.started_at = self._system.clock.now()
        slot.handle = await self._task_group.start(slot.child.run, slot, return_handle=True)

    def on_child_exit(self, slot: ChildSlot, error: Exception | None) -> None:
        """Hear of the end of a child's run (from its slot); the supervision loop acts on it."""
        if error is not None:
            logger.error("%r crashed (supervisor %r)", slot.child.name, self.name, exc_info=error)
        with contextlib.suppress(anyio.ClosedResourceError):
            self._events_send.send_nowait(_Exited(slot, error, slot.is_stopping))

    async def _supervise(self) -> RestartIntensityError | None:
        while True:
            event = await self._events.receive()
            if event is None:
                await self._stop_all()
                return None
            if event.slot not in self._slots or event.is_stopped_on_purpose:
                continue
            failure = await self._handle_exit(event.slot, event.error)
            if failure is not None:
                return failure

    async def _handle_exit(
        self, slot: ChildSlot, error: Exception | None
    ) -> RestartIntensityError | None:
        is_restarted = slot.restart is Restart.PERMANENT or (
            slot.restart is Restart.TRANSIENT and error is not None
        )
        if not is_restarted:
            self._remove(slot)
            return None
        now = self._system.clock.now()
        if not self._allow_restart(now):
            failure = RestartIntensityError(
                self.name, self.intensity.max_restarts, self.intensity.within_seconds
            )
            failure.__cause__ = error
            logger.error("supervisor %r gives up: %s", self.name, failure)
            await self._stop_all()
            return failure
        group = self._restart_group(slot)
        for other in reversed(group):
            await self._stop(other)
        slot.attempt = self.backoff.next_attempt(slot.attempt, now - slot.started_at)
        delay = self.backoff.delay(slot.attempt, self._system.random)
        slot.attempt += 1
        assert self._task_group is not None
        self._task_group.start_soon(self._restart_later, group, delay)
        return None

    def _allow_restart(self, now: float) -> bool:
        restarts = self._restarts
        restarts.append(now)
        while now - restarts[0] > self.intensity.within_seconds:
            restarts.popleft()
        return len(restarts) <= self.intensity.max_restarts

    def _restart_group(self, slot: ChildSlot) -> list[ChildSlot]:
        if self.strategy is Strategy.ONE_FOR_ONE:
            return [slot]
        slots = list(self._slots)
        if self.strategy is Strategy.ONE_FOR_ALL:
            return slots
        return slots[slots.index(slot) :]

    async def _restart_later(self, group: list[ChildSlot], delay: float) -> None:
        await self._system.clock.sleep(delay)
        for slot in group:
            if self._is_closing or slot not in self._slots or slot.is_running:
                continue
            logger.info("restarting %r (supervisor %r)", slot.child.name, self.name)
            try:
                await self._start(slot)
            except Exception as exc:
                # A failed restart is one more crash of that child.
                self._events_send.send_nowait(_Exited(slot, exc, is_stopped_on_purpose=False))
                return

    async def _stop(self, slot: ChildSlot) -> None:
        if not slot.is_running:
            return
        slot.is_stopping = True
        slot.child.request_stop()
        with anyio.move_on_after(slot.shutdown_timeout):
            await slot.wait_exited()
        if slot.is_running:
            logger.warning("%r did not stop in time; cancelling it", slot.child.name)
            if slot.handle is not None:
                slot.handle.cancel()
            await slot.wait_exited()

    async def _stop_all(self) -> None:
        self._is_closing = True
        for slot in reversed(list(self._slots)):
            await self._stop(slot)

    def _remove(self, slot: ChildSlot) -> None:
        self._slots.pop(slot, None)
        slot.child.close()
        if isinstance(slot.child, ActorCell):
            self._system.registry.release(slot.child.name)
