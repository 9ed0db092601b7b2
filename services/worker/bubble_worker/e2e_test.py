"""The worker end to end: a real dev server, the real worker, real images and a real database.

Runs on SQLite and on PostgreSQL. The last test starts the worker as its own process, the way an
operator does, and stops it with SIGINT.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from bubble.processing.v1 import activities_pb2, item_pb2, run_pb2, workflows_pb2
from bubble_shared.settings import StoreSettings, TemporalSettings
from bubble_shared.store import (
    BatchStore,
    ItemStore,
    NewBatch,
    NewImage,
    NotificationStore,
    RunRecords,
    create_engine,
)
from bubble_shared.temporal import names
from bubble_shared.testing.fixtures import database_url, dev_server  # noqa: F401
from bubble_shared.testing.ports import free_port
from bubble_worker import main as worker_main
from bubble_worker.settings import WorkerSettings
from bubble_worker.testing import images
from bubble_worker.testing.webhook_receiver import WebhookReceiver, webhook_receiver


@dataclass
class System:
    client: Client
    store: ItemStore
    notifications: NotificationStore
    runs: RunRecords
    batches: BatchStore
    settings: WorkerSettings
    media_root: Path
    webhook: WebhookReceiver

    def item(self, *files: Path, title: str = "wool scarf") -> item_pb2.Item:
        return self.store.create_item(
            item_id=None,
            owner_id="owner-1",
            title=title,
            description="",
            images=[NewImage(uri=path.relative_to(self.media_root).as_posix()) for path in files],
        )

    def workflow_input(self, item: item_pb2.Item) -> workflows_pb2.ItemImageProcessingWorkflowInput:
        return workflows_pb2.ItemImageProcessingWorkflowInput(
            item_id=item.item_id, analysis_task_queue=self.settings.temporal.analysis_task_queue
        )


def _settings(
    env: WorkflowEnvironment, database_url: str, media_root: Path, **changes: object
) -> WorkerSettings:
    suffix = uuid.uuid4().hex[:8]
    return replace(
        WorkerSettings(
            temporal=TemporalSettings(
                address=env.client.service_client.config.target_host,
                namespace=env.client.namespace,
                task_queue=f"items-{suffix}",
                analysis_task_queue=f"analysis-{suffix}",
            ),
            store=StoreSettings(database_url=database_url, media_root=media_root),
            analysis_processes=2,
            metrics_port=0,
            shutdown_grace_seconds=5,
        ),
        **changes,  # type: ignore[arg-type]
    )


@pytest.fixture()
async def system(
    dev_server: WorkflowEnvironment, database_url: str, tmp_path: Path
) -> AsyncIterator[System]:
    """The worker process's own ``run`` on its own queues, as ``python -m bubble_worker.main``."""
    media_root = tmp_path / "media"
    (media_root / "items").mkdir(parents=True)
    engine = create_engine(database_url)
    with webhook_receiver() as receiver:
        settings = _settings(
            dev_server,
            database_url,
            media_root,
            notify_webhook_url=receiver.url,
            notify_webhook_secret="s3cret",
        )
        stop = asyncio.Event()
        worker = asyncio.create_task(worker_main.run(settings, stop))
        try:
            yield System(
                dev_server.client,
                ItemStore(engine),
                NotificationStore(engine),
                RunRecords(engine),
                BatchStore(engine),
                settings,
                media_root,
                receiver,
            )
        finally:
            stop.set()
            await worker
            engine.dispose()


async def test_an_item_is_analysed_and_its_suggestions_are_stored(system: System) -> None:
    items_dir = system.media_root / "items"
    item = system.item(
        images.jpeg_rotated_by_exif(items_dir / "front.jpg"),
        images.png_with_alpha(items_dir / "detail.png"),
    )

    output = await system.client.execute_workflow(
        names.ITEM_WORKFLOW,
        system.workflow_input(item),
        id=names.item_workflow_id(item.item_id),
        task_queue=system.settings.temporal.task_queue,
        result_type=workflows_pb2.ItemImageProcessingWorkflowOutput,
    )

    assert output.state == run_pb2.RUN_STATE_SUCCEEDED
    stored = system.store.get_item(item.item_id)
    assert stored.status == item_pb2.ITEM_STATUS_PROCESSED
    assert stored.suggestions == output.suggestions
    assert stored.suggestions.title
    assert all(image.HasField("analysis") for image in stored.images)
    assert stored.images[0].analysis.width == 480  # EXIF rotation applied
    [notification] = system.notifications.list_notifications(item.item_id)
    assert notification.kind == activities_pb2.NOTIFICATION_KIND_PROCESSED
    assert notification.delivered_time is not None
    [delivery] = system.webhook.received
    assert item.item_id.encode() in delivery.body


