"""The messages and the completion tally the scenarios share; no actor and no timing here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import final

import anyio

from repertory.actors import Request


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class Ping:
    """A one-way message (a tell), shaped like the kernel's messages: frozen and slotted."""

    seq: int


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class Echo(Request[int]):
    """A request answered with its own `seq`."""

    seq: int


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class GetCount(Request[int]):
    """Asks a counter how many messages it has received so far."""


#: Wire tags of the messages, for the TCP scenarios' codec.
WIRE_TAGS: dict[str, type] = {"bench.ping": Ping, "bench.echo": Echo, "bench.count": GetCount}


@final
class Tally:
    """Counts down the messages still to be handled and fires `done` at zero.

    Actors and raw receivers update it with the same inline code, so the handler costs the
    same on both sides of a comparison.
    """

    __slots__ = ("done", "left")

    def __init__(self, expected: int) -> None:
        self.left = expected
        self.done = anyio.Event()


def pings(n: int) -> list[Ping]:
    """Build the `n` messages of a run before its clock starts."""
    return [Ping(seq=i) for i in range(n)]
