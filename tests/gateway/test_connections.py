"""Slow and surplus connections against a real server on 127.0.0.1: a request's headers and
body have deadlines, idle kept-alive connections are closed, connections past the cap are
answered 503, and others are answered promptly meanwhile.

Run as a script, this module is the scenario's attacker (`hold_slow_connections`), in a
process of its own.
"""

from __future__ import annotations

import contextlib
import json
import resource
import sys
import time
from typing import TYPE_CHECKING, Final

import anyio
import pytest
from anyio.streams.buffered import BufferedByteReceiveStream

from repertory.gateway._connections import (
    SPARE_DESCRIPTORS,
    ConnectionLimits,
    guarded_http_protocol,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from contextlib import AbstractAsyncContextManager

    from anyio.abc import SocketStream

    from .conftest import Served

    OpenServer = Callable[..., AbstractAsyncContextManager[Served]]

HOST: Final = "127.0.0.1"
#: The scenario: this many slow clients, each connecting again as soon as the server closes
#: it, for this long (on each backend), with this header deadline; meanwhile, fresh requests.
SLOW_CONNECTIONS: Final = 2_000
SCENARIO_SECONDS: Final = 9.0
SCENARIO_HEADER_TIMEOUT: Final = 2.0
P99_BOUND: Final = 0.100
#: Slow clients of each kind that the test itself holds meanwhile, to time their closes.
OBSERVERS_PER_KIND: Final = 3
#: Later than this, by the attacker's clock, a slow client was held too long.
ATTACKER_LATE_CLOSE: Final = 3 * SCENARIO_HEADER_TIMEOUT
#: The deadlines of the quick tests.
QUICK_TIMEOUT: Final = 0.5
#: How early a close may come (uvloop's timers count whole milliseconds from the time its loop
#: last read the clock), and how late.
EARLY_BY_AT_MOST: Final = 0.02
LATE_BY_AT_MOST: Final = 1.0
#: A trickling client sends a byte every quarter of the header deadline: a deadline per read
#: would never end it.
TRICKLES_PER_DEADLINE: Final = 4

HEALTH: Final = b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
HALF_A_REQUEST: Final = b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "
#: What each kind of slow client sends at once, and what it trickles after.
SLOW_KINDS: Final = {
    "silent": (b"", b""),
    "half-sent headers": (HALF_A_REQUEST, b""),
    "trickled headers": (b"G", HEALTH[1:]),
}


@pytest.fixture
def open_files() -> Iterator[None]:
    """Room for the scenario's sockets in the processes this test starts (which inherit the
    limit): the soft limit is raised as far as the hard one allows."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = SLOW_CONNECTIONS + 1_000
    if hard != resource.RLIM_INFINITY and hard < needed:
        pytest.skip(f"ulimit -Hn is {hard}; the scenario needs {needed} open files")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, needed), hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


async def be_slow(port: int, kind: str, header_timeout: float) -> float:
    """Connect as a slow client of this kind; return the seconds until the server closed."""
    sends, trickle = SLOW_KINDS[kind]
    started = time.monotonic()  # the server's deadline starts after this
    async with await anyio.connect_tcp(HOST, port) as stream:
        if sends:
            await stream.send(sends)
        for byte in trickle:
            with anyio.move_on_after(header_timeout / TRICKLES_PER_DEADLINE):
                await expect_closed(stream)
                break
            try:
                await stream.send(bytes([byte]))
            except anyio.BrokenResourceError:
                break  # closed by the server between two bytes
        else:
            await expect_closed(stream)
    return time.monotonic() - started


async def expect_closed(stream: SocketStream) -> None:
    try:
        data = await stream.receive()
    except (anyio.EndOfStream, anyio.BrokenResourceError):
        return
    pytest.fail(f"the server answered a slow client: {data!r}")


async def receive_answer(stream: SocketStream) -> bytes:
    """One whole answer on a kept-alive connection (the API answers with a Content-Length)."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += await stream.receive()
    head, body = data.split(b"\r\n\r\n", 1)
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.lower().split(b"\r\n")
        if line.startswith(b"content-length:")
    )
    while len(body) < length:
        body += await stream.receive()
    return data


