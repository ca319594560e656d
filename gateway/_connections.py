"""Slow and surplus connections: uvicorn's httptools protocol with deadlines on a request's
headers and body, and a cap on open connections, beyond which a connection is answered 503 and
closed as it is accepted. Knows nothing of the app it serves.

uvicorn closes a kept-alive connection idle after a response (`timeout_keep_alive`), but
nothing else: a connection that sends no request, half a request line, or a body byte by byte
was held forever, and ~20,000 of them exhausted the process's file descriptors.
"""

from __future__ import annotations

import enum
import json
import logging
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Final, final

# The protocol is pinned, not "auto": a missing httptools fails loudly here instead of falling
# back to h11 without these deadlines.
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

if TYPE_CHECKING:
    # uvicorn runs only on asyncio, so its protocols are asyncio's; nothing here is awaited.
    from asyncio import TimerHandle, Transport

    from uvicorn.protocols.http.httptools_impl import RequestResponseCycle

logger = logging.getLogger("repertory.gateway")

DEFAULT_HEADER_TIMEOUT: Final = 10.0
DEFAULT_BODY_TIMEOUT: Final = 30.0
DEFAULT_IDLE_TIMEOUT: Final = 10.0
#: ~6 KB of the server's memory each when held (measured), ~25 MB in all.
DEFAULT_MAX_CONNECTIONS: Final = 4_096

#: File descriptors kept for the rest of the process (database, worker pipes, logs) when the
#: open-files limit lowers the connection cap.
SPARE_DESCRIPTORS: Final = 128

_TOO_MANY_CONNECTIONS: Final = json.dumps(
    {
        "code": "too_many_connections",
        "message": "the server holds as many connections as it may; try again",
        "details": {},
        "request_id": "-",
    }
).encode()
#: Written before any request is read; a client whose request was already on its way may see
#: a reset after it (the socket closes with that request unread).
_TOO_MANY_CONNECTIONS_ANSWER: Final = (
    b"HTTP/1.1 503 Service Unavailable\r\n"
    b"content-type: application/json\r\n"
    b"content-length: %d\r\n"
    b"retry-after: 1\r\n"
    b"connection: close\r\n"
    b"\r\n%s" % (len(_TOO_MANY_CONNECTIONS), _TOO_MANY_CONNECTIONS)
)


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectionLimits:
    """How long a connection may take over each part of a request, and how many may be open."""

    #: Seconds from a connection's opening, or from the first byte of its next request, to
    #: the end of that request's headers.
    header_timeout: float = DEFAULT_HEADER_TIMEOUT
    #: Seconds from the end of a request's headers to the end of its body.
    body_timeout: float = DEFAULT_BODY_TIMEOUT
    #: Seconds a kept-alive connection may wait for its next request (uvicorn's own timer).
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT
    #: Open connections at most; more are answered 503 and closed at once.
    max_connections: int = DEFAULT_MAX_CONNECTIONS


class _Phase(enum.Enum):
    HEADERS = enum.auto()  # waiting for a request's headers (a new connection starts here)
    BODY = enum.auto()  # the headers are in, the body is not
    IDLE = enum.auto()  # the request is in: the app is on it, or the connection is idle


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """HttpToolsProtocol with one deadline for the phase a request is in.

    A deadline is for a whole phase, not for each read: trickling a byte at a time does not
    extend it. While the app works on a request there is no deadline (long polls wait).
    """

    limits: ClassVar[ConnectionLimits]
    max_connections: ClassVar[int]
    _phase = _Phase.HEADERS
    _deadline: TimerHandle | None = None
    _is_rejected = False

    # As uvicorn's: asyncio types it BaseTransport, but a TCP server hands a Transport.
    def connection_made(self, transport: Transport) -> None:  # type: ignore[override]
        if len(self.connections) >= self.max_connections:
            self._is_rejected = True
            transport.write(_TOO_MANY_CONNECTIONS_ANSWER)
            transport.close()
            return
        super().connection_made(transport)
        self._keep_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_deadline()
        if not self._is_rejected:
            super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._is_rejected:
            return
        if self._phase is _Phase.IDLE:
            # The next request starts with these bytes, even if they are only blank lines
            # (which the parser skips without beginning a message).
            self._phase = _Phase.HEADERS
        super().data_received(data)
        self._keep_deadline()

    def on_message_begin(self) -> None:
        self._phase = _Phase.HEADERS
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        self._cancel_deadline()
        self._phase = _Phase.BODY
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._cancel_deadline()
        self._phase = _Phase.IDLE
        super().on_message_complete()

    def _keep_deadline(self) -> None:
        """Start the current phase's deadline unless it runs already."""
        if self._deadline is not None or self.transport.is_closing():
            return
        if self._phase is _Phase.HEADERS:
            self._deadline = self.loop.call_later(self.limits.header_timeout, self._time_out)
        elif self._phase is _Phase.BODY:
            self._deadline = self.loop.call_later(self.limits.body_timeout, self._time_out)

    def _cancel_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _time_out(self) -> None:
        self._deadline = None
        cycle: RequestResponseCycle | None = self.cycle  # uvicorn types it never None; it starts so
        if self._phase is _Phase.HEADERS and cycle is not None and not cycle.response_complete:
            # The stalled request is pipelined behind an answer still being written: end the
            # connection once that answer is out, as uvicorn's own shutdown does.
            cycle.keep_alive = False
        else:
            self.transport.close()


def guarded_http_protocol(limits: ConnectionLimits) -> type[GuardedHttpToolsProtocol]:
    """The protocol class to give `uvicorn.Config(http=...)` for these limits.

    The cap is lowered to fit the process's open-files limit (less `SPARE_DESCRIPTORS`): past
    that limit, accepting fails and the listener stops accepting anyone for a while.

    Raises:
        ValueError: `max_connections` is below 1.
    """
    if limits.max_connections < 1:
        raise ValueError(f"max_connections must be at least 1, not {limits.max_connections}")
    open_files = _open_files_limit()
    cap = max(1, min(limits.max_connections, open_files - SPARE_DESCRIPTORS))
    if cap < limits.max_connections:
        logger.warning(
            "at most %d connections, not %d: the open-files limit (ulimit -n) is %d",
            cap,
            limits.max_connections,
            open_files,
        )

    class Guarded(GuardedHttpToolsProtocol):
        pass

    Guarded.limits = limits
    Guarded.max_connections = cap
    return Guarded


def _open_files_limit() -> int:
    if sys.platform == "win32":
        return 1 << 30  # no such limit
    import resource

    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft if soft != resource.RLIM_INFINITY else 1 << 30
