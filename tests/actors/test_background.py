"""Actors' background work and deferred replies (answers given after `receive` returns)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import anyio
import pytest

from repertory.actors import (
    Actor,
    ActorStoppedError,
    DeferredReply,
    Request,
    Restart,
    RestartIntensity,
    RestartIntensityError,
)
from repertory.actors.testing import open_test_system

if TYPE_CHECKING:
    from anyio.streams.memory import MemoryObjectSendStream


@dataclass(frozen=True, slots=True, kw_only=True)
class Finish:
    error: Exception | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class WaitUntilDone(Request[str]):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class Echo(Request[str]):
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Crash(Request[None]):
    pass


class Worker(Actor):
    """Works in the background until told to finish; answers `WaitUntilDone` when it has."""

    def __init__(self, log: list[str], working: MemoryObjectSendStream[None] | None = None) -> None:
        self.log = log
        self.working = working
        self.finish = anyio.Event()
        self.error: Exception | None = None
        self.waiters: list[DeferredReply] = []

    async def background(self) -> None:
        self.log.append("working")
        if self.working is not None:
            self.working.send_nowait(None)
        try:
            await self.finish.wait()
        except anyio.get_cancelled_exc_class():
            self.log.append("cancelled")
            raise
        for waiter in self.waiters:
            waiter.set_result("done")
        if self.error is not None:
            raise self.error
        self.log.append("finished")

    async def receive(self, message: object) -> object:
        match message:
            case Finish(error=error):
                self.error = error
                self.finish.set()
            case WaitUntilDone():
                waiter = DeferredReply()
                self.waiters.append(waiter)
                return waiter
            case Echo(text=text):
                return text
            case Crash():
                raise ValueError("handler crashed")
            case _:
                self.unhandled(message)
        return None

    async def on_stop(self) -> None:
        self.log.append("on_stop")


async def test_background_work_runs_beside_the_messages_and_its_end_stops_the_actor() -> None:
    log: list[str] = []
    async with open_test_system() as system:
        ref = await system.spawn(lambda: Worker(log), restart=Restart.TEMPORARY)
        assert await ref.ask(Echo(text="still answering")) == "still answering"
        async with anyio.create_task_group() as tg:
            done: list[str] = []

            async def wait() -> None:
                done.append(await ref.ask(WaitUntilDone()))

            tg.start_soon(wait)
            await anyio.wait_all_tasks_blocked()
            assert done == []  # the answer is deferred until the work ends
            await ref.tell(Finish())
        assert done == ["done"]
        with pytest.raises(ActorStoppedError):
            await ref.ask(Echo(text="too late"))
    assert log == ["working", "finished", "on_stop"]


async def test_stopping_the_actor_cancels_its_work_before_on_stop() -> None:
    log: list[str] = []
    async with open_test_system() as system:
        ref = await system.spawn(lambda: Worker(log), restart=Restart.TEMPORARY)
        await system.stop(ref)
    assert log == ["working", "cancelled", "on_stop"]


async def test_an_owed_answer_fails_when_the_actor_stops_without_giving_it() -> None:
    log: list[str] = []
    async with open_test_system() as system:
        ref = await system.spawn(lambda: Worker(log), restart=Restart.TEMPORARY)
        async with anyio.create_task_group() as tg:
            errors: list[Exception] = []

            async def wait() -> None:
                try:
                    await ref.ask(WaitUntilDone())
                except ActorStoppedError as exc:
                    errors.append(exc)

            tg.start_soon(wait)
            await anyio.wait_all_tasks_blocked()
            await system.stop(ref)
        assert len(errors) == 1


async def test_a_failing_background_crashes_the_actor_and_its_supervisor_restarts_it() -> None:
    log: list[str] = []
    async with open_test_system() as system:
        send, working = anyio.create_memory_object_stream[None](2)
        with send, working:
            ref = await system.spawn(lambda: Worker(log, send), restart=Restart.TRANSIENT)
            await working.receive()
            await ref.tell(Finish(error=OSError("disk gone")))
            await working.receive()  # a fresh incarnation started its own work
            assert await ref.ask(Echo(text="back")) == "back"
            await system.stop(ref)
    assert log == ["working", "on_stop", "working", "cancelled", "on_stop"]


@pytest.mark.parametrize("where", ["background", "handler"])
async def test_a_crash_reaches_the_supervisor_as_itself_never_as_a_group(where: str) -> None:
    async def run() -> None:
        async with open_test_system(intensity=RestartIntensity(max_restarts=0)) as system:
            ref = await system.spawn(lambda: Worker([]))
            if where == "background":
                await ref.tell(Finish(error=OSError("disk gone")))
            else:
                with pytest.raises(ValueError, match="handler crashed"):
                    await ref.ask(Crash())
            await anyio.sleep_forever()  # cancelled when the root gives up

    with pytest.raises(RestartIntensityError) as caught:
        await run()
    expected = OSError if where == "background" else ValueError
    assert type(caught.value.__cause__) is expected


class Answerer(Actor):
    """Defers each answer, then gives it at once or on a later message."""

    def __init__(self) -> None:
        self.owed: list[DeferredReply] = []

    async def receive(self, message: object) -> object:
        match message:
            case Echo(text="now"):
                answer = DeferredReply()
                answer.set_result("given before returning")
                return answer
            case Echo(text="fail"):
                answer = DeferredReply()
                self.owed.append(answer)
                return answer
            case Echo(text=text):
                for answer in self.owed:
                    answer.set_exception(LookupError(text))
                    answer.set_result("ignored: the first answer counts")
                assert all(answer.is_done for answer in self.owed)
                return text
        return None


async def test_a_deferred_answer_can_be_given_before_returning_or_as_an_error() -> None:
    async with open_test_system() as system:
        ref = await system.spawn(Answerer)
        assert await ref.ask(Echo(text="now")) == "given before returning"
        async with anyio.create_task_group() as tg:
            errors: list[Exception] = []

            async def wait() -> None:
                try:
                    await ref.ask(Echo(text="fail"))
                except LookupError as exc:
                    errors.append(exc)

            tg.start_soon(wait)
            await anyio.wait_all_tasks_blocked()
            assert await ref.ask(Echo(text="no such thing")) == "no such thing"
        assert [str(error) for error in errors] == ["no such thing"]
        await ref.tell(Echo(text="now"))  # a deferred answer to a tell goes nowhere, harmlessly
        assert await ref.ask(Echo(text="still fine")) == "still fine"
