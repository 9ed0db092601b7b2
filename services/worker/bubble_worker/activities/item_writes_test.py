"""The item writes as activities: outcomes are reported, and a retry writes once."""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp
from temporalio.testing import ActivityEnvironment

from bubble.processing.v1 import activities_pb2, analysis_pb2, item_pb2, run_pb2
from bubble_shared.store import ItemStore, NewImage, RunWrites
from bubble_worker.activities.item_writes import ItemWrites


def _claimed_item(
    store: ItemStore, run_writes: RunWrites, run: str, started: datetime
) -> item_pb2.Item:
    item = store.create_item(
        item_id=None, owner_id="o", title="t", description="", images=[NewImage(uri="items/a.jpg")]
    )
    run_writes.claim_item(
        item_id=item.item_id,
        workflow_id=f"item-processing/{item.item_id}",
        run_id=run,
        run_start_time=started,
        force=False,
    )
    return item


def _stamp(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def test_suggestions_are_written_once_and_an_older_run_is_refused(
    store: ItemStore, run_writes: RunWrites
) -> None:
    older, newer = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC)
    item = _claimed_item(store, run_writes, "old-run", older)
    run_writes.claim_item(
        item_id=item.item_id,
        workflow_id=f"item-processing/{item.item_id}",
        run_id="new-run",
        run_start_time=newer,
        force=False,
    )
    writes = ItemWrites(run_writes=run_writes)
    suggestions = analysis_pb2.ItemSuggestions(title="Red jacket")

    def update(run: str, started: datetime) -> activities_pb2.UpdateItemWithSuggestionsOutput:
        return ActivityEnvironment().run(
            writes.update_item_with_suggestions,
            activities_pb2.UpdateItemWithSuggestionsInput(
                item_id=item.item_id,
                workflow_id=f"item-processing/{item.item_id}",
                run_id=run,
                run_start_time=_stamp(started),
                suggestions=suggestions,
                analysis=analysis_pb2.ItemAnalysis(item_id=item.item_id),
            ),
        )

    assert update("old-run", older).outcome == activities_pb2.ITEM_WRITE_OUTCOME_SKIPPED_STALE
    applied = update("new-run", newer)
    assert (applied.applied, applied.outcome) == (True, activities_pb2.ITEM_WRITE_OUTCOME_APPLIED)
    assert update("new-run", newer).outcome == activities_pb2.ITEM_WRITE_OUTCOME_SKIPPED_DUPLICATE
    stored = store.get_item(item.item_id)
    assert stored.status == item_pb2.ITEM_STATUS_PROCESSED
    assert stored.suggestions == suggestions


def test_failure_and_cancellation_are_recorded_on_the_item(
    store: ItemStore, run_writes: RunWrites
) -> None:
    started = datetime(2026, 1, 1, tzinfo=UTC)
    writes = ItemWrites(run_writes=run_writes)
    for cancelled, status in (
        (False, item_pb2.ITEM_STATUS_FAILED),
        (True, item_pb2.ITEM_STATUS_CANCELLED),
    ):
        run_id = f"run-{cancelled}"  # run ids are unique: one run per item here
        item = _claimed_item(store, run_writes, run_id, started)
        error = run_pb2.ProcessingError(
            code="IMAGE_CORRUPT", message="image i1 is truncated", image_id="i1"
        )

        marked = ActivityEnvironment().run(
            writes.mark_item_processing_failed,
            activities_pb2.MarkItemProcessingFailedInput(
                item_id=item.item_id,
                workflow_id=f"item-processing/{item.item_id}",
                run_id=run_id,
                run_start_time=_stamp(started),
                error=error,
                cancelled=cancelled,
            ),
        )

        assert marked.applied
        stored = store.get_item(item.item_id)
        assert stored.status == status
        assert (stored.last_error.code, stored.last_error.image_id) == ("IMAGE_CORRUPT", "i1")
