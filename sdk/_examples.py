"""Example flows that `make run` serves, to try the REST API on a fresh checkout.

    curl -H "Authorization: Bearer $KEY" http://127.0.0.1:4200/api/workspaces/default/flow_runs \\
        -d '{"flow_name": "greet", "parameters": {"name": "you"}}'
"""

from __future__ import annotations

from repertory import flow, get_run_logger, task


@task(retries=2, retry_delay_seconds=0.1)
async def shout(text: str) -> str:
    return text.upper()


@flow
async def greet(name: str = "world") -> str:
    """Greets `name`, through a task, and logs it."""
    greeting = await shout(f"hello, {name}")
    get_run_logger().info(greeting)
    return greeting


@task
def square(x: int) -> int:
    return x * x


@flow
def sum_of_squares(n: int = 10) -> int:
    """Adds the squares of 0..n-1, mapped over tasks in worker threads."""
    return sum(square.map(range(n)).result())
