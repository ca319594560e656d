"""The REST API in-process (httpx's ASGI transport) over a real runtime: SQLite always,
PostgreSQL when REPERTORY_TEST_DATABASE_URL is set; a fresh workspace and key per test."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import httpx
import pytest
from anyio.streams.text import TextReceiveStream

from repertory import INPUTS, Runtime, flow, get_run_logger, task
from repertory.gateway import Limits, create_app

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Iterable
    from contextlib import AbstractAsyncContextManager

    from anyio.abc import Process

    from repertory.actors import Clock
    from repertory.runtime import FlowDefinition


@task
async def double(x: int) -> int:
    return 2 * x


@flow
async def add(x: int, y: int = 1) -> int:
    """Adds, through a task, and logs."""
    get_run_logger().info("adding %d and %d", x, y)
    return await double(x) // 2 + y


@flow
async def gated() -> None:
    await anyio.sleep_forever()


@task(cache_policy=INPUTS)
async def remembered(x: int) -> int:
    return x


@flow
async def remember(xs: list[int]) -> list[int]:
    """Caches each of xs."""
    return [await remembered(x) for x in xs]


FLOWS: tuple[FlowDefinition, ...] = (add, gated, remember)
#: Tests send many requests at once with one key and many bad keys: the limits are tested apart.
NO_LIMITS = Limits(key_rate=None, auth_failures_per_minute=None)


@dataclass(frozen=True, slots=True, kw_only=True)
class Api:
    client: httpx.AsyncClient
    runtime: Runtime
    key: str
    workspace: str

    def url(self, suffix: str = "", *, workspace: str | None = None) -> str:
        return f"/api/workspaces/{workspace or self.workspace}{suffix}"


@pytest.fixture
def open_api(database_url: str) -> Callable[..., AbstractAsyncContextManager[Api]]:
    """`async with open_api() as api:` a runtime, a key of its workspace, and a client."""

    @contextlib.asynccontextmanager
    async def open_it(
        flows: Iterable[FlowDefinition] = FLOWS,
        limits: Limits = NO_LIMITS,
        clock: Clock | None = None,
    ) -> AsyncIterator[Api]:
        workspace = f"test-{uuid.uuid4().hex[:12]}"
        async with Runtime(database_url, workspace=workspace, clock=clock) as runtime:
            _, key = await runtime.create_api_key("tests")
            transport = httpx.ASGITransport(
                app=create_app(runtime, flows=flows, limits=limits), raise_app_exceptions=False
            )
            async with httpx.AsyncClient(
                transport=transport,
                base_url="http://127.0.0.1",
                headers={"Authorization": f"Bearer {key}"},
            ) as client:
                yield Api(client=client, runtime=runtime, key=key, workspace=workspace)

    return open_it


async def started(process: Process) -> tuple[str, str | None]:
    """What a starting `repertory server start` printed: its URL, and the bootstrap owner key
    (on a database's first start only)."""
    assert process.stdout is not None
    seen = ""
    with anyio.fail_after(60):
        async for chunk in TextReceiveStream(process.stdout):
            seen += chunk
            if "repertory serving " in seen and seen.endswith("\n"):
                break
    lines = seen.splitlines()
    [url] = [line.split()[2] for line in lines if line.startswith("repertory serving ")]
    keys = [line.rsplit(" ", 1)[1] for line in lines if "owner API key" in line]
    return url, keys[0] if keys else None


@dataclass(frozen=True, slots=True, kw_only=True)
class Served:
    """A `repertory server start` process, as `open_server` started it."""

    url: str
    port: int
    #: The bootstrap owner key, printed on a database's first start only.
    key: str | None


@pytest.fixture
def open_server(tmp_path: Path) -> Callable[..., AbstractAsyncContextManager[Served]]:
    """`async with open_server("--idle-timeout", "1") as served:` the installed command
    serving on a free port of 127.0.0.1, on a new SQLite database; stopped by SIGTERM on
    exit, which must end it cleanly."""

    @contextlib.asynccontextmanager
    async def open_it(*options: str) -> AsyncIterator[Served]:
        command = [str(Path(sys.executable).with_name("repertory")), "server", "start"]
        database_url = f"sqlite:///{tmp_path / 'served.db'}"
        async with await anyio.open_process(
            [*command, "--port", "0", "--database-url", database_url, *options],
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            stderr=None,  # the server's warnings go with the test's output
        ) as process:
            url, key = await started(process)
            try:
                yield Served(url=url, port=int(url.rsplit(":", 1)[1]), key=key)
            finally:
                process.send_signal(signal.SIGTERM)
                with anyio.fail_after(30):
                    assert await process.wait() == 0

    return open_it
