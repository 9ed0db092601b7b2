"""ItemBatchProcessingWorkflow on the time-skipping server, with the real read model on SQLite:
the sliding window, isolation of failures, continue-as-new with runs in flight, joining someone
else's run, cancellation, size."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import UTC
from typing import Any

from google.protobuf.duration_pb2 import Duration
from temporalio.client import (
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowHistory,
)
from temporalio.service import RPCError

from bubble.processing.v1 import activities_pb2, item_pb2, run_pb2, workflows_pb2
from bubble_shared.store import NewBatch, RunStep
from bubble_shared.temporal import names
from bubble_shared.temporal.converter import DATA_CONVERTER
from bubble_worker.testing.fakes import Harness, image_rejected
from bubble_worker.workflows.batch import ItemBatchProcessingWorkflow
from bubble_worker.workflows.item import ItemImageProcessingWorkflow

Output = workflows_pb2.ItemBatchProcessingWorkflowOutput
Handle = WorkflowHandle[Any, Output]


def _items(count: int) -> list[str]:
    # Unique per test: runs use the items' own workflow ids on a shared server.
    prefix = uuid.uuid4().hex[:6]
    return [f"{prefix}-{index}" for index in range(count)]


def _batch_id(handle: Handle) -> str:
    return names.batch_id_from_workflow_id(handle.id) or ""


def _progress(harness: Harness, handle: Handle) -> run_pb2.BatchProgress:
    status = harness.batches.get(_batch_id(handle))
    assert status is not None
    return status.progress


async def _until(condition: Any, *, timeout: float = 30.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.02)


async def test_processes_every_item_with_at_most_the_window_open(harness: Harness) -> None:
    harness.fakes.analyze_delay_seconds = 0.05
    item_ids = _items(12)

    output = await (await harness.start_batch(item_ids, max_concurrency=3)).result()

    assert output.total == output.succeeded == 12
    assert (output.failed, output.cancelled, output.skipped) == (0, 0, 0)
    assert sorted(call.item_id for call in harness.fakes.analyze_calls) == sorted(item_ids)
    assert harness.fakes.most_analyzing_at_once <= 3
    assert {update.item_id for update in harness.fakes.updates} == set(item_ids)


async def test_the_counters_are_in_the_database(harness: Harness) -> None:
    item_ids = _items(5)

    def reject_third(request: activities_pb2.AnalyzeItemImagesInput, _: int) -> None:
        if request.item_id == item_ids[2]:
            raise image_rejected("IMAGE_UNSUPPORTED")

    harness.fakes.analyze = reject_third
    handle = await harness.start_batch(item_ids)
    output = await handle.result()

    assert (output.succeeded, output.failed) == (4, 1)
    assert list(output.failed_item_ids) == [item_ids[2]]
    status = harness.batches.get(_batch_id(handle))
    assert status is not None
    assert status.state == run_pb2.RUN_STATE_SUCCEEDED
    assert (status.progress.succeeded, status.progress.failed, status.progress.pending) == (4, 1, 0)
    assert list(status.failed_item_ids) == [item_ids[2]]
    assert status.HasField("start_time")
    assert status.HasField("close_time")
    failed_run = harness.runs.latest_of_item(item_ids[2])
    assert failed_run is not None
    assert failed_run.batch_id == _batch_id(handle)
    assert failed_run.error.code == "IMAGE_UNSUPPORTED"


async def test_continues_as_new_with_runs_in_flight(harness: Harness) -> None:
    item_ids = _items(11)
    harness.fakes.analyze_delay_seconds = 1.0

    def reject_last(request: activities_pb2.AnalyzeItemImagesInput, _: int) -> None:
        if request.item_id == item_ids[-1]:
            raise image_rejected()

    harness.fakes.analyze = reject_last
    handle = await harness.start_batch(item_ids, max_concurrency=2, events_per_run=3)

    output = await handle.result()

    assert output.continued_as_new_count >= 2
    assert (output.total, output.succeeded, output.failed) == (11, 10, 1)
    assert list(output.failed_item_ids) == [item_ids[-1]]
    assert harness.fakes.most_analyzing_at_once == 2
    histories = await _histories(harness, handle)
    carried = [await _input_of(history) for history in histories[1:]]
    assert [request.continued_as_new_count for request in carried] == list(range(1, len(histories)))
    # Some execution took over mid-batch, with members started and runs still open.
    assert any(0 < request.next_position < 11 for request in carried)
    for history in histories:
        # Only the batch's own ticks: no child workflow and no signal ever enters its history,
        # so nothing can refuse its continue-as-new.
        assert len(history.events) < 60
        assert not any(
            event.HasField("start_child_workflow_execution_initiated_event_attributes")
            or event.HasField("workflow_execution_signaled_event_attributes")
            for event in history.events
        )


async def _histories(harness: Harness, handle: Handle) -> list[WorkflowHistory]:
    """The histories of every execution of the batch, following the continue-as-new chain."""
    histories = []
    run_id = handle.first_execution_run_id
    while run_id:
        history = await harness.client.get_workflow_handle(handle.id, run_id=run_id).fetch_history()
        histories.append(history)
        last = history.events[-1]
        run_id = last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
    return histories


async def _input_of(history: WorkflowHistory) -> workflows_pb2.ItemBatchProcessingWorkflowInput:
    started = history.events[0].workflow_execution_started_event_attributes
    [request] = await DATA_CONVERTER.decode(
        list(started.input.payloads), [workflows_pb2.ItemBatchProcessingWorkflowInput]
    )
    assert isinstance(request, workflows_pb2.ItemBatchProcessingWorkflowInput)
    return request


async def test_an_item_someone_else_runs_is_joined_without_a_slot(harness: Harness) -> None:
    item_ids = _items(3)
    busy = item_ids[0]
    # An open run of the busy item, parked on its start delay, as StartItemProcessing leaves it.
    open_run = await harness.client.start_workflow(
        ItemImageProcessingWorkflow.run,
        workflows_pb2.ItemImageProcessingWorkflowInput(
            item_id=busy,
            analysis_task_queue=harness.analysis_task_queue,
            start_delay=Duration(seconds=10**8),
        ),
        id=names.item_workflow_id(busy),
        task_queue=harness.task_queue,
    )
    await _until(lambda: harness.runs.latest_of_item(busy) is not None)
    # One slot: had the busy item held it, nothing else could run.
    batch = await harness.start_batch(item_ids, max_concurrency=1)
    await _until(lambda: _progress(harness, batch).succeeded == 2)
    progress = _progress(harness, batch)
    assert (progress.running, progress.pending) == (1, 0)

    # The open run ends (here: cancelled by its owner); the batch counts that outcome.
    await open_run.cancel()
    output = await batch.result()

    assert (output.succeeded, output.cancelled, output.skipped) == (2, 1, 0)
    assert busy not in {call.item_id for call in harness.fakes.analyze_calls}


async def test_an_item_another_batch_runs_is_joined_and_counted_for_both(
    harness: Harness,
) -> None:
    shared, other = _items(2)
    harness.fakes.analyze_delay_seconds = 1.0
    first = await harness.start_batch([shared], max_concurrency=1)
    await _until(lambda: shared in {call.item_id for call in harness.fakes.analyze_calls})

    # One slot: the shared item, joined, does not take it, so the other item runs meanwhile.
    second = await harness.start_batch([shared, other], max_concurrency=1)
    second_output = await second.result()
    first_output = await first.result()

    assert (first_output.succeeded, first_output.total) == (1, 1)
    assert (second_output.succeeded, second_output.skipped, second_output.total) == (2, 0, 2)
    analysed = [call.item_id for call in harness.fakes.analyze_calls]
    assert sorted(analysed) == sorted([shared, other])  # the shared item ran once, for both
    assert harness.fakes.most_analyzing_at_once == 2
    run = harness.runs.latest_of_item(shared)
    assert run is not None
    assert run.batch_id == _batch_id(first)


async def test_cancelling_a_batch_cancels_its_runs_and_counts_the_rest(
    harness: Harness,
) -> None:
    item_ids = _items(6)
    harness.fakes.analyze_delay_seconds = 5.0  # longer than a tick: cancelled while analysing
    handle = await harness.start_batch(item_ids, max_concurrency=2)
    await _until(lambda: len(harness.fakes.analyze_calls) >= 2)

    await handle.cancel()
    try:
        await handle.result()
        raise AssertionError("the batch should have ended cancelled")
    except WorkflowFailureError:
        pass

    status = harness.batches.get(_batch_id(handle))
    assert status is not None
    assert status.state == run_pb2.RUN_STATE_CANCELLED
    counted = status.progress
    assert (counted.pending, counted.running) == (0, 0)
    assert counted.total == 6
    assert counted.cancelled + counted.succeeded == 6
    assert counted.cancelled >= 4
    cancelled_runs = {f.item_id for f in harness.fakes.failures if f.cancelled}
    assert cancelled_runs == {call.item_id for call in harness.fakes.analyze_calls}
    assert len(harness.fakes.analyze_calls) == 2


async def test_a_cancelled_run_is_counted_as_cancelled(harness: Harness) -> None:
    item_ids = _items(2)
    harness.fakes.analyze_delay_seconds = 0.5
    handle = await harness.start_batch(item_ids, max_concurrency=2)
    await _until(lambda: item_ids[0] in {call.item_id for call in harness.fakes.analyze_calls})
    # Cancel one run from outside, as CancelProcessing for that item does.
    await harness.client.get_workflow_handle(names.item_workflow_id(item_ids[0])).cancel()

    output = await handle.result()

    assert (output.cancelled, output.succeeded, output.failed) == (1, 1, 0)


async def test_an_empty_selection_ends_succeeded_with_total_zero(harness: Harness) -> None:
    batch_id = f"batch-{uuid.uuid4().hex[:8]}"
    workflow_id = names.batch_workflow_id(batch_id)
    harness.batches.create(
        NewBatch(batch_id, workflow_id, 5, selector=item_pb2.ItemSelector(owner_id="nobody"))
    )
    output = await harness.client.execute_workflow(
        ItemBatchProcessingWorkflow.run,
        workflows_pb2.ItemBatchProcessingWorkflowInput(batch_id=batch_id, max_concurrency=5),
        id=workflow_id,
        task_queue=harness.batch_task_queue,
    )
    assert (output.total, output.succeeded) == (0, 0)
    status = harness.batches.get(batch_id)
    assert status is not None
    assert status.state == run_pb2.RUN_STATE_SUCCEEDED


async def test_a_run_lost_in_temporal_frees_its_slot_once_it_is_recorded(harness: Harness) -> None:
    """A run terminated in Temporal never records its outcome; the service's reconciliation
    does, and the batch's next tick reads it and goes on."""
    item_ids = _items(2)
    harness.fakes.analyze_delay_seconds = 0.2
    handle = await harness.start_batch(item_ids, max_concurrency=1)
    await _until(lambda: harness.runs.latest_of_item(item_ids[0]) is not None)
    run = harness.client.get_workflow_handle(names.item_workflow_id(item_ids[0]))
    await run.terminate("lost")
    lost = harness.runs.latest_of_item(item_ids[0])
    assert lost is not None
    harness.runs.record(  # what reconciliation writes
        RunStep(
            item_id=item_ids[0],
            workflow_id=lost.workflow_id,
            run_id=lost.run_id,
            queue_time=lost.queue_time.ToDatetime(tzinfo=UTC),
            state=run_pb2.RUN_STATE_FAILED,
            stage=run_pb2.PROCESSING_STAGE_DONE,
            time=lost.queue_time.ToDatetime(tzinfo=UTC),
            error=run_pb2.ProcessingError(code="TERMINATED", message="terminated"),
        )
    )

    output = await handle.result()

    assert (output.failed, output.succeeded) == (1, 1)


