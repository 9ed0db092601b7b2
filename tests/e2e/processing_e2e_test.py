"""Client -> gRPC service -> Temporal -> worker -> database, with the real parts all the way.

The sync client and the Celery-compatible tasks block, so they run in a thread: the service under
test shares this test's event loop.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from e2e.system import System, jpeg

from bubble_client import AsyncProcessingClient, NotFoundError, ProcessingClient, tasks
from bubble_client import messages as m


def _sync_client(system: System) -> ProcessingClient:
    return ProcessingClient(system.target, timeout=30)


async def test_an_item_is_processed_and_watched_to_the_end_with_the_sync_client(
    system: System,
) -> None:
    (system.media_root / "items" / "back.jpg").write_bytes(jpeg(2))

    def scenario() -> tuple[m.Item, list[m.WatchStatusResponse], m.Item]:
        with _sync_client(system) as client:
            item = client.create_item(
                owner_id="u1", title="wool scarf", images=[jpeg(1), "items/back.jpg"]
            )
            started = client.start_item_processing(item.item_id)
            assert started.workflow_id == f"item-processing/{item.item_id}"
            updates = list(client.watch_status(item_id=item.item_id, timeout=60))
            return item, updates, client.get_item(item.item_id)

    created, updates, processed = await asyncio.to_thread(scenario)

    assert created.status == m.ItemStatus.PENDING
    sequences = [update.sequence for update in updates]
    assert sequences == sorted(set(sequences))
    assert updates[-1].terminal
    final = updates[-1].item_run
    assert final is not None
    assert final.state == m.RunState.SUCCEEDED
    assert final.result is not None
    assert final.result.title
    assert processed.status == m.ItemStatus.PROCESSED
    assert processed.suggestions == final.result
    assert all(image.analysis is not None for image in processed.images)


async def test_a_batch_with_a_bad_item_fails_only_that_item_with_the_async_client(
    system: System,
) -> None:
    async with AsyncProcessingClient(system.target, timeout=30) as client:
        good = [
            await client.create_item(owner_id="u2", title=f"vase {n}", images=[jpeg(10 + n)])
            for n in range(3)
        ]
        bad = await client.create_item(owner_id="u2", title="broken", images=[jpeg(99)[:1500]])
        ids = [good[0].item_id, bad.item_id, good[1].item_id, good[2].item_id]
        batch = await client.start_batch_processing(ids, max_concurrency=2)
        last: m.BatchRunStatus | None = None
        async for update in client.watch_status(batch_id=batch.batch_id, timeout=120):
            last = update.batch_run
        failed = await client.get_item(bad.item_id)

    assert last is not None
    assert last.state == m.RunState.SUCCEEDED
    assert last.progress is not None
    assert (last.progress.total, last.progress.succeeded, last.progress.failed) == (4, 3, 1)
    assert last.failed_item_ids == [bad.item_id]
    assert failed.status == m.ItemStatus.FAILED
    assert failed.last_error is not None
    assert failed.last_error.code == "IMAGE_CORRUPT"


async def test_celery_delay_returns_suggestions_and_a_failure_raises(system: System) -> None:
    def scenario() -> tuple[object, str, str, Exception]:
        client = tasks.configure(system.target, timeout=30)
        good = client.create_item(owner_id="u3", title="lamp", images=[jpeg(5)])
        bad = client.create_item(owner_id="u3", title="broken", images=[jpeg(6)[:1000]])
        result = tasks.process_item_images.delay(good.item_id)
        suggestions = result.get(timeout=60)
        failing = tasks.process_item_images.apply_async(args=[bad.item_id])
        with pytest.raises(tasks.ProcessingFailedError) as raised:
            failing.get(timeout=60)
        return suggestions, str(result), failing.status, raised.value

    suggestions, result_id, failed_status, error = await asyncio.to_thread(scenario)

    assert isinstance(suggestions, m.ItemSuggestions)
    assert suggestions.title
    assert result_id.startswith("item-processing/")
    assert failed_status == tasks.FAILURE
    assert "IMAGE_CORRUPT" in str(error)


async def test_a_revoked_delayed_run_leaves_the_item_as_it_was(system: System) -> None:
    # apply_async(countdown=...) then revoke(): the run never claimed the item, so neither a new
    # item nor a processed one changes (before: both were marked CANCELLED).
    def scenario() -> tuple[m.Item, m.Item, m.Item]:
        client = tasks.configure(system.target, timeout=30)
        new = client.create_item(owner_id="u4", title="chair", images=[jpeg(7)])
        processed = client.create_item(owner_id="u4", title="stool", images=[jpeg(8)])
        tasks.process_item_images.delay(processed.item_id).get(timeout=60)
        before = client.get_item(processed.item_id)
        statuses = []
        for item in (new, processed):
            result = tasks.process_item_images.apply_async(args=[item.item_id], countdown=3600)
            result.revoke(reason="the owner changed their mind")
            with pytest.raises(tasks.TaskRevokedError):
                result.get(timeout=60)
            statuses.append(result.status)
        assert statuses == [tasks.REVOKED, tasks.REVOKED]
        return client.get_item(new.item_id), before, client.get_item(processed.item_id)

    new, before, after = await asyncio.to_thread(scenario)

    assert new.status == m.ItemStatus.PENDING
    assert after.status == m.ItemStatus.PROCESSED
    assert after.suggestions == before.suggestions
    assert after.last_error is None


async def test_unknown_items_are_not_found(system: System) -> None:
    async with AsyncProcessingClient(system.target, timeout=10) as client:
        with pytest.raises(NotFoundError) as raised:
            await client.start_item_processing("no-such-item", start_delay=timedelta(0))

    assert raised.value.reason
