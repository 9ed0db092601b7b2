"""ItemBatchProcessingWorkflow on the time-skipping server: window, isolation, continue-as-new."""

from __future__ import annotations

import asyncio
import uuid

from google.protobuf.duration_pb2 import Duration
from temporalio.client import WorkflowHandle

from bubble.processing.v1 import activities_pb2, workflows_pb2
from bubble_shared.temporal import names
from bubble_worker.testing.fakes import Harness, image_rejected
from bubble_worker.workflows import ItemBatchProcessingWorkflow, ItemImageProcessingWorkflow

Output = workflows_pb2.ItemBatchProcessingWorkflowOutput


async def _start(
    harness: Harness, item_ids: list[str], **fields: object
) -> WorkflowHandle[ItemBatchProcessingWorkflow, Output]:
    batch_id = f"batch-{uuid.uuid4().hex[:8]}"
    request = workflows_pb2.ItemBatchProcessingWorkflowInput(
        batch_id=batch_id,
        item_ids=item_ids,
        analysis_task_queue=harness.analysis_task_queue,
        **fields,  # type: ignore[arg-type]
    )
    return await harness.client.start_workflow(
        ItemBatchProcessingWorkflow.run,
        request,
        id=names.batch_workflow_id(batch_id),
        task_queue=harness.task_queue,
    )


def _items(count: int) -> list[str]:
    # Unique per test: children use the items' own workflow ids on a shared server.
    prefix = uuid.uuid4().hex[:6]
    return [f"{prefix}-{index}" for index in range(count)]


async def test_processes_every_item_with_at_most_the_window_open(harness: Harness) -> None:
    harness.fakes.analyze_delay_seconds = 0.05
    item_ids = _items(12)

    output = await (await _start(harness, item_ids, max_concurrency=3)).result()

    assert output.total == output.succeeded == 12
    assert (output.failed, output.cancelled, output.skipped) == (0, 0, 0)
    assert sorted(call.item_id for call in harness.fakes.analyze_calls) == sorted(item_ids)
    assert harness.fakes.most_analyzing_at_once <= 3
    assert {update.item_id for update in harness.fakes.updates} == set(item_ids)


async def test_one_failing_item_never_fails_the_batch(harness: Harness) -> None:
    item_ids = _items(5)

    def reject_third(request: activities_pb2.AnalyzeItemImagesInput, _: int) -> None:
        if request.item_id == item_ids[2]:
            raise image_rejected("IMAGE_UNSUPPORTED")

    harness.fakes.analyze = reject_third

    output = await (await _start(harness, item_ids)).result()

    assert (output.succeeded, output.failed) == (4, 1)
    assert list(output.failed_item_ids) == [item_ids[2]]


async def test_continues_as_new_past_one_execution_page_and_keeps_counting(
    harness: Harness,
) -> None:
    item_ids = _items(11)

    def reject_last(request: activities_pb2.AnalyzeItemImagesInput, _: int) -> None:
        if request.item_id == item_ids[-1]:
            raise image_rejected()

    harness.fakes.analyze = reject_last
    handle = await _start(harness, item_ids, items_per_run=4, max_concurrency=2)

    output = await handle.result()

    assert output.continued_as_new_count == 2  # 4 + 4 + 3 items
    assert (output.total, output.succeeded, output.failed) == (11, 10, 1)
    assert list(output.failed_item_ids) == [item_ids[-1]]
    # The history of the execution that returned holds only its own page of children.
    history = await handle.fetch_history()
    started = [
        e
        for e in history.events
        if e.HasField("start_child_workflow_execution_initiated_event_attributes")
    ]
    assert len(started) == 3
    progress = await handle.query(ItemBatchProcessingWorkflow.get_progress)
    assert progress.progress.pending == 0
    assert progress.progress.succeeded == 10


async def test_an_item_with_an_open_run_is_waited_for_not_processed_twice(
    harness: Harness,
) -> None:
    item_ids = _items(3)
    busy = item_ids[1]
    # An open run of the busy item, parked on its start delay, as StartItemProcessing leaves it.
    open_run = await harness.client.start_workflow(
        ItemImageProcessingWorkflow.run,
        workflows_pb2.ItemImageProcessingWorkflowInput(
            item_id=busy,
            analysis_task_queue=harness.analysis_task_queue,
            start_delay=Duration(seconds=10**6),
        ),
        id=names.item_workflow_id(busy),
        task_queue=harness.task_queue,
    )
    batch = await _start(harness, item_ids)
    while not await _is_waiting_for_a_run(batch):
        await asyncio.sleep(0.05)

    # The open run ends (here: cancelled by its owner); the batch counts that outcome.
    await open_run.cancel()
    output = await batch.result()

    assert (output.succeeded, output.cancelled, output.skipped) == (2, 1, 0)
    assert busy not in {call.item_id for call in harness.fakes.analyze_calls}


async def _is_waiting_for_a_run(batch: WorkflowHandle[ItemBatchProcessingWorkflow, Output]) -> bool:
    history = await batch.fetch_history()
    return any(
        event.activity_task_scheduled_event_attributes.activity_type.name == names.WAIT_FOR_ITEM_RUN
        for event in history.events
        if event.HasField("activity_task_scheduled_event_attributes")
    )


async def test_progress_query_counts_while_running(harness: Harness) -> None:
    harness.fakes.analyze_delay_seconds = 0.3
    handle = await _start(harness, _items(4), max_concurrency=2)
    while len(harness.fakes.analyze_calls) < 2:
        await asyncio.sleep(0.01)

    progress = await handle.query(ItemBatchProcessingWorkflow.get_progress)

    counted = progress.progress
    assert counted.total == 4
    assert counted.running == 2
    assert counted.pending + counted.running + counted.succeeded == 4
    assert progress.max_concurrency == 2
    assert (await handle.result()).succeeded == 4


async def test_cancelled_children_are_counted_as_cancelled(harness: Harness) -> None:
    item_ids = _items(2)
    harness.fakes.analyze_delay_seconds = 0.5
    handle = await _start(harness, item_ids, max_concurrency=2)
    while item_ids[0] not in {call.item_id for call in harness.fakes.analyze_calls}:
        await asyncio.sleep(0.01)
    # Cancel one child from outside, as CancelProcessing for that item does.
    await harness.client.get_workflow_handle(names.item_workflow_id(item_ids[0])).cancel()

    output = await handle.result()

    assert (output.cancelled, output.succeeded, output.failed) == (1, 1, 0)


async def test_a_batch_of_100_000_items_runs_page_by_page(harness: Harness) -> None:
    # The history stays bounded by continuing as new; each execution carries only the ids left.
    item_ids = [f"item-{index:06d}" for index in range(100_000)]
    handle = await _start(harness, item_ids, items_per_run=5, max_concurrency=5)
    describe = await handle.describe()
    first_run = describe.run_id
    while (await handle.describe()).run_id == first_run:
        await asyncio.sleep(0.05)

    progress = await handle.query(ItemBatchProcessingWorkflow.get_progress)
    history = await harness.client.get_workflow_handle(handle.id, run_id=first_run).fetch_history()
    await handle.terminate("the test has seen enough")

    assert progress.progress.total == 100_000
    assert progress.progress.succeeded >= 5
    assert progress.continued_as_new_count >= 1
    assert len(history.events) < 100  # one page of children, not 100,000
