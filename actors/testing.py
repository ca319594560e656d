"""Helpers to test actors, for this project and its users: a test system, a probe, a fake clock.

async with open_test_system() as system:
    probe = await spawn_probe(system)
    await probe.ref.tell("hello")
    assert await probe.receive() == "hello"
"""

from __future__ import annotations

import contextlib
import random
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, TypeVar, final

import anyio
import anyio.lowlevel

from ._actor import Actor
from ._backoff import ExponentialBackoff
from ._supervisor import RestartIntensity, Strategy
from ._system import open_actor_system

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    from ._clock import Clock
    from ._ref import ActorRef
    from ._system import ActorSystem

T = TypeVar("T")

#: No delay between restarts, so that restart tests need neither sleeps nor a fake clock.
NO_BACKOFF = ExponentialBackoff(initial=0.0, maximum=0.0, jitter=0.0)


@contextlib.asynccontextmanager
async def open_test_system(
    *,
    strategy: Strategy = Strategy.ONE_FOR_ONE,
    intensity: RestartIntensity | None = None,
    backoff: ExponentialBackoff = NO_BACKOFF,
    clock: Clock | None = None,
    seed: int = 0,
) -> AsyncIterator[ActorSystem]:
    """Open an actor system for a test: seeded jitter and, by default, no restart backoff."""
    async with open_actor_system(
        name="test",
        strategy=strategy,
        intensity=intensity,
        backoff=backoff,
        clock=clock,
        rng=random.Random(seed),
    ) as system:
        yield system


@final
class FakeClock:
    """A clock that moves only when told to, for testing timeouts, backoff and expiry without
    sleeping. Its monotonic time starts at `start`; its wall-clock time at `utc` (the system's
    time when it was made, by default), and `advance` moves both.

    Every `sleep` is recorded in `sleeps`; `advance` wakes the sleepers that are due. A sleep
    of zero seconds (or less) returns at once, as on the system clock.
    """

    def __init__(self, start: float = 0.0, *, utc: datetime | None = None) -> None:
        if utc is not None and utc.tzinfo is None:
            raise ValueError(f"a FakeClock's wall-clock time is timezone-aware, got {utc!r}")
        self._now = start
        self._utc = (datetime.now(UTC) if utc is None else utc).astimezone(UTC)
        self.sleeps: list[float] = []
        self._sleepers: list[tuple[float, anyio.Event]] = []
        self._changed = anyio.Event()

    def now(self) -> float:
        return self._now

    def utc_now(self) -> datetime:
        return self._utc

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        if seconds <= 0:
            await anyio.lowlevel.checkpoint()
            return
        wake = anyio.Event()
        self._sleepers.append((self._now + seconds, wake))
        self._notify()
        await wake.wait()

    def advance(self, seconds: float | timedelta) -> None:
        """Move time forward (seconds, or a `timedelta`) and wake every sleeper whose time has
        come."""
        if isinstance(seconds, timedelta):
            seconds = seconds.total_seconds()
        if seconds < 0:
            raise ValueError(f"a clock only moves forward, not by {seconds} s")
        self._now += seconds
        self._utc += timedelta(seconds=seconds)
        due = [entry for entry in self._sleepers if entry[0] <= self._now]
        self._sleepers = [entry for entry in self._sleepers if entry[0] > self._now]
        for _, wake in due:
            wake.set()

    async def wait_for_sleepers(self, count: int = 1) -> None:
        """Wait until at least `count` tasks are sleeping on this clock (blocks)."""
        while len(self._sleepers) < count:
            await self._changed.wait()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = anyio.Event()


class _ProbeActor(Actor):
    def __init__(self, probe: Probe) -> None:
        self._probe = probe

    async def receive(self, message: object) -> object:
        self._probe._record(message)
        return self._probe.reply(message)


@final
class Probe:
    """An actor that records what it is sent, for tests to wait on. Asks get `reply(msg)`."""

    def __init__(self, reply: Callable[[object], object]) -> None:
        self.reply = reply
        self.messages: list[object] = []
        self._next = 0  # index in `messages` of what `receive` returns next
        self._arrived = anyio.Event()
        self._ref: ActorRef | None = None

    @property
    def ref(self) -> ActorRef:
        assert self._ref is not None, "spawn the probe with spawn_probe()"
        return self._ref

    async def receive(self) -> object:
        """Wait for the next message the probe gets, in arrival order (blocks)."""
        while self._next >= len(self.messages):
            await self._arrived.wait()
        self._next += 1
        return self.messages[self._next - 1]

    async def expect(self, kind: type[T]) -> T:
        """Wait for the next message and check that it is a `kind` (blocks)."""
        message = await self.receive()
        if not isinstance(message, kind):
            raise AssertionError(f"expected a {kind.__name__}, got {message!r}")
        return message

    def _record(self, message: object) -> None:
        self.messages.append(message)
        self._arrived.set()
        self._arrived = anyio.Event()


async def spawn_probe(
    system: ActorSystem,
    *,
    name: str | None = None,
    reply: Callable[[object], object] = lambda message: None,
) -> Probe:
    """Spawn a probe actor in `system` and return it (blocks until it has started)."""
    probe = Probe(reply)
    probe._ref = await system.spawn(lambda: _ProbeActor(probe), name=name or None)
    return probe
