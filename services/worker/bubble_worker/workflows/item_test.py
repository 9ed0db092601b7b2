"""ItemImageProcessingWorkflow on the time-skipping server: every path a run can take."""

from __future__ import annotations

import asyncio
import threading
import uuid
from datetime import timedelta

import pytest
from google.protobuf.duration_pb2 import Duration
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import ApplicationError, CancelledError

from bubble.processing.v1 import activities_pb2, run_pb2, workflows_pb2
from bubble_shared.temporal import names
from bubble_worker.activities.error_boundary import MAX_INTERNAL_ATTEMPTS
from bubble_worker.testing.fakes import Harness, database_outage, image_rejected, suggestions_for
from bubble_worker.workflows import policies
from bubble_worker.workflows.item import ItemImageProcessingWorkflow

Output = workflows_pb2.ItemImageProcessingWorkflowOutput


async def _start(
    harness: Harness, item_id: str = "item-1", **fields: object
) -> WorkflowHandle[ItemImageProcessingWorkflow, Output]:
    request = workflows_pb2.ItemImageProcessingWorkflowInput(
        item_id=item_id,
        analysis_task_queue=harness.analysis_task_queue,
        **fields,  # type: ignore[arg-type]
    )
    return await harness.client.start_workflow(
        ItemImageProcessingWorkflow.run,
        request,
        id=f"{names.item_workflow_id(item_id)}-{uuid.uuid4().hex[:6]}",
        task_queue=harness.task_queue,
    )


async def _failure(
    handle: WorkflowHandle[ItemImageProcessingWorkflow, Output],
) -> run_pb2.ProcessingError:
    """The ProcessingError of a run that ended Failed in Temporal."""
    with pytest.raises(WorkflowFailureError) as failed:
        await handle.result()
    cause = failed.value.cause
    assert isinstance(cause, ApplicationError)
    [error] = cause.details
    assert isinstance(error, run_pb2.ProcessingError)
    assert (cause.type, cause.non_retryable) == (error.code, True)
    return error


async def _progress(
    handle: WorkflowHandle[ItemImageProcessingWorkflow, Output],
) -> workflows_pb2.ItemImageProcessingProgress:
    return await handle.query(ItemImageProcessingWorkflow.get_progress)


async def test_analyses_updates_the_item_and_notifies_the_owner(harness: Harness) -> None:
    handle = await _start(harness)

    output = await handle.result()

    assert output == Output(
        item_id="item-1",
        state=run_pb2.RUN_STATE_SUCCEEDED,
        suggestions=suggestions_for("item-1"),
        notification_id=f"n-item-1-{activities_pb2.NOTIFICATION_KIND_PROCESSED}",
    )
    [analyzed] = harness.fakes.analyze_calls
    [update] = harness.fakes.updates
    [notification] = harness.fakes.notifications
    description = await handle.describe()
    # Every write carries the run's identity and start time: the store's stale-run guard.
    for call in (analyzed, update):
        assert (call.workflow_id, call.run_id) == (handle.id, description.run_id)
        assert call.run_start_time.ToDatetime() == description.start_time.replace(tzinfo=None)
    assert update.suggestions == suggestions_for("item-1")
    assert notification.kind == activities_pb2.NOTIFICATION_KIND_PROCESSED
    assert harness.fakes.failures == []
    assert (await _progress(handle)).stage == run_pb2.PROCESSING_STAGE_DONE


async def test_transient_analysis_errors_are_retried(harness: Harness) -> None:
    def flaky(_: activities_pb2.AnalyzeItemImagesInput, attempt: int) -> None:
        if attempt < 3:
            raise OSError("database is locked")

    harness.fakes.analyze = flaky

    output = await (await _start(harness)).result()

    assert output.state == run_pb2.RUN_STATE_SUCCEEDED
    assert len(harness.fakes.analyze_calls) == 3


