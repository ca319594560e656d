"""One tenant's creates while another tenant reads as hard as the API's default limits let
it: the create rate with that load beside it, as a share of the same server's rate without
it, in one run.

The reading tenant has thousands of runs and as many audit records; 8 connections (kept
alive, as HTTP clients keep them) page its runs at the deepest offset allowed, and 2 check
its audit chain, again and again, 100 requests/s in all (one key's default rate limit). So an
outside probe loaded a server when every read waited in line on the store, and creates fell
to 1% of their rate.
"""

from __future__ import annotations

import http.client
import json
import shutil
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Final

from ._harness import Result, Target, progress
from .rest import BACKEND, CONCURRENCY, WrkMissingError, _post_script, _wrk, repertory_server

#: Connections reading the other tenant's runs, and verifying its audit log, during the load,
#: each at most this many requests/s: 100 in all, one key's default rate limit.
LISTERS: Final = 8
VERIFIERS: Final = 2
PER_CONNECTION: Final = 10.0
DEEPEST_OFFSET: Final = 10_000


def _call(url: str, key: str, *, body: object = None) -> object:
    request = urllib.request.Request(
        url,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as answer:
        return json.load(answer)


def _reader(url: str, key: str, until: float, counts: list[int]) -> None:
    """Read `url` again and again on one kept-alive connection (as any HTTP client keeps
    it) until `until`, at most PER_CONNECTION times a second, counting answers (errors
    count as none; a connection the server closed is opened again)."""
    address = urllib.parse.urlsplit(url)
    target = f"{address.path}?{address.query}" if address.query else address.path
    connection = http.client.HTTPConnection(address.netloc, timeout=60)
    try:
        while (began := time.monotonic()) < until:
            try:
                connection.request("GET", target, headers={"Authorization": f"Bearer {key}"})
                with connection.getresponse() as answer:
                    answer.read()
                    if answer.status == 200:
                        counts.append(1)
            except OSError:  # the next request opens a new connection
                connection.close()
            time.sleep(max(0.0, 1 / PER_CONNECTION - (time.monotonic() - began)))  # pacing
    finally:
        connection.close()


def measure(*, quick: bool) -> list[Result]:
    """Creates/s into one workspace, alone and beside another's deep listings and audit
    verifications, alternating, on one server.

    Raises:
        WrkMissingError: wrk is not installed.
    """
    if shutil.which("wrk") is None:
        raise WrkMissingError("the isolation benchmark needs wrk: apt-get install wrk")
    seconds = 3 if quick else 5
    fill_seconds = 4 if quick else 12
    repeats = 1 if quick else 5
    solo: list[float] = []
    loaded: list[float] = []
    reads: list[float] = []
    directory = Path(tempfile.mkdtemp(prefix="repertory-bench-"))
    try:
        with repertory_server(directory) as (url, key):
            made = _call(f"{url}/api/workspaces", key, body={"name": "other"})
            assert isinstance(made, dict)
            other_key = str(made["owner_key"]["secret"])
            other = f"{url}/api/workspaces/other"
            progress(f"  isolation: filling the other tenant for {fill_seconds} s")
            fill = _post_script(directory / "fill.lua", other_key)
            filled = _wrk(f"{other}/flow_runs", fill_seconds, script=fill).requests
            progress(f"  isolation: it has {filled:,} runs and as many audit records")
            create = _post_script(directory / "create.lua", key)
            runs = f"{url}/api/workspaces/default/flow_runs"
            _wrk(runs, 1, script=create)  # warm up
            for round_ in range(repeats):
                solo.append(_wrk(runs, seconds, script=create).per_second)
                until = time.monotonic() + seconds + 2
                counts: list[int] = []
                listing = f"{other}/flow_runs?limit=50&offset={min(DEEPEST_OFFSET, filled - 1)}"
                verify = f"{other}/audit/verify"  # on from the last check, as by default
                threads = [
                    threading.Thread(target=_reader, args=(address, other_key, until, counts))
                    for address in [listing] * LISTERS + [verify] * VERIFIERS
                ]
                for thread in threads:
                    thread.start()
                time.sleep(1)  # the readers are under way before the creates are measured
                began = time.monotonic()
                loaded.append(_wrk(runs, seconds, script=create).per_second)
                for thread in threads:
                    thread.join()
                reads.append(len(counts) / (time.monotonic() - began + 1))
                progress(
                    f"  isolation round {round_ + 1}: creates {solo[-1]:,.0f}/s alone, "
                    f"{loaded[-1]:,.0f}/s beside the other's reads ({reads[-1]:,.1f} reads/s)"
                )
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    return [
        Result(
            name="isolation",
            title="REST creates beside another tenant's deep reads (vs alone)",
            backend=BACKEND,
            n=round(seconds * CONCURRENCY),
            unit="req/s",
            actor_samples=tuple(loaded),
            baseline_samples=tuple(solo),
            target=Target(of="ratio", op=">=", limit=0.8),
            extra={"reads_per_second": sorted(reads)[len(reads) // 2]},
        )
    ]
