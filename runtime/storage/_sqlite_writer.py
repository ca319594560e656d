"""`SqliteWriter`: a thread of its own that owns the connection SQLite group commits go through.

A hand-over to it costs a queue put and one wake-up each way (~90 us here), about half of what
`anyio.to_thread.run_sync` costs, and every top-level flow call waits for one.
"""

from __future__ import annotations

import contextlib
import queue
import sqlite3
import threading
from typing import TYPE_CHECKING, Generic, TypeVar, final

import anyio
from anyio.lowlevel import current_token

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from anyio.lowlevel import EventLoopToken

T = TypeVar("T")


@final
class _Call(Generic[T]):
    """One call for the writer's thread, and how its caller hears that it is done."""

    __slots__ = ("done", "error", "fn", "host", "value")

    def __init__(self, fn: Callable[[sqlite3.Connection], T]) -> None:
        self.fn = fn
        self.host: EventLoopToken = current_token()
        self.done = anyio.Event()
        self.value: T | None = None
        self.error: BaseException | None = None


@final
class SqliteWriter:
    """Runs calls on one SQLite connection, in one thread, one at a time, in order."""

    def __init__(
        self, path: str, pragmas: Sequence[str], *, name: str = "repertory-sqlite"
    ) -> None:
        self._path = path
        self._name = name
        self._pragmas = tuple(pragmas)
        self._calls: queue.SimpleQueue[_Call[object] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    async def open(self) -> None:
        """Start the thread and connect (blocks). Raises what `sqlite3.connect` raises."""
        self._thread = threading.Thread(target=self._serve, name=self._name, daemon=True)
        self._thread.start()  # daemon: a host that dies without closing must not hang on it
        try:
            await self.run(self._set_up)
        except BaseException:
            await self.close()
            raise

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Call `fn(connection)` in the writer's thread and return what it returns (blocks).

        Not interrupted by cancellation once handed over: a write is never left half done,
        and calls never overlap.
        """
        if self._thread is None:
            raise RuntimeError("SqliteWriter used before open() or after close()")
        call = _Call(fn)
        self._calls.put(call)  # type: ignore[arg-type]  # any T
        with anyio.CancelScope(shield=True):
            await call.done.wait()
        if call.error is not None:
            raise call.error
        return call.value  # type: ignore[return-value]  # set when there was no error

    async def close(self) -> None:
        """Close the connection and end the thread, once the calls before have run (blocks)."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._calls.put(None)
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(thread.join)

    def _set_up(self, connection: sqlite3.Connection) -> None:
        for pragma in self._pragmas:
            connection.execute(pragma)

    def _serve(self) -> None:
        connection: sqlite3.Connection | None = None
        try:
            while (call := self._calls.get()) is not None:
                try:
                    if connection is None:
                        connection = sqlite3.connect(self._path, isolation_level=None)
                    call.value = call.fn(connection)
                except BaseException as exc:  # handed back to the caller, which raises it
                    call.error = exc
                with contextlib.suppress(anyio.RunFinishedError):  # that caller's loop ended
                    call.host.backend_class.run_sync_soon(call.done.set, (), call.host.native_token)
        finally:
            if connection is not None:
                connection.close()
