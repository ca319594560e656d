"""The actor system: names, lookup, statistics, and the test helpers built on it."""

from __future__ import annotations

import functools
import gc
import weakref
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import anyio
import pytest

from repertory.actors import (
    Actor,
    ActorNameTakenError,
    ActorNotFoundError,
    ActorStoppedError,
    Request,
    Restart,
    SystemClock,
    open_actor_system,
)
from repertory.actors.testing import FakeClock, open_test_system, spawn_probe


@dataclass(frozen=True, slots=True, kw_only=True)
class _Ping(Request[object]):
    def __str__(self) -> str:
        return "ping"


class Idle(Actor):
    async def receive(self, message: object) -> object:
        return None


async def test_names_are_unique_and_looked_up() -> None:
    async with open_actor_system() as system:
        ref = await system.spawn(Idle, name="one")
        assert system.lookup("one") is ref
        with pytest.raises(ActorNameTakenError):
            await system.spawn(Idle, name="one")
        with pytest.raises(ActorNotFoundError):
            system.lookup("two")
        assert system.statistics().actors == 1


async def test_generated_names_come_from_the_factory() -> None:
    async with open_test_system() as system:
        first = await system.spawn(Idle)
        second = await system.spawn(Idle)
        assert first.name.startswith("Idle-")
        assert first.name != second.name


@pytest.mark.parametrize("name", ["", "x" * 201, "bad\nname"])
async def test_bad_names_are_rejected(name: str) -> None:
    async with open_test_system() as system:
        with pytest.raises(ValueError, match="printable"):
            await system.spawn(Idle, name=name)


async def test_an_actor_knows_its_ref_and_system() -> None:
    seen: list[object] = []

    class SelfAware(Actor):
        async def on_start(self) -> None:
            seen.extend([self.ref.name, self.system.lookup(self.ref.name) is self.ref])

    async with open_test_system() as system:
        await system.spawn(SelfAware, name="me")
    assert seen == ["me", True]


async def test_refs_of_a_closed_system_are_dead() -> None:
    async with open_test_system() as system:
        ref = await system.spawn(Idle)
    with pytest.raises(ActorStoppedError):
        await ref.ask(_Ping())
    with pytest.raises(ActorStoppedError):
        await system.spawn(Idle)


async def test_probe_records_messages_in_order() -> None:
    async with open_test_system() as system:
        probe = await spawn_probe(system, reply=lambda message: f"re: {message}")
        await probe.ref.tell("a")
        assert await probe.ref.ask(_Ping()) == "re: ping"
        assert await probe.receive() == "a"
        assert isinstance(await probe.expect(_Ping), _Ping)
        await probe.ref.tell("b")
        with pytest.raises(AssertionError, match="expected a int"):
            await probe.expect(int)


async def test_fake_clock_wakes_sleepers_when_advanced() -> None:
    clock = FakeClock(start=10.0)
    woke: list[float] = []

    async def sleeper(seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append(clock.now())

    async with anyio.create_task_group() as tg:
        tg.start_soon(sleeper, 5.0)
        tg.start_soon(sleeper, 1.0)
        await clock.wait_for_sleepers(2)
        clock.advance(1.0)
        await anyio.wait_all_tasks_blocked()
        assert woke == [11.0]
        clock.advance(4.0)
    assert woke == [11.0, 15.0]
    assert sorted(clock.sleeps) == [1.0, 5.0]


async def test_fake_clock_moves_wall_time_with_monotonic_time() -> None:
    began = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
    clock = FakeClock(start=5.0, utc=began)
    clock.advance(90)
    clock.advance(timedelta(minutes=1))
    assert (clock.now(), clock.utc_now()) == (155.0, began + timedelta(seconds=150))
    with pytest.raises(ValueError, match="only moves forward"):
        clock.advance(-1)
    with pytest.raises(ValueError, match="timezone-aware"):
        FakeClock(utc=datetime(2026, 12, 3))  # naive, on purpose
    await clock.sleep(0)  # due at once, as on the system clock: nothing to advance
    assert clock.sleeps == [0]
    assert abs(FakeClock().utc_now() - SystemClock().utc_now()) < timedelta(minutes=1)


async def test_a_system_opened_in_a_cancelled_scope_closes_at_once() -> None:
    entered = False
    with anyio.fail_after(5), anyio.CancelScope() as scope:
        scope.cancel()
        async with open_test_system():
            entered = True
    assert not entered


class _Payload:
    """Something an actor holds, to see when it is freed."""


class Holding(Actor):
    def __init__(self, held: _Payload) -> None:
        self.held = held

    async def receive(self, message: object) -> object:
        self.stop()
        return None


@pytest.mark.parametrize("how", ["stopped", "stops itself"])
async def test_a_stopped_actor_is_freed_without_a_garbage_collection(how: str) -> None:
    # A runtime spawns an actor per created run: a reference cycle per actor would leave
    # each run's state to the cyclic collector, whose passes cost the whole process.
    async with open_test_system() as system:
        payload = _Payload()
        alive = weakref.ref(payload)
        gc.disable()
        try:
            ref = await system.spawn(functools.partial(Holding, payload), restart=Restart.TEMPORARY)
            del payload
            if how == "stopped":
                await system.stop(ref)
            else:
                await ref.tell("stop")
            await anyio.wait_all_tasks_blocked()  # the supervisor has heard of the exit
            assert system.statistics().actors == 0
            assert alive() is None
        finally:
            gc.enable()
