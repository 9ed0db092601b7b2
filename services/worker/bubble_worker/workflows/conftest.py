"""Fixtures of the workflow tests: a time-skipping server, stand-in activities, workers, and a real
read model on SQLite (the end-to-end tests run both databases)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from temporalio.testing import WorkflowEnvironment

from bubble_shared.store import create_engine, upgrade
from bubble_shared.testing.databases import temporary_database
from bubble_shared.testing.temporal_servers import start_time_skipping_server
from bubble_worker.testing.fakes import FakeActivities, Harness, running_harness
from bubble_worker.workflows import policies


@pytest.fixture(autouse=True)
def _quick_retries() -> Iterator[None]:
    """Backoff capped at 100 ms: a local activity's retries wait in real time, not server time.
    The budget stays an hour unless a test sets it."""
    before = policies.retry_budget()
    policies.configure(policies.RetryBudget(max_interval=timedelta(milliseconds=100)))
    yield
    policies.configure(before)


@pytest.fixture()
async def time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    async with await start_time_skipping_server() as env:
        yield env


@pytest.fixture()
def fakes() -> FakeActivities:
    return FakeActivities()


@pytest.fixture()
def engine(tmp_path: Path) -> Iterator[Engine]:
    with temporary_database("sqlite", tmp_path) as url:
        upgrade(url)
        engine = create_engine(url)
        yield engine
        engine.dispose()


@pytest.fixture()
async def harness(
    time_skipping_env: WorkflowEnvironment, fakes: FakeActivities, engine: Engine
) -> AsyncIterator[Harness]:
    async with running_harness(time_skipping_env, fakes, engine) as running:
        yield running
