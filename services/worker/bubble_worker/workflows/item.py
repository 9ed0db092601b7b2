"""ItemImageProcessingWorkflow: analyse an item's images, write the suggestions, notify the owner.

analyse -> ask the vision model (when the analysing worker says one is configured) -> update the
item -> notify; on failure: mark the item failed -> notify the failure; on
cancellation: mark the item cancelled -> notify, then end cancelled, unless the outcome had already
been written to the item (then it stands and the run finishes as it). A failed run ends Failed in
Temporal (type = the error code, the ProcessingError as its detail), after everything is recorded.
The database writes and the notification are local activities (no task-queue round trip), so a
successful item costs two workflow tasks and one activity task: the analysis, on its own queue.

Every step is also written to the read model (the run's row, which GetStatus and WatchStatus
read): the starter writes it QUEUED; the run's first step by ``record_item_run`` when it waits
for a start delay (else the claim writes it), the ones after it by the activities' own
transactions (the claim, the result write, then the notification records the last step), and
the last step by ``record_item_run`` where no notification recorded it (a skipped run, a
cancellation before the outcome, a notification skipped or undeliverable).
The last step also counts the outcome for the batches following the run, in the same transaction;
the batches read it from there (nothing signals them).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    FailureError,
    is_cancelled_exception,
)

with workflow.unsafe.imports_passed_through():
    from bubble.processing.v1 import activities_pb2, analysis_pb2, run_pb2, workflows_pb2
    from bubble_shared.temporal import names
    from bubble_worker import error_codes
    from bubble_worker.vision.merge import merge_answer
    from bubble_worker.workflows import policies
    from bubble_worker.workflows.failures import processing_error_from
    from bubble_worker.workflows.steps import database_write, record_item_run, timestamp


FAILED_RUNS_END_FAILED = "failed-runs-end-failed"
"""Patch: a failed run ends Failed (an ApplicationError with the error code), not Completed."""

LEANER_RUNS = "leaner-runs"
"""Patch: fewer tasks and steps per run (measured with tools:bench-throughput, see the README).
The owner's notification is a local activity, in the workflow task that wrote the outcome, not an
activity task of its own (one workflow task and one activity task fewer), and it records the run's
last step once the owner is told (one local activity fewer). A run without a start delay writes
no first step of its own: the claim writes it (one local activity fewer)."""


@workflow.defn(name=names.ITEM_WORKFLOW)
class ItemImageProcessingWorkflow:
    def __init__(self) -> None:
        self._progress = workflows_pb2.ItemImageProcessingProgress()
        # The outcome once it is written to the item; from then on a cancellation changes nothing.
        self._written: _Written | None = None
        self._last_step_recorded = False

    @workflow.query(name=names.PROGRESS_QUERY)
    def get_progress(self) -> workflows_pb2.ItemImageProcessingProgress:
        return self._progress

    @workflow.run
    async def run(
        self, request: workflows_pb2.ItemImageProcessingWorkflowInput
    ) -> workflows_pb2.ItemImageProcessingWorkflowOutput:
        info = workflow.info()
        self._run_start_time = timestamp(info.workflow_start_time)
        self._request = request
        self._progress.item_id = request.item_id
        self._progress.batch_id = request.batch_id
        self._progress.start_time.CopyFrom(self._run_start_time)
        self._lean = workflow.patched(LEANER_RUNS)
        try:
            output = await self._process()
        except BaseException as err:
            if not is_cancelled_exception(err):
                raise
            if self._written is None:
                error = await self._record_cancellation()
                await self._finish(run_pb2.RUN_STATE_CANCELLED, error=error)
                raise
            # The cancellation came after the outcome was written: that outcome stands (the item,
            # the batch and the owner already have it or are about to), so the run finishes as it.
            output = await self._tell_owner()
        await self._finish(output.state, error=output.error, skip_reason=output.skip_reason)
        if output.state == run_pb2.RUN_STATE_FAILED and workflow.patched(FAILED_RUNS_END_FAILED):
            # Everything is recorded; the run also ends Failed in Temporal, so the UI and
            # `temporal workflow list` show failures as such (runs before this patch completed).
            raise ApplicationError(
                output.error.message or output.error.code,
                output.error,
                type=output.error.code,
                non_retryable=True,
            )
        return output

    def _step(self, **fields: Any) -> activities_pb2.RecordItemRunInput:
        request = self._request
        return activities_pb2.RecordItemRunInput(
            item_id=request.item_id,
            workflow_id=workflow.info().workflow_id,
            run_id=workflow.info().run_id,
            batch_id=request.batch_id,
            request_id=request.request_id,
            run_start_time=self._run_start_time,
            **fields,
        )

    async def _start(self, delay: timedelta) -> None:
        """The run's first step: queued until its start delay ends, else analysing. It also marks
        the run's batch member as started when the batch could not record its start (its start
        call went through, then the database failed): the batch then joins this run rather than
        starting another one after it has ended."""
        if delay > timedelta(0):
            scheduled = timestamp(workflow.now() + delay)
            self._progress.scheduled_start_time.CopyFrom(scheduled)
            step = self._step(
                state=run_pb2.RUN_STATE_QUEUED,
                stage=run_pb2.PROCESSING_STAGE_QUEUED,
                scheduled_start_time=scheduled,
            )
        else:
            step = self._step(
                state=run_pb2.RUN_STATE_RUNNING, stage=run_pb2.PROCESSING_STAGE_ANALYZING
            )
        await record_item_run(step)

    async def _finish(
        self,
        state: run_pb2.RunState.ValueType,
        *,
        error: run_pb2.ProcessingError | None = None,
        skip_reason: run_pb2.SkipReason.ValueType = run_pb2.SKIP_REASON_UNSPECIFIED,
    ) -> None:
        """The run's last row (counted for the batches following the run), unless the owner's
        notification recorded it already."""
        if not self._last_step_recorded:
            await record_item_run(self._last_step(state, error=error, skip_reason=skip_reason))

    def _last_step(
        self,
        state: run_pb2.RunState.ValueType,
        *,
        error: run_pb2.ProcessingError | None = None,
        skip_reason: run_pb2.SkipReason.ValueType = run_pb2.SKIP_REASON_UNSPECIFIED,
    ) -> activities_pb2.RecordItemRunInput:
        return self._step(
            state=state,
            stage=run_pb2.PROCESSING_STAGE_DONE,
            error=error if error is not None and error.code else None,
            skip_reason=skip_reason,
        )

    async def _process(self) -> workflows_pb2.ItemImageProcessingWorkflowOutput:
        request = self._request
        delay = timedelta()
        if request.HasField("start_delay"):
            delay = request.start_delay.ToTimedelta()
        waits = delay > timedelta(0)
        if waits:
            self._enter(run_pb2.PROCESSING_STAGE_QUEUED)
        if waits or not self._lean:
            # Since the leaner-runs patch a run that starts at once leaves its first step to the
            # claim, which writes the same (analysing, and the batch member when needed).
            await self._start(delay)
        if waits:
            await workflow.sleep(delay)

        self._enter(run_pb2.PROCESSING_STAGE_ANALYZING)
        try:
            analysed = await self._analyze()
            if analysed.skip_reason:
                self._progress.skip_reason = analysed.skip_reason
                self._enter(run_pb2.PROCESSING_STAGE_DONE)
                return workflows_pb2.ItemImageProcessingWorkflowOutput(
                    item_id=request.item_id,
                    state=run_pb2.RUN_STATE_SUCCEEDED,
                    skip_reason=analysed.skip_reason,
                )
            suggestions = analysed.suggestions
            if analysed.vision_model:
                suggestions = await self._ask_vision_model(analysed)
            self._enter(run_pb2.PROCESSING_STAGE_UPDATING_ITEM)
            await self._update_item(analysed.analysis, suggestions)
        except ActivityError as err:
            if is_cancelled_exception(err):
                raise
            return await self._fail(processing_error_from(err, self._progress.stage))

        self._progress.suggestions.CopyFrom(suggestions)
        output = workflows_pb2.ItemImageProcessingWorkflowOutput(
            item_id=request.item_id,
            state=run_pb2.RUN_STATE_SUCCEEDED,
            suggestions=suggestions,
        )
        self._written = _Written(
            output, activities_pb2.NOTIFICATION_KIND_PROCESSED, _summary_of(suggestions)
        )
        return await self._tell_owner()

    async def _tell_owner(self) -> workflows_pb2.ItemImageProcessingWorkflowOutput:
        """Notifies the owner of the written outcome; the run's output (with the notification)."""
        written = self._written
        assert written is not None
        # Since the leaner-runs patch the notification also records the run's last step.
        last_step = (
            self._last_step(written.output.state, error=written.error) if self._lean else None
        )
        written.output.notification_id = await self._notify(
            written.kind, written.summary, written.error, last_step=last_step
        )
        self._enter(run_pb2.PROCESSING_STAGE_DONE)
        return written.output

    def _run(self) -> dict[str, Any]:
        """Who is writing: every item write carries it, for the store's stale-run guard."""
        info = workflow.info()
        return {
            "item_id": self._request.item_id,
            "workflow_id": info.workflow_id,
            "run_id": info.run_id,
            "run_start_time": self._run_start_time,
        }

    async def _analyze(self) -> activities_pb2.AnalyzeItemImagesOutput:
        request = self._request
        analysed: activities_pb2.AnalyzeItemImagesOutput = await workflow.execute_activity(
            names.ANALYZE_ITEM_IMAGES,
            activities_pb2.AnalyzeItemImagesInput(
                **self._run(),
                analyzer=request.analyzer,
                force=request.force,
                batch_id=request.batch_id,
                request_id=request.request_id,
            ),
            result_type=activities_pb2.AnalyzeItemImagesOutput,
            task_queue=request.analysis_task_queue or names.DEFAULT_ANALYSIS_TASK_QUEUE,
            start_to_close_timeout=policies.ANALYSIS_START_TO_CLOSE,
            schedule_to_close_timeout=policies.analysis_schedule_to_close(),
            heartbeat_timeout=policies.ANALYSIS_HEARTBEAT,
            retry_policy=policies.analysis_retry(),
        )
        return analysed

    async def _ask_vision_model(
        self, analysed: activities_pb2.AnalyzeItemImagesOutput
    ) -> analysis_pb2.ItemSuggestions:
        """The image facts with the vision model's suggestions merged in; the facts alone, with a
        suggestion warning, when the model refused or stayed unavailable: it never fails a run."""
        try:
            asked: activities_pb2.SuggestWithVisionModelOutput = await workflow.execute_activity(
                names.SUGGEST_WITH_VISION_MODEL,
                activities_pb2.SuggestWithVisionModelInput(
                    item_id=self._request.item_id,
                    analysis=analysed.analysis,
                    suggestions=analysed.suggestions,
                ),
                result_type=activities_pb2.SuggestWithVisionModelOutput,
                task_queue=analysed.vision_model_task_queue,
                start_to_close_timeout=policies.VISION_MODEL_START_TO_CLOSE,
                schedule_to_close_timeout=policies.vision_model_schedule_to_close(),
                retry_policy=policies.vision_model_retry(),
            )
        except ActivityError as err:
            if is_cancelled_exception(err):
                raise
            cause = error_codes.bounded(str(err.cause or err))
            workflow.logger.warning("the vision model gave no suggestions: %s", cause)
            return merge_answer(
                analysed.suggestions,
                None,
                model=analysed.vision_model,
                warnings=[f"the vision model gave no suggestions: {cause}"],
            )
        return asked.suggestions

    async def _update_item(
        self, analysis: analysis_pb2.ItemAnalysis, suggestions: analysis_pb2.ItemSuggestions
    ) -> None:
        await database_write(
            names.UPDATE_ITEM_WITH_SUGGESTIONS,
            activities_pb2.UpdateItemWithSuggestionsInput(
                **self._run(),
                analysis=analysis,
                suggestions=suggestions,
                next_stage=self._stage_after_write(),
            ),
            activities_pb2.UpdateItemWithSuggestionsOutput,
        )

    async def _fail(
        self, error: run_pb2.ProcessingError
    ) -> workflows_pb2.ItemImageProcessingWorkflowOutput:
        """Records the failure on the item and tells the owner; the run itself completes."""
        output = workflows_pb2.ItemImageProcessingWorkflowOutput(
            item_id=self._request.item_id, state=run_pb2.RUN_STATE_FAILED, error=error
        )
        await self._mark_failed(error, cancelled=False)
        self._written = _Written(
            output, activities_pb2.NOTIFICATION_KIND_FAILED, error.message, error
        )
        return await self._tell_owner()

    async def _record_cancellation(self) -> run_pb2.ProcessingError:
        """Leaves the item CANCELLED (not stuck in PROCESSING) before the run ends cancelled, with
        the canceller's reason; an item the run never claimed (it was cancelled while it waited)
        is left as it was, and its owner is not told about a run that never touched it; nor is
        an item that holds the run's outcome already (the run did not learn of its write: the
        workflow task with the write in it was retried because the cancellation arrived then).

        Temporal delivers a cancellation once; the activities started here run normally.
        """
        reason = workflow.cancellation_reason()
        error = run_pb2.ProcessingError(
            code=error_codes.CANCELLED,
            message=error_codes.bounded(
                f"processing was cancelled: {reason}" if reason else "processing was cancelled"
            ),
            stage=self._progress.stage,
        )
        written = await self._mark_failed(error, cancelled=True)
        if written not in _NOTHING_CANCELLED:
            await self._notify(activities_pb2.NOTIFICATION_KIND_CANCELLED, error.message, error)
        self._enter(run_pb2.PROCESSING_STAGE_DONE)
        return error

    def _stage_after_write(self) -> run_pb2.ProcessingStage.ValueType:
        """What the run does once its outcome is written: notify, or nothing more (unchanged)."""
        if self._request.skip_notification:
            return run_pb2.PROCESSING_STAGE_UNSPECIFIED
        return run_pb2.PROCESSING_STAGE_NOTIFYING

    async def _mark_failed(
        self, error: run_pb2.ProcessingError, *, cancelled: bool
    ) -> activities_pb2.ItemWriteOutcome.ValueType:
        """Marks the item failed (or cancelled); what the store made of it."""
        self._progress.error.CopyFrom(error)
        self._enter(run_pb2.PROCESSING_STAGE_MARKING_FAILED)
        written = await database_write(
            names.MARK_ITEM_PROCESSING_FAILED,
            activities_pb2.MarkItemProcessingFailedInput(
                **self._run(),
                error=error,
                cancelled=cancelled,
                next_stage=self._stage_after_write(),
                batch_id=self._request.batch_id,
                request_id=self._request.request_id,
            ),
            activities_pb2.MarkItemProcessingFailedOutput,
        )
        return written.outcome

    async def _notify(
        self,
        kind: activities_pb2.NotificationKind.ValueType,
        summary: str,
        error: run_pb2.ProcessingError | None = None,
        *,
        last_step: activities_pb2.RecordItemRunInput | None = None,
    ) -> str:
        """The notification id, or "" when skipped or undeliverable: notifying never fails a run.
        ``last_step``: the notification records it once the owner is told (else ``_finish``)."""
        if self._request.skip_notification:
            return ""
        self._enter(run_pb2.PROCESSING_STAGE_NOTIFYING)
        request = activities_pb2.SendProcessingNotificationInput(
            item_id=self._request.item_id,
            workflow_id=workflow.info().workflow_id,
            run_id=workflow.info().run_id,
            kind=kind,
            summary=summary,
            error=error,
            batch_id=self._request.batch_id,
            last_step=last_step,
        )
        try:
            sent: activities_pb2.SendProcessingNotificationOutput
            if self._lean:
                sent = await workflow.execute_local_activity(
                    names.SEND_PROCESSING_NOTIFICATION,
                    request,
                    result_type=activities_pb2.SendProcessingNotificationOutput,
                    start_to_close_timeout=policies.NOTIFY_START_TO_CLOSE,
                    schedule_to_close_timeout=policies.NOTIFY_SCHEDULE_TO_CLOSE,
                    retry_policy=policies.notify_retry(),
                    local_retry_threshold=policies.LOCAL_RETRY_THRESHOLD,
                )
            else:
                sent = await workflow.execute_activity(
                    names.SEND_PROCESSING_NOTIFICATION,
                    request,
                    result_type=activities_pb2.SendProcessingNotificationOutput,
                    start_to_close_timeout=policies.NOTIFY_START_TO_CLOSE,
                    schedule_to_close_timeout=policies.NOTIFY_SCHEDULE_TO_CLOSE,
                    retry_policy=policies.notify_retry(),
                )
        except FailureError as err:
            # A local activity's failure arrives as its own error (ApplicationError, TimeoutError),
            # an activity task's wrapped in an ActivityError.
            if is_cancelled_exception(err):
                raise
            cause = err.cause if isinstance(err, ActivityError) and err.cause else err
            workflow.logger.warning("notifying the owner failed: %s", cause)
            return ""
        self._last_step_recorded = sent.last_step_recorded
        return sent.notification_id

    def _enter(self, stage: run_pb2.ProcessingStage.ValueType) -> None:
        self._progress.stage = stage
        self._progress.stage_start_time.CopyFrom(timestamp(workflow.now()))


_NOTHING_CANCELLED = (
    activities_pb2.ITEM_WRITE_OUTCOME_SKIPPED_NOT_CLAIMED,
    # The run had written its outcome (in a workflow task retried for the cancellation): it
    # stands, and the owner was told of it in that task.
    activities_pb2.ITEM_WRITE_OUTCOME_SKIPPED_OUTCOME_WRITTEN,
)
"""What a cancellation's write may answer when the item was left as it was: nobody is told."""


@dataclass
class _Written:
    """An outcome written to the item, and what the owner is to be told about it."""

    output: workflows_pb2.ItemImageProcessingWorkflowOutput
    kind: activities_pb2.NotificationKind.ValueType
    summary: str
    error: run_pb2.ProcessingError | None = None


def _summary_of(suggestions: analysis_pb2.ItemSuggestions) -> str:
    warnings = len(suggestions.quality_warnings)
    if not suggestions.title:
        return f"No new title suggested; {warnings} quality warning(s)."
    return f"Suggested title: {suggestions.title!r}; {warnings} quality warning(s)."
