"""The actor system: the root supervisor, the name registry and the dead-letter office."""

from __future__ import annotations

import contextlib
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, final

import anyio

from ._clock import SystemClock
from ._dead_letters import DeadLetterOffice
from ._registry import Registry
from ._slot import ChildSlot, Restart
from ._supervisor import (
    DEFAULT_MAILBOX_SIZE,
    DEFAULT_SHUTDOWN_TIMEOUT,
    RestartIntensity,
    Strategy,
    Supervisor,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    from ._actor import Actor
    from ._backoff import ExponentialBackoff
    from ._clock import Clock
    from ._ref import ActorRef


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class SystemStatistics:
    """A snapshot of an actor system."""

    actors: int
    dead_letters: int


@final
class ActorSystem:
    """A tree of supervised actors in one event loop. Open one with `open_actor_system`."""

    def __init__(
        self,
        *,
        name: str,
        clock: Clock,
        rng: random.Random,
        dead_letter_capacity: int,
        strategy: Strategy,
        intensity: RestartIntensity | None,
        backoff: ExponentialBackoff | None,
    ) -> None:
        self.name = name
        self.clock = clock
        self.random = rng
        self.dead_letters = DeadLetterOffice(clock, dead_letter_capacity)
        self.registry = Registry()
        self.root = Supervisor(
            self, "root", strategy=strategy, intensity=intensity, backoff=backoff
        )

    async def spawn(
        self,
        factory: Callable[[], Actor],
        *,
        name: str | None = None,
        restart: Restart = Restart.PERMANENT,
        mailbox_size: int = DEFAULT_MAILBOX_SIZE,
        shutdown_timeout: float | None = DEFAULT_SHUTDOWN_TIMEOUT,
    ) -> ActorRef:
        """Start an actor under the root supervisor (see `Supervisor.spawn`)."""
        return await self.root.spawn(
            factory,
            name=name,
            restart=restart,
            mailbox_size=mailbox_size,
            shutdown_timeout=shutdown_timeout,
        )

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
        """Start a supervisor under the root supervisor (see `Supervisor.spawn_supervisor`)."""
        return await self.root.spawn_supervisor(
            name=name,
            strategy=strategy,
            intensity=intensity,
            backoff=backoff,
            restart=restart,
            shutdown_timeout=shutdown_timeout,
        )

    def lookup(self, name: str) -> ActorRef:
        """Return the ref of the live actor called `name`.

        Raises:
            ActorNotFoundError: no live actor has that name.
        """
        return self.registry.lookup(name)

    async def stop(self, ref: ActorRef) -> None:
        """Stop an actor for good, wherever it sits in the tree, and wait until it has.

        Cancelling the wait does not cancel the stop. An actor stops itself with
        `Actor.stop()`: awaiting this on its own ref, from its own handler, would wait out its
        shutdown timeout and then cancel the handler.
        """
        supervisor = self.registry.cell(ref.name).supervisor
        assert supervisor is not None
        await supervisor.stop_child(ref)

    def statistics(self) -> SystemStatistics:
        return SystemStatistics(actors=len(self.registry), dead_letters=self.dead_letters.total)


@contextlib.asynccontextmanager
async def open_actor_system(
    *,
    name: str = "repertory",
    strategy: Strategy = Strategy.ONE_FOR_ONE,
    intensity: RestartIntensity | None = None,
    backoff: ExponentialBackoff | None = None,
    clock: Clock | None = None,
    rng: random.Random | None = None,
    dead_letter_capacity: int = 1000,
) -> AsyncIterator[ActorSystem]:
    """Open an actor system in the current task; leaving it stops every actor, newest first.

    Actors are not cancelled by the host's cancel scopes: when the body ends, for any reason,
    they stop in order, each within its shutdown timeout.

    The arguments configure the root supervisor. If the root supervisor gives up (its children
    crashed more often than `intensity` allows), the body is cancelled and this raises
    `RestartIntensityError`. An exception from the body passes through unchanged.

    Args:
        name: the system's name, used in logs and by the transport.
        strategy, intensity, backoff: the root supervisor's policy.
        clock: the clock for backoff and restart intensity (tests pass a fake one).
        rng: the random source for jitter (tests pass a seeded one).
        dead_letter_capacity: how many recent dead letters are kept for inspection.
    """
    system = ActorSystem(
        name=name,
        clock=clock or SystemClock(),
        rng=rng or random.Random(),
        dead_letter_capacity=dead_letter_capacity,
        strategy=strategy,
        intensity=intensity,
        backoff=backoff,
    )
    root = system.root
    root_failure: list[Exception] = []
    body_error: Exception | None = None

    class RootWatch:
        def on_child_exit(self, slot: ChildSlot, error: Exception | None) -> None:
            if error is not None:
                root_failure.append(error)
                task_group.cancel_scope.cancel()  # the body ends: the system is gone

    root_slot = ChildSlot(root, Restart.TEMPORARY, None, RootWatch())

    async def run_root() -> None:
        # Shielded: the actors stop through the ordered shutdown below, never by a cancel
        # scope of the host's cutting through all of them at once.
        with anyio.CancelScope(shield=True):
            await root.run(root_slot)

    try:
        async with anyio.create_task_group() as task_group:
            root_slot.begin(system.clock.now())
            task_group.start_soon(run_root)
            try:
                await root_slot.wait_started()
                yield system
            except Exception as exc:
                body_error = exc  # re-raised below, so that task groups do not wrap it
            finally:
                # Each child has its own shutdown timeout, so this is bounded.
                with anyio.CancelScope(shield=True):
                    root_slot.stop_on_purpose()
                    root.request_stop(is_final=True)
                    await root_slot.wait_exited()
    finally:
        root.close()
    if body_error is not None:
        raise body_error
    if root_failure:
        raise root_failure[0]
