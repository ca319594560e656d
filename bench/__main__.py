"""`python -m bench`: run the scenarios on each backend, print the table, write the JSON file.

Options are described by `python -m bench --help`; `--probe` is the memory scenario's child.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from . import cache, durability, footprint, isolation, kernel, memory, rest, runtime, tcp
from ._harness import (
    BACKENDS,
    Result,
    Scenario,
    environment,
    format_table,
    progress,
    run_scenario,
    write_json,
)

RESULTS = Path(__file__).resolve().parent / "results"
#: The runtime's figures measured apart from the throughput scenarios (see bench/footprint.py,
#: and bench/durability.py: children killed at random moments of a busy flow).
FOOTPRINT = ("latency", "startup", "rss", "import", "durability")
#: The gateway's figures: servers in processes of their own, loaded by wrk (bench/rest.py).
GATEWAY = ("rest", "isolation")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Measure the actor kernel and the workflow runtime against raw baselines "
        "on asyncio and trio.",
    )
    parser.add_argument("--quick", action="store_true", help="a fast smoke run with small N")
    parser.add_argument("--backend", choices=[*BACKENDS, "both"], default="both")
    parser.add_argument(
        "--json",
        type=Path,
        default=None,
        metavar="PATH",
        help="where to write the results (default: bench/results/<suite>.json, "
        "or <suite>-quick.json with --quick)",
    )
    parser.add_argument(
        "--only",
        default="",
        metavar="NAMES",
        help="comma-separated scenarios to run, out of: "
        + ", ".join([*_names(quick=True), "memory", *FOOTPRINT, *GATEWAY]),
    )
    parser.add_argument(
        "--repeats", type=int, default=0, help="runs per figure (default: 5, or 3 with --quick)"
    )
    parser.add_argument(
        "--suite",
        choices=["kernel", "runtime", "gateway", "all"],
        default="all",
        help="the actor kernel's scenarios, the workflow runtime's, the REST gateway's, "
        "or all of them (default)",
    )
    parser.add_argument("--probe", choices=memory.KINDS, help=argparse.SUPPRESS)
    parser.add_argument("--probe-n", type=int, default=0, help=argparse.SUPPRESS)
    return parser


def _all_scenarios(*, quick: bool, suite: str = "all") -> list[Scenario]:
    out: list[Scenario] = []
    if suite in {"kernel", "all"}:
        out += kernel.scenarios(quick=quick) + tcp.scenarios(quick=quick)
    if suite in {"runtime", "all"}:
        out += runtime.scenarios(quick=quick) + cache.scenarios(quick=quick)
    return out


def _names(*, quick: bool, suite: str = "all") -> list[str]:
    return [scenario.name for scenario in _all_scenarios(quick=quick, suite=suite)]


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    # The figures are the runtime's, not a terminal's: no run lines on the console (a retry
    # scenario would print one per retry), here and in the processes the bench starts.
    os.environ.setdefault("REPERTORY_LOGGING_LEVEL", "OFF")
    if args.probe:
        memory.probe(args.probe, args.backend, args.probe_n)
        return 0
    quick: bool = args.quick
    backends = BACKENDS if args.backend == "both" else (args.backend,)
    repeats: int = args.repeats or (3 if quick else 5)
    statistic = "median of its runs (memory: one run in a fresh process)"
    suite: str = args.suite
    known = {*_names(quick=quick, suite=suite)}
    known |= {"memory"} if suite in {"kernel", "all"} else set()
    known |= set(FOOTPRINT) if suite in {"runtime", "all"} else set()
    known |= set(GATEWAY) if suite in {"gateway", "all"} else set()
    only = {name.strip() for name in args.only.split(",") if name.strip()} or known
    if only - known:
        parser.error(f"unknown scenarios: {', '.join(sorted(only - known))}")
    path: Path = args.json or RESULTS / (f"{suite}-quick.json" if quick else f"{suite}.json")

    scenarios = [s for s in _all_scenarios(quick=quick, suite=suite) if s.name in only]
    results: list[Result] = []
    began = time.perf_counter()
    per_backend = scenarios or only & {"memory", "latency", "startup", "rss", "durability"}
    for backend in backends if per_backend else ():
        progress(f"== {backend}: {repeats} runs per figure, baseline and repertory alternating")
        results.extend(run_scenario(scenario, backend, repeats) for scenario in scenarios)
        if "memory" in only:
            results.append(memory.measure(backend, quick=quick))
        if "latency" in only:
            results.extend(footprint.measure_latency(backend, quick=quick))
        if "startup" in only:
            results.extend(footprint.measure_startup(backend, quick=quick))
        if "rss" in only:
            results.append(footprint.measure_rss(backend, quick=quick))
        if "durability" in only:
            results.extend(durability.measure(backend, quick=quick))
    if "import" in only:
        results.extend(footprint.measure_imports(quick=quick))
    for name, module, what in (
        ("rest", rest, "REST servers in processes of their own, wrk at c=20"),
        ("isolation", isolation, "one tenant's creates beside another's deep reads"),
    ):
        if name in only:
            progress(f"== {rest.BACKEND}: {what}")
            try:
                results.extend(module.measure(quick=quick))
            except rest.WrkMissingError as exc:
                progress(f"  {name}: skipped, {exc}")
    progress(f"== done in {time.perf_counter() - began:.0f} s\n")

    order = [*(scenario.name for scenario in scenarios), "memory", *FOOTPRINT, *GATEWAY]
    backend_order = [*BACKENDS, "-", rest.BACKEND]
    results.sort(key=lambda result: (order.index(result.name), backend_order.index(result.backend)))
    print(format_table(results, statistic))
    meta = environment(statistic, quick)
    meta["repeats"] = repeats
    meta["seconds"] = round(time.perf_counter() - began, 1)
    write_json(path, results, meta)
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
