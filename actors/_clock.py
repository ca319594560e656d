"""Time as the kernel, the runtime and the gateway see it: one injectable clock, so tests can
move time by hand."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol, final

import anyio


class Clock(Protocol):
    """Monotonic time in seconds, wall-clock time in UTC, and a way to wait on them.

    Backoff, timeouts, rate limits and windows read `now`; expiry, and times a user reads
    (when a cache entry or a key was made), read `utc_now`. A fake clock moves both at once.
    """

    def now(self) -> float:
        """Return the current monotonic time in seconds."""
        ...

    def utc_now(self) -> datetime:
        """Return the current wall-clock time (timezone-aware, UTC)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait until `seconds` have passed on this clock (blocks)."""
        ...


@final
class SystemClock:
    """The event loop's own monotonic clock and the system's wall clock."""

    __slots__ = ()

    def now(self) -> float:
        return anyio.current_time()

    def utc_now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(seconds)
