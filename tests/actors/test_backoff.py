"""ExponentialBackoff: growth, cap, jitter bounds, reset after a quiet period, validation."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from repertory.actors import ExponentialBackoff


def test_nominal_delays_grow_exponentially_up_to_the_cap() -> None:
    backoff = ExponentialBackoff(initial=0.5, factor=3.0, maximum=10.0, jitter=0.0)
    assert [backoff.delay(n) for n in range(5)] == [0.5, 1.5, 4.5, 10.0, 10.0]


def test_huge_attempt_numbers_stay_at_the_cap() -> None:
    backoff = ExponentialBackoff(initial=1.0, factor=10.0, maximum=60.0, jitter=0.0)
    assert backoff.delay(100_000) == 60.0


@given(
    initial=st.floats(0.001, 10),
    factor=st.floats(1, 5),
    jitter=st.floats(0, 1),
    attempt=st.integers(0, 50),
    seed=st.integers(0, 2**32),
)
def test_jittered_delays_stay_within_bounds(
    initial: float, factor: float, jitter: float, attempt: int, seed: int
) -> None:
    backoff = ExponentialBackoff(initial=initial, factor=factor, maximum=30.0, jitter=jitter)
    nominal = backoff.nominal_delay(attempt)
    delay = backoff.delay(attempt, random.Random(seed))
    assert nominal * (1 - jitter) - 1e-9 <= delay <= min(30.0, nominal * (1 + jitter)) + 1e-9


def test_jitter_spreads_delays() -> None:
    backoff = ExponentialBackoff(initial=1.0, jitter=0.5)
    rng = random.Random(1)
    assert len({backoff.delay(0, rng) for _ in range(20)}) == 20


def test_attempts_reset_after_a_quiet_period() -> None:
    backoff = ExponentialBackoff(reset_after=30.0)
    assert backoff.next_attempt(5, quiet_seconds=29.9) == 5
    assert backoff.next_attempt(5, quiet_seconds=30.0) == 0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"initial": -1.0},
        {"factor": 0.5},
        {"initial": 5.0, "maximum": 1.0},
        {"jitter": 1.5},
        {"reset_after": 0.0},
    ],
)
def test_invalid_settings_are_rejected(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must be"):
        ExponentialBackoff(**kwargs)