async def answer_of_a_fresh_connection(port: int) -> bytes:
    """The whole answer to GET /api/health on a connection of its own."""
    async with await anyio.connect_tcp(HOST, port) as stream:
        await stream.send(HEALTH.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n"))
        data = b""
        while True:
            try:
                data += await stream.receive()
            except (anyio.EndOfStream, anyio.BrokenResourceError):
                return data


async def hold_slow_connections(port: int, seconds: float) -> None:
    """The attacker: `SLOW_CONNECTIONS` slow clients for `seconds`, their first connections
    spread over one header deadline, each connecting again as soon as the server has closed
    it, so that as many are open all along. Writes a line once all are connected, then, at
    the end, a JSON line: how long each close took, and how long those still open were."""
    closed_after: list[float] = []
    opened_at: dict[int, float] = {}

    async def keep_slow(n: int, kind: str) -> None:
        await anyio.sleep(n / SLOW_CONNECTIONS * SCENARIO_HEADER_TIMEOUT)  # the ramp
        if n == SLOW_CONNECTIONS - 1:
            sys.stdout.write("ramped up\n")
            sys.stdout.flush()
        while True:
            opened_at[n] = time.monotonic()
            closed_after.append(await be_slow(port, kind, SCENARIO_HEADER_TIMEOUT))

    with anyio.move_on_after(seconds):
        async with anyio.create_task_group() as clients:
            kinds = list(SLOW_KINDS)
            for n in range(SLOW_CONNECTIONS):
                clients.start_soon(keep_slow, n, kinds[n % len(kinds)])
    now = time.monotonic()
    open_for = [now - opened for opened in opened_at.values()]
    sys.stdout.write(json.dumps({"closed_after": closed_after, "open_for": open_for}) + "\n")


@pytest.mark.usefixtures("open_files")
async def test_slow_clients_are_closed_at_the_header_deadline_while_others_are_answered(
    open_server: OpenServer, anyio_backend: str
) -> None:
    """The attacker is a process of its own, as it would be. This test's loop, which does
    little else, times the fresh requests and a few slow clients of its own (the attacker's
    loop lags behind its 2,000 connections when the machine is busy, and its times with it)."""
    latencies: list[float] = []
    observed: list[float] = []  # seconds from connecting to the server's close

    async def observe(port: int, kind: str) -> None:
        while True:
            observed.append(await be_slow(port, kind, SCENARIO_HEADER_TIMEOUT))

    async with (
        open_server("--header-timeout", str(SCENARIO_HEADER_TIMEOUT)) as served,
        await anyio.open_process(
            [sys.executable, __file__, str(served.port), str(SCENARIO_SECONDS), anyio_backend],
            stderr=None,  # its errors go with the test's output
        ) as attacker,
    ):
        assert attacker.stdout is not None
        said = BufferedByteReceiveStream(attacker.stdout)
        with anyio.fail_after(SCENARIO_SECONDS):
            assert await said.receive_until(b"\n", 100) == b"ramped up"
        # Fresh requests until shortly before the attacker stops (it ramped up for a deadline).
        with anyio.move_on_after(SCENARIO_SECONDS - SCENARIO_HEADER_TIMEOUT - 1):
            async with anyio.create_task_group() as observers:
                for kind in SLOW_KINDS:
                    for _ in range(OBSERVERS_PER_KIND):
                        observers.start_soon(observe, served.port, kind)
                while True:
                    started = time.monotonic()
                    with anyio.fail_after(5):
                        answer = await answer_of_a_fresh_connection(served.port)
                    latencies.append(time.monotonic() - started)
                    assert answer.startswith(b"HTTP/1.1 200 "), answer
        with anyio.fail_after(SCENARIO_SECONDS):
            attacked = json.loads(await said.receive_until(b"\n", 10**7))
        assert await attacker.wait() == 0

    # The slow clients timed here were closed by the server at the header deadline, a little
    # late at worst; the attacker's, some times over each, none before the deadline, none
    # held for long past it (as the attacker's lagging clock tells), not even when it stopped.
    assert len(observed) >= 2 * OBSERVERS_PER_KIND * len(SLOW_KINDS)
    assert min(observed) >= SCENARIO_HEADER_TIMEOUT - EARLY_BY_AT_MOST
    assert max(observed) <= SCENARIO_HEADER_TIMEOUT + LATE_BY_AT_MOST
    closed_after: list[float] = attacked["closed_after"]
    assert len(closed_after) >= 2 * SLOW_CONNECTIONS
    assert min(closed_after) >= SCENARIO_HEADER_TIMEOUT - EARLY_BY_AT_MOST
    assert max(closed_after) <= ATTACKER_LATE_CLOSE
    assert len(attacked["open_for"]) == SLOW_CONNECTIONS
    assert max(attacked["open_for"]) <= ATTACKER_LATE_CLOSE
    latencies.sort()
    assert len(latencies) >= 100
    p99 = latencies[int(0.99 * len(latencies))]
    assert p99 < P99_BOUND, f"p99 {p99 * 1000:.1f} ms over {len(latencies)} requests"


async def test_a_request_whose_headers_are_late_is_closed_at_the_deadline(
    open_server: OpenServer,
) -> None:
    """Silent, half-sent and trickled requests alike: the deadline is for all the headers,
    not for each read. Prompt requests are answered."""
    closed_after: dict[str, float] = {}

    async def close_after(port: int, kind: str) -> None:
        closed_after[kind] = await be_slow(port, kind, QUICK_TIMEOUT)

    async with open_server("--header-timeout", str(QUICK_TIMEOUT)) as served:
        with anyio.fail_after(QUICK_TIMEOUT + LATE_BY_AT_MOST + 5):
            async with anyio.create_task_group() as clients:
                for kind in SLOW_KINDS:
                    clients.start_soon(close_after, served.port, kind)
                answer = await answer_of_a_fresh_connection(served.port)
        assert answer.startswith(b"HTTP/1.1 200 ")

    assert closed_after.keys() == SLOW_KINDS.keys()
    for kind, seconds in closed_after.items():
        assert QUICK_TIMEOUT - EARLY_BY_AT_MOST <= seconds <= QUICK_TIMEOUT + LATE_BY_AT_MOST, kind


async def test_an_idle_kept_alive_connection_is_closed_after_the_idle_timeout(
    open_server: OpenServer,
) -> None:
    async with (
        open_server("--idle-timeout", str(QUICK_TIMEOUT), "--header-timeout", "30") as served,
        await anyio.connect_tcp(HOST, served.port) as stream,
    ):
        with anyio.fail_after(QUICK_TIMEOUT + LATE_BY_AT_MOST + 5):
            for _ in range(2):  # kept alive between prompt requests
                await stream.send(HEALTH)
                assert (await receive_answer(stream)).startswith(b"HTTP/1.1 200 ")
            answered = time.monotonic()
            await expect_closed(stream)
        idle = time.monotonic() - answered
    assert QUICK_TIMEOUT - EARLY_BY_AT_MOST <= idle <= QUICK_TIMEOUT + LATE_BY_AT_MOST


async def test_a_body_that_is_late_is_closed_at_the_deadline(open_server: OpenServer) -> None:
    async with open_server("--body-timeout", str(QUICK_TIMEOUT), "--header-timeout", "30") as (
        served
    ):
        assert served.key is not None
        async with await anyio.connect_tcp(HOST, served.port) as stream:
            body = b'{"flow_name": "add", "parameters": {"x": 1}}'
            headers_sent = time.monotonic()  # the server's deadline starts after this
            await stream.send(
                b"POST /api/workspaces/default/flow_runs HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n%s" % (served.key.encode(), len(body), body[:10])
            )
            with anyio.fail_after(QUICK_TIMEOUT + LATE_BY_AT_MOST + 5):
                await expect_closed(stream)
            late = time.monotonic() - headers_sent
    assert QUICK_TIMEOUT - EARLY_BY_AT_MOST <= late <= QUICK_TIMEOUT + LATE_BY_AT_MOST


async def test_connections_past_the_cap_are_answered_503_and_the_server_stays_healthy(
    open_server: OpenServer,
) -> None:
    cap = 20
    async with (
        open_server("--max-connections", str(cap), "--header-timeout", "30") as served,
        contextlib.AsyncExitStack() as held,
    ):
        for _ in range(cap):
            await held.enter_async_context(await anyio.connect_tcp(HOST, served.port))
        with anyio.fail_after(10):
            # The server accepts in order: these come after the held ones, past the cap.
            for _ in range(3 * cap):
                answer = await answer_of_a_fresh_connection(served.port)
                assert answer.startswith(b"HTTP/1.1 503 "), answer
                assert b'"code": "too_many_connections"' in answer
                assert b"retry-after: 1\r\n" in answer
        await held.aclose()
        with anyio.fail_after(10):
            # Until the server has read the held connections' ends, they count: 503 meanwhile.
            while not (await answer_of_a_fresh_connection(served.port)).startswith(
                b"HTTP/1.1 200 "
            ):
                pass


def test_the_cap_is_lowered_to_fit_the_open_files_limit() -> None:
    """Past that limit, accepting fails and the listener stops accepting anyone a while."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert soft > SPARE_DESCRIPTORS
    fits = guarded_http_protocol(ConnectionLimits(max_connections=soft))
    assert fits.max_connections == soft - SPARE_DESCRIPTORS
    assert guarded_http_protocol(ConnectionLimits(max_connections=10)).max_connections == 10
    with pytest.raises(ValueError, match="at least 1"):
        guarded_http_protocol(ConnectionLimits(max_connections=0))


if __name__ == "__main__":
    port, seconds, backend = sys.argv[1:]
    options = {"use_uvloop": True} if backend == "asyncio" else {}  # the lighter, the truer
    anyio.run(
        hold_slow_connections, int(port), float(seconds), backend=backend, backend_options=options
    )