async def test_a_bad_image_fails_the_run_once_and_records_why(harness: Harness) -> None:
    def corrupt(_: activities_pb2.AnalyzeItemImagesInput, __: int) -> None:
        raise image_rejected("IMAGE_CORRUPT")

    harness.fakes.analyze = corrupt
    handle = await _start(harness)

    error = await _failure(handle)

    # Failed in Temporal too (before: Completed), so the UI's and the CLI's lists show it.
    assert (await handle.describe()).status == WorkflowExecutionStatus.FAILED
    assert (error.code, error.image_id) == ("IMAGE_CORRUPT", "img-1")
    assert error.stage == run_pb2.PROCESSING_STAGE_ANALYZING
    assert not error.retryable
    assert len(harness.fakes.analyze_calls) == 1  # non-retryable: no second attempt
    [failure] = harness.fakes.failures
    assert failure.error == error
    assert not failure.cancelled
    assert [n.kind for n in harness.fakes.notifications] == [
        activities_pb2.NOTIFICATION_KIND_FAILED
    ]
    assert harness.fakes.updates == []


async def test_an_outage_longer_than_the_old_attempt_limits_fails_nothing(harness: Harness) -> None:
    # The old policies gave up after 8 analysis attempts and 10 write attempts (about two
    # minutes): a longer database outage failed items that had nothing wrong with them.
    def down_for_a_while(_: activities_pb2.AnalyzeItemImagesInput, attempt: int) -> None:
        if attempt <= 12:
            raise database_outage()

    harness.fakes.analyze = down_for_a_while
    harness.fakes.update_failures = 12

    output = await (await _start(harness)).result()

    assert output.state == run_pb2.RUN_STATE_SUCCEEDED
    assert (len(harness.fakes.analyze_calls), len(harness.fakes.updates)) == (13, 13)
    assert harness.fakes.failures == []
    assert [n.kind for n in harness.fakes.notifications] == [
        activities_pb2.NOTIFICATION_KIND_PROCESSED
    ]


def _short_budget() -> None:
    policies.configure(
        policies.RetryBudget(budget=timedelta(seconds=3), max_interval=timedelta(milliseconds=200))
    )


async def test_an_outage_outliving_the_budget_fails_the_item_with_a_documented_code(
    harness: Harness,
) -> None:
    _short_budget()

    def down(_: activities_pb2.AnalyzeItemImagesInput, __: int) -> None:
        raise database_outage()

    harness.fakes.analyze = down
    handle = await _start(harness, f"down-{uuid.uuid4().hex[:6]}")

    error = await _failure(handle)

    assert (error.code, error.retryable) == ("INFRASTRUCTURE_UNAVAILABLE", True)
    assert error.stage == run_pb2.PROCESSING_STAGE_ANALYZING
    assert "Connection refused" in error.message
    # Neither the statement nor its parameters travel with the failure.
    assert "UPDATE" not in error.message
    assert "parameters" not in error.message
    assert len(error.message) <= 500
    assert [f.error.code for f in harness.fakes.failures] == ["INFRASTRUCTURE_UNAVAILABLE"]
    assert [n.kind for n in harness.fakes.notifications] == [
        activities_pb2.NOTIFICATION_KIND_FAILED
    ]
    run = harness.runs.get((await handle.describe()).run_id or "")
    assert run is not None
    assert (run.state, run.error.code) == (run_pb2.RUN_STATE_FAILED, "INFRASTRUCTURE_UNAVAILABLE")
    # The worker's settings reached the workflow (its sandbox sees the worker's policies).
    [scheduled] = [
        event.activity_task_scheduled_event_attributes
        async for event in handle.fetch_history_events()
        if event.HasField("activity_task_scheduled_event_attributes")
        and event.activity_task_scheduled_event_attributes.activity_type.name
        == names.ANALYZE_ITEM_IMAGES
    ]
    assert scheduled.schedule_to_close_timeout.ToTimedelta() == timedelta(seconds=3)
    assert scheduled.retry_policy.maximum_interval.ToTimedelta() == timedelta(milliseconds=200)


async def test_an_unexpected_error_is_internal_and_final_after_a_few_attempts(
    harness: Harness,
) -> None:
    def bug(_: activities_pb2.AnalyzeItemImagesInput, __: int) -> None:
        raise KeyError("images")

    harness.fakes.analyze = bug

    error = await _failure(await _start(harness))

    # The code is a documented one, never the Python class name.
    assert error.code == "INTERNAL"
    assert "images" in error.message
    assert len(harness.fakes.analyze_calls) == MAX_INTERNAL_ATTEMPTS