async def test_a_batch_of_100_000_items_keeps_a_small_history(harness: Harness) -> None:
    item_ids = [f"{uuid.uuid4().hex[:4]}-{index:06d}" for index in range(100_000)]
    handle = await harness.start_batch(item_ids, max_concurrency=5, events_per_run=3)
    first_run = (await handle.describe()).run_id
    while (await handle.describe()).run_id == first_run:
        await asyncio.sleep(0.05)

    history = await harness.client.get_workflow_handle(handle.id, run_id=first_run).fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    await handle.terminate("the test has seen enough")

    assert sum(len(payload.data) for payload in started.input.payloads) < 200
    assert len(history.events) < 60  # its own ticks, however many members
    continued = history.events[-1].workflow_execution_continued_as_new_event_attributes
    [carried] = await DATA_CONVERTER.decode(
        list(continued.input.payloads), [workflows_pb2.ItemBatchProcessingWorkflowInput]
    )
    assert 5 <= carried.next_position < 1_000  # where it stopped, and not one member in it
    assert not carried.open_item_ids
    assert sum(len(payload.data) for payload in continued.input.payloads) < 1000
    assert _progress(harness, handle).total == 100_000


async def test_a_batch_cancelled_at_once_leaves_no_run_going_unseen(harness: Harness) -> None:
    """A cancellation may arrive while a tick is starting runs: those runs are cancelled too."""
    harness.fakes.analyze_delay_seconds = 3600
    for _ in range(5):
        item_ids = _items(3)
        handle = await harness.start_batch(item_ids, max_concurrency=3)
        await handle.cancel()
        with contextlib.suppress(WorkflowFailureError):
            await handle.result()
        for item_id in item_ids:
            run = harness.client.get_workflow_handle(names.item_workflow_id(item_id))
            try:
                status = (await run.describe()).status
            except RPCError:
                continue  # never started
            assert status == WorkflowExecutionStatus.CANCELED, item_id
        counted = _progress(harness, handle)
        assert (counted.cancelled, counted.running, counted.pending) == (3, 0, 0)
