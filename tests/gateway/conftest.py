"""The REST API in-process (httpx's ASGI transport) over a real runtime: SQLite always,
PostgreSQL when REPERTORY_TEST_DATABASE_URL is set; a fresh workspace and key per test."""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

import anyio
import httpx
import pytest

from repertory import INPUTS, Runtime, flow, get_run_logger, task
from repertory.gateway import Limits, create_app

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Iterable
    from contextlib import AbstractAsyncContextManager

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
        flows: Iterable[FlowDefinition] = FLOWS, limits: Limits = NO_LIMITS
    ) -> AsyncIterator[Api]:
        workspace = f"test-{uuid.uuid4().hex[:12]}"
        async with Runtime(database_url, workspace=workspace) as runtime:
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
