"""Stand-ins for the worker's workflows, registered under the same names, steered by the test.

The service must not import the worker, and its tests should not depend on the worker's
behaviour either: these workflows answer the same ``get_progress`` query with the same messages and
end the same ways (an output, or Temporal's CANCELED status), but only when a test signals them.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from bubble.processing.v1 import run_pb2, workflows_pb2
    from bubble_shared.temporal import names

FINISH_SIGNAL = "finish"


@workflow.defn(name=names.ITEM_WORKFLOW)
class StandInItemWorkflow:
    """QUEUED for the start delay, then ANALYZING until the test sends the output."""

    def __init__(self) -> None:
        self._progress = workflows_pb2.ItemImageProcessingProgress()
        self._output: workflows_pb2.ItemImageProcessingWorkflowOutput | None = None

    @workflow.query(name=names.PROGRESS_QUERY)
    def get_progress(self) -> workflows_pb2.ItemImageProcessingProgress:
        return self._progress

    @workflow.signal(name=FINISH_SIGNAL)
    def finish(self, output: workflows_pb2.ItemImageProcessingWorkflowOutput) -> None:
        self._output = output

    @workflow.run
    async def run(
        self, request: workflows_pb2.ItemImageProcessingWorkflowInput
    ) -> workflows_pb2.ItemImageProcessingWorkflowOutput:
        progress = self._progress
        progress.item_id = request.item_id
        progress.batch_id = request.batch_id
        delay = request.start_delay.ToTimedelta()
        if delay > timedelta(0):
            progress.stage = run_pb2.PROCESSING_STAGE_QUEUED
            progress.scheduled_start_time.FromDatetime(workflow.now() + delay)
            await workflow.sleep(delay)
        progress.stage = run_pb2.PROCESSING_STAGE_ANALYZING
        progress.start_time.FromDatetime(workflow.now())
        await workflow.wait_condition(lambda: self._output is not None)
        assert self._output is not None
        if self._output.state == run_pb2.RUN_STATE_FAILED:
            progress.error.CopyFrom(self._output.error)
        progress.stage = run_pb2.PROCESSING_STAGE_DONE
        return self._output


@workflow.defn(name=names.BATCH_WORKFLOW)
class StandInBatchWorkflow:
    """Reports every item pending until the test sends the output."""

    def __init__(self) -> None:
        self._progress = workflows_pb2.ItemBatchProcessingProgress()
        self._output: workflows_pb2.ItemBatchProcessingWorkflowOutput | None = None

    @workflow.query(name=names.PROGRESS_QUERY)
    def get_progress(self) -> workflows_pb2.ItemBatchProcessingProgress:
        return self._progress

    @workflow.signal(name=FINISH_SIGNAL)
    def finish(self, output: workflows_pb2.ItemBatchProcessingWorkflowOutput) -> None:
        self._output = output

    @workflow.run
    async def run(
        self, request: workflows_pb2.ItemBatchProcessingWorkflowInput
    ) -> workflows_pb2.ItemBatchProcessingWorkflowOutput:
        total = len(request.item_ids)
        self._progress.batch_id = request.batch_id
        self._progress.max_concurrency = request.max_concurrency
        self._progress.progress.total = total
        self._progress.progress.running = min(total, request.max_concurrency)
        self._progress.progress.pending = total - self._progress.progress.running
        await workflow.wait_condition(lambda: self._output is not None)
        assert self._output is not None
        return self._output


STAND_INS = [StandInItemWorkflow, StandInBatchWorkflow]
