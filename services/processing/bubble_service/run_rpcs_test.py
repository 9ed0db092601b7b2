"""GetStatus and CancelProcessing: statuses come from the database alone (they answer while
Temporal is unreachable), and only cancelling an open run calls Temporal."""

from __future__ import annotations

import itertools

import grpc
import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.testing import WorkflowEnvironment

from bubble.processing.v1 import analysis_pb2, run_pb2, service_pb2
from bubble_service.conftest import Harness, expect_error
from bubble_shared.store import NewBatch


@pytest.mark.parametrize(
    ("request_", "code", "reason"),
    [
        (service_pb2.GetStatusRequest(), grpc.StatusCode.INVALID_ARGUMENT, "FIELD_REQUIRED"),
        (
            service_pb2.GetStatusRequest(item_id=""),
            grpc.StatusCode.INVALID_ARGUMENT,
            "FIELD_REQUIRED",
        ),
        (
            service_pb2.GetStatusRequest(batch_id="a b"),
            grpc.StatusCode.INVALID_ARGUMENT,
            "INVALID_ID",
        ),
        (
            service_pb2.GetStatusRequest(item_id="ghost"),
            grpc.StatusCode.NOT_FOUND,
            "ITEM_NOT_FOUND",
        ),
        (
            service_pb2.GetStatusRequest(item_id="item-1"),
            grpc.StatusCode.NOT_FOUND,
            "RUN_NOT_FOUND",
        ),
        (
            service_pb2.GetStatusRequest(workflow_id="item-processing/item-1"),
            grpc.StatusCode.NOT_FOUND,
            "RUN_NOT_FOUND",
        ),
        (
            service_pb2.GetStatusRequest(batch_id="nope"),
            grpc.StatusCode.NOT_FOUND,
            "BATCH_NOT_FOUND",
        ),
        (
            service_pb2.GetStatusRequest(workflow_id="someone-elses/workflow"),
            grpc.StatusCode.NOT_FOUND,
            "WORKFLOW_NOT_FOUND",
        ),
        (
            service_pb2.GetStatusRequest(workflow_id="w" * 1001),
            grpc.StatusCode.INVALID_ARGUMENT,
            "INVALID_ID",
        ),
    ],
)
async def test_status_of_nothing(
    harness: Harness,
    request_: service_pb2.GetStatusRequest,
    code: grpc.StatusCode,
    reason: str,
) -> None:
    harness.new_item()

    error = await expect_error(harness.stub.GetStatus(request_))

    assert (error.code, error.reason) == (code, reason)
    cancel = service_pb2.CancelProcessingRequest()
    target = request_.WhichOneof("target")
    if target is not None:
        setattr(cancel, target, getattr(request_, target))
    cancelled = await expect_error(harness.stub.CancelProcessing(cancel))
    assert (cancelled.code, cancelled.reason) == (code, reason)
    watch_request = service_pb2.WatchStatusRequest()
    if target is not None:
        setattr(watch_request, target, getattr(request_, target))
    watch = await expect_error(harness.stub.WatchStatus(watch_request).read())
    assert (watch.code, watch.reason) == (code, reason)


async def test_statuses_answer_from_the_database_without_temporal(
    offline_harness: Harness,
) -> None:
    """Temporal is unreachable: every status read, running or finished, item or batch, still
    answers, so none of them calls Temporal."""
    harness = offline_harness
    harness.new_item()
    harness.step("r1", run_pb2.RUN_STATE_QUEUED, run_pb2.PROCESSING_STAGE_QUEUED)
    harness.batches.create(NewBatch("b1", "item-batch/b1", 5, item_ids=["item-1", "item-2"]))

    queued = await harness.stub.GetStatus(service_pb2.GetStatusRequest(item_id="item-1"))
    harness.step("r1", run_pb2.RUN_STATE_RUNNING, run_pb2.PROCESSING_STAGE_ANALYZING, attempt=2)
    running = await harness.stub.GetStatus(
        service_pb2.GetStatusRequest(workflow_id="item-processing/item-1")
    )
    suggestions = analysis_pb2.ItemSuggestions(title="Blue scarf")
    harness.step(
        "r1", run_pb2.RUN_STATE_SUCCEEDED, run_pb2.PROCESSING_STAGE_DONE, result=suggestions
    )
    done = await harness.stub.GetStatus(service_pb2.GetStatusRequest(item_id="item-1"))
    batch = await harness.stub.GetStatus(service_pb2.GetStatusRequest(batch_id="b1"))
    watched = [
        m async for m in harness.stub.WatchStatus(service_pb2.WatchStatusRequest(item_id="item-1"))
    ]
    cancelled = await harness.stub.CancelProcessing(
        service_pb2.CancelProcessingRequest(item_id="item-1")
    )

    assert queued.item_run.state == run_pb2.RUN_STATE_QUEUED
    assert (running.item_run.state, running.item_run.attempt) == (run_pb2.RUN_STATE_RUNNING, 2)
    assert running.item_run.HasField("start_time")
    assert (done.item_run.state, done.item_run.result) == (run_pb2.RUN_STATE_SUCCEEDED, suggestions)
    assert done.item_run.HasField("close_time")
    assert batch.batch_run.progress == run_pb2.BatchProgress(total=2, pending=2)
    assert [(m.sequence, m.terminal, m.item_run) for m in watched] == [(1, True, done.item_run)]
    # A terminal run is not cancelled, and Temporal is not asked.
    assert (cancelled.cancel_requested, cancelled.state) == (False, run_pb2.RUN_STATE_SUCCEEDED)
    assert cancelled.run_id == "r1"


