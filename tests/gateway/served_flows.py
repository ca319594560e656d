"""Flows that the end-to-end test's server serves (`--flows tests/gateway/served_flows.py`)."""

from __future__ import annotations

import anyio

from repertory import INPUTS, flow, get_run_logger, task


@task
async def double(x: int) -> int:
    return 2 * x


@flow
async def add(x: int, y: int = 1) -> int:
    return await double(x) // 2 + y


@task(cache_policy=INPUTS)
async def remembered(x: int) -> int:
    return x


@flow
async def remember(xs: list[int]) -> list[int]:
    return [await remembered(x) for x in xs]


@flow
async def stalls(note: str = "stalling") -> None:
    """Logs `note`, then runs until cancelled."""
    get_run_logger().info(note)
    await anyio.sleep_forever()


@task
def check(x: int) -> None:
    if x < 0:
        raise ValueError(f"cannot process {x}")


@flow
async def failing(x: int = -1) -> None:
    check(x)  # a sync task called directly: it runs inline


not_a_flow = double  # tasks and other attributes are not served
