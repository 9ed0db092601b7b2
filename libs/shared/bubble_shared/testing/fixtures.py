"""Pytest fixtures that tests of several services share; import them into a conftest.py.

from bubble_shared.testing.fixtures import database_url, dev_server  # noqa: F401
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from bubble_shared.store import upgrade
from bubble_shared.testing.databases import DatabaseKind, temporary_database
from bubble_shared.testing.temporal_servers import start_dev_server

BOTH_DATABASES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(params=BOTH_DATABASES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated database of the test's own, once on SQLite and once on PostgreSQL."""
    kind: DatabaseKind = request.param
    with temporary_database(kind, tmp_path) as url:
        upgrade(url)
        yield url


@pytest.fixture()
async def dev_server() -> AsyncIterator[WorkflowEnvironment]:
    """A Temporal dev server of the test's own, with a client using our converter."""
    async with await start_dev_server() as env:
        yield env