async def test_cancelling_a_waiting_run_ends_it_cancelled_and_leaves_the_item_alone(
    harness: Harness,
) -> None:
    # Celery's apply_async(countdown=...) then revoke(): the run never claimed the item, so the
    # store leaves it as it was (SKIPPED_NOT_CLAIMED) and the owner is not told.
    handle = await _start(harness, start_delay=Duration(seconds=3600))
    progress = await _progress(handle)
    assert progress.stage == run_pb2.PROCESSING_STAGE_QUEUED

    await handle.cancel()

    with pytest.raises(WorkflowFailureError) as failed:
        await handle.result()
    assert isinstance(failed.value.cause, CancelledError)
    [failure] = harness.fakes.failures
    assert failure.cancelled
    assert failure.error.code == "CANCELLED"
    assert harness.fakes.notifications == []
    assert harness.fakes.analyze_calls == []


async def test_cancelling_a_run_mid_analysis_records_the_reason_and_tells_the_owner(
    harness: Harness,
) -> None:
    harness.fakes.analyze_delay_seconds = 3600
    handle = await _start(harness)
    while not harness.fakes.analyze_calls:
        await asyncio.sleep(0.01)

    await handle.cancel(reason="the owner deleted the listing")

    with pytest.raises(WorkflowFailureError):
        await handle.result()
    [failure] = harness.fakes.failures
    assert failure.cancelled
    assert failure.error.message == "processing was cancelled: the owner deleted the listing"
    [notification] = harness.fakes.notifications
    assert notification.kind == activities_pb2.NOTIFICATION_KIND_CANCELLED
    assert notification.summary == failure.error.message


async def test_start_delay_waits_on_a_durable_timer_then_processes(harness: Harness) -> None:
    handle = await _start(harness, start_delay=Duration(seconds=2 * 24 * 3600))
    progress = await _progress(handle)

    assert progress.stage == run_pb2.PROCESSING_STAGE_QUEUED
    scheduled = progress.scheduled_start_time.ToDatetime() - progress.stage_start_time.ToDatetime()
    assert scheduled == timedelta(days=2)
    assert (await handle.result()).state == run_pb2.RUN_STATE_SUCCEEDED


async def test_a_failed_notification_never_fails_the_run(harness: Harness) -> None:
    harness.fakes.notify_fails = True

    output = await (await _start(harness)).result()

    assert output.state == run_pb2.RUN_STATE_SUCCEEDED
    assert output.notification_id == ""
    assert len(harness.fakes.updates) == 1


async def test_skipped_run_writes_and_notifies_nothing(harness: Harness) -> None:
    harness.fakes.analyze = lambda _, __: activities_pb2.AnalyzeItemImagesOutput(
        skip_reason=run_pb2.SKIP_REASON_ALREADY_PROCESSED
    )

    output = await (await _start(harness)).result()

    assert output == Output(
        item_id="item-1",
        state=run_pb2.RUN_STATE_SUCCEEDED,
        skip_reason=run_pb2.SKIP_REASON_ALREADY_PROCESSED,
    )
    assert (harness.fakes.updates, harness.fakes.notifications) == ([], [])


async def test_skip_notification_is_honoured(harness: Harness) -> None:
    output = await (await _start(harness, skip_notification=True)).result()

    assert output.state == run_pb2.RUN_STATE_SUCCEEDED
    assert harness.fakes.notifications == []


async def test_progress_reports_the_running_stage(harness: Harness) -> None:
    harness.fakes.analyze_delay_seconds = 0.5
    handle = await _start(harness)
    while not harness.fakes.analyze_calls:
        await asyncio.sleep(0.01)

    assert (await _progress(handle)).stage == run_pb2.PROCESSING_STAGE_ANALYZING
    await handle.result()


