"""Timing, results, the plain-text table and the JSON file of the benchmark harness.

It knows how to run a timed coroutine on a backend and how to report it, not what is measured.
"""

from __future__ import annotations

import gc
import json
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass, field
from importlib import metadata
from typing import TYPE_CHECKING, Literal, final

import anyio

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence
    from pathlib import Path
    from typing import TypeAlias

    #: An async function that does `n` operations and returns the seconds its hot part took.
    Timed: TypeAlias = Callable[[int], Awaitable[float]]

BACKENDS = ("asyncio", "trio")


def progress(text: str) -> None:
    """Print a progress line to stderr, so that stdout keeps only the table (or child JSON)."""
    print(text, file=sys.stderr, flush=True)


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """A pass mark: `ratio` compares repertory / baseline, `value` the repertory figure."""

    of: Literal["ratio", "value"]
    op: Literal[">=", "<="]
    limit: float

    def is_met(self, ratio: float, value: float) -> bool:
        measured = ratio if self.of == "ratio" else value
        return measured >= self.limit if self.op == ">=" else measured <= self.limit

    def describe(self, unit: str) -> str:
        if self.of == "ratio":
            return f"{self.op} {self.limit:.2f}x"
        return f"{self.op} {self.limit:g} {unit.split('/')[0]}"


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class Scenario:
    """One figure to measure: repertory's way and the raw baseline, `n` operations each."""

    name: str
    title: str
    n: int
    unit: str
    actor: Timed
    baseline: Timed
    target: Target | None = None
    max_repeats: int | None = None  # for the slow ones


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class Result:
    """The samples of one scenario on one backend; the reported figure is their median."""

    name: str
    title: str
    backend: str
    n: int
    unit: str
    actor_samples: tuple[float, ...]
    baseline_samples: tuple[float, ...]
    target: Target | None = None
    extra: dict[str, float | list[float]] = field(default_factory=dict)

    @property
    def actor(self) -> float:
        return statistics.median(self.actor_samples) if self.actor_samples else float("nan")

    @property
    def baseline(self) -> float:
        return statistics.median(self.baseline_samples) if self.baseline_samples else float("nan")

    @property
    def ratio(self) -> float:
        return self.actor / self.baseline if self.baseline else float("nan")

    @property
    def verdict(self) -> str:
        if self.target is None:
            return ""
        return "PASS" if self.target.is_met(self.ratio, self.actor) else "MISS"

    def to_json(self) -> dict[str, object]:
        data: dict[str, object] = {
            "scenario": self.name,
            "title": self.title,
            "backend": self.backend,
            "n": self.n,
            "unit": self.unit,
        }
        has_baseline = bool(self.baseline_samples)
        data.update(
            repertory=self.actor,
            baseline=self.baseline if has_baseline else None,
            ratio=self.ratio if has_baseline else None,
            repertory_samples=list(self.actor_samples),
            baseline_samples=list(self.baseline_samples),
        )
        if self.target is not None:
            data["target"] = self.target.describe(self.unit)
            data["verdict"] = self.verdict
        data.update(self.extra)
        return data


def _timed_run(fn: Timed, n: int, backend: str) -> float:
    gc.collect()  # garbage left by the previous run is not this run's cost
    return anyio.run(fn, n, backend=backend)


def run_scenario(scenario: Scenario, backend: str, repeats: int) -> Result:
    """Run baseline and repertory `repeats` times each, alternating to share the machine's
    noise, and return their rates (operations per second)."""
    actor: list[float] = []
    baseline: list[float] = []
    repeats = min(repeats, scenario.max_repeats or repeats)
    for attempt in range(repeats):
        runs = [(baseline, scenario.baseline), (actor, scenario.actor)]
        if attempt % 2:
            runs.reverse()
        for samples, fn in runs:
            samples.append(scenario.n / _timed_run(fn, scenario.n, backend))
        progress(
            f"  {scenario.name:<18} {backend:<8} run {attempt + 1}/{repeats}: "
            f"repertory {format_value(actor[-1], scenario.unit)}, "
            f"baseline {format_value(baseline[-1], scenario.unit)}"
        )
    return Result(
        name=scenario.name,
        title=scenario.title,
        backend=backend,
        n=scenario.n,
        unit=scenario.unit,
        actor_samples=tuple(actor),
        baseline_samples=tuple(baseline),
        target=scenario.target,
    )


def format_value(value: float, unit: str) -> str:
    if value != value:  # NaN
        return "-"
    if value >= 100:
        return f"{value:,.0f} {unit}"
    return f"{value:.2f} {unit}"


def format_ratio(ratio: float) -> str:
    """Two decimals, or two significant digits for the tiny ratios of persisted work to a
    bare loop."""
    if ratio != ratio:  # NaN: no baseline
        return "-"
    return f"{ratio:.2f}x" if ratio >= 0.1 else f"{ratio:.2g}x"


def format_table(results: Sequence[Result], statistic: str) -> str:
    """Render the results as a plain-text table, one row per scenario and backend."""
    header = (
        "scenario",
        "backend",
        "N",
        "runs",
        "repertory",
        "baseline",
        "ratio",
        "target",
        "check",
    )
    rows: list[tuple[str, ...]] = []
    for result in results:
        target = result.target.describe(result.unit) if result.target else ""
        rows.append(
            (
                result.title,
                result.backend,
                f"{result.n:,}",
                str(len(result.actor_samples)),
                format_value(result.actor, result.unit),
                format_value(result.baseline, result.unit),
                format_ratio(result.ratio),
                target,
                result.verdict,
            )
        )
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    right = {2, 3, 4, 5, 6}  # numbers line up on the right

    def line(row: Sequence[str]) -> str:
        cells = [
            cell.rjust(width) if i in right else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        return "  ".join(cells).rstrip()

    out = [
        f"Each figure is the {statistic}. ratio = repertory / baseline, both measured in this run.",
        line(header),
        line(["-" * width for width in widths]),
        *(line(row) for row in rows),
    ]
    return "\n".join(out)


def environment(statistic: str, quick: bool) -> dict[str, object]:
    """Where and how the figures were taken, for the JSON file."""
    versions = {}
    for package in ("repertory", "anyio", "trio", "msgpack", "psutil"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "missing"
    return {
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "statistic": statistic,
        "quick": quick,
        "versions": versions,
    }


def write_json(path: Path, results: Sequence[Result], meta: dict[str, object]) -> None:
    """Write the results and their environment to `path`, creating its directory."""
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {"meta": meta, "results": [result.to_json() for result in results]}
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


async def settle() -> None:
    """Start a timed part from a quiet loop and a clean heap, on both sides of a comparison.

    Without the collection, the garbage of the set-up (spawning a thousand actors, say) is
    collected at some random moment of the timed part, and the figures swing by a third.
    """
    await anyio.wait_all_tasks_blocked()
    gc.collect()
