"""The REST gateway under load: requests/s and p50/p99 latency at concurrency 20 on loopback,
beside a bare Starlette app served by the same uvicorn settings in the same run.

The load comes from `wrk` (Debian's package; a Lua script sends the POST bodies): an httpx
client tops out near 650 requests/s here, below what either server does, so it would measure
itself. Each server is its own process, as users run it: `repertory server start` on a fresh
SQLite database, and `uvicorn bench._hello:app`.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Final

from ._harness import Result, Target, progress

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

CONCURRENCY: Final = 20
#: How long a server may take to start listening (seconds).
START_TIMEOUT: Final = 60
#: How long the runs created over REST may take to end once the load stops (seconds).
DRAIN_TIMEOUT: Final = 120
#: The label of these rows: uvicorn runs on uvloop with httptools, for both servers.
BACKEND: Final = "uvloop"
_ROOT: Final = Path(__file__).resolve().parent.parent
_FLOWS: Final = Path(__file__).resolve().parent / "_rest_flows.py"
_CREATE_BODY: Final = '{"flow_name": "noop", "parameters": {"x": 1}}'


class WrkMissingError(RuntimeError):
    """wrk is not installed."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Load:
    """What one wrk run measured."""

    requests: int
    per_second: float
    p50_ms: float
    p99_ms: float


_UNITS: Final = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if match is None:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(match[1]) * _UNITS[match[2]]


def parse_wrk(output: str) -> Load:
    """The figures of wrk's `--latency` report; raises if any answer was not a success."""
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if errors:
        raise RuntimeError(f"{errors[1]} answers were errors:\n{output}")
    sockets = re.search(r"Socket errors: (.*)", output)
    if sockets:
        raise RuntimeError(f"socket errors ({sockets[1]}):\n{output}")
    percentiles = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", output, re.MULTILINE))
    requests = re.search(r"^\s+(\d+) requests in", output, re.MULTILINE)
    rate = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.MULTILINE)
    if requests is None or rate is None or set(percentiles) != {"50", "99"}:
        raise RuntimeError(f"cannot read wrk's report:\n{output}")
    return Load(
        requests=int(requests[1]),
        per_second=float(rate[1]),
        p50_ms=_ms(percentiles["50"]),
        p99_ms=_ms(percentiles["99"]),
    )


def _wrk(url: str, seconds: float, *, script: Path | None = None, key: str = "") -> Load:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise WrkMissingError("the REST benchmark needs wrk: apt-get install wrk")
    command = [wrk, "-t2", f"-c{CONCURRENCY}", f"-d{seconds}s", "--latency", "--timeout", "10s"]
    if key:
        command += ["-H", f"Authorization: Bearer {key}"]
    if script is not None:
        command += ["-s", str(script)]
    done = subprocess.run(
        [*command, url], capture_output=True, text=True, check=True, timeout=seconds + 60
    )
    return parse_wrk(done.stdout)


