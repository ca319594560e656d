"""Abuse limits: token buckets per API key (requests) and per client address (failed
authentications), answered 429 with `Retry-After`.

Buckets live in this process: each server enforces its own. Their number is bounded (the
least recently used go first, and a bucket that went is simply full again).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, final

from repertory.actors import SystemClock

from ._errors import ApiError

if TYPE_CHECKING:
    from repertory.actors import Clock

#: Buckets kept per kind before the least recently used are dropped.
MAX_BUCKETS: Final = 100_000


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """How much one key and one address may do (`None` turns a limit off)."""

    #: Requests per second of one API key, sustained, and the burst it may spend at once.
    key_rate: float | None = 100.0
    key_burst: float = 200.0
    #: Failed authentications per minute from one client address before it must wait.
    auth_failures_per_minute: float | None = 10.0


@final
class TokenBuckets:
    """Buckets by name, each holding up to `burst` tokens and refilled `rate` per second."""

    def __init__(self, rate: float, burst: float, *, clock: Clock | None = None) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError(f"a token bucket needs rate > 0 and burst >= 1, not {rate}, {burst}")
        self.rate = rate
        self.burst = burst
        self._clock = clock or SystemClock()
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # tokens, when

    def take(self, name: str) -> float:
        """Take a token if there is one and return 0; else how many seconds until there is."""
        tokens = self._tokens(name)
        if tokens < 1:
            return (1 - tokens) / self.rate
        self._buckets[name] = (tokens - 1, self._clock.now())
        self._buckets.move_to_end(name)
        if len(self._buckets) > MAX_BUCKETS:
            self._buckets.popitem(last=False)
        return 0.0

    def _tokens(self, name: str) -> float:
        found = self._buckets.get(name)
        if found is None:
            return self.burst
        tokens, then = found
        return min(self.burst, tokens + (self._clock.now() - then) * self.rate)


class RateLimitedError(ApiError):
    """429, with how long to wait in `Retry-After`."""

    def __init__(self, code: str, message: str, wait: float) -> None:
        seconds = max(1, math.ceil(wait))
        super().__init__(429, code, f"{message}: retry in {seconds} s", {"retry_after": seconds})
        self.headers["Retry-After"] = str(seconds)


@final
class Guard:
    """The limits of one app: checked by its endpoint around authentication."""

    def __init__(self, limits: Limits, *, clock: Clock | None = None) -> None:
        self._keys = (
            None
            if limits.key_rate is None
            else TokenBuckets(limits.key_rate, limits.key_burst, clock=clock)
        )
        failures = limits.auth_failures_per_minute
        self._failures = (
            None
            if failures is None
            else TokenBuckets(failures / 60, max(1.0, failures), clock=clock)
        )

    def failed_authentication(self, client: str) -> None:
        """Count a failed authentication from `client`; raises RateLimitedError (instead of
        the 401) once it has failed too often lately. Only failures count and are refused:
        a working key from the same address is never refused for them (addresses are
        shared, behind a proxy say)."""
        if self._failures is not None:
            wait = self._failures.take(client)
            if wait:
                raise RateLimitedError(
                    "too_many_failures", "too many failed authentications from here", wait
                )

    def request(self, key_id: str) -> None:
        """Raises RateLimitedError when the key has spent its requests for now."""
        if self._keys is not None:
            wait = self._keys.take(key_id)
            if wait:
                raise RateLimitedError("rate_limited", "this API key sends too many requests", wait)
