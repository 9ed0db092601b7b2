"""Temporal's core logs reach our logging (and so LOG_FORMAT), not raw stderr."""

from __future__ import annotations

import asyncio
import logging
import uuid

import pytest
from temporalio import activity
from temporalio.worker import Worker

from bubble_shared.settings import TemporalSettings
from bubble_shared.temporal.client import connect
from bubble_shared.temporal.runtime import CORE_LOGGER
from bubble_shared.testing.temporal_servers import start_dev_server


@activity.defn
async def _nothing() -> None:
    """A worker needs something to poll for."""


async def test_core_logs_during_an_outage_are_forwarded_to_python_logging(
    caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.WARNING, logger=CORE_LOGGER.name)
    env = await start_dev_server()
    target = env.client.service_client.config.target_host
    # The way every process of the system connects (the service without a runtime of its own).
    client = await connect(TemporalSettings(address=target))
    worker = Worker(client, task_queue=f"q-{uuid.uuid4()}", activities=[_nothing])
    running = asyncio.create_task(worker.run())
    await asyncio.sleep(1)
    await env.shutdown()  # Temporal goes away under a polling worker: core warns about it
    deadline = asyncio.get_running_loop().time() + 30
    while asyncio.get_running_loop().time() < deadline:
        if any(record.name.startswith(CORE_LOGGER.name) for record in caplog.records):
            break
        await asyncio.sleep(0.5)
    running.cancel()
    await asyncio.wait_for(asyncio.gather(running, return_exceptions=True), timeout=30)

    core = [record for record in caplog.records if record.name.startswith(CORE_LOGGER.name)]
    assert core, "no core log line reached Python logging"
    assert all(record.levelno >= logging.WARNING for record in core)
    # Nothing of core's own console output (plain text with colour codes) on stderr.
    assert "\x1b[" not in capfd.readouterr().err
