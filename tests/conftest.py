"""Every async test runs on both anyio backends; a missing trio fails loudly, never skips.

Tests that take `database_url` run on SQLite always, and on PostgreSQL too when
REPERTORY_TEST_DATABASE_URL names a database (tests/runtime gives each test a database of its
own instead).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pytest
from blockbuster import blockbuster_ctx

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

DATABASES = ["sqlite"] + (["postgresql"] if os.environ.get("REPERTORY_TEST_DATABASE_URL") else [])


@pytest.fixture(params=DATABASES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'runs.db'}"
    return os.environ["REPERTORY_TEST_DATABASE_URL"]


@pytest.fixture(autouse=True)
def repertory_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test's own REPERTORY_HOME (cached results go there), never the user's."""
    home = tmp_path / "home"
    monkeypatch.setenv("REPERTORY_HOME", str(home))
    return home


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    backend: str = request.param
    return backend


@pytest.fixture(autouse=True)
def blockbuster() -> Iterator[None]:
    """Fail any test whose event loop makes a blocking call (sleep, file or socket I/O)."""
    with blockbuster_ctx() as detector:
        for function in detector.functions.values():
            # asyncpg reads its configuration files (~/.pgpass, certificates) when it connects.
            function.can_block_in("asyncpg/connect_utils.py", "_parse_connect_dsn_and_args")
            # coverage's tracer takes its data lock in whatever code it traces: in a callback
            # of the runtime's asyncio thread, a flagged wait there was lost, and hung a test.
            function.can_block_in("coverage/collector.py", "lock_data")
        yield
