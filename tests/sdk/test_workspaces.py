"""Workspaces in the runtime: created, listed, and deleted with everything they hold."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import anyio
import pytest

from repertory import INPUTS, Runtime, flow, task
from repertory.runtime import RunNotFoundError, WorkspaceBusyError, WorkspaceExistsError

if TYPE_CHECKING:
    from pathlib import Path


@task(cache_policy=INPUTS)
async def kept(x: int) -> int:
    return x


@flow
async def keeps(x: int) -> int:
    return await kept(x)


def files_under(directory: Path) -> list[Path]:
    return [path for path in directory.rglob("*") if path.is_file()]


async def test_a_deleted_workspace_leaves_nothing_behind(
    database_url: str, repertory_home: Path
) -> None:
    name = f"test-{uuid.uuid4().hex[:12]}"
    release = anyio.Event()

    @flow
    async def waits() -> None:
        await release.wait()

    async with Runtime(database_url, workspace=name) as rt:
        created = await rt.create_workspace(name)
        assert created.name in [ws.name for ws in await rt.read_workspaces()]
        with pytest.raises(WorkspaceExistsError):
            await rt.create_workspace(name)
        with pytest.raises(ValueError, match="name"):
            await rt.create_workspace("has spaces")
        await keeps(1)
        await rt.create_api_key("k")
        live = await rt.create_flow_run(waits)
        results = repertory_home / "results"
        assert len(await anyio.to_thread.run_sync(files_under, results)) == 1
        with pytest.raises(WorkspaceBusyError):
            await rt.delete_workspace(name)
        await rt.delete_workspace(name, force=True)  # its run is cancelled, then all goes
        with pytest.raises(RunNotFoundError):
            await rt.read_flow_run(live.id)
        assert await rt.read_flow_runs() == []
        assert await rt.read_api_keys() == []
        assert await rt.read_cache_entries() == []
        assert name not in [ws.name for ws in await rt.read_workspaces()]
        assert await anyio.to_thread.run_sync(files_under, results) == []
        assert await keeps(2) == 2  # the name may be used again, from nothing
