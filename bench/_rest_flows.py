"""The flow the REST benchmark's server serves (`--flows bench/_rest_flows.py`)."""

from __future__ import annotations

from repertory import flow


@flow
async def noop(x: int = 0) -> int:
    return x
