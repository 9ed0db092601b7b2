"""What a run's status is, from everything known about it: pure functions, no I/O.

Temporal knows the execution (open or closed, times, the activity being attempted), the workflow
knows its progress (stage, error, scheduled start: the ``get_progress`` query, answered only while a
worker runs it), a closed run's output says how it ended, and the database holds the item. Any of
the last three may be missing (no worker, a payload this version cannot decode, history already
deleted), so every field falls back to what can still be known rather than failing the read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from google.protobuf.timestamp_pb2 import Timestamp
from temporalio.client import WorkflowExecutionStatus

from bubble.processing.v1 import item_pb2, run_pb2, workflows_pb2
from bubble_shared.temporal import names

TERMINAL_STATES = frozenset(
    {
        run_pb2.RUN_STATE_SUCCEEDED,
        run_pb2.RUN_STATE_FAILED,
        run_pb2.RUN_STATE_CANCELLED,
        run_pb2.RUN_STATE_TIMED_OUT,
    }
)
FAILED_IDS_CAP = 1000
"""BatchRunStatus lists at most this many failed item IDs."""

_OPEN = frozenset({WorkflowExecutionStatus.RUNNING, WorkflowExecutionStatus.CONTINUED_AS_NEW})
_STAGE_OF_ACTIVITY: Mapping[str, run_pb2.ProcessingStage.ValueType] = {
    names.ANALYZE_ITEM_IMAGES: run_pb2.PROCESSING_STAGE_ANALYZING,
    names.UPDATE_ITEM_WITH_SUGGESTIONS: run_pb2.PROCESSING_STAGE_UPDATING_ITEM,
    names.MARK_ITEM_PROCESSING_FAILED: run_pb2.PROCESSING_STAGE_MARKING_FAILED,
    names.SEND_PROCESSING_NOTIFICATION: run_pb2.PROCESSING_STAGE_NOTIFYING,
}


@dataclass(frozen=True)
class PendingActivity:
    """An activity Temporal is (re)trying: its attempt and the last failure, if it failed."""

    activity_type: str
    attempt: int
    last_failure_type: str = ""
    last_failure_message: str = ""


@dataclass(frozen=True)
class Execution:
    """Temporal's description of one workflow execution (run)."""

    workflow_id: str
    run_id: str
    workflow_type: str
    status: WorkflowExecutionStatus | None
    start_time: datetime
    close_time: datetime | None = None
    history_length: int = 0
    parent_workflow_id: str = ""
    first_run_id: str = ""
    untouched: bool = False
    """No worker has completed a workflow task of this run yet (nobody picked it up)."""
    """Run ID of the first execution of the chain (a batch that continued as new)."""
    pending_activities: Sequence[PendingActivity] = field(default_factory=tuple)

    @property
    def is_open(self) -> bool:
        return self.status is None or self.status in _OPEN


@dataclass(frozen=True)
class ItemRunFacts:
    execution: Execution
    input: workflows_pb2.ItemImageProcessingWorkflowInput | None = None
    progress: workflows_pb2.ItemImageProcessingProgress | None = None
    output: workflows_pb2.ItemImageProcessingWorkflowOutput | None = None
    item: item_pb2.Item | None = None


@dataclass(frozen=True)
class BatchRunFacts:
    execution: Execution
    input: workflows_pb2.ItemBatchProcessingWorkflowInput | None = None
    progress: workflows_pb2.ItemBatchProcessingProgress | None = None
    output: workflows_pb2.ItemBatchProcessingWorkflowOutput | None = None


def is_terminal(state: int) -> bool:
    return state in TERMINAL_STATES


def item_run_status(facts: ItemRunFacts) -> run_pb2.ItemRunStatus:
    execution, request, progress = facts.execution, facts.input, facts.progress
    status = run_pb2.ItemRunStatus(
        item_id=(progress.item_id if progress else "")
        or (request.item_id if request else "")
        or names.item_id_from_workflow_id(execution.workflow_id)
        or "",
        workflow_id=execution.workflow_id,
        run_id=execution.run_id,
        batch_id=(progress.batch_id if progress else "")
        or (request.batch_id if request else "")
        or names.batch_id_from_workflow_id(execution.parent_workflow_id)
        or "",
        queue_time=_timestamp(execution.start_time),
    )
    scheduled = _scheduled_start(execution.start_time, request, progress)
    status.scheduled_start_time.CopyFrom(_timestamp(scheduled))
    if execution.is_open:
        _open_item_run(status, facts, scheduled)
    else:
        _closed_item_run(status, facts, scheduled)
    return status