async def test_a_batch_counts_from_the_database_while_no_worker_runs(
    offline_harness: Harness,
) -> None:
    """The counters move with each item's outcome, in the database: right while workers are
    down, and never backwards (a replayed or late step counts nothing twice)."""
    harness = offline_harness
    harness.batches.create(NewBatch("b1", "item-batch/b1", 2, item_ids=["a", "b", "c"]))
    seen: list[run_pb2.BatchProgress] = []

    async def progress() -> run_pb2.BatchProgress:
        status = await harness.stub.GetStatus(service_pb2.GetStatusRequest(batch_id="b1"))
        seen.append(status.batch_run.progress)
        return status.batch_run.progress

    await progress()
    for item_id in ("a", "b"):
        harness.step(
            f"run-{item_id}",
            run_pb2.RUN_STATE_RUNNING,
            run_pb2.PROCESSING_STAGE_ANALYZING,
            item_id=item_id,
            batch_id="b1",
        )
    await progress()
    failed = run_pb2.ProcessingError(code="IMAGE_CORRUPT", message="truncated")
    for _ in range(2):  # a retried last step
        harness.step(
            "run-a",
            run_pb2.RUN_STATE_FAILED,
            run_pb2.PROCESSING_STAGE_DONE,
            item_id="a",
            batch_id="b1",
            error=failed,
        )
    harness.step(
        "run-a", run_pb2.RUN_STATE_RUNNING, run_pb2.PROCESSING_STAGE_ANALYZING, item_id="a"
    )
    await progress()
    harness.step(
        "run-b", run_pb2.RUN_STATE_SUCCEEDED, run_pb2.PROCESSING_STAGE_DONE, item_id="b"
    )
    final = await progress()
    status = (await harness.stub.GetStatus(service_pb2.GetStatusRequest(batch_id="b1"))).batch_run

    assert seen[0] == run_pb2.BatchProgress(total=3, pending=3)
    assert seen[1] == run_pb2.BatchProgress(total=3, pending=1, running=2)
    assert seen[2] == run_pb2.BatchProgress(total=3, pending=1, running=1, failed=1)
    assert final == run_pb2.BatchProgress(total=3, pending=1, succeeded=1, failed=1)
    for earlier, later in itertools.pairwise(seen):
        assert later.succeeded >= earlier.succeeded
        assert later.failed >= earlier.failed
    assert list(status.failed_item_ids) == ["a"]
    assert status.state == run_pb2.RUN_STATE_QUEUED  # its workflow never ran


async def test_cancel_requests_cancellation_of_the_open_run(harness: Harness) -> None:
    item_id = harness.new_item()
    started = await harness.stub.StartItemProcessing(
        service_pb2.StartItemProcessingRequest(item_id=item_id)
    )

    cancelled = await harness.stub.CancelProcessing(
        service_pb2.CancelProcessingRequest(item_id=item_id, reason="changed my mind")
    )
    again = await harness.stub.CancelProcessing(
        service_pb2.CancelProcessingRequest(workflow_id=started.workflow_id)
    )

    assert (cancelled.workflow_id, cancelled.run_id) == (started.workflow_id, started.run_id)
    assert cancelled.cancel_requested
    assert again.cancel_requested
    assert cancelled.state == run_pb2.RUN_STATE_QUEUED
    too_long = await expect_error(
        harness.stub.CancelProcessing(
            service_pb2.CancelProcessingRequest(item_id=item_id, reason="r" * 501)
        )
    )
    assert (too_long.code, too_long.fields) == (grpc.StatusCode.INVALID_ARGUMENT, ["reason"])


async def test_cancel_a_batch(harness: Harness, dev_server: WorkflowEnvironment) -> None:
    started = await harness.stub.StartBatchProcessing(
        service_pb2.StartBatchProcessingRequest(item_ids=["a"], batch_id="b1")
    )

    cancelled = await harness.stub.CancelProcessing(
        service_pb2.CancelProcessingRequest(batch_id="b1")
    )

    assert cancelled.cancel_requested
    assert (cancelled.workflow_id, cancelled.run_id) == ("item-batch/b1", started.run_id)
    assert cancelled.state == run_pb2.RUN_STATE_QUEUED
    history = await dev_server.client.get_workflow_handle("item-batch/b1").fetch_history()
    requested = EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED
    assert any(event.event_type == requested for event in history.events)


async def test_a_recorded_outcome_answers_after_temporal_forgot_the_run(harness: Harness) -> None:
    """A run Temporal no longer holds (past its retention) still reads as it ended."""
    harness.new_item()
    suggestions = analysis_pb2.ItemSuggestions(title="Scarf")
    harness.step(
        "gone", run_pb2.RUN_STATE_SUCCEEDED, run_pb2.PROCESSING_STAGE_DONE, result=suggestions
    )

    status = (await harness.stub.GetStatus(service_pb2.GetStatusRequest(item_id="item-1"))).item_run
    cancelled = await harness.stub.CancelProcessing(
        service_pb2.CancelProcessingRequest(item_id="item-1")
    )

    assert (status.state, status.result, status.run_id) == (
        run_pb2.RUN_STATE_SUCCEEDED,
        suggestions,
        "gone",
    )
    assert status.workflow_id == "item-processing/item-1"
    assert not cancelled.cancel_requested
