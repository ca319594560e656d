"""Supervision: strategies, restart types, intensity, backoff, shutdown order and timeouts."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING

import anyio
import pytest

from repertory.actors import (
    Actor,
    ActorNotFoundError,
    ActorRef,
    ActorStoppedError,
    ExponentialBackoff,
    Request,
    Restart,
    RestartIntensity,
    RestartIntensityError,
    Strategy,
    TransientError,
)
from repertory.actors.testing import FakeClock, open_test_system

if TYPE_CHECKING:
    from repertory.actors import ActorSystem


class Journal:
    """What the actors of a test did, in order, with a way to wait for an entry."""

    def __init__(self) -> None:
        self.entries: list[str] = []
        self._changed = anyio.Event()

    def add(self, entry: str) -> None:
        self.entries.append(entry)
        self._changed.set()
        self._changed = anyio.Event()

    async def wait_for(self, entry: str, count: int = 1) -> None:
        with anyio.fail_after(5):
            while self.entries.count(entry) < count:
                await self._changed.wait()


@dataclass(frozen=True, slots=True, kw_only=True)
class Crash:
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class Finish:
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class Conflict:
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class Hang:
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class GetIncarnation(Request[int]):
    pass


class Worker(Actor):
    """Journals its start and stop; Crash raises, Finish stops normally, Hang never returns."""

    incarnations: dict[str, int] = {}  # noqa: RUF012 - reset per test by the fixture below

    def __init__(self, name: str, journal: Journal) -> None:
        self.name = name
        self.journal = journal

    async def on_start(self) -> None:
        self.journal.add(f"start {self.name}")

    async def on_stop(self) -> None:
        self.journal.add(f"stop {self.name}")

    async def receive(self, message: object) -> object:
        match message:
            case Crash():
                raise RuntimeError(f"{self.name} crashed on purpose")
            case Conflict():
                raise TransientError("the database is locked by another process")
            case Finish():
                self.stop()
            case Hang():
                await anyio.sleep_forever()
            case GetIncarnation():
                return self.journal.entries.count(f"start {self.name}")
            case _:
                self.unhandled(message)
        return None


def worker(name: str, journal: Journal) -> Worker:
    return Worker(name, journal)


async def test_one_for_one_restarts_only_the_crashed_child() -> None:
    journal = Journal()
    async with open_test_system() as system:
        sup = await system.spawn_supervisor(strategy=Strategy.ONE_FOR_ONE)
        refs = [await sup.spawn(functools.partial(worker, n, journal), name=n) for n in "abc"]
        await refs[1].tell(Crash())
        await journal.wait_for("start b", 2)
        assert [await ref.ask(GetIncarnation()) for ref in refs] == [1, 2, 1]
        assert journal.entries == ["start a", "start b", "start c", "stop b", "start b"]


async def test_a_transient_failure_restarts_the_actor_with_one_line_and_no_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    journal = Journal()
    async with open_test_system() as system:
        sup = await system.spawn_supervisor(strategy=Strategy.ONE_FOR_ONE, name="sup")
        ref = await sup.spawn(functools.partial(worker, "store", journal), name="store")
        await ref.tell(Conflict())
        await journal.wait_for("start store", 2)
        await ref.tell(Crash())  # a bug, beside it: its traceback is logged
        await journal.wait_for("start store", 3)
    said = [(r.levelname, r.getMessage(), r.exc_info is not None) for r in caplog.records]
    assert said == [
        (
            "WARNING",
            "'store' stopped (supervisor 'sup'): the database is locked by another process",
            False,
        ),
        ("ERROR", "'store' crashed (supervisor 'sup')", True),
    ]


async def test_one_for_all_restarts_every_child_in_start_order() -> None:
    journal = Journal()
    async with open_test_system() as system:
        sup = await system.spawn_supervisor(strategy=Strategy.ONE_FOR_ALL)
        refs = [await sup.spawn(functools.partial(worker, n, journal), name=n) for n in "abc"]
        await refs[1].tell(Crash())
        await journal.wait_for("start c", 2)
        assert journal.entries[3:] == [
            "stop b",
            "stop c",
            "stop a",
            "start a",
            "start b",
            "start c",
        ]
        assert [await ref.ask(GetIncarnation()) for ref in refs] == [2, 2, 2]


async def test_rest_for_one_restarts_the_crashed_child_and_those_after_it() -> None:
    journal = Journal()
    async with open_test_system() as system:
        sup = await system.spawn_supervisor(strategy=Strategy.REST_FOR_ONE)
        refs = [await sup.spawn(functools.partial(worker, n, journal), name=n) for n in "abc"]
        await refs[1].tell(Crash())
        await journal.wait_for("start c", 2)
        assert journal.entries[3:] == ["stop b", "stop c", "start b", "start c"]
        assert [await ref.ask(GetIncarnation()) for ref in refs] == [1, 2, 2]


@pytest.mark.parametrize(
    ("restart", "message", "is_restarted"),
    [
        (Restart.PERMANENT, Crash(), True),
        (Restart.PERMANENT, Finish(), True),
        (Restart.TRANSIENT, Crash(), True),
        (Restart.TRANSIENT, Finish(), False),
        (Restart.TEMPORARY, Crash(), False),
        (Restart.TEMPORARY, Finish(), False),
    ],
)
async def test_restart_types(restart: Restart, message: object, is_restarted: bool) -> None:
    journal = Journal()
    async with open_test_system() as system:
        ref = await system.spawn(lambda: worker("w", journal), name="w", restart=restart)
        await ref.tell(message)
        await journal.wait_for("stop w")
        if is_restarted:
            assert await ref.ask(GetIncarnation()) == 2
            assert system.lookup("w") is ref
        else:
            with pytest.raises(ActorStoppedError):
                await ref.ask(GetIncarnation())
            with pytest.raises(ActorNotFoundError):
                system.lookup("w")
            await ref.tell("too late")
            assert system.dead_letters.records[-1].reason == "stopped"


async def test_messages_queued_during_a_restart_reach_the_new_incarnation() -> None:
    journal = Journal()
    clock = FakeClock()
    backoff = ExponentialBackoff(initial=1.0, jitter=0.0)
    async with open_test_system(clock=clock, backoff=backoff) as system:
        ref = await system.spawn(lambda: worker("w", journal), name="w")
        await ref.tell(Crash())
        await clock.wait_for_sleepers()  # the supervisor waits out the backoff
        async with anyio.create_task_group() as tg:

            async def ask() -> None:
                assert await ref.ask(GetIncarnation()) == 2

            tg.start_soon(ask)
            await anyio.wait_all_tasks_blocked()
            clock.advance(1.0)


async def test_exceeding_the_intensity_fails_the_supervisor_upward() -> None:
    journal = Journal()
    async with open_test_system() as system:
        sup = await system.spawn_supervisor(
            name="inner", intensity=RestartIntensity(max_restarts=2, within_seconds=60)
        )
        a = await sup.spawn(lambda: worker("a", journal), name="a")
        b = await sup.spawn(lambda: worker("b", journal), name="b")
        for crash in range(1, 4):
            await a.tell(Crash())
            await journal.wait_for("start a", crash + 1)
        # The third crash was one too many: "inner" stopped both children and failed; the root
        # restarted it, and it started both children afresh.
        await journal.wait_for("start b", 2)
        assert journal.entries == [
            *["start a", "start b"],
            *["stop a", "start a"] * 2,
            *["stop a", "stop b", "start a", "start b"],
        ]
        assert await b.ask(GetIncarnation()) == 2
        assert await a.ask(GetIncarnation()) == 4


async def test_root_giving_up_ends_the_system_with_restart_intensity_error() -> None:
    journal = Journal()
    body_finished = False

    async def run() -> None:
        nonlocal body_finished
        async with open_test_system(intensity=RestartIntensity(max_restarts=0)) as system:
            ref = await system.spawn(lambda: worker("w", journal))
            await ref.tell(Crash())
            await anyio.sleep_forever()  # cancelled when the root gives up
            body_finished = True

    with pytest.raises(RestartIntensityError, match="root") as caught:
        await run()
    assert not body_finished
    assert isinstance(caught.value.__cause__, RuntimeError)
    assert journal.entries == ["start w", "stop w"]


async def test_an_error_in_the_body_passes_through_unchanged() -> None:
    async def run() -> None:
        async with open_test_system() as system:
            await system.spawn(lambda: worker("w", Journal()))
            raise KeyError("mine")

    with pytest.raises(KeyError, match="mine"):
        await run()


async def test_backoff_delays_grow_within_bounds_and_reset_after_quiet() -> None:
    journal = Journal()
    clock = FakeClock()
    backoff = ExponentialBackoff(initial=1.0, factor=2.0, maximum=5.0, jitter=0.2, reset_after=100)
    intensity = RestartIntensity(max_restarts=100, within_seconds=1.0)
    async with open_test_system(clock=clock, backoff=backoff, intensity=intensity) as system:
        ref = await system.spawn(lambda: worker("w", journal), name="w")

        async def crash_and_restart(attempt: int) -> float:
            await ref.tell(Crash())
            await clock.wait_for_sleepers()
            delay = clock.sleeps[-1]
            clock.advance(delay)
            await journal.wait_for("start w", attempt + 2)
            return delay

        delays = [await crash_and_restart(attempt) for attempt in range(5)]
        for attempt, delay in enumerate(delays):
            nominal = min(5.0, 2.0**attempt)
            assert nominal * 0.8 <= delay <= min(5.0, nominal * 1.2)
        assert delays[-1] <= 5.0
        clock.advance(150)  # a quiet period longer than reset_after
        assert await crash_and_restart(5) <= 1.2


async def test_shutdown_stops_children_newest_first_through_nested_supervisors() -> None:
    journal = Journal()
    async with open_test_system() as system:
        await system.spawn(lambda: worker("a", journal))
        sup = await system.spawn_supervisor()
        await sup.spawn(lambda: worker("x", journal))
        await sup.spawn(lambda: worker("y", journal))
        await system.spawn(lambda: worker("b", journal))
    stops = [entry for entry in journal.entries if entry.startswith("stop")]
    assert stops == ["stop b", "stop y", "stop x", "stop a"]


async def test_a_child_that_does_not_stop_in_time_is_cancelled() -> None:
    journal = Journal()
    async with open_test_system() as system:
        ref = await system.spawn(lambda: worker("w", journal), shutdown_timeout=0.05)
        await ref.tell(Hang())
        await anyio.wait_all_tasks_blocked()
        with anyio.fail_after(5):
            await system.stop(ref)
        assert journal.entries == ["start w", "stop w"]


async def test_a_failed_start_fails_spawn_and_frees_the_name() -> None:
    class Broken(Actor):
        async def on_start(self) -> None:
            raise OSError("cannot start")

    async with open_test_system() as system:
        with pytest.raises(OSError, match="cannot start"):
            await system.spawn(Broken, name="x")
        ref = await system.spawn(lambda: worker("x", Journal()), name="x")
        assert system.lookup("x") is ref


async def test_stopping_a_supervisor_child_by_ref() -> None:
    journal = Journal()
    async with open_test_system() as system:
        sup = await system.spawn_supervisor()
        ref = await sup.spawn(lambda: worker("w", journal), name="w")
        children_before = sup.children
        await system.stop(ref)
        assert (children_before, sup.children) == (("w",), ())
        assert journal.entries == ["start w", "stop w"]


async def test_a_failed_restart_counts_as_a_crash() -> None:
    journal = Journal()
    starts = 0

    class FailsToRestart(Worker):
        async def on_start(self) -> None:
            nonlocal starts
            starts += 1
            await super().on_start()
            if starts > 1:
                raise OSError("cannot start again")

    async def run() -> None:
        intensity = RestartIntensity(max_restarts=3, within_seconds=60)
        async with open_test_system(intensity=intensity) as system:
            ref = await system.spawn(lambda: FailsToRestart("w", journal))
            await ref.tell(Crash())
            await anyio.sleep_forever()

    with pytest.raises(RestartIntensityError) as caught:
        await run()
    assert starts == 4  # the first start, then three failed restarts, then it gave up
    assert isinstance(caught.value.__cause__, OSError)


async def test_cancelling_the_body_still_stops_every_actor_in_order() -> None:
    journal = Journal()
    with anyio.CancelScope() as scope:  # cancelled once both run, not after a time that a
        async with open_test_system() as system:  # busy machine may exceed while spawning
            await system.spawn(lambda: worker("a", journal))
            await system.spawn(lambda: worker("b", journal))
            scope.cancel()
            await anyio.sleep_forever()
    assert journal.entries == ["start a", "start b", "stop b", "stop a"]


# Races between restarts, stops and shutdown.


async def test_a_cancelled_stop_still_retires_the_child() -> None:
    journal = Journal()
    async with open_test_system() as system:
        ref = await system.spawn(lambda: worker("w", journal), name="w", shutdown_timeout=0.1)
        await ref.tell(Hang())
        await anyio.wait_all_tasks_blocked()
        with anyio.move_on_after(0.01):
            await system.stop(ref)  # gives up waiting; the stop itself goes on
        await journal.wait_for("stop w")
        with anyio.fail_after(1), pytest.raises(ActorStoppedError):
            await ref.ask(GetIncarnation())
        with pytest.raises(ActorNotFoundError):
            system.lookup("w")


async def test_an_actor_stopped_during_shutdown_fails_asks_at_once() -> None:
    outcome: list[str] = []
    newer: list[ActorRef] = []

    class Older(Actor):
        async def on_stop(self) -> None:
            try:
                with anyio.fail_after(1):
                    await newer[0].ask(GetIncarnation())
            except ActorStoppedError:
                outcome.append("stopped")

    async with open_test_system() as system:
        await system.spawn(Older)
        newer.append(await system.spawn(lambda: worker("newer", Journal())))
    assert outcome == ["stopped"]


async def test_rest_for_one_restarts_in_start_order_after_crashes_in_a_row() -> None:
    journal = Journal()
    clock = FakeClock()
    backoff = ExponentialBackoff(initial=1.0, factor=1.0, maximum=1.0, jitter=0.0)
    async with open_test_system(clock=clock, backoff=backoff) as system:
        sup = await system.spawn_supervisor(strategy=Strategy.REST_FOR_ONE)
        a, b = [await sup.spawn(functools.partial(worker, n, journal), name=n) for n in "ab"]
        await b.tell(Crash())
        await clock.wait_for_sleepers(1)  # b waits out its backoff...
        await a.tell(Crash())  # ...when a crashes too: both restart, a first
        await journal.wait_for("stop a")
        await clock.wait_for_sleepers(2)
        clock.advance(1.0)
        await journal.wait_for("start b", 2)
        assert journal.entries[2:] == ["stop b", "stop a", "start a", "start b"]


async def test_a_restarted_supervisor_ignores_what_its_previous_run_left_unread() -> None:
    journal = Journal()
    async with open_test_system(intensity=RestartIntensity(max_restarts=1)) as system:
        inner = await system.spawn_supervisor(intensity=RestartIntensity(max_restarts=0))
        x = await inner.spawn(lambda: worker("x", journal), name="x")
        y = await inner.spawn(lambda: worker("y", journal), name="y")
        x.tell_nowait(Crash())
        y.tell_nowait(Crash())  # both crash at once: one incident, one restart of `inner`
        await journal.wait_for("start y", 2)
        assert await x.ask(GetIncarnation()) == 2
        assert await y.ask(GetIncarnation()) == 2


async def test_group_restarts_never_bring_back_a_temporary_child() -> None:
    journal = Journal()
    async with open_test_system() as system:
        sup = await system.spawn_supervisor(strategy=Strategy.ONE_FOR_ALL)
        p = await sup.spawn(lambda: worker("p", journal), name="p")
        await sup.spawn(lambda: worker("t", journal), name="t", restart=Restart.TEMPORARY)
        await p.tell(Crash())
        await journal.wait_for("start p", 2)
        assert journal.entries.count("start t") == 1
        assert sup.children == ("p",)


async def test_stopping_an_actor_that_is_restarting_waits_for_its_start() -> None:
    events: list[str] = []
    gate = anyio.Event()
    starts = 0

    class SlowRestart(Actor):
        async def on_start(self) -> None:
            nonlocal starts
            starts += 1
            if starts == 2:
                events.append("second start begins")
                await gate.wait()
                events.append("second start ends")

        async def on_stop(self) -> None:
            events.append(f"stop {starts}")

        async def receive(self, message: object) -> object:
            raise RuntimeError("crash")

    async with open_test_system() as system:
        ref = await system.spawn(SlowRestart)
        await ref.tell("crash")
        await anyio.wait_all_tasks_blocked()  # the restart waits on the gate

        async with anyio.create_task_group() as tg:

            async def stop() -> None:
                await system.stop(ref)
                events.append("stopped")

            tg.start_soon(stop)
            await anyio.wait_all_tasks_blocked()
            assert "stopped" not in events  # it waits for the start to finish
            gate.set()
    assert events == ["stop 1", "second start begins", "second start ends", "stop 2", "stopped"]


async def test_a_start_that_outlasts_shutdown_is_cancelled_and_spawn_says_so() -> None:
    outcome: list[str] = []

    class NeverStarts(Actor):
        async def on_start(self) -> None:
            await anyio.sleep_forever()

    async def spawn(system: ActorSystem) -> None:
        try:
            await system.spawn(NeverStarts, shutdown_timeout=0.01)
        except ActorStoppedError:
            outcome.append("spawn failed")

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg, open_test_system() as system:
            tg.start_soon(spawn, system)
            await anyio.wait_all_tasks_blocked()
    assert outcome == ["spawn failed"]


async def test_a_spawner_that_gives_up_leaves_no_actor_behind() -> None:
    stopped: list[str] = []

    class SlowStart(Actor):
        async def on_start(self) -> None:
            await anyio.sleep_forever()

        async def on_stop(self) -> None:
            stopped.append("never started, so never stopped")

    async with open_test_system() as system:
        with anyio.move_on_after(0.01):
            await system.spawn(SlowStart, name="slow")
        with pytest.raises(ActorNotFoundError):
            system.lookup("slow")
        assert system.root.children == ()
        ref = await system.spawn(lambda: worker("slow", Journal()), name="slow")  # name is free
        assert await ref.ask(GetIncarnation()) == 1
    assert stopped == []


async def test_a_child_stopped_for_good_is_not_brought_back_by_a_group_restart() -> None:
    journal = Journal()
    gate = anyio.Event()

    class SlowToRestart(Worker):
        async def on_start(self) -> None:
            await super().on_start()
            if journal.entries.count("start a") == 2:
                await gate.wait()  # the group restart is under way, b still to come

    async with open_test_system() as system:
        sup = await system.spawn_supervisor(strategy=Strategy.ONE_FOR_ALL)
        a = await sup.spawn(lambda: SlowToRestart("a", journal), name="a")
        b = await sup.spawn(lambda: worker("b", journal), name="b")
        await a.tell(Crash())
        await journal.wait_for("start a", 2)
        await system.stop(b)  # b is down, waiting for its restart: it goes for good
        gate.set()
        assert await a.ask(GetIncarnation()) == 2
        assert journal.entries.count("start b") == 1
        assert sup.children == ("a",)


async def test_one_incident_counts_once_even_when_the_group_crashes_together() -> None:
    journal = Journal()
    # Were the second exit counted, `sup` would give up, and the root (allowed no restart)
    # would end the system.
    async with open_test_system(intensity=RestartIntensity(max_restarts=0)) as system:
        sup = await system.spawn_supervisor(
            strategy=Strategy.ONE_FOR_ALL, intensity=RestartIntensity(max_restarts=1)
        )
        a = await sup.spawn(lambda: worker("a", journal), name="a")
        b = await sup.spawn(lambda: worker("b", journal), name="b")
        a.tell_nowait(Crash())
        b.tell_nowait(Crash())  # both crash before the supervisor hears of either
        await journal.wait_for("start b", 2)
        assert (await a.ask(GetIncarnation()), await b.ask(GetIncarnation())) == (2, 2)


async def test_a_nested_supervisor_stopped_while_restarting_children_stops_in_time() -> None:
    journal = Journal()
    starts = 0

    class HangsOnRestart(Worker):
        async def on_start(self) -> None:
            nonlocal starts
            starts += 1
            await super().on_start()
            if starts > 1:
                await anyio.sleep_forever()

    with anyio.fail_after(5):
        async with open_test_system() as system:
            inner = await system.spawn_supervisor(intensity=RestartIntensity(max_restarts=0))
            a = await inner.spawn(lambda: worker("a", journal), name="a")
            await inner.spawn(lambda: HangsOnRestart("c", journal), name="c", shutdown_timeout=0.05)
            await a.tell(Crash())  # inner gives up; the root restarts it; c hangs starting
            await journal.wait_for("start c", 2)
        # leaving the system stops inner while it is still starting c: c is cancelled
    assert starts == 2


async def test_a_failed_child_start_fails_a_nested_supervisor_with_that_error() -> None:
    journal = Journal()

    class FailsToRestart(Worker):
        async def on_start(self) -> None:
            await super().on_start()
            if journal.entries.count("start b") > 1:
                raise LookupError("b cannot restart")

    async def run() -> None:
        async with open_test_system(intensity=RestartIntensity(max_restarts=1)) as system:
            inner = await system.spawn_supervisor(intensity=RestartIntensity(max_restarts=0))
            a = await inner.spawn(lambda: worker("a", journal), name="a")
            await inner.spawn(lambda: FailsToRestart("b", journal), name="b")
            await a.tell(Crash())  # inner gives up, the root restarts it, b fails to start
            await anyio.sleep_forever()

    with pytest.raises(RestartIntensityError) as caught:
        await run()
    # The root restarted `inner` once; that restart failed with b's own error (not a group),
    # and a was stopped again (newest first) before the root gave up.
    assert isinstance(caught.value.__cause__, LookupError)
    assert journal.entries[-2:] == ["start b", "stop a"]
