"""The Temporal floor of one item run: our run's shape with every step doing nothing.

A run of ``ItemImageProcessingWorkflow`` that starts at once is one workflow, one activity task
on the analysis queue (the analysis) and two local activities in the workflow task after it (the
item write and the notification). This workflow has the same tasks, in the same sandbox, with the
same messages in and out through our payload converter; its activities return at once. What it
costs the Temporal server and a worker is what one workflow per item costs before our code does
anything: ``tools:bench-throughput`` sets it beside ours. (The activities are in ``bench_floor``:
the sandbox imports this module for every run.)
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from bubble.processing.v1 import activities_pb2, workflows_pb2

FLOOR_WORKFLOW = "bench_floor_item"
FLOOR_ANALYZE = "bench_floor_analyze"
FLOOR_WRITE = "bench_floor_write"
FLOOR_NOTIFY = "bench_floor_notify"
_TIMEOUT = timedelta(minutes=1)


@workflow.defn(name=FLOOR_WORKFLOW)
class FloorItemWorkflow:
    @workflow.run
    async def run(
        self, request: workflows_pb2.ItemImageProcessingWorkflowInput
    ) -> workflows_pb2.ItemImageProcessingWorkflowOutput:
        info = workflow.info()
        analysed: activities_pb2.AnalyzeItemImagesOutput = await workflow.execute_activity(
            FLOOR_ANALYZE,
            activities_pb2.AnalyzeItemImagesInput(
                item_id=request.item_id, workflow_id=info.workflow_id, run_id=info.run_id
            ),
            result_type=activities_pb2.AnalyzeItemImagesOutput,
            task_queue=request.analysis_task_queue,
            start_to_close_timeout=_TIMEOUT,
            heartbeat_timeout=_TIMEOUT,
        )
        await workflow.execute_local_activity(
            FLOOR_WRITE,
            activities_pb2.UpdateItemWithSuggestionsInput(
                item_id=request.item_id, analysis=analysed.analysis
            ),
            result_type=activities_pb2.UpdateItemWithSuggestionsOutput,
            start_to_close_timeout=_TIMEOUT,
        )
        sent: activities_pb2.SendProcessingNotificationOutput = (
            await workflow.execute_local_activity(
                FLOOR_NOTIFY,
                activities_pb2.SendProcessingNotificationInput(item_id=request.item_id),
                result_type=activities_pb2.SendProcessingNotificationOutput,
                start_to_close_timeout=_TIMEOUT,
            )
        )
        return workflows_pb2.ItemImageProcessingWorkflowOutput(
            item_id=request.item_id, notification_id=sent.notification_id
        )
