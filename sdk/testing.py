"""Helpers for users' own tests: a runtime on a temporary database, and a clock that moves
only when told to.

Example::

    from repertory.testing import FakeClock, open_test_runtime

    async def test_my_flow() -> None:
        async with open_test_runtime() as rt:
            assert await my_flow(2) == 4
            [run] = await rt.read_flow_runs()

    async def test_an_hour_of_backoff_takes_no_time() -> None:
        clock = FakeClock()
        async with open_test_runtime(clock=clock) as rt, anyio.create_task_group() as tg:
            tg.start_soon(flaky_flow)  # a task with retries=1, retry_delay_seconds=3600
            await clock.wait_for_sleepers()
            clock.advance(3600)
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from typing import TYPE_CHECKING

import anyio.to_thread

from repertory.actors.testing import FakeClock
from repertory.runtime import Runtime

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from repertory.actors import Clock

__all__ = ["FakeClock", "open_test_runtime"]


@contextlib.asynccontextmanager
async def open_test_runtime(
    *, workspace: str = "default", clock: Clock | None = None
) -> AsyncIterator[Runtime]:
    """A running `Runtime` on a fresh SQLite database, deleted on exit; on `clock` (a
    `FakeClock`, say) if given."""
    directory = await anyio.to_thread.run_sync(tempfile.mkdtemp, "", "repertory-test-")
    try:
        async with Runtime(
            f"sqlite:///{directory}/runs.db", workspace=workspace, clock=clock
        ) as runtime:
            yield runtime
    finally:
        await anyio.to_thread.run_sync(shutil.rmtree, directory, True)
