"""Time as the kernel sees it: an injectable clock, so tests can move time by hand."""

from __future__ import annotations

from typing import Protocol, final

import anyio


class Clock(Protocol):
    """A monotonic clock in seconds and a way to wait on it."""

    def now(self) -> float:
        """Return the current monotonic time in seconds."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait until `seconds` have passed on this clock (blocks)."""
        ...


@final
class SystemClock:
    """The event loop's own monotonic clock."""

    __slots__ = ()

    def now(self) -> float:
        return anyio.current_time()

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(seconds)
