"""The process-wide default runtime: what a flow called outside any `Runtime` runs on.

The one documented piece of process-wide state. It starts on first use, on the default
SQLite database, in an event loop thread of its own, and stops when the process exits.
"""

from __future__ import annotations

import atexit
import threading
from typing import TYPE_CHECKING, Final, final

import anyio
from anyio.from_thread import BlockingPortal, start_blocking_portal

from repertory.runtime import Runtime
from repertory.runtime.lowlevel import current_runtime

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine
    from concurrent.futures import Future
    from contextlib import AbstractContextManager

    from anyio.abc import TaskStatus


@final
class _DefaultRuntime:
    """A runtime served by one long-lived task in a portal's event loop thread."""

    def __init__(self) -> None:
        self._portal_cm: AbstractContextManager[BlockingPortal] = start_blocking_portal("asyncio")
        self.portal = self._portal_cm.__enter__()
        try:
            self._stop = self.portal.call(anyio.Event)
            self._served: Future[None]
            self._served, self.runtime = self.portal.start_task(self._serve)
        except BaseException:
            self._portal_cm.__exit__(None, None, None)  # no thread left behind
            raise

    async def _serve(self, *, task_status: TaskStatus[Runtime]) -> None:
        async with Runtime() as runtime:
            task_status.started(runtime)
            await self._stop.wait()

    def close(self) -> None:
        self.portal.call(self._stop.set)
        self._served.result()
        self._portal_cm.__exit__(None, None, None)


_lock: Final = threading.Lock()
_default: list[_DefaultRuntime] = []  # at most one


def run_sync_on_default_runtime(call: Callable[[], Coroutine[object, object, object]]) -> object:
    """Run `call()` to completion on the default runtime, starting it if needed (blocks)."""
    with _lock:
        if not _default:
            _default.append(_DefaultRuntime())
            atexit.register(close_default_runtime)
        default = _default[0]
    runtime = default.runtime

    async def on_runtime() -> object:
        token = current_runtime.set(runtime)
        try:
            return await call()
        finally:
            current_runtime.reset(token)

    return default.portal.call(on_runtime)


def close_default_runtime() -> None:
    """Stop the default runtime, if it started (everything it ran is durable by then)."""
    with _lock:
        if not _default:
            return
        default = _default.pop()
    default.close()
