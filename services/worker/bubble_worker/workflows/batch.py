"""ItemBatchProcessingWorkflow: many items through ItemImageProcessingWorkflow, in a sliding window.

The members and counters live in the database. The workflow ticks: each tick is one local
activity, ``advance_batch``, which for a couple of seconds starts members into the free slots of
the window (at most ``max_concurrency`` of the batch's own runs open), polling the database for
runs that have ended: the runs record their steps there, and the batch's counters move in the same
transactions.
Runs are started through the Temporal client, not as children, under the item's own workflow ID:
an item someone else is already processing is joined (its run's outcome counts for the batch)
without holding a slot.

Nothing but the batch's own timers and local activities enters its history: no child events, no
signals. So it continues as new whenever its history grows long, without ever being refused, the
window never drains at an execution boundary, and each execution's history stays bounded. One
item failing never fails the batch.

The batch runs on a task queue of its own and starts its runs on the items' queue
(``item_task_queue``): its ticks never wait behind its runs' workflow and local-activity tasks.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import is_cancelled_exception

with workflow.unsafe.imports_passed_through():
    from google.protobuf.duration_pb2 import Duration

    from bubble.processing.v1 import activities_pb2, run_pb2, workflows_pb2
    from bubble_shared.temporal import names
    from bubble_worker.workflows import policies
    from bubble_worker.workflows.steps import database_write, timestamp

Input = workflows_pb2.ItemBatchProcessingWorkflowInput
Output = workflows_pb2.ItemBatchProcessingWorkflowOutput


@workflow.defn(name=names.BATCH_WORKFLOW)
class ItemBatchProcessingWorkflow:
    def __init__(self) -> None:
        self._state = Input()
        self._window = activities_pb2.AdvanceBatchOutput()

    @workflow.query(name=names.PROGRESS_QUERY)
    def get_progress(self) -> workflows_pb2.ItemBatchProcessingProgress:
        state = self._state
        return workflows_pb2.ItemBatchProcessingProgress(
            batch_id=state.batch_id,
            max_concurrency=state.max_concurrency,
            continued_as_new_count=state.continued_as_new_count,
            open_children=self._window.open_runs,
            next_position=state.next_position,
            all_started=self._window.all_started,
        )

    @workflow.run
    async def run(self, request: Input) -> Output:
        state = self._state
        state.CopyFrom(request)
        state.max_concurrency = max(1, state.max_concurrency or policies.DEFAULT_BATCH_CONCURRENCY)
        try:
            return await self._tick_until_done()
        except BaseException as err:
            if not is_cancelled_exception(err):
                raise
            await self._cancel()
            raise

    async def _tick_until_done(self) -> Output:
        pause = policies.BATCH_JOINED_PAUSE_FIRST
        while True:
            window = await self._advance()
            if window.all_started and window.open_members == 0 and window.open_runs == 0:
                finished = await self._finish_batch(run_pb2.RUN_STATE_SUCCEEDED)
                if finished.finished:
                    return self._output(finished)
            if self._history_is_long() or self._version_is_no_longer_current():
                self._continue_as_new()
            if window.all_started and window.open_runs == 0:
                # Only runs it joined are left (or a member's start awaits a retry): the tick
                # cannot wait for those, so the batch does, on a timer.
                await workflow.sleep(pause)
                pause = min(pause * 2, policies.BATCH_JOINED_PAUSE_MAX)
            else:
                pause = policies.BATCH_JOINED_PAUSE_FIRST
                await workflow.sleep(policies.BATCH_TICK_GAP)

    async def _advance(self) -> activities_pb2.AdvanceBatchOutput:
        """One tick: fills the window for a while and reads it. A cancellation of the batch
        stops it between two passes, and waits for it to stop (a pass is never cut halfway):
        every run it started is recorded before the batch cancels the open ones."""
        state = self._state
        window: activities_pb2.AdvanceBatchOutput = await workflow.execute_local_activity(
            names.ADVANCE_BATCH,
            activities_pb2.AdvanceBatchInput(
                batch_id=state.batch_id,
                next_position=state.next_position,
                max_concurrency=state.max_concurrency,
                max_starts=policies.BATCH_STARTS_PER_TICK,
                keep_filling_for=_duration(policies.BATCH_FILL_FOR),
                run_id=workflow.info().run_id,
                continued_as_new_count=state.continued_as_new_count,
                time=timestamp(workflow.now()),
                run_template=workflows_pb2.ItemImageProcessingWorkflowInput(
                    request_id=state.request_id,
                    force=state.force,
                    skip_notification=state.skip_notification,
                    analyzer=state.analyzer,
                    analysis_task_queue=state.analysis_task_queue,
                ),
                item_task_queue=state.item_task_queue,
            ),
            result_type=activities_pb2.AdvanceBatchOutput,
            start_to_close_timeout=policies.ADVANCE_BATCH_START_TO_CLOSE,
            retry_policy=policies.item_write_retry(),
            local_retry_threshold=policies.LOCAL_RETRY_THRESHOLD,
            cancellation_type=workflow.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
        )
        self._window = window
        state.next_position = window.next_position
        return window

    def _history_is_long(self) -> bool:
        info = workflow.info()
        limit = self._state.events_per_run or policies.BATCH_EVENTS_PER_RUN
        return info.get_current_history_length() >= limit or info.is_continue_as_new_suggested()

    @staticmethod
    def _version_is_no_longer_current() -> bool:
        """A deploy made another worker version current: this run, pinned to its version, moves
        to the new one by continuing as new (see bubble_worker/versioning.py)."""
        return workflow.info().is_target_worker_deployment_version_changed()

    def _continue_as_new(self) -> None:
        following = Input()
        following.CopyFrom(self._state)
        following.continued_as_new_count += 1
        if workflow.info().get_current_deployment_version() is None:
            workflow.continue_as_new(following)  # an unversioned worker
        # The next run starts on the deployment's current version, where its history is new.
        workflow.continue_as_new(
            following,
            initial_versioning_behavior=workflow.ContinueAsNewVersioningBehavior.AUTO_UPGRADE,
        )

    async def _cancel(self) -> None:
        """Cancels the runs the batch started that are still open, gives them a moment to record
        it, and ends the batch: members without an outcome count as cancelled."""
        reason = workflow.cancellation_reason()
        run_reason = f"the batch was cancelled: {reason}" if reason else "the batch was cancelled"
        await workflow.execute_local_activity(
            names.CANCEL_BATCH_RUNS,
            activities_pb2.CancelBatchRunsInput(
                batch_id=self._state.batch_id,
                reason=run_reason,
                grace=_duration(policies.CANCEL_RUNS_GRACE),
            ),
            result_type=activities_pb2.CancelBatchRunsOutput,
            start_to_close_timeout=policies.CANCEL_RUNS_GRACE + timedelta(minutes=1),
            retry_policy=policies.item_write_retry(),
            local_retry_threshold=policies.LOCAL_RETRY_THRESHOLD,
        )
        await self._finish_batch(
            run_pb2.RUN_STATE_CANCELLED,
            run_pb2.ProcessingError(code="CANCELLED", message="the batch was cancelled"),
        )

    async def _finish_batch(
        self, state: run_pb2.RunState.ValueType, error: run_pb2.ProcessingError | None = None
    ) -> activities_pb2.FinishBatchOutput:
        return await database_write(
            names.FINISH_BATCH,
            activities_pb2.FinishBatchInput(
                batch_id=self._state.batch_id,
                state=state,
                error=error,
                time=timestamp(workflow.now()),
            ),
            activities_pb2.FinishBatchOutput,
        )

    def _output(self, done: activities_pb2.FinishBatchOutput) -> Output:
        counted = done.progress
        return Output(
            batch_id=self._state.batch_id,
            total=counted.total,
            succeeded=counted.succeeded,
            failed=counted.failed,
            cancelled=counted.cancelled,
            skipped=counted.skipped,
            failed_item_ids=done.failed_item_ids,
            continued_as_new_count=self._state.continued_as_new_count,
        )


def _duration(span: timedelta) -> Duration:
    duration = Duration()
    duration.FromTimedelta(span)
    return duration
