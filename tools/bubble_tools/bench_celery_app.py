"""The Celery baseline of ``tools:bench-throughput``: one item's work as a Celery task.

The same work as one of our item runs, written as a Celery user would: claim the item, analyse
its images with the same analyser, derive the suggestions, write them to the item and record the
owner's notification, in the same database through the same store. No retries, no heartbeats,
no status beyond the item's own row: that is the point of comparing with it.

Celery and Redis are benchmark-only dependencies: nothing but this module imports them. The
benchmark starts ``celery -A bubble_tools.bench_celery_app worker`` with the settings below in
its environment.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

from celery import Celery

from bubble.processing.v1 import activities_pb2, analysis_pb2
from bubble_shared.media import resolve_media_path
from bubble_shared.store import NotificationStore, RunWrites, create_engine
from bubble_worker.analysis import analyze_image_file, suggest_for_item
from bubble_worker.analysis.registry import DEFAULT_ANALYZER

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")
QUEUE = os.environ.get("BENCH_CELERY_QUEUE", "bubble-bench")

app = Celery("bubble-bench", broker=REDIS_URL, backend=REDIS_URL)
app.conf.update(
    task_default_queue=QUEUE,
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
)


@dataclass(frozen=True)
class _Stores:
    run_writes: RunWrites
    notifications: NotificationStore
    media_root: Path


@cache
def _stores() -> _Stores:
    """This process's stores (made after the fork: a prefork child never shares connections)."""
    engine = create_engine(os.environ["DATABASE_URL"])
    return _Stores(RunWrites(engine), NotificationStore(engine), Path(os.environ["MEDIA_ROOT"]))


@app.task(name="bubble_bench.process_item")
def process_item(item_id: str) -> str:
    """Processes one item; its ID once the result and the notification are written."""
    stores = _stores()
    workflow_id, run_id, started = f"celery-{item_id}", uuid.uuid4().hex, datetime.now(UTC)
    claim = stores.run_writes.claim_item(
        item_id=item_id,
        workflow_id=workflow_id,
        run_id=run_id,
        run_start_time=started,
        force=False,
    )
    media_root = str(stores.media_root)
    analyses = [
        analysis_pb2.ImageAnalysis.FromString(
            analyze_image_file(
                DEFAULT_ANALYZER,
                image.image_id,
                str(resolve_media_path(stores.media_root, image.uri)),
                media_root,
            )
        )
        for image in claim.item.images
    ]
    suggestions = suggest_for_item(analyses, item_title=claim.item.title)
    stores.run_writes.apply_suggestions(
        item_id=item_id,
        workflow_id=workflow_id,
        run_id=run_id,
        run_start_time=started,
        analysis=analysis_pb2.ItemAnalysis(item_id=item_id, images=analyses),
        suggestions=suggestions,
    )
    stores.notifications.record_notification(
        workflow_id=workflow_id,
        run_id=run_id,
        kind=activities_pb2.NOTIFICATION_KIND_PROCESSED,
        item_id=item_id,
        owner_id=claim.item.owner_id,
        summary=f"Suggested title: {suggestions.title!r}",
        payload={"item_id": item_id, "title": suggestions.title},
    )
    return item_id
