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
from ._errors import ActorNotFoundError, ActorStoppedError, RestartIntensityError, TransientError
from ._slot import ChildSlot, Restart

if TYPE_CHECKING:
    from collections.abc import Callable

    from anyio.abc import TaskGroup

    from ._actor import Actor
    from ._ref import ActorRef
    from ._system import ActorSystem

logger = logging.getLogger("repertory.actors")

DEFAULT_MAILBOX_SIZE = 1000
DEFAULT_SHUTDOWN_TIMEOUT = 5.0
_ABSENT = object()


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
    run: int  # which run of the slot ended
    error: Exception | None


@final
@dataclass(frozen=True, slots=True)
class _Shutdown:
    is_final: bool  # the system is closing: retire each child once it has stopped


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
        # Group restarts (one_for_all, rest_for_one): the children due for one, started in
        # start order by the timer of the latest crash (an earlier timer sees its epoch gone).
        self._due: dict[ChildSlot, None] = {}
        self._due_epoch = 0
        self._starting: ChildSlot | None = None  # the child `run` is starting, if any
        self._events_send, self._events = anyio.create_memory_object_stream[_Exited | _Shutdown](
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
        except ValueError:
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
        slot.is_retiring = True
        if self._task_group is None:
            self._remove(slot)
            return
        # The stop runs in the supervisor's own task: cancelling this wait does not stop it.
        done = anyio.Event()
        self._task_group.start_soon(self._retire_child, slot, done)
        await done.wait()

    # The supervisor as a child of its own supervisor.

    async def run(self, slot: ChildSlot) -> None:
        """Supervise until asked to stop; raise `RestartIntensityError` on giving up.

        A supervisor that is itself restarted starts again the children it had, but for
        temporary ones. If one of them fails to start, those started are stopped (newest
        first) and the run fails with that child's error.
        """
        with slot:
            self._is_closing = False
            self._restarts.clear()
            self._due.clear()
            # What the previous run left unread is about children now gone; a stop request
            # for this run shows as `slot.is_stopping` (its parent sets it first).
            while True:
                try:
                    self._events.receive_nowait()
                except anyio.WouldBlock:
                    break
            for child in [child for child in self._slots if child.restart is Restart.TEMPORARY]:
                self._remove(child)
            failure: Exception | None = None
            is_started = False
            async with anyio.create_task_group() as task_group:
                self._task_group = task_group
                try:
                    failure = await self._start_children(slot)
                    if failure is None and not slot.is_stopping:
                        slot.started()
                        is_started = True
                        failure = await self._supervise()
                    else:
                        await self._stop_all(retire=False)
                finally:
                    self._task_group = None
                    task_group.cancel_scope.cancel()  # backoff timers of restarts that won't be
            if failure is not None:
                raise failure
            if not is_started:
                raise ActorStoppedError(self.name)  # stopped or cancelled while starting

    async def _start_children(self, slot: ChildSlot) -> Exception | None:
        """Start the children in order; stop early if this run is asked to stop."""

        def is_stopping() -> bool:  # read afresh after every await (`request_stop` sets it)
            return slot.is_stopping

        for child in list(self._slots):
            if is_stopping():
                return None
            if child not in self._slots or child.is_retiring:
                continue
            self._starting = child
            try:
                await self._start(child)
            except Exception as exc:
                return None if is_stopping() else exc
            finally:
                self._starting = None
        return None

    def request_stop(self, *, is_final: bool = False) -> None:
        """Ask the supervisor to stop its children (last started first) and finish."""
        with contextlib.suppress(anyio.ClosedResourceError):
            self._events_send.send_nowait(_Shutdown(is_final))
        starting = self._starting
        if starting is not None and self._task_group is not None:
            # Still starting its children: the one starting now stops within its own timeout.
            self._task_group.start_soon(self._stop, starting)

    def cancel_start(self) -> None:
        """Cancel the starting of this supervisor's children (they are taking too long)."""
        if self._task_group is not None:
            self._task_group.cancel_scope.cancel()

    def close(self) -> None:
        """Retire every child for good (their mailboxes turn into dead-letter sinks)."""
        for slot in reversed(list(self._slots)):
            self._remove(slot)
        self._events_send.close()
        self._events.close()

    # Internals.

    async def _add(self, slot: ChildSlot) -> None:
        if self._task_group is None or self._is_closing:
            self._retire(slot)
            raise ActorStoppedError(self.name)
        self._slots[slot] = None
        is_added = False
        try:
            await self._start(slot)
            is_added = True
        finally:
            if not is_added:
                self._remove(slot)

    async def _start(self, slot: ChildSlot) -> None:
        # Not `TaskGroup.start`: its bookkeeping stays with each task for good (3.5 KiB per
        # idle actor on trio), and it would run `on_start` in the spawner's cancel scopes.
        assert self._task_group is not None
        slot.begin(self._system.clock.now())
        slot.handle = self._task_group.start_soon(slot.child.run, slot)
        try:
            await slot.wait_started()
        except anyio.get_cancelled_exc_class():
            # The starter gave up waiting (its caller removes the child, or the supervisor
            # is ending): the child must not live on, half adopted.
            slot.stop_on_purpose()
            slot.child.request_stop()
            slot.child.cancel_start()
            raise

    def on_child_exit(self, slot: ChildSlot, error: Exception | None) -> None:
        """Hear of the end of a child's run (from its slot); the supervision loop acts on it."""
        if isinstance(error, TransientError):  # nothing to debug: one line
            logger.warning("%r stopped (supervisor %r): %s", slot.child.name, self.name, error)
        elif error is not None:
            logger.error("%r crashed (supervisor %r)", slot.child.name, self.name, exc_info=error)
        with contextlib.suppress(anyio.ClosedResourceError):
            self._events_send.send_nowait(_Exited(slot, slot.runs, error))

    async def _supervise(self) -> RestartIntensityError | None:
        while True:
            event = await self._events.receive()
            if isinstance(event, _Shutdown):
                await self._stop_all(retire=event.is_final)
                return None
            failure = await self._on_exited(event)
            del event  # a quiet supervisor keeps nothing of the child it heard of last
            if failure is not None:
                return failure

    async def _on_exited(self, event: _Exited) -> RestartIntensityError | None:
        slot = event.slot
        if slot not in self._slots:
            return None
        if slot.is_retiring:
            self._remove(slot)
            return None
        if event.run > slot.handled_runs:  # not stopped on purpose, not dealt with yet
            return await self._handle_exit(slot, event.error)
        return None

    async def _handle_exit(
        self, slot: ChildSlot, error: Exception | None
    ) -> RestartIntensityError | None:
        slot.handled_runs = slot.runs
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
            await self._stop_all(retire=False)
            return failure
        group = self._restart_group(slot)
        for other in reversed(group):
            await self._stop(other)
            # An exit of its own that is still queued is part of this same incident.
            other.handled_runs = other.runs
        for other in group:
            if other is not slot and other.restart is Restart.TEMPORARY:
                self._remove(other)  # a temporary child is never restarted, not even so
        slot.attempt = self.backoff.next_attempt(slot.attempt, now - slot.started_at)
        delay = self.backoff.delay(slot.attempt, self._system.random)
        slot.attempt += 1
        assert self._task_group is not None
        if self.strategy is Strategy.ONE_FOR_ONE:
            self._task_group.start_soon(self._restart_one, slot, delay)
        else:
            self._due.update(dict.fromkeys(group))
            self._due_epoch += 1
            self._task_group.start_soon(self._restart_due, delay, self._due_epoch)
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

    async def _restart_one(self, slot: ChildSlot, delay: float) -> None:
        await self._system.clock.sleep(delay)
        if not (self._is_closing or slot.is_retiring or slot.is_active or slot not in self._slots):
            await self._restart(slot)

    async def _restart_due(self, delay: float, epoch: int) -> None:
        await self._system.clock.sleep(delay)
        for slot in list(self._slots):  # in start order
            if epoch != self._due_epoch or self._is_closing:
                return  # a later crash: its timer restarts what is due, in order
            if slot in self._due:
                del self._due[slot]
                if slot.is_retiring or slot.is_active:
                    continue
                if not await self._restart(slot):
                    return

    async def _restart(self, slot: ChildSlot) -> bool:
        logger.info("restarting %r (supervisor %r)", slot.child.name, self.name)
        try:
            await self._start(slot)
        except Exception as exc:
            # A failed restart is one more crash of that child.
            logger.error("%r failed to restart (supervisor %r)", slot.child.name, self.name)
            self._events_send.send_nowait(_Exited(slot, slot.runs, exc))
            return False
        return True

    async def _retire_child(self, slot: ChildSlot, done: anyio.Event) -> None:
        try:
            await self._stop(slot)
        finally:  # even when the supervisor's own end cancels the wait
            self._remove(slot)
            done.set()

    async def _stop(self, slot: ChildSlot, *, is_final: bool = False) -> None:
        if not slot.is_active:
            return
        slot.stop_on_purpose()
        slot.child.request_stop(is_final=is_final)
        with anyio.move_on_after(slot.shutdown_timeout):
            await slot.wait_exited()
        if slot.is_active:
            logger.warning("%r did not stop in time; cancelling it", slot.child.name)
            slot.child.cancel_start()
            if slot.handle is not None:
                slot.handle.cancel()
            await slot.wait_exited()

    async def _stop_all(self, *, retire: bool) -> None:
        self._is_closing = True
        for slot in reversed(list(self._slots)):
            await self._stop(slot, is_final=retire)
            if retire or slot.is_retiring:
                self._remove(slot)  # asks to it fail at once from now on

    def _remove(self, slot: ChildSlot) -> None:
        self._due.pop(slot, None)
        if self._slots.pop(slot, _ABSENT) is not _ABSENT:
            self._retire(slot)
        # else removed already: retiring twice could release a name another actor has now

    def _retire(self, slot: ChildSlot) -> None:
        slot.child.close()
        if isinstance(slot.child, ActorCell):
            self._system.registry.release(slot.child.name)
