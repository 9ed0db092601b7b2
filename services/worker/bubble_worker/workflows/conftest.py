"""Fixtures of the workflow tests: a time-skipping server, stand-in activities, workers."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from temporalio.testing import WorkflowEnvironment

from bubble_shared.testing.temporal_servers import start_time_skipping_server
from bubble_worker.testing.fakes import FakeActivities, Harness, running_harness


@pytest.fixture()
async def time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    async with await start_time_skipping_server() as env:
        yield env


@pytest.fixture()
def fakes() -> FakeActivities:
    return FakeActivities()


@pytest.fixture()
async def harness(
    time_skipping_env: WorkflowEnvironment, fakes: FakeActivities
) -> AsyncIterator[Harness]:
    async with running_harness(time_skipping_env, fakes) as running:
        yield running
