"""Code that runs only on asyncio (the database drivers), called from a host on any backend.

On an asyncio host the code runs in the caller's own loop. On any other host it runs on an
asyncio loop in a thread of its own, one call at a time, and both directions of the hand-over
are non-blocking (`run_sync_soon` on the other loop's token), so neither loop ever waits on
the other's thread.
"""

from __future__ import annotations

import contextlib
import math
import threading
from typing import TYPE_CHECKING, Generic, TypeVar, final

import anyio
import sniffio
from anyio.lowlevel import current_token

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from anyio.lowlevel import EventLoopToken
    from anyio.streams.memory import MemoryObjectSendStream

T = TypeVar("T")


def _soon(token: EventLoopToken, fn: Callable[[], object]) -> None:
    """Run `fn` in the loop of `token` without waiting; nothing if that loop has ended."""
    with contextlib.suppress(anyio.RunFinishedError):
        token.backend_class.run_sync_soon(fn, (), token.native_token)


@final
class _Job(Generic[T]):
    __slots__ = ("_done", "_error", "_fn", "_host", "_value")

    def __init__(self, fn: Callable[[], Awaitable[T]]) -> None:
        self._fn = fn
        self._host = current_token()
        self._done = anyio.Event()
        self._value: T | None = None
        self._error: BaseException | None = None

    async def run(self) -> None:
        try:
            self._value = await self._fn()
        except BaseException as exc:  # handed back to the caller, which re-raises it
            self._error = exc
        finally:
            _soon(self._host, self._done.set)

    def fail(self, error: BaseException) -> None:
        """End the job with `error`, without running it (from the asyncio thread)."""
        self._error = error
        _soon(self._host, self._done.set)

    async def wait(self) -> T:
        # The call finishes even if the caller is cancelled: calls must not overlap.
        with anyio.CancelScope(shield=True):
            await self._done.wait()
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]  # set when there was no error


@final
class AsyncioRunner:
    """Runs coroutine functions on asyncio, one at a time, whatever the caller's backend (or
    side by side, if `concurrent`: for reads, each on a connection of its own)."""

    def __init__(self, *, concurrent: bool = False) -> None:
        self._is_concurrent = concurrent
        self._thread: threading.Thread | None = None
        self._token: EventLoopToken | None = None
        self._jobs: MemoryObjectSendStream[_Job[object]] | None = None
        self._is_direct = False

    @property
    def is_threaded(self) -> bool:
        """Whether calls hop to a thread of their own (the host is not asyncio)."""
        return self._thread is not None

    async def __aenter__(self) -> AsyncioRunner:
        if sniffio.current_async_library() == "asyncio":
            self._is_direct = True
            return self
        ready = threading.Event()
        self._thread = threading.Thread(
            target=anyio.run,
            args=(self._serve, ready),
            kwargs={"backend": "asyncio"},
            name="repertory-asyncio-reads" if self._is_concurrent else "repertory-asyncio",
            daemon=True,  # a host that dies without exiting must not hang on it
        )
        await anyio.to_thread.run_sync(self._start, ready)
        return self

    def _start(self, ready: threading.Event) -> None:
        assert self._thread is not None
        self._thread.start()
        ready.wait()

    async def _serve(self, ready: threading.Event) -> None:
        self._token = current_token()
        send, receive = anyio.create_memory_object_stream[_Job[object]](math.inf)
        self._jobs = send
        ready.set()
        async with receive:
            if not self._is_concurrent:
                async for job in receive:
                    await job.run()
                return
            async with anyio.create_task_group() as jobs:
                async for job in receive:
                    jobs.start_soon(job.run)

    async def __aexit__(self, *exc_info: object) -> None:
        thread, token, jobs = self._thread, self._token, self._jobs
        if thread is None or token is None or jobs is None:
            return
        _soon(token, jobs.close)
        with anyio.CancelScope(shield=True):  # a cancelled caller must not leave it running
            await anyio.to_thread.run_sync(thread.join)
        self._thread = None

    async def call(self, fn: Callable[[], Awaitable[T]]) -> T:
        """Run `fn()` on asyncio and return its result (blocks).

        Not interrupted by cancellation once started, so that calls by one caller never overlap.
        """
        if self._is_direct:
            with anyio.CancelScope(shield=True):
                return await fn()
        if self._token is None or self._jobs is None:
            raise RuntimeError("AsyncioRunner used outside `async with`")
        job = _Job(fn)
        jobs = self._jobs

        def deliver() -> None:
            try:
                jobs.send_nowait(job)  # type: ignore[arg-type]  # any T
            except Exception as exc:  # closed: the loop would only log it, and the caller hang
                job.fail(exc)

        _soon(self._token, deliver)
        return await job.wait()
