"""Dead letters: recorded, counted, bounded and forwarded to subscribers."""

from __future__ import annotations

import anyio

from repertory.actors import Actor, DeadLetter, Restart
from repertory.actors.testing import open_test_system, spawn_probe


class Idle(Actor):
    async def receive(self, message: object) -> object:
        return None


async def test_tells_to_a_stopped_actor_become_dead_letters() -> None:
    async with open_test_system() as system:
        ref = await system.spawn(Idle, name="gone")
        await system.stop(ref)
        await ref.tell("first")
        ref.tell_nowait("second")
        assert [(d.recipient, d.message, d.reason) for d in system.dead_letters.records] == [
            ("gone", "first", "stopped"),
            ("gone", "second", "stopped"),
        ]
        assert system.statistics().dead_letters == 2


async def test_messages_left_in_a_mailbox_when_it_stops_become_dead_letters() -> None:
    class Stuck(Actor):
        async def receive(self, message: object) -> object:
            await anyio.sleep_forever()
            return None

    async with open_test_system() as system:
        ref = await system.spawn(Stuck, name="stuck", shutdown_timeout=0.01)
        await ref.tell("in the handler")
        await anyio.wait_all_tasks_blocked()
        for number in range(3):
            await ref.tell(number)
        await system.stop(ref)
        assert [letter.message for letter in system.dead_letters.records] == [0, 1, 2]


async def test_subscribers_are_told_of_dead_letters() -> None:
    async with open_test_system() as system:
        probe = await spawn_probe(system)
        system.dead_letters.subscribe(probe.ref)
        ref = await system.spawn(Idle, name="gone")
        await system.stop(ref)
        await ref.tell("hello")
        letter = await probe.expect(DeadLetter)
        assert (letter.recipient, letter.message) == ("gone", "hello")
        system.dead_letters.unsubscribe(probe.ref)


async def test_a_stopped_subscriber_does_not_loop() -> None:
    async with open_test_system() as system:
        probe = await spawn_probe(system)
        system.dead_letters.subscribe(probe.ref)
        await system.stop(probe.ref)
        ref = await system.spawn(Idle)
        await system.stop(ref)
        await ref.tell("x")
        # One for "x"; the copy told to the stopped probe is one more, and nothing after it.
        assert system.dead_letters.total == 2


async def test_only_the_most_recent_letters_are_kept_but_all_are_counted() -> None:
    async with open_test_system() as system:
        ref = await system.spawn(Idle)
        await system.stop(ref)
        for number in range(1500):
            ref.tell_nowait(number)
        assert len(system.dead_letters.records) == 1000
        assert system.dead_letters.records[0].message == 500
        assert system.dead_letters.total == 1500


async def test_messages_behind_a_stop_become_dead_letters_not_lost() -> None:
    class StopsOnFirst(Actor):
        async def receive(self, message: object) -> object:
            self.stop()
            return None

    async with open_test_system() as system:
        ref = await system.spawn(StopsOnFirst, restart=Restart.TRANSIENT)
        for number in range(3):
            ref.tell_nowait(number)  # all queued before the actor runs
        with anyio.fail_after(5):
            while system.dead_letters.total < 2:
                await anyio.wait_all_tasks_blocked()
        assert [letter.message for letter in system.dead_letters.records] == [1, 2]
