"""How Temporal's view, the workflow's progress and output, and the item make a run status."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from google.protobuf.duration_pb2 import Duration
from temporalio.client import WorkflowExecutionStatus as Status

from bubble.processing.v1 import analysis_pb2, item_pb2, run_pb2, workflows_pb2
from bubble_service.run_status import (
    BatchRunFacts,
    Execution,
    ItemRunFacts,
    PendingActivity,
    batch_run_status,
    item_run_status,
    item_run_status_from_item,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
ITEM_INPUT = workflows_pb2.ItemImageProcessingWorkflowInput(
    item_id="i1", start_delay=Duration(seconds=60)
)


def execution(status: Status | None, **changes: object) -> Execution:
    fields: dict[str, object] = {
        "workflow_id": "item-processing/i1",
        "run_id": "r1",
        "workflow_type": "ItemImageProcessingWorkflow",
        "status": status,
        "start_time": T0,
        "history_length": 10,
    }
    fields.update(changes)
    return Execution(**fields)  # type: ignore[arg-type]


def test_an_untouched_run_is_queued_until_its_scheduled_start() -> None:
    status = item_run_status(
        ItemRunFacts(execution(Status.RUNNING, untouched=True), input=ITEM_INPUT)
    )

    assert (status.state, status.stage, status.attempt) == (
        run_pb2.RUN_STATE_QUEUED,
        run_pb2.PROCESSING_STAGE_QUEUED,
        0,
    )
    assert status.scheduled_start_time.ToDatetime(tzinfo=UTC) == T0 + timedelta(minutes=1)
    assert not status.HasField("start_time")


def test_a_retried_activity_shows_its_attempt_and_last_error() -> None:
    retrying = PendingActivity("analyze_item_images", 3, "DATABASE", "connection reset")

    status = item_run_status(
        ItemRunFacts(execution(Status.RUNNING, pending_activities=[retrying]), input=ITEM_INPUT)
    )

    assert (status.state, status.stage, status.attempt) == (
        run_pb2.RUN_STATE_RUNNING,
        run_pb2.PROCESSING_STAGE_ANALYZING,
        3,
    )
    assert (status.error.code, status.error.retryable) == ("DATABASE", True)
    assert status.start_time == status.scheduled_start_time


def test_progress_wins_over_guesses() -> None:
    progress = workflows_pb2.ItemImageProcessingProgress(
        item_id="i1", batch_id="b1", stage=run_pb2.PROCESSING_STAGE_NOTIFYING
    )

    status = item_run_status(ItemRunFacts(execution(Status.RUNNING), progress=progress))

    assert (status.state, status.stage, status.batch_id) == (
        run_pb2.RUN_STATE_RUNNING,
        run_pb2.PROCESSING_STAGE_NOTIFYING,
        "b1",
    )


def test_closed_runs() -> None:
    suggestions = analysis_pb2.ItemSuggestions(title="t")
    succeeded = workflows_pb2.ItemImageProcessingWorkflowOutput(
        state=run_pb2.RUN_STATE_SUCCEEDED, suggestions=suggestions
    )
    failed = workflows_pb2.ItemImageProcessingWorkflowOutput(
        state=run_pb2.RUN_STATE_FAILED, error=run_pb2.ProcessingError(code="IMAGE_CORRUPT")
    )
    closed = {"close_time": T0 + timedelta(minutes=5)}

    ok = item_run_status(ItemRunFacts(execution(Status.COMPLETED, **closed), output=succeeded))
    bad = item_run_status(ItemRunFacts(execution(Status.COMPLETED, **closed), output=failed))
    cancelled = item_run_status(ItemRunFacts(execution(Status.CANCELED, **closed)))
    timed_out = item_run_status(ItemRunFacts(execution(Status.TIMED_OUT, **closed)))
    terminated = item_run_status(ItemRunFacts(execution(Status.TERMINATED, **closed)))

    assert (ok.state, ok.result, ok.stage) == (
        run_pb2.RUN_STATE_SUCCEEDED,
        suggestions,
        run_pb2.PROCESSING_STAGE_DONE,
    )
    assert (bad.state, bad.error.code) == (run_pb2.RUN_STATE_FAILED, "IMAGE_CORRUPT")
    assert (cancelled.state, cancelled.error.code) == (run_pb2.RUN_STATE_CANCELLED, "CANCELLED")
    assert (timed_out.state, timed_out.error.code) == (run_pb2.RUN_STATE_TIMED_OUT, "TIMEOUT")
    assert (terminated.state, terminated.error.code) == (run_pb2.RUN_STATE_FAILED, "INTERNAL")
    assert all(s.HasField("close_time") for s in (ok, bad, cancelled, timed_out, terminated))


def test_the_database_answers_for_a_run_temporal_forgot() -> None:
    item = item_pb2.Item(
        item_id="i1",
        status=item_pb2.ITEM_STATUS_FAILED,
        last_workflow_id="item-processing/i1",
        last_error=run_pb2.ProcessingError(code="IMAGE_NOT_FOUND"),
    )

    status = item_run_status_from_item(item)

    assert status is not None
    assert (status.state, status.error.code) == (run_pb2.RUN_STATE_FAILED, "IMAGE_NOT_FOUND")
    assert item_run_status_from_item(item_pb2.Item(status=item_pb2.ITEM_STATUS_PENDING)) is None


def batch_execution(status: Status, **changes: object) -> Execution:
    return execution(
        status, workflow_id="item-batch/b1", workflow_type="ItemBatchProcessingWorkflow", **changes
    )


def test_a_batch_without_a_worker_reads_its_input() -> None:
    request = workflows_pb2.ItemBatchProcessingWorkflowInput(
        batch_id="b1", item_ids=["a", "b"], max_concurrency=5
    )

    status = batch_run_status(
        BatchRunFacts(batch_execution(Status.RUNNING, untouched=True), input=request)
    )

    assert (status.batch_id, status.state, status.max_concurrency) == (
        "b1",
        run_pb2.RUN_STATE_QUEUED,
        5,
    )
    assert status.progress == run_pb2.BatchProgress(total=2, pending=2)


def test_a_cancelled_batch_counts_the_unfinished_items_as_cancelled() -> None:
    progress = workflows_pb2.ItemBatchProcessingProgress(
        progress=run_pb2.BatchProgress(total=5, pending=2, running=1, succeeded=2)
    )

    status = batch_run_status(
        BatchRunFacts(batch_execution(Status.CANCELED, close_time=T0), progress=progress)
    )

    assert status.state == run_pb2.RUN_STATE_CANCELLED
    assert status.progress == run_pb2.BatchProgress(total=5, succeeded=2, cancelled=3)


def test_a_completed_batch_reads_its_output_and_caps_failed_ids() -> None:
    failed = [f"item-{n}" for n in range(1500)]
    output = workflows_pb2.ItemBatchProcessingWorkflowOutput(
        batch_id="b1", total=1500, failed=1500, failed_item_ids=failed
    )

    status = batch_run_status(
        BatchRunFacts(batch_execution(Status.COMPLETED, close_time=T0), output=output)
    )

    assert status.state == run_pb2.RUN_STATE_SUCCEEDED
    assert status.progress == run_pb2.BatchProgress(total=1500, failed=1500)
    assert len(status.failed_item_ids) == 1000
    assert status.failed_item_ids_truncated