def item_run_status_from_item(item: item_pb2.Item) -> run_pb2.ItemRunStatus | None:
    """The status of an item's last run as the database recorded it, for when Temporal no longer
    has the run (its history outlived the retention); None when the item records no outcome."""
    states = {
        item_pb2.ITEM_STATUS_PROCESSED: run_pb2.RUN_STATE_SUCCEEDED,
        item_pb2.ITEM_STATUS_FAILED: run_pb2.RUN_STATE_FAILED,
        item_pb2.ITEM_STATUS_CANCELLED: run_pb2.RUN_STATE_CANCELLED,
    }
    state = states.get(item.status)
    if state is None or not item.last_workflow_id or item.current_workflow_id:
        return None
    status = run_pb2.ItemRunStatus(
        item_id=item.item_id,
        workflow_id=item.last_workflow_id,
        state=state,
        stage=run_pb2.PROCESSING_STAGE_DONE,
        close_time=item.update_time,
    )
    if state == run_pb2.RUN_STATE_SUCCEEDED:
        status.result.CopyFrom(item.suggestions)
    elif item.HasField("last_error"):
        status.error.CopyFrom(item.last_error)
    return status


def _open_item_run(status: run_pb2.ItemRunStatus, facts: ItemRunFacts, scheduled: datetime) -> None:
    execution, progress = facts.execution, facts.progress
    activity = execution.pending_activities[0] if execution.pending_activities else None
    if progress is not None:
        stage = progress.stage or run_pb2.PROCESSING_STAGE_QUEUED
    elif activity is not None:
        stage = _STAGE_OF_ACTIVITY.get(activity.activity_type, run_pb2.PROCESSING_STAGE_UNSPECIFIED)
    elif execution.untouched:
        stage = run_pb2.PROCESSING_STAGE_QUEUED
    else:
        stage = run_pb2.PROCESSING_STAGE_UNSPECIFIED
    status.stage = stage
    if stage == run_pb2.PROCESSING_STAGE_QUEUED:
        status.state = run_pb2.RUN_STATE_QUEUED
        return
    status.state = run_pb2.RUN_STATE_RUNNING
    if progress is not None and progress.HasField("start_time"):
        started = max(progress.start_time.ToDatetime(tzinfo=scheduled.tzinfo), scheduled)
    else:
        started = scheduled
    status.start_time.CopyFrom(_timestamp(started))
    if activity is not None:
        status.attempt = activity.attempt
    if progress is not None and progress.HasField("error"):
        status.error.CopyFrom(progress.error)
    elif activity is not None and activity.last_failure_message:
        status.error.CopyFrom(
            run_pb2.ProcessingError(
                code=activity.last_failure_type or "INTERNAL",
                message=activity.last_failure_message,
                retryable=True,
                stage=stage,
            )
        )


def _closed_item_run(
    status: run_pb2.ItemRunStatus, facts: ItemRunFacts, scheduled: datetime
) -> None:
    execution, output = facts.execution, facts.output
    status.stage = run_pb2.PROCESSING_STAGE_DONE
    if execution.close_time is not None:
        status.close_time.CopyFrom(_timestamp(execution.close_time))
        if scheduled <= execution.close_time:
            status.start_time.CopyFrom(_timestamp(scheduled))
    closed = execution.status
    if closed == WorkflowExecutionStatus.COMPLETED:
        if output is not None and output.state == run_pb2.RUN_STATE_FAILED:
            status.state = run_pb2.RUN_STATE_FAILED
            status.error.CopyFrom(output.error)
        else:
            status.state = run_pb2.RUN_STATE_SUCCEEDED
            if output is not None and output.HasField("suggestions"):
                status.result.CopyFrom(output.suggestions)
    elif closed == WorkflowExecutionStatus.CANCELED:
        status.state = run_pb2.RUN_STATE_CANCELLED
        item = facts.item
        if (
            item is not None
            and item.status == item_pb2.ITEM_STATUS_CANCELLED
            and item.last_error.code == "CANCELLED"
        ):
            status.error.CopyFrom(item.last_error)
        else:
            status.error.CopyFrom(
                run_pb2.ProcessingError(code="CANCELLED", message="processing was cancelled")
            )
    elif closed == WorkflowExecutionStatus.TIMED_OUT:
        status.state = run_pb2.RUN_STATE_TIMED_OUT
        status.error.CopyFrom(
            run_pb2.ProcessingError(
                code="TIMEOUT", message="the run exceeded its time limit", retryable=True
            )
        )
    else:  # FAILED, TERMINATED: the run was stopped from outside or the workflow code broke
        status.state = run_pb2.RUN_STATE_FAILED
        how = "terminated" if closed == WorkflowExecutionStatus.TERMINATED else "failed"
        status.error.CopyFrom(
            run_pb2.ProcessingError(
                code="INTERNAL", message=f"the workflow run {how}", retryable=True
            )
        )


