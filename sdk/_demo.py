"""A short tour of the actor kernel, run by `make run` until the server takes its place.

Shows tell and ask, a crash and its restart, dead letters, and the same actor asked over TCP.
"""

from __future__ import annotations

import logging
import secrets
import time
from dataclasses import dataclass

import anyio

from repertory.actors import (
    Actor,
    Request,
    RestartIntensity,
    Strategy,
    open_actor_system,
)
from repertory.actors.transport import Codec, open_node


@dataclass(frozen=True, slots=True, kw_only=True)
class Add:
    amount: int


@dataclass(frozen=True, slots=True, kw_only=True)
class GetTotal(Request[int]):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class Explode:
    pass


class Accumulator(Actor):
    """Sums what it is told; crashes on Explode (and comes back empty)."""

    def __init__(self) -> None:
        self.total = 0

    async def receive(self, message: object) -> object:
        match message:
            case Add(amount=amount):
                self.total += amount
            case GetTotal():
                return self.total
            case Explode():
                raise RuntimeError("exploded on purpose")
            case _:
                self.unhandled(message)
        return None


CODEC = Codec({"demo.add": Add, "demo.get_total": GetTotal, "demo.explode": Explode})


def say(text: str) -> None:
    print(text, flush=True)  # noqa: T201 - the demo talks to its user


async def main() -> None:
    async with open_actor_system(name="demo") as system:
        supervisor = await system.spawn_supervisor(
            name="accounts",
            strategy=Strategy.ONE_FOR_ONE,
            intensity=RestartIntensity(max_restarts=3, within_seconds=5),
        )
        acc = await supervisor.spawn(Accumulator, name="acc")
        say(f"spawned {acc.name!r} under supervisor {supervisor.name!r}")

        count = 200_000
        started = time.perf_counter()
        for _ in range(count):
            await acc.tell(Add(amount=1))
        total = await acc.ask(GetTotal())
        rate = count / (time.perf_counter() - started)
        say(f"told {count:,} messages and asked for the total: {total:,} ({rate:,.0f} msg/s)")

        await acc.tell(Explode())
        say(f"after a crash, the supervisor restarted it: total is {await acc.ask(GetTotal())}")

        await system.stop(acc)
        await acc.tell(Add(amount=5))
        letter = system.dead_letters.records[-1]
        say(f"a message to the stopped actor became a dead letter: {letter.reason!r}")

        remote_target = await system.spawn(Accumulator, name="remote-acc")
        secret = secrets.token_bytes(32)
        async with open_node(system, codec=CODEC, secret=secret, port=0) as server:
            say(f"serving actors over TCP on 127.0.0.1:{server.port}")
            async with (
                open_actor_system(name="client") as client_system,
                open_node(client_system, codec=CODEC, secret=secret, port=None) as client,
            ):
                connection = await client.connect("127.0.0.1", server.port)
                remote = connection.ref(remote_target.name)
                for amount in range(1, 101):
                    await remote.tell(Add(amount=amount))
                say(f"asked over TCP after 100 remote tells: {await remote.ask(GetTotal())}")
                await connection.aclose()
    say("stopped every actor, newest first. Done.")


def run() -> None:
    # The kernel logs crashes and restarts; show them as they happen, beside the story.
    logging.basicConfig(level=logging.INFO, format="  [log] %(levelname)s %(name)s: %(message)s")
    anyio.run(main)


if __name__ == "__main__":
    run()