def _post_script(path: Path, key: str) -> Path:
    """A wrk script that POSTs the create body (a key is `rpk_` and hex: nothing to escape)."""
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    lines = ['wrk.method = "POST"', f"wrk.body = '{_CREATE_BODY}'"]
    lines += [f'wrk.headers["{name}"] = "{value}"' for name, value in headers.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_listening(port: int, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            return
        time.sleep(0.05)  # polling a child process's socket, not synchronizing tests
    raise RuntimeError(f"nothing listened on port {port} within {START_TIMEOUT} s")


@contextlib.contextmanager
def _process(command: list[str]) -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen(
        command, cwd=_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        yield process
    finally:
        process.terminate()  # SIGTERM: the server stops gracefully
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def repertory_server(directory: Path) -> Iterator[tuple[str, str]]:
    """`repertory server start` on a fresh database: its URL and owner key."""
    port = _free_port()
    database = directory / f"runs-{port}.db"
    command = [sys.executable, "-m", "repertory._cli", "server", "start", "--port", str(port)]
    command += ["--flows", str(_FLOWS), "--database-url", f"sqlite:///{database}"]
    # One key sends every request, into one workspace: the limits are off, not measured.
    command += ["--rate-limit", "0", "--max-runs-per-workspace", "0"]
    with _process(command) as process:
        assert process.stdout is not None
        key = ""
        said = []
        for line in process.stdout:  # the key is printed before "serving"
            said.append(line)
            if found := re.search(r"rpk_[0-9a-f_]+", line):
                key = found[0]
            if "serving" in line:
                break
        else:
            raise RuntimeError(f"the server exited with {process.wait()}: {''.join(said)}")
        _wait_listening(port, process)
        yield f"http://127.0.0.1:{port}", key


@contextlib.contextmanager
def hello_server() -> Iterator[str]:
    """The bare Starlette app under uvicorn with the server's settings (uvloop, httptools)."""
    port = _free_port()
    command = [sys.executable, "-m", "uvicorn", "bench._hello:app", "--port", str(port)]
    command += ["--loop", "uvloop", "--http", "httptools", "--log-level", "warning"]
    command += ["--no-access-log", "--no-server-header"]
    with _process(command) as process:
        _wait_listening(port, process)
        yield f"http://127.0.0.1:{port}"


def _create_run(url: str, key: str) -> str:
    request = urllib.request.Request(
        f"{url}/api/workspaces/default/flow_runs",
        data=_CREATE_BODY.encode(),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        run_id: str = json.load(answer)["id"]
        return run_id


def _all_ended(url: str, key: str) -> bool:
    """Whether no run is Pending or Running any more (every run the load made has ended)."""
    for state in ("PENDING", "RUNNING"):
        request = urllib.request.Request(
            f"{url}/api/workspaces/default/flow_runs?state_type={state}&limit=1",
            headers={"Authorization": f"Bearer {key}"},
        )
        with urllib.request.urlopen(request, timeout=30) as answer:
            if json.load(answer)["items"]:
                return False
    return True


def _end_to_end(url: str, key: str, script: Path, seconds: float) -> float:
    """Runs/s from the first create to the last run's Completed state being durable."""
    began = time.perf_counter()
    load = _wrk(f"{url}/api/workspaces/default/flow_runs", seconds, script=script)
    deadline = time.monotonic() + DRAIN_TIMEOUT
    while not _all_ended(url, key):
        if time.monotonic() > deadline:
            raise RuntimeError(f"{load.requests} runs did not complete in {DRAIN_TIMEOUT} s")
        time.sleep(0.01)  # polling the server from outside
    return load.requests / (time.perf_counter() - began)


@dataclass(slots=True)
class _Samples:
    """The loads of one endpoint and of hello-world beside it, one pair per round."""

    title: str
    target: Target | None = None
    repertory: list[Load] = field(default_factory=list)
    baseline: list[Load] = field(default_factory=list)

    def add(self, ours: Load, theirs: Load) -> None:
        self.repertory.append(ours)
        self.baseline.append(theirs)
        progress(
            f"  {self.title:<24} {ours.per_second:>8,.0f} req/s (p50 {ours.p50_ms:.2f} ms, "
            f"p99 {ours.p99_ms:.2f} ms); hello-world {theirs.per_second:,.0f} req/s"
        )

    def results(self, seconds: float) -> list[Result]:
        rows: list[tuple[str, str, Callable[[Load], float], Target | None]] = [
            ("req/s", self.title, lambda load: load.per_second, self.target),
            ("ms", f"{self.title} p50", lambda load: load.p50_ms, None),
            ("ms", f"{self.title} p99", lambda load: load.p99_ms, None),
        ]
        return [
            Result(
                name="rest",
                title=title,
                backend=BACKEND,
                n=round(seconds * CONCURRENCY),  # seconds x connections
                unit=unit,
                actor_samples=tuple(figure(load) for load in self.repertory),
                baseline_samples=tuple(figure(load) for load in self.baseline),
                target=target,
            )
            for unit, title, figure, target in rows
        ]


def measure(*, quick: bool) -> list[Result]:
    """Health, create and read at concurrency 20, and runs/s end to end, beside hello-world
    (its GET for the GETs, its POST of the same body for creates).

    Raises:
        WrkMissingError: wrk is not installed.
    """
    if shutil.which("wrk") is None:
        raise WrkMissingError("the REST benchmark needs wrk: apt-get install wrk")
    seconds = 2 if quick else 5
    repeats = 1 if quick else 3
    health = _Samples("REST GET /api/health")
    create = _Samples("REST create a flow run", Target(of="value", op=">=", limit=1_500))
    read = _Samples("REST read a flow run")
    end_to_end: list[float] = []
    hello_posts: list[float] = []
    directory = Path(tempfile.mkdtemp(prefix="repertory-bench-"))
    try:
        with hello_server() as hello:
            hello_post = _post_script(directory / "hello.lua", key="")
            _wrk(f"{hello}/", 1)  # warm up
            for round_ in range(repeats):
                progress(f"  rest: round {round_ + 1} of {repeats}, {seconds} s per figure")
                with repertory_server(directory) as (url, key):
                    create_script = _post_script(directory / "create.lua", key)
                    api = f"{url}/api/workspaces/default"
                    _wrk(f"{url}/api/health", 1)  # warm up
                    health.add(_wrk(f"{url}/api/health", seconds), _wrk(f"{hello}/", seconds))
                    create.add(
                        _wrk(f"{api}/flow_runs", seconds, script=create_script),
                        _wrk(f"{hello}/post", seconds, script=hello_post),
                    )
                    run_id = _create_run(url, key)
                    read.add(
                        _wrk(f"{api}/flow_runs/{run_id}", seconds, key=key),
                        _wrk(f"{hello}/", seconds),
                    )
                with repertory_server(directory) as (url, key):  # a fresh database: counted
                    create_script = _post_script(directory / "create.lua", key)
                    end_to_end.append(_end_to_end(url, key, create_script, seconds))
                    hello_posts.append(_wrk(f"{hello}/post", seconds, script=hello_post).per_second)
                    progress(f"  REST runs end to end     {end_to_end[-1]:>8,.0f} runs/s")
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    results = [*health.results(seconds), *create.results(seconds), *read.results(seconds)]
    results.append(
        Result(
            name="rest",
            title="REST flow runs created and completed",
            backend=BACKEND,
            n=round(seconds * CONCURRENCY),
            unit="runs/s",
            actor_samples=tuple(end_to_end),
            baseline_samples=tuple(hello_posts),
        )
    )
    return results
