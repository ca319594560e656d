"""In-process scenarios of the actor kernel (tell, ask, fan-out, spawn, stop), each beside its raw
anyio baseline: memory object streams used with the same non-blocking fast path.

Messages are built as they are sent, on both sides, as a program sends them (and as the raw
limits in shared/notes/anchors.md were measured); `tell-prebuilt` shows the same with every
message built before the clock starts, which leaves only the cost of the two hops.

Every function here sets up untimed, then returns the seconds its hot part took.
"""

from __future__ import annotations

import functools
import time
from typing import TYPE_CHECKING, final

import anyio

from repertory.actors import Actor, open_actor_system

from ._harness import Scenario, Target, settle
from ._messages import Echo, Ping, Tally, pings

if TYPE_CHECKING:
    from anyio.abc import TaskStatus
    from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

#: The kernel's default mailbox size; the baselines' streams get the same buffer.
MAILBOX_SIZE = 1000
#: The buffer of idle actors and of the streams they are compared with.
IDLE_MAILBOX_SIZE = 16


# Actors.


class CountingActor(Actor):
    """Counts every message down on a shared tally."""

    def __init__(self, tally: Tally) -> None:
        self._tally = tally

    async def receive(self, message: object) -> object:
        tally = self._tally
        tally.left -= 1
        if not tally.left:
            tally.done.set()
        return None


class EchoActor(Actor):
    """Answers an `Echo` with its `seq`."""

    async def receive(self, message: object) -> object:
        if type(message) is Echo:
            return message.seq
        self.unhandled(message)


class IdleActor(Actor):
    """Does nothing: what an actor costs when it only waits."""


# Raw building blocks of the baselines.


async def raw_count(receive: MemoryObjectReceiveStream[object], tally: Tally) -> None:
    """A bare receiver: `receive_nowait`, awaiting only when empty, counting down `tally`."""
    receive_nowait = receive.receive_nowait
    with receive:
        while True:
            try:
                receive_nowait()
            except anyio.WouldBlock:
                try:
                    await receive.receive()
                except anyio.EndOfStream:
                    return
            except anyio.EndOfStream:
                return
            tally.left -= 1
            if not tally.left:
                tally.done.set()


@final
class ReplySlot:
    """The raw ask's reply slot: an event and the value it guards."""

    __slots__ = ("event", "value")

    def __init__(self) -> None:
        self.event = anyio.Event()
        self.value: object = None


async def raw_echo(receive: MemoryObjectReceiveStream[tuple[Echo, ReplySlot]]) -> None:
    """A bare server of (request, slot) pairs: fills the slot and sets its event."""
    receive_nowait = receive.receive_nowait
    with receive:
        while True:
            try:
                request, slot = receive_nowait()
            except anyio.WouldBlock:
                try:
                    request, slot = await receive.receive()
                except anyio.EndOfStream:
                    return
            except anyio.EndOfStream:
                return
            slot.value = request.seq
            slot.event.set()


async def raw_parked(*, task_status: TaskStatus[MemoryObjectSendStream[object]]) -> None:
    """A bare 'idle actor': a task that owns a stream and waits on it until it is closed."""
    send, receive = anyio.create_memory_object_stream[object](IDLE_MAILBOX_SIZE)
    with receive:
        task_status.started(send)
        async for _ in receive:
            pass


# tell throughput: one sender, one receiver.


async def actor_tell(n: int, *, prebuilt: bool = False) -> float:
    messages = pings(n) if prebuilt else []
    tally = Tally(n)
    async with open_actor_system() as system:
        ref = await system.spawn(functools.partial(CountingActor, tally), name="counter")
        tell = ref.tell
        await settle()
        start = time.perf_counter()
        if prebuilt:
            for message in messages:
                await tell(message)
        else:
            for seq in range(n):
                await tell(Ping(seq=seq))
        await tally.done.wait()
        return time.perf_counter() - start


async def raw_tell(n: int, *, prebuilt: bool = False) -> float:
    messages = pings(n) if prebuilt else []
    tally = Tally(n)
    send, receive = anyio.create_memory_object_stream[object](MAILBOX_SIZE)
    async with anyio.create_task_group() as tg:
        tg.start_soon(raw_count, receive, tally)
        with send:
            send_nowait = send.send_nowait
            await settle()
            start = time.perf_counter()
            if prebuilt:
                for message in messages:
                    try:
                        send_nowait(message)
                    except anyio.WouldBlock:
                        await send.send(message)
            else:
                for seq in range(n):
                    message = Ping(seq=seq)
                    try:
                        send_nowait(message)
                    except anyio.WouldBlock:
                        await send.send(message)
            await tally.done.wait()
            elapsed = time.perf_counter() - start
    return elapsed


# ask round trips, one at a time.


async def actor_ask(n: int) -> float:
    requests = [Echo(seq=i) for i in range(n)]
    async with open_actor_system() as system:
        ref = await system.spawn(EchoActor, name="echo")
        ask = ref.ask
        await settle()
        start = time.perf_counter()
        for request in requests:
            await ask(request)
        return time.perf_counter() - start


