"""tell, tell_nowait and ask on local refs: ordering, backpressure, deadlines, errors."""

from __future__ import annotations

from dataclasses import dataclass

import anyio
import pytest
from anyio.lowlevel import checkpoint

from repertory.actors import (
    Actor,
    ActorStoppedError,
    MailboxFullError,
    Request,
    UnhandledMessageError,
)
from repertory.actors.testing import open_test_system


@dataclass(frozen=True, slots=True, kw_only=True)
class GetSeen(Request[list[object]]):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class Fail(Request[None]):
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Refuse(Request[None]):
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class WaitGate(Request[str]):
    pass


class Recorder(Actor):
    """Records what it is told; answers GetSeen; Fail raises; WaitGate waits for the gate."""

    def __init__(self, gate: anyio.Event | None = None) -> None:
        self.seen: list[object] = []
        self.gate = gate

    async def receive(self, message: object) -> object:
        match message:
            case GetSeen():
                return list(self.seen)
            case Fail(text=text):
                raise ValueError(text)
            case Refuse(text=text):
                self.refuse(ValueError(text))
            case WaitGate():
                assert self.gate is not None
                await self.gate.wait()
                return "opened"
            case int() | str():
                if self.gate is not None:
                    await self.gate.wait()
                self.seen.append(message)
            case _:
                self.unhandled(message)
        return None


async def test_tell_then_ask_sees_every_message_in_order() -> None:
    async with open_test_system() as system:
        ref = await system.spawn(Recorder)
        for number in range(2000):
            await ref.tell(number)
        assert await ref.ask(GetSeen()) == list(range(2000))


async def test_concurrent_senders_keep_their_own_order() -> None:
    async with open_test_system() as system:
        ref = await system.spawn(Recorder, mailbox_size=8)

        async def send(prefix: str) -> None:
            for number in range(300):
                await ref.tell(f"{prefix}{number}")
                if number % 7 == 0:
                    await checkpoint()

        async with anyio.create_task_group() as tg:
            for prefix in "abc":
                tg.start_soon(send, prefix)
        seen = await ref.ask(GetSeen())
        assert len(seen) == 900
        for prefix in "abc":
            mine = [str(item) for item in seen if str(item).startswith(prefix)]
            assert mine == [f"{prefix}{number}" for number in range(300)]


async def test_full_mailbox_applies_backpressure() -> None:
    gate = anyio.Event()
    async with open_test_system() as system:
        ref = await system.spawn(lambda: Recorder(gate), mailbox_size=2)
        await ref.tell(1)  # taken by the actor, which then waits on the gate
        await anyio.wait_all_tasks_blocked()
        ref.tell_nowait(2)
        ref.tell_nowait(3)
        with pytest.raises(MailboxFullError):
            ref.tell_nowait(4)
        sent = anyio.Event()

        async def send_blocked() -> None:
            await ref.tell(4)
            sent.set()

        async with anyio.create_task_group() as tg:
            tg.start_soon(send_blocked)
            await anyio.wait_all_tasks_blocked()
            assert not sent.is_set(), "tell returned although the mailbox was full"
            gate.set()
        assert await ref.ask(GetSeen()) == [1, 2, 3, 4]


async def test_ask_returns_the_reply_and_is_typed() -> None:
    async with open_test_system() as system:
        ref = await system.spawn(Recorder)
        await ref.tell("x")
        seen: list[object] = await ref.ask(GetSeen())
        assert seen == ["x"]


async def test_ask_deadline_comes_from_the_callers_cancel_scope() -> None:
    gate = anyio.Event()
    async with open_test_system() as system:
        ref = await system.spawn(lambda: Recorder(gate))
        with pytest.raises(TimeoutError), anyio.fail_after(0.05):
            await ref.ask(WaitGate())
        gate.set()
        # The actor is unharmed and goes on answering.
        assert await ref.ask(WaitGate()) == "opened"


async def test_handler_exception_reaches_the_asker_as_itself() -> None:
    async with open_test_system() as system:
        ref = await system.spawn(Recorder)
        with pytest.raises(ValueError, match="broken on purpose"):
            await ref.ask(Fail(text="broken on purpose"))
        # The supervisor restarted it (permanent by default): a fresh instance answers.
        assert await ref.ask(GetSeen()) == []


async def test_a_refused_message_fails_alone_without_crashing_the_actor() -> None:
    async with open_test_system() as system:
        ref = await system.spawn(Recorder)
        await ref.tell(7)
        with pytest.raises(ValueError, match="bad data"):
            await ref.ask(Refuse(text="bad data"))
        await ref.tell(Refuse(text="told bad data"))
        assert await ref.ask(GetSeen()) == [7], "the actor lost its state: it crashed"
        (letter,) = system.dead_letters.records
        assert letter.reason == "refused: told bad data"
        assert isinstance(letter.message, Refuse)


async def test_ask_of_a_stopped_actor_fails_at_once() -> None:
    async with open_test_system() as system:
        ref = await system.spawn(Recorder)
        await system.stop(ref)
        with anyio.fail_after(1), pytest.raises(ActorStoppedError):
            await ref.ask(GetSeen())


async def test_queued_asks_fail_when_the_actor_stops() -> None:
    gate = anyio.Event()
    errors: list[BaseException] = []
    async with open_test_system() as system:
        ref = await system.spawn(lambda: Recorder(gate), shutdown_timeout=0.01)

        async def ask() -> None:
            try:
                await ref.ask(WaitGate())
            except ActorStoppedError as exc:
                errors.append(exc)

        async with anyio.create_task_group() as tg:
            for _ in range(3):
                tg.start_soon(ask)
            await anyio.wait_all_tasks_blocked()
            # One ask is in the handler (cancelled after the shutdown timeout), two are queued.
            await system.stop(ref)
    assert len(errors) == 3


async def test_unhandled_message_fails_the_asker_without_crashing_the_actor() -> None:
    @dataclass(frozen=True, slots=True, kw_only=True)
    class Unknown(Request[None]):
        pass

    async with open_test_system() as system:
        ref = await system.spawn(Recorder)
        await ref.tell(7)
        with pytest.raises(UnhandledMessageError, match="Unknown"):
            await ref.ask(Unknown())
        assert await ref.ask(GetSeen()) == [7], "the actor lost its state: it crashed"
        (letter,) = system.dead_letters.records
        assert letter.reason == "unhandled"
        assert isinstance(letter.message, Unknown)


async def test_a_busy_actor_does_not_starve_others() -> None:
    async with open_test_system() as system:
        instances: list[Recorder] = []

        def make() -> Recorder:
            instances.append(Recorder())
            return instances[-1]

        busy = await system.spawn(make, mailbox_size=100_000)
        quiet = await system.spawn(Recorder)
        for number in range(50_000):
            busy.tell_nowait(number)
        # The busy actor yields every few messages, so the quiet one answers long before
        # the busy one has worked through its mailbox.
        await quiet.ask(GetSeen())
        assert len(instances[0].seen) < 10_000
        seen = await busy.ask(GetSeen())
        assert len(seen) == 50_000
