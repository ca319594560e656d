"""Every async test runs on both anyio backends; a missing trio fails loudly, never skips."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from blockbuster import blockbuster_ctx

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    backend: str = request.param
    return backend


@pytest.fixture(autouse=True)
def blockbuster() -> Iterator[None]:
    """Fail any test whose event loop makes a blocking call (sleep, file or socket I/O)."""
    with blockbuster_ctx() as detector:
        # asyncpg reads its configuration files (~/.pgpass, certificates) when it connects.
        for function in detector.functions.values():
            function.can_block_in("asyncpg/connect_utils.py", "_parse_connect_dsn_and_args")
        yield
