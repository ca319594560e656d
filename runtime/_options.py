"""What `@flow` and `@task` configure, as plain frozen records, and the retry policy they make:
when a failed attempt is tried again, and after how long."""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Final, final

from repertory.actors import ExponentialBackoff

from ._serialization import SERIALIZERS, Serializer
from ._text import check_text
from .cache._cache_policy import NO_CACHE, CachePolicy

if TYPE_CHECKING:
    from ._records import FlowRun, State, TaskRun

#: `retry_delay_seconds`: one delay, one per retry (the last repeats), or `(retries) -> list`.
RetryDelay = float | Sequence[float] | Callable[[int], Sequence[float]]
Hook = Callable[..., object]


def exponential_backoff(backoff_factor: float) -> Callable[[int], list[float]]:
    """Retry delays `backoff_factor * 2**k` for retry k = 0, 1, ... (for `retry_delay_seconds`)."""
    if backoff_factor < 0:
        raise ValueError(f"backoff_factor must be >= 0, got {backoff_factor}")
    backoff = ExponentialBackoff(initial=backoff_factor, factor=2.0, maximum=math.inf, jitter=0.0)

    def delays(retries: int) -> list[float]:
        return [backoff.nominal_delay(k) for k in range(retries)]

    return delays


def retry_delays(retries: int, delay: RetryDelay) -> tuple[float, ...]:
    """The delay before each of `retries` retries.

    Raises:
        ValueError: a negative delay, or a list that gives none.
    """
    if retries < 0:
        raise ValueError(f"retries must be >= 0, got {retries}")
    if callable(delay):
        given = [float(d) for d in delay(retries)]
    elif isinstance(delay, int | float):
        given = [float(delay)]
    else:
        given = [float(d) for d in delay]
    if retries and not given:
        raise ValueError("retry_delay_seconds gives no delay")
    if any(d < 0 or math.isnan(d) for d in given):
        raise ValueError(f"retry delays must be >= 0, got {given}")
    # A list shorter than the retries repeats its last delay.
    return tuple(given[min(k, len(given) - 1)] for k in range(retries))


def jittered(delay: float, jitter_factor: float | None, rng: random.Random | None = None) -> float:
    """`delay` stretched by up to `jitter_factor` of itself (never shortened)."""
    if not jitter_factor or not delay:
        return delay
    return delay * (1 + (rng or random).uniform(0, jitter_factor))


#: The states of an attempt that a retry may follow.
RETRIED: Final = frozenset({"Failed", "TimedOut"})


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """Whether a failed attempt is tried again, and after how long: pure (no clock, no I/O),
    asked by flows and tasks, on the async and the sync path alike. A task's
    `retry_condition_fn`, the user's code, is asked by the engine once this says yes."""

    retries: int = 0
    #: The delay before each retry (`retry_delays` made them from what the user gave).
    delays: tuple[float, ...] = ()
    jitter_factor: float | None = None

    def delay_after(
        self, state: State, retries_made: int, rng: random.Random | None = None
    ) -> float | None:
        """How long to wait before the next attempt, after an attempt ended in `state` with
        `retries_made` retries behind it; None: no more attempts (it did not fail, or its
        retries are spent)."""
        if state.name not in RETRIED or retries_made >= self.retries:
            return None
        delay = self.delays[retries_made] if self.delays else 0.0
        return jittered(delay, self.jitter_factor, rng)


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class FlowOptions:
    """How a flow runs (see `repertory.flow`)."""

    name: str
    version: str | None = None
    description: str | None = None
    flow_run_name: str | Callable[[], str] | None = None
    retries: int = 0
    retry_delay_seconds: tuple[float, ...] = ()
    timeout_seconds: float | None = None
    validate_parameters: bool = True
    log_prints: bool = False
    on_completion: tuple[Callable[[object, FlowRun, State], object], ...] = ()
    on_failure: tuple[Callable[[object, FlowRun, State], object], ...] = ()
    on_cancellation: tuple[Callable[[object, FlowRun, State], object], ...] = ()
    on_crashed: tuple[Callable[[object, FlowRun, State], object], ...] = ()
    on_running: tuple[Callable[[object, FlowRun, State], object], ...] = ()
    #: Made from the fields above, once (every attempt asks it).
    retry_policy: RetryPolicy = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_text(self.name, "a flow's name")
        check_text(self.version, "a flow's version")
        policy = RetryPolicy(retries=self.retries, delays=self.retry_delay_seconds)
        object.__setattr__(self, "retry_policy", policy)  # a frozen record, made once


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class TaskOptions:
    """How a task runs (see `repertory.task`)."""

    name: str
    version: str | None = None
    description: str | None = None
    tags: tuple[str, ...] = ()
    task_run_name: str | Callable[[], str] | None = None
    retries: int = 0
    retry_delay_seconds: tuple[float, ...] = ()
    retry_jitter_factor: float | None = None
    retry_condition_fn: Callable[[object, TaskRun, State], bool] | None = None
    timeout_seconds: float | None = None
    log_prints: bool = False
    on_completion: tuple[Callable[[object, TaskRun, State], object], ...] = ()
    on_failure: tuple[Callable[[object, TaskRun, State], object], ...] = ()
    cache_policy: CachePolicy = NO_CACHE
    cache_expiration: timedelta | None = None
    refresh_cache: bool = False
    result_serializer: Serializer = "msgpack"

    #: Made from the fields above, once (every attempt asks it).
    retry_policy: RetryPolicy = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_text(self.name, "a task's name")
        check_text(self.version, "a task's version")
        policy = RetryPolicy(
            retries=self.retries,
            delays=self.retry_delay_seconds,
            jitter_factor=self.retry_jitter_factor,
        )
        object.__setattr__(self, "retry_policy", policy)  # a frozen record, made once
        if not isinstance(self.cache_policy, CachePolicy):
            raise TypeError(f"cache_policy must be a cache policy, not {self.cache_policy!r}")
        expiration: object = self.cache_expiration
        if expiration is not None and (
            not isinstance(expiration, timedelta) or expiration <= timedelta(0)
        ):
            raise ValueError(f"cache_expiration must be a positive timedelta, not {expiration!r}")
        if self.result_serializer not in SERIALIZERS:
            raise ValueError(
                f"result_serializer is one of {', '.join(SERIALIZERS)}, "
                f"not {self.result_serializer!r}"
            )

    @property
    def is_cached(self) -> bool:
        return self.cache_policy is not NO_CACHE


NO_DELAYS: Final[tuple[float, ...]] = ()
