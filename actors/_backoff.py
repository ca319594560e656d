"""Exponential backoff with a cap and jitter: the one delay policy for restarts and retries."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import final


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class ExponentialBackoff:
    """Delays that grow by `factor` from `initial` up to `maximum`, spread by `jitter`.

    The n-th delay (counting from 0) is `initial * factor**n`, capped at `maximum`, then
    multiplied by a random factor in `[1 - jitter, 1 + jitter]` and capped again, so that many
    failing actors do not retry in lockstep. After `reset_after` seconds without a failure the
    count starts again from 0 (see `next_attempt`).

    Args:
        initial: the first delay, in seconds.
        factor: how much each delay grows over the previous one (at least 1).
        maximum: no delay is longer than this, jitter included.
        jitter: how far a delay may stray from its nominal value, as a fraction (0 to 1).
        reset_after: a quiet period in seconds after which the attempt count resets.
    """

    initial: float = 0.01
    factor: float = 2.0
    maximum: float = 10.0
    jitter: float = 0.1
    reset_after: float = 60.0

    def __post_init__(self) -> None:
        if self.initial < 0:
            raise ValueError(f"initial must be >= 0, got {self.initial}")
        if self.factor < 1:
            raise ValueError(f"factor must be >= 1, got {self.factor}")
        if self.maximum < self.initial:
            raise ValueError(f"maximum ({self.maximum}) must be >= initial ({self.initial})")
        if not 0 <= self.jitter <= 1:
            raise ValueError(f"jitter must be between 0 and 1, got {self.jitter}")
        if self.reset_after <= 0:
            raise ValueError(f"reset_after must be > 0, got {self.reset_after}")

    def nominal_delay(self, attempt: int) -> float:
        """Return the delay before retry number `attempt` (from 0), without jitter."""
        try:
            return min(self.maximum, self.initial * self.factor**attempt)
        except OverflowError:
            return self.maximum

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Return the jittered delay before retry number `attempt` (from 0)."""
        nominal = self.nominal_delay(attempt)
        if not self.jitter:
            return nominal
        spread = (rng or random).uniform(-self.jitter, self.jitter)
        return min(self.maximum, nominal * (1 + spread))

    def next_attempt(self, attempt: int, quiet_seconds: float) -> int:
        """Return the attempt number to use after a failure that followed `quiet_seconds`
        without one: the count restarts at 0 after a quiet period."""
        return 0 if quiet_seconds >= self.reset_after else attempt