def batch_run_status(facts: BatchRunFacts) -> run_pb2.BatchRunStatus:
    execution, request, progress, output = (
        facts.execution,
        facts.input,
        facts.progress,
        facts.output,
    )
    status = run_pb2.BatchRunStatus(
        batch_id=names.batch_id_from_workflow_id(execution.workflow_id) or "",
        workflow_id=execution.workflow_id,
        run_id=execution.run_id,
    )
    queue_time = execution.start_time
    if request is not None and request.HasField("batch_start_time"):
        queue_time = request.batch_start_time.ToDatetime(tzinfo=execution.start_time.tzinfo)
    status.queue_time.CopyFrom(_timestamp(queue_time))
    if request is not None:
        status.max_concurrency = request.max_concurrency
        status.continued_as_new_count = request.continued_as_new_count
        _counters_from_input(status, request)
    if progress is not None:
        status.progress.CopyFrom(progress.progress)
        status.max_concurrency = progress.max_concurrency or status.max_concurrency
        status.continued_as_new_count = progress.continued_as_new_count
        del status.failed_item_ids[:]
        status.failed_item_ids.extend(progress.failed_item_ids)
        status.failed_item_ids_truncated = progress.failed_item_ids_truncated
    if execution.is_open:
        counted = status.progress
        if execution.untouched and status.continued_as_new_count == 0:
            status.state = run_pb2.RUN_STATE_QUEUED
        elif progress is not None and counted.pending == counted.total:
            status.state = run_pb2.RUN_STATE_QUEUED  # no child started yet
        else:
            status.state = run_pb2.RUN_STATE_RUNNING
    else:
        _closed_batch(status, execution, output)
    if status.state != run_pb2.RUN_STATE_QUEUED:
        status.start_time.CopyFrom(_timestamp(queue_time))
    return status


def _counters_from_input(
    status: run_pb2.BatchRunStatus, request: workflows_pb2.ItemBatchProcessingWorkflowInput
) -> None:
    """The counters as the current execution started: what earlier executions carried over."""
    counted = status.progress
    counted.total = request.total_item_count or len(request.item_ids)
    counted.succeeded = request.succeeded_count
    counted.failed = request.failed_count
    counted.cancelled = request.cancelled_count
    counted.skipped = request.skipped_count
    counted.pending = counted.total - (
        counted.succeeded + counted.failed + counted.cancelled + counted.skipped
    )
    _set_failed_ids(status, request.failed_item_ids)


def _closed_batch(
    status: run_pb2.BatchRunStatus,
    execution: Execution,
    output: workflows_pb2.ItemBatchProcessingWorkflowOutput | None,
) -> None:
    if execution.close_time is not None:
        status.close_time.CopyFrom(_timestamp(execution.close_time))
    counted = status.progress
    closed = execution.status
    if closed == WorkflowExecutionStatus.COMPLETED:
        status.state = run_pb2.RUN_STATE_SUCCEEDED
        if output is not None:
            counted.CopyFrom(
                run_pb2.BatchProgress(
                    total=output.total,
                    succeeded=output.succeeded,
                    failed=output.failed,
                    cancelled=output.cancelled,
                    skipped=output.skipped,
                )
            )
            status.continued_as_new_count = output.continued_as_new_count
            _set_failed_ids(status, output.failed_item_ids)
        return
    if closed == WorkflowExecutionStatus.CANCELED:
        status.state = run_pb2.RUN_STATE_CANCELLED
        # Items still waiting or running when the batch was cancelled end cancelled with it.
        counted.cancelled += counted.pending + counted.running
        counted.pending = counted.running = 0
        status.error.CopyFrom(
            run_pb2.ProcessingError(code="CANCELLED", message="the batch was cancelled")
        )
    elif closed == WorkflowExecutionStatus.TIMED_OUT:
        status.state = run_pb2.RUN_STATE_TIMED_OUT
        status.error.CopyFrom(
            run_pb2.ProcessingError(
                code="TIMEOUT", message="the batch exceeded its time limit", retryable=True
            )
        )
    else:
        status.state = run_pb2.RUN_STATE_FAILED
        how = "terminated" if closed == WorkflowExecutionStatus.TERMINATED else "failed"
        status.error.CopyFrom(
            run_pb2.ProcessingError(
                code="INTERNAL", message=f"the batch workflow {how}", retryable=True
            )
        )


def _set_failed_ids(status: run_pb2.BatchRunStatus, failed: Sequence[str]) -> None:
    del status.failed_item_ids[:]
    status.failed_item_ids.extend(failed[:FAILED_IDS_CAP])
    status.failed_item_ids_truncated = len(failed) > FAILED_IDS_CAP


def _scheduled_start(
    queue_time: datetime,
    request: workflows_pb2.ItemImageProcessingWorkflowInput | None,
    progress: workflows_pb2.ItemImageProcessingProgress | None,
) -> datetime:
    if progress is not None and progress.HasField("scheduled_start_time"):
        return progress.scheduled_start_time.ToDatetime(tzinfo=queue_time.tzinfo)
    if request is not None and request.HasField("start_delay"):
        return queue_time + max(request.start_delay.ToTimedelta(), timedelta(0))
    return queue_time


def _timestamp(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp
