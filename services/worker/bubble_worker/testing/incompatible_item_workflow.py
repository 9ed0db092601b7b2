"""A next version of the item workflow that cannot replay the current one's histories, for the
versioning test (in a module of its own: the workflow sandbox imports the module of every
workflow it runs, and a test module imports far more than a sandbox allows)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from bubble.processing.v1 import workflows_pb2
    from bubble_shared.temporal import names
    from bubble_worker.workflows.item import ItemImageProcessingWorkflow


@workflow.defn(name=names.ITEM_WORKFLOW)
class ItemWorkflowOfVersionB(ItemImageProcessingWorkflow):
    """Waits a moment before anything else. The current workflow's histories start with a local
    activity, so this one cannot replay them: a run of A handed to B would fail its task."""

    @workflow.run
    async def run(
        self, request: workflows_pb2.ItemImageProcessingWorkflowInput
    ) -> workflows_pb2.ItemImageProcessingWorkflowOutput:
        await workflow.sleep(timedelta(milliseconds=10))
        return await super().run(request)
