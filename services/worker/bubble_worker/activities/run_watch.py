"""The ``wait_for_item_run`` activity: a batch waits for an item run someone else started.

Item runs share one workflow id per item, so a batch cannot start a second run of an item that
already has one open; it waits for that run instead and counts how it ended. Waiting is an
activity (a workflow cannot await another workflow it did not start): it polls the run's status
and heartbeats, so a worker that dies while waiting is replaced within the heartbeat timeout.
"""

from __future__ import annotations

import asyncio

from temporalio import activity
from temporalio.client import Client, WorkflowExecutionStatus

from bubble.processing.v1 import activities_pb2, run_pb2, workflows_pb2
from bubble_shared.temporal import names

POLL_SECONDS = 1.0

_CLOSED_STATES = {
    WorkflowExecutionStatus.CANCELED: run_pb2.RUN_STATE_CANCELLED,
    WorkflowExecutionStatus.TIMED_OUT: run_pb2.RUN_STATE_TIMED_OUT,
    WorkflowExecutionStatus.TERMINATED: run_pb2.RUN_STATE_FAILED,
    WorkflowExecutionStatus.FAILED: run_pb2.RUN_STATE_FAILED,
}


class RunWatch:
    def __init__(self, *, client: Client) -> None:
        self._client = client

    @activity.defn(name=names.WAIT_FOR_ITEM_RUN)
    async def wait_for_item_run(
        self, request: activities_pb2.WaitForItemRunInput
    ) -> activities_pb2.WaitForItemRunOutput:
        # Pinned to the run open now: a later run of the same item is not this batch's business.
        run_id = (await self._client.get_workflow_handle(request.workflow_id).describe()).run_id
        handle = self._client.get_workflow_handle(
            request.workflow_id,
            run_id=run_id,
            result_type=workflows_pb2.ItemImageProcessingWorkflowOutput,
        )
        status = (await handle.describe()).status
        while status in (WorkflowExecutionStatus.RUNNING, WorkflowExecutionStatus.CONTINUED_AS_NEW):
            activity.heartbeat()
            await asyncio.sleep(POLL_SECONDS)
            status = (await handle.describe()).status
        waited = activities_pb2.WaitForItemRunOutput(run_id=run_id or "")
        if status == WorkflowExecutionStatus.COMPLETED:
            output = await handle.result()
            waited.output.CopyFrom(output)
            waited.state = output.state
        else:
            waited.state = _CLOSED_STATES.get(status, run_pb2.RUN_STATE_FAILED)  # type: ignore[arg-type]
        activity.logger.info(
            "item %s: waited for run %s, %s",
            request.item_id,
            run_id,
            run_pb2.RunState.Name(waited.state),
            extra={"item_id": request.item_id},
        )
        return waited