async def test_the_run_writes_its_first_and_last_step_to_the_read_model(harness: Harness) -> None:
    item_id = f"rm-{uuid.uuid4().hex[:6]}"
    handle = await _start(harness, item_id, start_delay=Duration(seconds=3600))
    await _progress(handle)
    run_id = (await handle.describe()).run_id or ""
    # A query may be answered before the first step's local activity has committed.
    async with asyncio.timeout(10):
        while (queued := harness.runs.get(run_id)) is None:
            await asyncio.sleep(0.05)
    assert queued.state == run_pb2.RUN_STATE_QUEUED
    assert queued.stage == run_pb2.PROCESSING_STAGE_QUEUED
    waited = queued.scheduled_start_time.ToDatetime() - queued.queue_time.ToDatetime()
    # From the run's start (queue time) to the end of the delay set when the workflow first ran.
    assert timedelta(hours=1) <= waited < timedelta(hours=1, seconds=5)

    await handle.result()

    done = harness.runs.get(run_id)
    assert done is not None
    assert (done.state, done.stage) == (run_pb2.RUN_STATE_SUCCEEDED, run_pb2.PROCESSING_STAGE_DONE)
    assert done.HasField("start_time")
    assert done.HasField("close_time")


async def test_a_failed_and_a_cancelled_run_read_as_such(harness: Harness) -> None:
    def corrupt(_: activities_pb2.AnalyzeItemImagesInput, __: int) -> None:
        raise image_rejected()

    harness.fakes.analyze = corrupt
    failed = await _start(harness, f"bad-{uuid.uuid4().hex[:6]}")
    await _failure(failed)
    failed_run = harness.runs.get((await failed.describe()).run_id or "")
    assert failed_run is not None
    assert failed_run.state == run_pb2.RUN_STATE_FAILED
    assert failed_run.error.code == "IMAGE_CORRUPT"

    cancelled = await _start(harness, f"c-{uuid.uuid4().hex[:6]}", start_delay=Duration(seconds=60))
    await _progress(cancelled)
    await cancelled.cancel()
    with pytest.raises(WorkflowFailureError):
        await cancelled.result()
    cancelled_run = harness.runs.get((await cancelled.describe()).run_id or "")
    assert cancelled_run is not None
    assert cancelled_run.state == run_pb2.RUN_STATE_CANCELLED
    assert cancelled_run.error.code == "CANCELLED"


async def test_a_cancellation_after_the_outcome_was_written_changes_nothing(
    harness: Harness,
) -> None:
    harness.fakes.notify_delay_seconds = 3600
    handle = await _start(harness, f"late-{uuid.uuid4().hex[:6]}")
    while not harness.fakes.notifications:  # the suggestions are written, the owner is next
        await asyncio.sleep(0.01)
    harness.fakes.notify_delay_seconds = 0

    await handle.cancel()
    output = await handle.result()

    assert output.state == run_pb2.RUN_STATE_SUCCEEDED
    assert harness.fakes.failures == []  # the item was not marked cancelled
    assert {n.kind for n in harness.fakes.notifications} == {
        activities_pb2.NOTIFICATION_KIND_PROCESSED
    }
    run = harness.runs.get((await handle.describe()).run_id or "")
    assert run is not None
    assert run.state == run_pb2.RUN_STATE_SUCCEEDED


async def test_a_cancellation_while_the_outcome_is_being_written_keeps_that_outcome(
    harness: Harness,
) -> None:
    harness.fakes.update_gate = threading.Event()
    handle = await _start(harness, f"mid-write-{uuid.uuid4().hex[:6]}")
    while not harness.fakes.updates:  # the suggestions write is under way
        await asyncio.sleep(0.01)

    await handle.cancel()
    await asyncio.sleep(0.5)  # the cancellation arrives while the write's workflow task is open
    harness.fakes.update_gate.set()
    with pytest.raises(WorkflowFailureError):
        await handle.result()

    # That workflow task wrote the result, told the owner and recorded the run's end; Temporal
    # refused to complete the run in it (the cancellation had arrived) and the retried task knows
    # nothing of the write. The cancellation then keeps what was written: the store answers
    # SKIPPED_OUTCOME_WRITTEN, and the owner is not told "cancelled" after "processed".
    assert [(f.cancelled, f.error.code) for f in harness.fakes.failures] == [(True, "CANCELLED")]
    assert [n.kind for n in harness.fakes.notifications] == [
        activities_pb2.NOTIFICATION_KIND_PROCESSED
    ]
    run = harness.runs.get((await handle.describe()).run_id or "")
    assert run is not None
    assert run.state == run_pb2.RUN_STATE_SUCCEEDED