async def test_a_bad_item_fails_alone_in_a_batch(system: System) -> None:
    items_dir = system.media_root / "items"
    good = [
        system.item(images.greyscale_jpeg(items_dir / f"good-{n}.jpg", seed=n)) for n in range(3)
    ]
    bad = system.item(images.truncated_jpeg(items_dir / "bad.jpg"))
    item_ids = [good[0].item_id, bad.item_id, good[1].item_id, good[2].item_id]
    batch_id = uuid.uuid4().hex
    workflow_id = names.batch_workflow_id(batch_id)
    system.batches.create(NewBatch(batch_id, workflow_id, 2, item_ids=item_ids))

    output = await system.client.execute_workflow(
        names.BATCH_WORKFLOW,
        workflows_pb2.ItemBatchProcessingWorkflowInput(
            batch_id=batch_id,
            max_concurrency=2,
            analysis_task_queue=system.settings.temporal.analysis_task_queue,
            item_task_queue=system.settings.temporal.task_queue,
        ),
        id=workflow_id,
        task_queue=system.settings.temporal.batch_task_queue,
        result_type=workflows_pb2.ItemBatchProcessingWorkflowOutput,
    )

    assert (output.total, output.succeeded, output.failed) == (4, 3, 1)
    assert list(output.failed_item_ids) == [bad.item_id]
    status = system.batches.get(batch_id)
    assert status is not None
    assert status.state == run_pb2.RUN_STATE_SUCCEEDED
    assert (status.progress.succeeded, status.progress.failed) == (3, 1)
    bad_run = system.runs.latest_of_item(bad.item_id)
    assert bad_run is not None
    assert (bad_run.state, bad_run.error.code) == (run_pb2.RUN_STATE_FAILED, "IMAGE_CORRUPT")
    good_run = system.runs.latest_of_item(good[0].item_id)
    assert good_run is not None
    assert good_run.state == run_pb2.RUN_STATE_SUCCEEDED
    assert good_run.result == system.store.get_item(good[0].item_id).suggestions
    failed = system.store.get_item(bad.item_id)
    assert failed.status == item_pb2.ITEM_STATUS_FAILED
    assert failed.last_error.code == "IMAGE_CORRUPT"
    assert failed.last_error.image_id == bad.images[0].image_id
    for item in good:
        assert system.store.get_item(item.item_id).status == item_pb2.ITEM_STATUS_PROCESSED
    kinds = {
        item_id: [n.kind for n in system.notifications.list_notifications(item_id)]
        for item_id in item_ids
    }
    assert kinds[bad.item_id] == [activities_pb2.NOTIFICATION_KIND_FAILED]
    assert all(kinds[item.item_id] == [activities_pb2.NOTIFICATION_KIND_PROCESSED] for item in good)
    assert len(system.webhook.received) == 4


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_the_worker_process_processes_an_item_and_stops_cleanly_on_sigint(
    dev_server: WorkflowEnvironment, database_url: str, tmp_path: Path
) -> None:
    media_root = tmp_path / "media"
    (media_root / "items").mkdir(parents=True)
    settings = _settings(dev_server, database_url, media_root)
    store = ItemStore(create_engine(database_url))
    metrics_port = free_port()
    item = store.create_item(
        item_id=None,
        owner_id="o",
        title="lamp",
        description="",
        images=[
            NewImage(
                uri=images.greyscale_jpeg(media_root / "items" / "lamp.jpg")
                .relative_to(media_root)
                .as_posix()
            )
        ],
    )
    env = {
        **os.environ,
        # The sandbox puts the source roots on sys.path without PYTHONPATH; the child needs them.
        "PYTHONPATH": os.pathsep.join(sys.path),
        "TEMPORAL_ADDRESS": settings.temporal.address,
        "TEMPORAL_NAMESPACE": settings.temporal.namespace,
        "TEMPORAL_TASK_QUEUE": settings.temporal.task_queue,
        "ANALYSIS_TASK_QUEUE": settings.temporal.analysis_task_queue,
        "DATABASE_URL": database_url,
        "MEDIA_ROOT": str(media_root),
        "METRICS_PORT": str(metrics_port),
        "ANALYSIS_PROCESSES": "1",
        "WORKER_SHUTDOWN_GRACE_SECONDS": "5",
    }
    process = subprocess.Popen(  # noqa: ASYNC101 - starting it does not block; waiting is off-loop
        [sys.executable, "-m", "bubble_worker.main"], env=env, stderr=subprocess.PIPE, text=True
    )
    try:
        output = await dev_server.client.execute_workflow(
            names.ITEM_WORKFLOW,
            workflows_pb2.ItemImageProcessingWorkflowInput(
                item_id=item.item_id, analysis_task_queue=settings.temporal.analysis_task_queue
            ),
            id=names.item_workflow_id(item.item_id),
            task_queue=settings.temporal.task_queue,
            result_type=workflows_pb2.ItemImageProcessingWorkflowOutput,
        )
        assert output.state == run_pb2.RUN_STATE_SUCCEEDED
        async with httpx.AsyncClient() as http:
            metrics = (await http.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5)).text
        assert "temporal_activity_execution_latency" in metrics
        assert "temporal_workflow_completed" in metrics

        process.send_signal(signal.SIGINT)
        _, stderr = await asyncio.to_thread(process.communicate, timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, stderr
    assert '"message": "worker stopped"' in stderr
    assert store.get_item(item.item_id).status == item_pb2.ITEM_STATUS_PROCESSED
