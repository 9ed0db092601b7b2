"""How the workflows write to the database: short local activities, at workflow time.

Both workflows call these from workflow code, so everything here is deterministic: times are
workflow time, and results are the local activities' recorded ones.
"""

from __future__ import annotations

from datetime import datetime
from typing import TypeVar

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from google.protobuf.message import Message
    from google.protobuf.timestamp_pb2 import Timestamp

    from bubble.processing.v1 import activities_pb2
    from bubble_shared.temporal import names
    from bubble_worker.workflows import policies


Written = TypeVar("Written", bound=Message)


async def database_write(
    activity_name: str, request: Message, result_type: type[Written]
) -> Written:
    """A short database write as a local activity: no task-queue round trip. It is retried until
    the database answers (each retry waits on a workflow timer): giving up would leave the item or
    the batch half-recorded with no run left to finish it, while an open run says truthfully what
    is going on."""
    written: Written = await workflow.execute_local_activity(
        activity_name,
        request,
        result_type=result_type,
        start_to_close_timeout=policies.ITEM_WRITE_START_TO_CLOSE,
        retry_policy=policies.item_write_retry(),
        local_retry_threshold=policies.LOCAL_RETRY_THRESHOLD,
    )
    return written


def timestamp(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp


async def record_item_run(step: activities_pb2.RecordItemRunInput) -> None:
    """Writes the step to the read model (a terminal step also counts for the run's batches)."""
    step.time.CopyFrom(timestamp(workflow.now()))
    await database_write(names.RECORD_ITEM_RUN, step, activities_pb2.RecordItemRunOutput)
