"""Helpers for users' own tests: a runtime on a temporary database.

Example::

    from repertory.testing import open_test_runtime

    async def test_my_flow() -> None:
        async with open_test_runtime() as rt:
            assert await my_flow(2) == 4
            [run] = await rt.read_flow_runs()
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from typing import TYPE_CHECKING

import anyio.to_thread

from repertory.runtime import Runtime

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

__all__ = ["open_test_runtime"]


@contextlib.asynccontextmanager
async def open_test_runtime(*, workspace: str = "default") -> AsyncIterator[Runtime]:
    """A running `Runtime` on a fresh SQLite database, deleted on exit."""
    directory = await anyio.to_thread.run_sync(tempfile.mkdtemp, "", "repertory-test-")
    try:
        async with Runtime(f"sqlite:///{directory}/runs.db", workspace=workspace) as runtime:
            yield runtime
    finally:
        await anyio.to_thread.run_sync(shutil.rmtree, directory, True)
