"""The retry policy: pure answers to "again, and after how long?" for flows and tasks."""

from __future__ import annotations

import random

import pytest

from repertory.runtime import FlowOptions, RetryPolicy, State, TaskOptions, exponential_backoff
from repertory.runtime._options import retry_delays


def ended(name: str) -> State:
    return State.named(name, "r1")


def test_only_a_failed_or_timed_out_attempt_is_tried_again() -> None:
    policy = RetryPolicy(retries=3, delays=(1.0, 2.0, 4.0))
    assert policy.delay_after(ended("Failed"), 0) == 1.0
    assert policy.delay_after(ended("TimedOut"), 1) == 2.0
    for name in ("Completed", "Cancelled", "Crashed"):
        assert policy.delay_after(ended(name), 0) is None


def test_retries_stop_once_spent_and_without_delays_come_at_once() -> None:
    policy = RetryPolicy(retries=2)
    assert [policy.delay_after(ended("Failed"), made) for made in range(3)] == [0.0, 0.0, None]
    assert RetryPolicy().delay_after(ended("Failed"), 0) is None


def test_jitter_stretches_a_delay_by_at_most_its_factor_and_never_shortens_it() -> None:
    policy = RetryPolicy(retries=1, delays=(10.0,), jitter_factor=0.5)
    rng = random.Random(7)
    delays = [policy.delay_after(ended("Failed"), 0, rng) for _ in range(200)]
    assert all(d is not None and 10.0 <= d <= 15.0 for d in delays)
    assert len(set(delays)) > 100  # spread, not one value


def test_the_options_make_the_policy_the_user_asked_for() -> None:
    delays = retry_delays(4, exponential_backoff(2))
    task = TaskOptions(name="t", retries=4, retry_delay_seconds=delays, retry_jitter_factor=0.1)
    assert task.retry_policy == RetryPolicy(
        retries=4, delays=(2.0, 4.0, 8.0, 16.0), jitter_factor=0.1
    )
    flow = FlowOptions(name="f", retries=2, retry_delay_seconds=retry_delays(2, [5, 1, 9]))
    assert flow.retry_policy == RetryPolicy(retries=2, delays=(5.0, 1.0))
    assert retry_delays(3, [5]) == (5.0, 5.0, 5.0)  # a short list repeats its last delay
    with pytest.raises(ValueError, match="gives no delay"):
        retry_delays(1, [])
