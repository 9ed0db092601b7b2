"""A system whose gRPC service a test stops and starts again on the same port, mid-watch.

The worker is not started with it: runs stay QUEUED (their snapshot unchanged) until the test
starts it, so a watch that reconnects meanwhile receives the very snapshot it already had.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from e2e.system import Worker, worker_on
from temporalio.testing import WorkflowEnvironment

from bubble_client import messages as m
from bubble_service import server as service_server
from bubble_service.settings import ServiceSettings
from bubble_shared.store import upgrade
from bubble_shared.testing.databases import temporary_database
from bubble_shared.testing.ports import free_port

WAIT_SECONDS = 60.0


@pytest.fixture()
def database_url(tmp_path: Path) -> Iterator[str]:
    """SQLite only: reconnecting is the client's business, the database kind changes nothing."""
    with temporary_database("sqlite", tmp_path) as url:
        upgrade(url)
        yield url


@pytest.fixture()
async def system(
    dev_server: WorkflowEnvironment, database_url: str, tmp_path: Path
) -> AsyncIterator[RestartableSystem]:
    async with restartable_system(dev_server, database_url, tmp_path) as running:
        yield running


@dataclass
class RestartableSystem:
    settings: ServiceSettings
    worker: Worker
    media_root: Path
    service: service_server.Service | None = None

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.settings.port}"

    async def start_service(self, **changes: Any) -> None:
        """Starts the service on the same port, with ``changes`` to its settings."""
        self.settings = replace(self.settings, **changes)
        self.service = await service_server.start(self.settings)

    async def stop_service(self) -> None:
        """Stops it as SIGTERM does: its watch streams end with UNAVAILABLE."""
        if self.service is not None:
            service, self.service = self.service, None
            await service.stop(grace_seconds=1)

    def watched(self) -> int:
        """Runs and batches the running service's watch streams follow."""
        return self.service.deps.watches.watched if self.service is not None else 0


@asynccontextmanager
async def restartable_system(
    dev_server: WorkflowEnvironment, database_url: str, tmp_path: Path, **service: Any
) -> AsyncIterator[RestartableSystem]:
    """The service (on a fixed free port, ``service`` overriding its settings) and a stopped
    worker, on the dev server and database."""
    worker = worker_on(dev_server, database_url, tmp_path, analysis_processes=1)
    temporal, store = worker.settings.temporal, worker.settings.store
    settings = ServiceSettings(
        temporal=temporal,
        store=store,
        host="127.0.0.1",
        port=free_port(),
        metrics_port=0,
        watch_poll_interval_seconds=0.2,
        **service,
    )
    system = RestartableSystem(settings=settings, worker=worker, media_root=store.media_root)
    await system.start_service()
    try:
        yield system
    finally:
        await system.stop_service()
        await worker.stop()


async def until(
    condition: Callable[[], bool], what: str, *, watching: asyncio.Future[Any] | None = None
) -> None:
    """Waits for ``condition``; fails with the watch's own error if the watch ended first."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_SECONDS
    while not condition():
        if watching is not None and watching.done():
            watching.result()  # raises what ended the watch
            raise AssertionError(f"the watch ended before {what}")
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def restart_while_watching(
    system: RestartableSystem, received: Callable[[], int], watching: asyncio.Future[Any]
) -> None:
    """Once the watch has its first update: stops the service, leaves it down a moment (the
    watch's connection attempts are refused), starts it on the same port, waits until the watch
    has reconnected (while its run is unchanged), then starts the worker so the run can end."""
    await until(lambda: received() >= 1, "the first update", watching=watching)
    await system.stop_service()
    await asyncio.sleep(1.0)
    await system.start_service()
    await until(lambda: system.watched() >= 1, "the watch to reconnect", watching=watching)
    system.worker.start()


def assert_one_stream(
    updates: Sequence[m.WatchStatusResponse],
) -> m.ItemRunStatus | m.BatchRunStatus:
    """The updates read as one stream: numbered 1..n, no status twice in a row, the last one
    terminal (and the only terminal one). Returns the final status."""
    assert [update.sequence for update in updates] == list(range(1, len(updates) + 1))
    statuses = [update.item_run or update.batch_run for update in updates]
    repeated = [n for n in range(1, len(statuses)) if statuses[n] == statuses[n - 1]]
    assert not repeated, f"updates {repeated} repeat the status before them"
    assert [update.terminal for update in updates] == [False] * (len(updates) - 1) + [True]
    final = statuses[-1]
    assert final is not None
    return final
