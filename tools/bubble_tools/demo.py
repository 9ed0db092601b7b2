"""The first run of the stack shows the system doing its job: ``./pants run tools:dev -- --demo``.

Creates a few items with generated photos (and one with a broken file, to show a failure staying
with its item), processes them as one batch through the gRPC service, and prints what the worker
suggested for each.
"""

from __future__ import annotations

import io

from bubble_client import ProcessingClient
from bubble_client import messages as m
from bubble_worker.analysis.synthetic import photo_like

DEMO_ITEMS = (("Wool scarf", 11), ("Leather jacket", 23), ("Ceramic vase", 37))


def _jpeg(seed: int, size: tuple[int, int] = (1600, 1200)) -> bytes:
    buffer = io.BytesIO()
    photo_like(size, seed=seed).save(buffer, "JPEG", quality=88)
    return buffer.getvalue()


def run_demo(target: str) -> list[m.Item]:
    with ProcessingClient(target, timeout=30) as client:
        items = [
            client.create_item(
                owner_id="demo", title=title, images=[_jpeg(seed), _jpeg(seed + 1, (900, 1200))]
            )
            for title, seed in DEMO_ITEMS
        ]
        broken = _jpeg(99)
        items.append(
            client.create_item(owner_id="demo", title="Broken upload", images=[broken[:2000]])
        )
        batch = client.start_batch_processing([item.item_id for item in items], force=True)
        print(f"demo: processing {len(items)} items as batch {batch.batch_id}", flush=True)
        for update in client.watch_status(workflow_id=batch.workflow_id, timeout=300):
            if update.batch_run is not None and update.batch_run.progress is not None:
                progress = update.batch_run.progress
                print(
                    f"demo: {progress.succeeded} succeeded, {progress.failed} failed, "
                    f"{progress.running} running, {progress.pending} pending",
                    flush=True,
                )
        results = [client.get_item(item.item_id) for item in items]
    for item in results:
        print(f"\n{item.title} ({item.item_id}): {item.status.name}")
        if item.suggestions is not None and item.suggestions.title:
            print(f"  suggested title: {item.suggestions.title}")
            print(f"  tags:            {', '.join(item.suggestions.tags)}")
            print(f"  colours:         {', '.join(item.suggestions.colors)}")
            print(f"  primary image:   {item.suggestions.primary_image_id}")
            for warning in item.suggestions.quality_warnings:
                print(f"  warning:         {warning.kind.name}: {warning.message}")
        if item.last_error is not None and item.last_error.code:
            print(f"  error:           {item.last_error.code}: {item.last_error.message}")
    print(flush=True)
    return results