async def raw_ask(n: int) -> float:
    requests = [Echo(seq=i) for i in range(n)]
    send, receive = anyio.create_memory_object_stream[tuple[Echo, ReplySlot]](MAILBOX_SIZE)
    async with anyio.create_task_group() as tg:
        tg.start_soon(raw_echo, receive)
        with send:
            send_nowait = send.send_nowait
            await settle()
            start = time.perf_counter()
            for request in requests:
                slot = ReplySlot()
                try:
                    send_nowait((request, slot))
                except anyio.WouldBlock:
                    await send.send((request, slot))
                await slot.event.wait()
            elapsed = time.perf_counter() - start
    return elapsed


# fan-out: one sender, round robin over many receivers.


async def actor_fanout(n: int, *, receivers: int) -> float:
    rounds = n // receivers
    tally = Tally(rounds * receivers)
    async with open_actor_system() as system:
        tells = [
            (await system.spawn(functools.partial(CountingActor, tally))).tell
            for _ in range(receivers)
        ]
        await settle()
        start = time.perf_counter()
        for seq in range(rounds):
            for tell in tells:
                await tell(Ping(seq=seq))
        await tally.done.wait()
        return time.perf_counter() - start


async def raw_fanout(n: int, *, receivers: int) -> float:
    rounds = n // receivers
    tally = Tally(rounds * receivers)
    async with anyio.create_task_group() as tg:
        sends: list[MemoryObjectSendStream[object]] = []
        for _ in range(receivers):
            send, receive = anyio.create_memory_object_stream[object](MAILBOX_SIZE)
            tg.start_soon(raw_count, receive, tally)
            sends.append(send)
        await settle()
        start = time.perf_counter()
        for seq in range(rounds):
            for send in sends:
                message = Ping(seq=seq)
                try:
                    send.send_nowait(message)
                except anyio.WouldBlock:
                    await send.send(message)
        await tally.done.wait()
        elapsed = time.perf_counter() - start
        for send in sends:
            send.close()
    return elapsed


# spawn rate, one at a time.


async def actor_spawn(n: int) -> float:
    async with open_actor_system() as system:
        spawn = system.spawn
        start = time.perf_counter()
        for _ in range(n):
            await spawn(IdleActor, mailbox_size=IDLE_MAILBOX_SIZE)
        return time.perf_counter() - start


async def raw_spawn(n: int) -> float:
    async with anyio.create_task_group() as tg:
        start = time.perf_counter()
        sends: list[MemoryObjectSendStream[object]] = [await tg.start(raw_parked) for _ in range(n)]
        elapsed = time.perf_counter() - start
        for send in sends:
            send.close()
    return elapsed


# Stopping: the system's ordered shutdown against closing bare streams.


async def actor_stop(n: int) -> float:
    async with open_actor_system() as system:
        for _ in range(n):
            await system.spawn(IdleActor, mailbox_size=IDLE_MAILBOX_SIZE)
        start = time.perf_counter()
    return time.perf_counter() - start


async def raw_stop(n: int) -> float:
    async with anyio.create_task_group() as tg:
        sends: list[MemoryObjectSendStream[object]] = [await tg.start(raw_parked) for _ in range(n)]
        start = time.perf_counter()
        for send in reversed(sends):
            send.close()
    return time.perf_counter() - start


def scenarios(*, quick: bool) -> list[Scenario]:
    """The in-process scenarios, with smaller counts for a quick smoke run."""
    receivers = 100 if quick else 1000
    return [
        Scenario(
            name="tell",
            title="tell throughput",
            n=20_000 if quick else 200_000,
            unit="msg/s",
            actor=actor_tell,
            baseline=raw_tell,
            target=Target(of="ratio", op=">=", limit=0.7),
        ),
        Scenario(
            name="tell-prebuilt",
            title="tell, messages pre-built",
            n=20_000 if quick else 200_000,
            unit="msg/s",
            actor=functools.partial(actor_tell, prebuilt=True),
            baseline=functools.partial(raw_tell, prebuilt=True),
        ),
        Scenario(
            name="ask",
            title="ask round trips",
            n=2_000 if quick else 20_000,
            unit="asks/s",
            actor=actor_ask,
            baseline=raw_ask,
            target=Target(of="ratio", op=">=", limit=0.6),
        ),
        Scenario(
            name="fanout",
            title=f"fan-out {receivers:,} x 100",
            n=receivers * 100,
            unit="msg/s",
            actor=functools.partial(actor_fanout, receivers=receivers),
            baseline=functools.partial(raw_fanout, receivers=receivers),
            target=Target(of="ratio", op=">=", limit=0.7),
        ),
        Scenario(
            name="spawn",
            title="spawn (sequential)",
            n=1_000 if quick else 10_000,
            unit="actors/s",
            actor=actor_spawn,
            baseline=raw_spawn,
        ),
        Scenario(
            name="stop",
            title="stop (system exit)",
            n=1_000 if quick else 10_000,
            unit="actors/s",
            actor=actor_stop,
            baseline=raw_stop,
            max_repeats=3,  # each run spawns them first
        ),
    ]
