"""Runtimes for SDK tests: SQLite always, PostgreSQL when REPERTORY_TEST_DATABASE_URL is set.

Each test gets a workspace of its own, so tests on the shared PostgreSQL database never see
each other's runs.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import pytest

from repertory import Runtime

if TYPE_CHECKING:
    from collections.abc import Callable


@pytest.fixture
def make_runtime(database_url: str) -> Callable[[], Runtime]:
    """Build a runtime (enter it in the test itself, so flows see it) on a fresh workspace."""
    workspace = f"test-{uuid.uuid4().hex[:12]}"
    return lambda: Runtime(database_url, workspace=workspace)
