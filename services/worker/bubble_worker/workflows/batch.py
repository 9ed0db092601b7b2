"""ItemBatchProcessingWorkflow: many items through ItemImageProcessingWorkflow, a window at a time.

Each item runs as a child workflow whose id is the item's own workflow id, so an item that already
has an open run (started by StartItemProcessing or by another batch) is never processed twice at
once: that start fails with "already started", and the batch waits for the open run instead
(activity ``wait_for_item_run``) and counts its outcome. One item failing never fails the batch.

An execution starts at most ``items_per_run`` children (fewer when Temporal suggests it), waits
for them, then continues as new with the items left, so the history stays bounded however large
the batch is.
"""

from __future__ import annotations

import asyncio

from temporalio import workflow
from temporalio.exceptions import (
    ChildWorkflowError,
    WorkflowAlreadyStartedError,
    is_cancelled_exception,
)

with workflow.unsafe.imports_passed_through():
    from bubble.processing.v1 import activities_pb2, run_pb2, workflows_pb2
    from bubble_shared.temporal import names
    from bubble_worker.workflows import policies

FAILED_IDS_IN_PROGRESS = 1000
"""The progress query lists at most this many failed ids (the output lists them all)."""


@workflow.defn(name=names.BATCH_WORKFLOW)
class ItemBatchProcessingWorkflow:
    def __init__(self) -> None:
        self._state = workflows_pb2.ItemBatchProcessingWorkflowInput()
        self._running = 0

    @workflow.query(name=names.PROGRESS_QUERY)
    def get_progress(self) -> workflows_pb2.ItemBatchProcessingProgress:
        state = self._state
        progress = workflows_pb2.ItemBatchProcessingProgress(
            batch_id=state.batch_id,
            max_concurrency=state.max_concurrency,
            continued_as_new_count=state.continued_as_new_count,
            batch_start_time=state.batch_start_time,
            failed_item_ids=state.failed_item_ids[:FAILED_IDS_IN_PROGRESS],
            failed_item_ids_truncated=len(state.failed_item_ids) > FAILED_IDS_IN_PROGRESS,
        )
        counted = progress.progress
        counted.total = state.total_item_count
        counted.running = self._running
        counted.succeeded = state.succeeded_count
        counted.failed = state.failed_count
        counted.cancelled = state.cancelled_count
        counted.skipped = state.skipped_count
        counted.pending = state.total_item_count - (
            self._running
            + state.succeeded_count
            + state.failed_count
            + state.cancelled_count
            + state.skipped_count
        )
        return progress

    @workflow.run
    async def run(
        self, request: workflows_pb2.ItemBatchProcessingWorkflowInput
    ) -> workflows_pb2.ItemBatchProcessingWorkflowOutput:
        state = self._state
        state.CopyFrom(request)
        if not state.HasField("batch_start_time"):
            state.batch_start_time.FromDatetime(workflow.info().workflow_start_time)
        if state.total_item_count == 0:
            state.total_item_count = len(state.item_ids)
        state.max_concurrency = max(1, state.max_concurrency or policies.DEFAULT_BATCH_CONCURRENCY)
        items_per_run = state.items_per_run or policies.DEFAULT_ITEMS_PER_RUN

        item_ids = list(state.item_ids)
        children: list[asyncio.Task[None]] = []
        for item_id in item_ids:
            if len(children) >= items_per_run or workflow.info().is_continue_as_new_suggested():
                break
            await workflow.wait_condition(lambda: self._running < state.max_concurrency)
            self._running += 1
            children.append(asyncio.create_task(self._process(item_id)))
        await workflow.wait_condition(lambda: self._running == 0)

        del state.item_ids[: len(children)]
        if state.item_ids:
            state.continued_as_new_count += 1
            workflow.continue_as_new(state)
        return workflows_pb2.ItemBatchProcessingWorkflowOutput(
            batch_id=state.batch_id,
            total=state.total_item_count,
            succeeded=state.succeeded_count,
            failed=state.failed_count,
            cancelled=state.cancelled_count,
            skipped=state.skipped_count,
            failed_item_ids=state.failed_item_ids,
            continued_as_new_count=state.continued_as_new_count,
        )

    async def _process(self, item_id: str) -> None:
        state = self._state
        try:
            result = await workflow.execute_child_workflow(
                names.ITEM_WORKFLOW,
                workflows_pb2.ItemImageProcessingWorkflowInput(
                    item_id=item_id,
                    request_id=state.request_id,
                    batch_id=state.batch_id,
                    force=state.force,
                    skip_notification=state.skip_notification,
                    analyzer=state.analyzer,
                    analysis_task_queue=state.analysis_task_queue,
                ),
                id=names.item_workflow_id(item_id),
                result_type=workflows_pb2.ItemImageProcessingWorkflowOutput,
                # A cancelled batch cancels its children, which mark their items cancelled.
                parent_close_policy=workflow.ParentClosePolicy.REQUEST_CANCEL,
            )
        except WorkflowAlreadyStartedError:
            waited = await self._wait_for_open_run(item_id)
            if waited.HasField("output"):
                self._count_result(item_id, waited.output)
            elif waited.state == run_pb2.RUN_STATE_CANCELLED:
                state.cancelled_count += 1
            else:
                self._count_failure(item_id)
        except ChildWorkflowError as err:
            if is_cancelled_exception(err):
                state.cancelled_count += 1
            else:
                self._count_failure(item_id)
        else:
            self._count_result(item_id, result)
        finally:
            self._running -= 1

    async def _wait_for_open_run(self, item_id: str) -> activities_pb2.WaitForItemRunOutput:
        waited: activities_pb2.WaitForItemRunOutput = await workflow.execute_activity(
            names.WAIT_FOR_ITEM_RUN,
            activities_pb2.WaitForItemRunInput(
                workflow_id=names.item_workflow_id(item_id), item_id=item_id
            ),
            result_type=activities_pb2.WaitForItemRunOutput,
            start_to_close_timeout=policies.WAIT_FOR_RUN_START_TO_CLOSE,
            heartbeat_timeout=policies.WAIT_FOR_RUN_HEARTBEAT,
            retry_policy=policies.WAIT_FOR_RUN_RETRY,
        )
        return waited

    def _count_result(
        self, item_id: str, result: workflows_pb2.ItemImageProcessingWorkflowOutput
    ) -> None:
        if result.state == run_pb2.RUN_STATE_FAILED:
            self._count_failure(item_id)
        elif result.skip_reason:
            self._state.skipped_count += 1
        else:
            self._state.succeeded_count += 1

    def _count_failure(self, item_id: str) -> None:
        self._state.failed_count += 1
        self._state.failed_item_ids.append(item_id)
