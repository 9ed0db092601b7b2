"""What the read model's rows mean in the API: item runs and batches as protobuf statuses."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from bubble.processing.v1 import run_pb2
from bubble_shared.store.convert import processing_error, stage_value, timestamp
from bubble_shared.store.models import Batch, ItemRun

_STATE_PREFIX = "RUN_STATE_"
_SKIP_PREFIX = "SKIP_REASON_"
TERMINAL_STATES = frozenset(
    {
        run_pb2.RUN_STATE_SUCCEEDED,
        run_pb2.RUN_STATE_FAILED,
        run_pb2.RUN_STATE_CANCELLED,
        run_pb2.RUN_STATE_TIMED_OUT,
    }
)
"""A run in one of these states is final."""
TERMINAL_STATE_NAMES = frozenset(
    run_pb2.RunState.Name(state).removeprefix(_STATE_PREFIX) for state in TERMINAL_STATES
)
OPEN_MEMBER_STATES = ("PENDING", "RUNNING")
OPEN_RUN_STATES = ("QUEUED", "RUNNING")
FAILED_IDS_CAP = 1000
"""A batch status lists at most this many failed item IDs."""

S = TypeVar("S", run_pb2.ItemRunStatus, run_pb2.BatchRunStatus)


@dataclass(frozen=True)
class Stored(Generic[S]):
    """A status as its row holds it, with the row's ``version`` (bumped by every change: what a
    watcher compares) and ``update_time`` (when it last changed: how stale an open run looks)."""

    status: S
    version: int
    update_time: datetime


_MEMBER_STATE_OF_RUN: Mapping[str, str] = {
    "SUCCEEDED": "SUCCEEDED",
    "FAILED": "FAILED",
    "TIMED_OUT": "FAILED",
    "CANCELLED": "CANCELLED",
}


def state_name(state: int) -> str:
    """The stored name of a RunState: RUN_STATE_FAILED -> "FAILED"."""
    if state == run_pb2.RUN_STATE_UNSPECIFIED or state not in run_pb2.RunState.values():
        raise ValueError(f"not a valid run state: {state}")
    return run_pb2.RunState.Name(run_pb2.RunState.ValueType(state)).removeprefix(_STATE_PREFIX)


def state_value(name: str) -> run_pb2.RunState.ValueType:
    return run_pb2.RunState.Value(_STATE_PREFIX + name)


def skip_reason_name(reason: int) -> str | None:
    if reason == run_pb2.SKIP_REASON_UNSPECIFIED or reason not in run_pb2.SkipReason.values():
        return None
    return run_pb2.SkipReason.Name(run_pb2.SkipReason.ValueType(reason)).removeprefix(_SKIP_PREFIX)


def member_state_of(state: int, skip_reason: int = run_pb2.SKIP_REASON_UNSPECIFIED) -> str:
    """What a batch counts for a member whose run ended in ``state``."""
    name = state_name(state)
    if name == "SUCCEEDED" and skip_reason != run_pb2.SKIP_REASON_UNSPECIFIED:
        return "SKIPPED"
    if name not in _MEMBER_STATE_OF_RUN:
        raise ValueError(f"run state {name} is not an outcome")
    return _MEMBER_STATE_OF_RUN[name]


def item_run_to_proto(row: ItemRun) -> run_pb2.ItemRunStatus:
    status = run_pb2.ItemRunStatus(
        item_id=row.item_id,
        workflow_id=row.workflow_id,
        run_id=row.run_id,
        batch_id=row.batch_id or "",
        state=state_value(row.state),
        stage=stage_value(row.stage),
        attempt=row.attempt,
        queue_time=timestamp(row.queue_time),
        scheduled_start_time=timestamp(row.scheduled_start_time),
    )
    if row.start_time is not None:
        status.start_time.CopyFrom(timestamp(row.start_time))
    if row.close_time is not None:
        status.close_time.CopyFrom(timestamp(row.close_time))
    if row.error_code is not None:
        status.error.CopyFrom(
            processing_error(
                row.error_code,
                row.error_message,
                row.error_image_id,
                row.error_retryable,
                row.error_stage,
            )
        )
    if row.skip_reason:
        status.skip_reason = run_pb2.SkipReason.Value(_SKIP_PREFIX + row.skip_reason)
    if row.result is not None and row.state == "SUCCEEDED":
        status.result.ParseFromString(row.result)
    return status


def batch_to_proto(row: Batch, failed_item_ids: Sequence[str]) -> run_pb2.BatchRunStatus:
    """The batch's status; ``failed_item_ids`` holds up to FAILED_IDS_CAP + 1 IDs (one more tells
    that the list was cut)."""
    counted = run_pb2.BatchProgress(
        total=row.total,
        running=row.running,
        succeeded=row.succeeded,
        failed=row.failed,
        cancelled=row.cancelled,
        skipped=row.skipped,
    )
    finished = counted.running + counted.succeeded + counted.failed
    finished += counted.cancelled + counted.skipped
    # A selection may shrink while it is read (items deleted or changed): never below what exists.
    counted.total = max(counted.total, finished)
    counted.pending = counted.total - finished
    status = run_pb2.BatchRunStatus(
        batch_id=row.batch_id,
        workflow_id=row.workflow_id,
        run_id=row.current_run_id or row.first_run_id or "",
        state=state_value(row.state),
        progress=counted,
        failed_item_ids=failed_item_ids[:FAILED_IDS_CAP],
        failed_item_ids_truncated=len(failed_item_ids) > FAILED_IDS_CAP,
        max_concurrency=row.max_concurrency,
        continued_as_new_count=row.continued_as_new_count,
        queue_time=timestamp(row.queue_time),
        selection_complete=row.selection_complete,
    )
    if row.error_code is not None:
        status.error.CopyFrom(
            run_pb2.ProcessingError(code=row.error_code, message=row.error_message or "")
        )
    if row.start_time is not None:
        status.start_time.CopyFrom(timestamp(row.start_time))
    if row.close_time is not None:
        status.close_time.CopyFrom(timestamp(row.close_time))
    return status
