"""The item writes of a run: its suggestions, or its failure. Run as local activities.

Each is one short transaction in the store, idempotent for a run (a retry or a replay writes the
same state once) and refused when a newer run owns the item, so they are cheap to run inside the
workflow task instead of through a task queue.
"""

from __future__ import annotations

from datetime import UTC

from temporalio import activity

from bubble.processing.v1 import activities_pb2
from bubble_shared.store import RunWrites
from bubble_shared.temporal import names

APPLIED = activities_pb2.ITEM_WRITE_OUTCOME_APPLIED


class ItemWrites:
    def __init__(self, *, run_writes: RunWrites) -> None:
        self._run_writes = run_writes

    @activity.defn(name=names.UPDATE_ITEM_WITH_SUGGESTIONS)
    def update_item_with_suggestions(
        self, request: activities_pb2.UpdateItemWithSuggestionsInput
    ) -> activities_pb2.UpdateItemWithSuggestionsOutput:
        outcome = self._run_writes.apply_suggestions(
            item_id=request.item_id,
            workflow_id=request.workflow_id,
            run_id=request.run_id,
            run_start_time=request.run_start_time.ToDatetime(tzinfo=UTC),
            analysis=request.analysis,
            suggestions=request.suggestions,
            next_stage=request.next_stage,
        )
        _log_outcome("suggestions", request.item_id, outcome)
        return activities_pb2.UpdateItemWithSuggestionsOutput(
            applied=outcome == APPLIED,
            outcome=outcome,
        )

    @activity.defn(name=names.MARK_ITEM_PROCESSING_FAILED)
    def mark_item_processing_failed(
        self, request: activities_pb2.MarkItemProcessingFailedInput
    ) -> activities_pb2.MarkItemProcessingFailedOutput:
        outcome = self._run_writes.mark_failed(
            item_id=request.item_id,
            workflow_id=request.workflow_id,
            run_id=request.run_id,
            run_start_time=request.run_start_time.ToDatetime(tzinfo=UTC),
            error=request.error,
            cancelled=request.cancelled,
            next_stage=request.next_stage,
            batch_id=request.batch_id,
            request_id=request.request_id,
        )
        _log_outcome("cancellation" if request.cancelled else "failure", request.item_id, outcome)
        return activities_pb2.MarkItemProcessingFailedOutput(
            applied=outcome == APPLIED,
            outcome=outcome,
        )


def _log_outcome(
    what: str, item_id: str, outcome: activities_pb2.ItemWriteOutcome.ValueType
) -> None:
    name = activities_pb2.ItemWriteOutcome.Name(outcome)
    activity.logger.info("%s of item %s: %s", what, item_id, name, extra={"item_id": item_id})
