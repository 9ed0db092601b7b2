"""The whole system in one test process: dev server, worker, gRPC service, a real database.

The worker and the service run their own ``run``/``start`` entry points on a real Temporal dev
server and a real SQLite or PostgreSQL database, on queues and ports of their own, so each test
talks to the system exactly as a client would: over gRPC on loopback.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from e2e.system import System, running_system, worker_on
from temporalio.testing import WorkflowEnvironment

from bubble_shared.testing.fixtures import database_url, dev_server  # noqa: F401


@pytest.fixture()
async def system(
    dev_server: WorkflowEnvironment, database_url: str, tmp_path: Path
) -> AsyncIterator[System]:
    async with running_system(
        worker_on(dev_server, database_url, tmp_path, analysis_processes=2)
    ) as running:
        yield running
