"""TCP scenarios: remote tells and asks between two actor systems on 127.0.0.1, beside the raw
framed-msgpack baselines of `bench._rawtcp`.

Both systems and both nodes share one event loop, as do the raw client and server.
"""

from __future__ import annotations

import contextlib
import functools
import time
from typing import TYPE_CHECKING

import anyio

from repertory.actors import Actor, open_actor_system
from repertory.actors.transport import Codec, open_node

from ._harness import Scenario, Target
from ._messages import WIRE_TAGS, Echo, GetCount, Ping, pings
from ._rawtcp import raw_tcp_ask, raw_tcp_ask_pipelined, raw_tcp_tell
from .kernel import EchoActor

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from repertory.actors import ActorRef

SECRET = b"bench-secret-of-32-bytes-long..."
#: How many tasks ask at once in the pipelined scenario.
ASKERS = 100


class CounterActor(Actor):
    """Counts `Ping`s and answers `GetCount` with the count so far."""

    def __init__(self) -> None:
        self.count = 0

    async def receive(self, message: object) -> object:
        if type(message) is Ping:
            self.count += 1
            return None
        if type(message) is GetCount:
            return self.count
        self.unhandled(message)


@contextlib.asynccontextmanager
async def remote_ref(name: str, actor: type[Actor]) -> AsyncIterator[ActorRef]:
    """Spawn `actor` as `name` in a server system and yield a client system's ref to it."""
    codec = Codec(WIRE_TAGS)
    async with (
        open_actor_system(name="bench-server") as server,
        open_actor_system(name="bench-client") as client,
    ):
        await server.spawn(actor, name=name)
        async with (
            open_node(server, codec=codec, secret=SECRET, host="127.0.0.1", port=0) as server_node,
            open_node(client, codec=codec, secret=SECRET, port=None) as client_node,
        ):
            connection = await client_node.connect("127.0.0.1", server_node.port)
            yield connection.ref(name)


async def actor_tcp_tell(n: int) -> float:
    messages = pings(n)
    async with remote_ref("counter", CounterActor) as ref:
        tell = ref.tell
        start = time.perf_counter()
        for message in messages:
            await tell(message)
        # An ask travels behind the tells on the same connection; ask again in case the
        # transport hands asks over ahead of queued tells.
        while await ref.ask(GetCount()) < n:
            pass
        return time.perf_counter() - start


async def actor_tcp_ask(n: int) -> float:
    requests = [Echo(seq=i) for i in range(n)]
    async with remote_ref("echo", EchoActor) as ref:
        ask = ref.ask
        start = time.perf_counter()
        for request in requests:
            await ask(request)
        return time.perf_counter() - start


async def actor_tcp_ask_pipelined(n: int, *, concurrency: int) -> float:
    requests = [Echo(seq=i) for i in range(n)]
    async with remote_ref("echo", EchoActor) as ref:
        ask = ref.ask

        async def asker(first: int) -> None:
            for i in range(first, n, concurrency):
                await ask(requests[i])

        start = time.perf_counter()
        async with anyio.create_task_group() as tg:
            for first in range(concurrency):
                tg.start_soon(asker, first)
        return time.perf_counter() - start


def scenarios(*, quick: bool) -> list[Scenario]:
    """The TCP scenarios, with smaller counts for a quick smoke run."""
    return [
        Scenario(
            name="tcp-tell",
            title="TCP one-way tell",
            n=10_000 if quick else 100_000,
            unit="msg/s",
            actor=actor_tcp_tell,
            baseline=raw_tcp_tell,
            target=Target(of="ratio", op=">=", limit=0.5),
        ),
        Scenario(
            name="tcp-ask",
            title="TCP ask (one at a time)",
            n=500 if quick else 5_000,
            unit="asks/s",
            actor=actor_tcp_ask,
            baseline=raw_tcp_ask,
        ),
        Scenario(
            name="tcp-ask-pipelined",
            title=f"TCP ask ({ASKERS} askers)",
            n=2_000 if quick else 20_000,
            unit="asks/s",
            actor=functools.partial(actor_tcp_ask_pipelined, concurrency=ASKERS),
            baseline=functools.partial(raw_tcp_ask_pipelined, concurrency=ASKERS),
        ),
    ]
