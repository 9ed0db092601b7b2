"""Stand-ins for the worker's workflows, registered under the same names, steered by the test.

The service must not import the worker, and its tests should not depend on the worker's
behaviour either. These workflows write the read model the way the worker's do (through the local
activities of ``stand_in_activities``): an item run records QUEUED while its start delay lasts,
then ANALYZING, and last the output the test signals (or CANCELLED); a batch marks itself RUNNING
(starting none of its members) and ends when the test signals ``finish`` (SUCCEEDED) or when it
is cancelled (CANCELLED).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import is_cancelled_exception

with workflow.unsafe.imports_passed_through():
    from google.protobuf.timestamp_pb2 import Timestamp

    from bubble.processing.v1 import activities_pb2, analysis_pb2, run_pb2, workflows_pb2
    from bubble_shared.temporal import names

RECORD_ITEM_RUN = "stand_in_record_item_run"
"""Not the worker's activity name: this one also takes the run's suggestions (the worker writes
them with the item instead)."""
FINISH_SIGNAL = "finish"
_LOCAL = timedelta(seconds=10)


def _timestamp(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp


@workflow.defn(name=names.ITEM_WORKFLOW)
class StandInItemWorkflow:
    """QUEUED for the start delay, then ANALYZING until the test sends the output."""

    def __init__(self) -> None:
        self._output: workflows_pb2.ItemImageProcessingWorkflowOutput | None = None

    @workflow.signal(name=FINISH_SIGNAL)
    def finish(self, output: workflows_pb2.ItemImageProcessingWorkflowOutput) -> None:
        self._output = output

    @workflow.run
    async def run(
        self, request: workflows_pb2.ItemImageProcessingWorkflowInput
    ) -> workflows_pb2.ItemImageProcessingWorkflowOutput:
        self._request = request
        delay = request.start_delay.ToTimedelta()
        if delay > timedelta(0):
            scheduled = _timestamp(workflow.info().start_time + delay)
            await self._record(
                run_pb2.RUN_STATE_QUEUED,
                run_pb2.PROCESSING_STAGE_QUEUED,
                scheduled_start_time=scheduled,
            )
            await workflow.sleep(delay)
        await self._record(run_pb2.RUN_STATE_RUNNING, run_pb2.PROCESSING_STAGE_ANALYZING)
        try:
            await workflow.wait_condition(lambda: self._output is not None)
        except BaseException as err:
            if is_cancelled_exception(err):
                error = run_pb2.ProcessingError(code="CANCELLED", message="the run was cancelled")
                await self._record(
                    run_pb2.RUN_STATE_CANCELLED, run_pb2.PROCESSING_STAGE_DONE, error=error
                )
            raise
        output = self._output
        assert output is not None
        await self._record(
            output.state,
            run_pb2.PROCESSING_STAGE_DONE,
            error=output.error if output.HasField("error") else None,
            result=output.suggestions,
        )
        return output

    async def _record(
        self,
        state: run_pb2.RunState.ValueType,
        stage: run_pb2.ProcessingStage.ValueType,
        *,
        scheduled_start_time: Timestamp | None = None,
        error: run_pb2.ProcessingError | None = None,
        result: analysis_pb2.ItemSuggestions | None = None,
    ) -> None:
        info = workflow.info()
        step = activities_pb2.RecordItemRunInput(
            item_id=self._request.item_id,
            workflow_id=info.workflow_id,
            run_id=info.run_id,
            batch_id=self._request.batch_id,
            request_id=self._request.request_id,
            run_start_time=_timestamp(info.start_time),
            state=state,
            stage=stage,
            time=_timestamp(workflow.now()),
            scheduled_start_time=scheduled_start_time,
            error=error,
        )
        await workflow.execute_local_activity(
            RECORD_ITEM_RUN,
            args=[step, result or analysis_pb2.ItemSuggestions()],
            result_type=activities_pb2.RecordItemRunOutput,
            start_to_close_timeout=_LOCAL,
        )


@workflow.defn(name=names.BATCH_WORKFLOW)
class StandInBatchWorkflow:
    """RUNNING from its first tick (which starts nothing), until the test sends ``finish``."""

    def __init__(self) -> None:
        self._finish = False

    @workflow.signal(name=FINISH_SIGNAL)
    def finish(self) -> None:
        self._finish = True

    @workflow.run
    async def run(
        self, request: workflows_pb2.ItemBatchProcessingWorkflowInput
    ) -> workflows_pb2.ItemBatchProcessingWorkflowOutput:
        await workflow.execute_local_activity(
            names.ADVANCE_BATCH,
            activities_pb2.AdvanceBatchInput(
                batch_id=request.batch_id,
                max_concurrency=0,
                run_id=workflow.info().run_id,
                time=_timestamp(workflow.now()),
            ),
            result_type=activities_pb2.AdvanceBatchOutput,
            start_to_close_timeout=_LOCAL,
        )
        try:
            await workflow.wait_condition(lambda: self._finish)
        except BaseException as err:
            if is_cancelled_exception(err):
                await self._end(
                    request.batch_id,
                    run_pb2.RUN_STATE_CANCELLED,
                    run_pb2.ProcessingError(code="CANCELLED", message="the batch was cancelled"),
                )
            raise
        done = await self._end(request.batch_id, run_pb2.RUN_STATE_SUCCEEDED)
        counted = done.progress
        return workflows_pb2.ItemBatchProcessingWorkflowOutput(
            batch_id=request.batch_id,
            total=counted.total,
            succeeded=counted.succeeded,
            failed=counted.failed,
            cancelled=counted.cancelled,
            skipped=counted.skipped,
            failed_item_ids=done.failed_item_ids,
        )

    async def _end(
        self,
        batch_id: str,
        state: run_pb2.RunState.ValueType,
        error: run_pb2.ProcessingError | None = None,
    ) -> activities_pb2.FinishBatchOutput:
        done: activities_pb2.FinishBatchOutput = await workflow.execute_local_activity(
            names.FINISH_BATCH,
            activities_pb2.FinishBatchInput(
                batch_id=batch_id, state=state, error=error, time=_timestamp(workflow.now())
            ),
            result_type=activities_pb2.FinishBatchOutput,
            start_to_close_timeout=_LOCAL,
        )
        return done


@workflow.defn(name=names.ITEM_WORKFLOW)
class UnrecordedItemWorkflow:
    """An item workflow from before the read model: it completes with its output at once and
    records nothing, so only reconciliation can tell the database how the run ended."""

    @workflow.run
    async def run(
        self, request: workflows_pb2.ItemImageProcessingWorkflowInput
    ) -> workflows_pb2.ItemImageProcessingWorkflowOutput:
        return workflows_pb2.ItemImageProcessingWorkflowOutput(
            item_id=request.item_id,
            state=run_pb2.RUN_STATE_SUCCEEDED,
            suggestions=analysis_pb2.ItemSuggestions(title="Suggested by an older worker"),
        )


STAND_INS = [StandInItemWorkflow, StandInBatchWorkflow]
