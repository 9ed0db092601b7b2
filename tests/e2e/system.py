"""What an end-to-end test gets: where the running system is, and images to give it."""

from __future__ import annotations

import asyncio
import io
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from temporalio.testing import WorkflowEnvironment

from bubble_client import AsyncProcessingClient
from bubble_client import messages as m
from bubble_service import server as service_server
from bubble_service.settings import ServiceSettings
from bubble_shared.settings import StoreSettings, TemporalSettings
from bubble_worker import main as worker_main
from bubble_worker.analysis.synthetic import photo_like
from bubble_worker.settings import WorkerSettings


@dataclass
class Worker:
    """The worker process's own ``run``, which a test may stop and start again."""

    settings: WorkerSettings
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._stop = asyncio.Event()
            self._task = asyncio.create_task(worker_main.run(self.settings, self._stop))

    async def stop(self) -> None:
        """Stops it as SIGTERM does (running activities get their grace period)."""
        if self._task is not None:
            self._stop.set()
            await self._task
            self._task = None


@dataclass(frozen=True)
class System:
    target: str
    """host:port of the gRPC service."""
    media_root: Path
    worker: Worker


def jpeg(seed: int, size: tuple[int, int] = (800, 600)) -> bytes:
    buffer = io.BytesIO()
    photo_like(size, seed=seed).save(buffer, "JPEG", quality=88)
    return buffer.getvalue()


def worker_on(
    dev_server: WorkflowEnvironment,
    database_url: str,
    tmp_path: Path,
    *,
    analysis_processes: int,
    **settings: Any,
) -> Worker:
    """A worker (not started) on queues of its own, the database and a media root in
    ``tmp_path``, with any other WorkerSettings fields from ``settings``; the service of the test
    uses ``worker.settings.temporal``, ``.store`` and ``.tracing``."""
    suffix = uuid.uuid4().hex[:8]
    temporal = TemporalSettings(
        address=dev_server.client.service_client.config.target_host,
        namespace=dev_server.client.namespace,
        task_queue=f"items-{suffix}",
        analysis_task_queue=f"analysis-{suffix}",
    )
    store = StoreSettings(database_url=database_url, media_root=tmp_path / "media")
    (store.media_root / "items").mkdir(parents=True)
    return Worker(
        WorkerSettings(
            temporal=temporal,
            store=store,
            analysis_processes=analysis_processes,
            metrics_port=0,
            shutdown_grace_seconds=5,
            **settings,
        )
    )


@asynccontextmanager
async def running_system(worker: Worker) -> AsyncIterator[System]:
    """``worker`` started, and a gRPC service on a free port using its queues, store and
    tracing."""
    temporal, store = worker.settings.temporal, worker.settings.store
    worker.start()
    service = await service_server.start(
        ServiceSettings(
            temporal=temporal,
            store=store,
            host="127.0.0.1",
            port=0,
            metrics_port=0,
            tracing=worker.settings.tracing,
        )
    )
    try:
        yield System(target=f"127.0.0.1:{service.port}", media_root=store.media_root, worker=worker)
    finally:
        await service.stop(grace_seconds=1)
        await worker.stop()


async def until_processed(client: AsyncProcessingClient, item_id: str) -> None:
    """Waits (at most a minute) until the item is PROCESSED."""
    async with asyncio.timeout(60):
        while (await client.get_item(item_id)).status != m.ItemStatus.PROCESSED:
            await asyncio.sleep(0.1)
