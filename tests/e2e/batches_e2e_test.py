"""Batches end to end, read from the read model: progress while no worker runs, cancellation
midway, an item someone else is already processing, selected items."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

from e2e.system import System, jpeg
from temporalio.testing import WorkflowEnvironment

from bubble_client import AsyncProcessingClient
from bubble_client import messages as m


async def _items(client: AsyncProcessingClient, owner: str, count: int) -> list[str]:
    return [
        (await client.create_item(owner_id=owner, title=f"item {n}", images=[jpeg(40 + n)])).item_id
        for n in range(count)
    ]


async def _batch(client: AsyncProcessingClient, batch_id: str) -> m.BatchRunStatus:
    status = (await client.get_status(batch_id=batch_id)).batch_run
    assert status is not None
    assert status.progress is not None
    return status


async def _until(
    client: AsyncProcessingClient, batch_id: str, done: Callable[[m.BatchRunStatus], bool]
) -> m.BatchRunStatus:
    async with asyncio.timeout(120):
        while not done(status := await _batch(client, batch_id)):
            await asyncio.sleep(0.1)
    return status


def _finished(status: m.BatchRunStatus) -> int:
    progress = status.progress
    assert progress is not None
    return progress.succeeded + progress.failed + progress.cancelled + progress.skipped


def _closed(status: m.BatchRunStatus) -> bool:
    return status.state not in (m.RunState.QUEUED, m.RunState.RUNNING)


async def test_batch_progress_is_read_while_the_worker_is_stopped(system: System) -> None:
    async with AsyncProcessingClient(system.target, timeout=30) as client:
        item_ids = await _items(client, "stopped", 8)
        batch = await client.start_batch_processing(item_ids, max_concurrency=2)
        seen = await _until(client, batch.batch_id, lambda status: _finished(status) >= 2)
        await system.worker.stop()

        while_stopped = [await _batch(client, batch.batch_id) for _ in range(10)]
        system.worker.start()
        final = await _until(client, batch.batch_id, _closed)

    counts = [_finished(status) for status in while_stopped]
    assert counts[0] >= _finished(seen)  # never backwards
    assert counts == [counts[0]] * len(counts)  # and nothing moves without a worker
    assert all(status.progress.total == 8 for status in while_stopped)  # type: ignore[union-attr]
    assert final.state == m.RunState.SUCCEEDED
    assert final.progress is not None
    assert (final.progress.succeeded, final.progress.pending, final.progress.running) == (8, 0, 0)


async def test_a_batch_cancelled_midway_cancels_its_runs_and_counts_the_rest(
    system: System,
) -> None:
    async with AsyncProcessingClient(system.target, timeout=30) as client:
        # Enough items that the cancellation, which reaches the batch when its current tick ends
        # (within about two seconds), lands midway: 40 items at 2 at a time take several seconds.
        item_ids = await _items(client, "cancel", 40)
        batch = await client.start_batch_processing(item_ids, max_concurrency=2)
        await _until(client, batch.batch_id, lambda status: _finished(status) >= 1)
        cancelled = await client.cancel_processing(batch_id=batch.batch_id, reason="enough")
        final = await _until(client, batch.batch_id, _closed)
        items = [await client.get_item(item_id) for item_id in item_ids]

    assert cancelled.cancel_requested
    assert final.state == m.RunState.CANCELLED
    progress = final.progress
    assert progress is not None
    assert (progress.total, progress.pending, progress.running) == (40, 0, 0)
    assert progress.succeeded + progress.cancelled + progress.failed == 40
    assert progress.cancelled >= 1
    statuses = [item.status for item in items]
    assert statuses.count(m.ItemStatus.PROCESSED) == progress.succeeded
    assert m.ItemStatus.PROCESSING not in statuses


async def test_an_item_someone_else_runs_is_joined_not_processed_twice(system: System) -> None:
    async with AsyncProcessingClient(system.target, timeout=30) as client:
        shared, other = await _items(client, "join", 2)
        # Someone else's run of the shared item, waiting on a short start delay.
        started = await client.start_item_processing(shared, start_delay=timedelta(seconds=3))
        batch = await client.start_batch_processing([shared, other], max_concurrency=1)
        joined = await _until(
            client,
            batch.batch_id,
            lambda status: status.progress.succeeded >= 1,  # type: ignore[union-attr]
        )
        final = await _until(client, batch.batch_id, _closed)
        run = (await client.get_status(item_id=shared)).item_run

    # While the shared item's run waited, the batch used its one slot for the other item.
    assert joined.progress is not None
    assert joined.progress.running == 1
    assert final.state == m.RunState.SUCCEEDED
    assert final.progress is not None
    assert (final.progress.succeeded, final.progress.skipped) == (2, 0)
    assert run is not None
    assert run.run_id == started.run_id  # the batch started no second run of it
    assert run.batch_id == ""


async def test_a_selector_batch_processes_what_it_selects(system: System) -> None:
    async with AsyncProcessingClient(system.target, timeout=30) as client:
        mine = await _items(client, "selector-owner", 3)
        await _items(client, "someone-else", 2)
        batch = await client.start_batch_processing(
            selector=m.ItemSelector(owner_id="selector-owner"), max_concurrency=2
        )
        final = await _until(client, batch.batch_id, _closed)
        items = [await client.get_item(item_id) for item_id in mine]
        empty = await client.start_batch_processing(
            selector=m.ItemSelector(owner_id="nobody-at-all")
        )
        nothing = await _until(client, empty.batch_id, _closed)

    assert batch.accepted_item_count == 3
    assert final.state == m.RunState.SUCCEEDED
    assert final.selection_complete
    assert final.progress is not None
    assert (final.progress.total, final.progress.succeeded) == (3, 3)
    assert all(item.status == m.ItemStatus.PROCESSED for item in items)
    assert empty.accepted_item_count == 0
    assert nothing.state == m.RunState.SUCCEEDED
    assert nothing.progress is not None
    assert nothing.progress.total == 0


async def test_runs_are_found_by_batch_item_and_owner(
    system: System, dev_server: WorkflowEnvironment
) -> None:
    """The search attributes every run carries, queried as an operator would (temporal workflow
    list -q, the UI's filter): the same visibility query through the client."""
    async with AsyncProcessingClient(system.target, timeout=30) as client:
        members = await _items(client, "attribute-owner", 2)
        batch = await client.start_batch_processing(
            selector=m.ItemSelector(owner_id="attribute-owner"), max_concurrency=2
        )
        await _until(client, batch.batch_id, _closed)
        alone = (await _items(client, "attribute-owner", 1))[0]
        await client.start_item_processing(alone)

    async def found(query: str, expected: int) -> list[str]:
        async with asyncio.timeout(30):  # visibility trails the runs by a moment
            while True:
                ids = sorted([run.id async for run in dev_server.client.list_workflows(query)])
                if len(ids) >= expected:
                    return ids
                await asyncio.sleep(0.2)

    by_batch = await found(f"BubbleBatchId = '{batch.batch_id}'", 3)
    by_owner = await found("BubbleOwnerId = 'attribute-owner'", 4)
    by_item = await found(f"BubbleItemId = '{alone}'", 1)

    runs = sorted(f"item-processing/{item_id}" for item_id in members)
    assert by_batch == sorted([*runs, f"item-batch/{batch.batch_id}"])
    assert by_owner == sorted([*runs, f"item-batch/{batch.batch_id}", f"item-processing/{alone}"])
    assert by_item == [f"item-processing/{alone}"]
