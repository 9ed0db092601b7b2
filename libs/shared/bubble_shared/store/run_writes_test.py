"""Claims and run outcomes: idempotence and stale-run protection, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, delete, select
from sqlalchemy.orm import Session

from bubble.processing.v1 import activities_pb2, analysis_pb2, item_pb2, run_pb2
from bubble_shared.store import (
    BatchStore,
    ItemClaim,
    ItemNotFoundError,
    ItemStore,
    NewBatch,
    NewImage,
    RunRecords,
    RunStep,
    RunWrites,
)
from bubble_shared.store.conftest import FakeClock
from bubble_shared.store.models import Item

APPLIED = activities_pb2.ITEM_WRITE_OUTCOME_APPLIED
DUPLICATE = activities_pb2.ITEM_WRITE_OUTCOME_SKIPPED_DUPLICATE
STALE = activities_pb2.ITEM_WRITE_OUTCOME_SKIPPED_STALE
DELETED = activities_pb2.ITEM_WRITE_OUTCOME_SKIPPED_ITEM_DELETED
NOT_CLAIMED = activities_pb2.ITEM_WRITE_OUTCOME_SKIPPED_NOT_CLAIMED
OUTCOME_WRITTEN = activities_pb2.ITEM_WRITE_OUTCOME_SKIPPED_OUTCOME_WRITTEN

T0 = datetime(2026, 1, 1, 12, tzinfo=UTC)
ERROR = run_pb2.ProcessingError(
    code="IMAGE_CORRUPT",
    message="image 2 is truncated",
    image_id="img",
    retryable=False,
    stage=run_pb2.PROCESSING_STAGE_ANALYZING,
)


@dataclass(frozen=True)
class Run:
    """One workflow run: item runs share the workflow ID, the run ID tells them apart."""

    run_id: str
    start_time: datetime
    workflow_id: str = "item-processing/item-1"

    def claim(self, run_writes: RunWrites, *, force: bool = False) -> ItemClaim:
        return run_writes.claim_item(
            item_id="item-1",
            workflow_id=self.workflow_id,
            run_id=self.run_id,
            run_start_time=self.start_time,
            force=force,
        )

    def apply(self, run_writes: RunWrites, store: ItemStore, title: str = "Navy jacket") -> int:
        item = store.get_item("item-1", view=item_pb2.ITEM_VIEW_BASIC)
        analysis = analysis_pb2.ItemAnalysis(
            item_id="item-1",
            images=[
                analysis_pb2.ImageAnalysis(
                    image_id=image.image_id, format="JPEG", size_bytes=1000 + image.position
                )
                for image in item.images
            ],
        )
        return run_writes.apply_suggestions(
            item_id="item-1",
            workflow_id=self.workflow_id,
            run_id=self.run_id,
            run_start_time=self.start_time,
            analysis=analysis,
            suggestions=analysis_pb2.ItemSuggestions(title=title, tags=["jacket"]),
        )

    def fail(
        self,
        run_writes: RunWrites,
        *,
        cancelled: bool = False,
        error: run_pb2.ProcessingError = ERROR,
    ) -> int:
        return run_writes.mark_failed(
            item_id="item-1",
            workflow_id=self.workflow_id,
            run_id=self.run_id,
            run_start_time=self.start_time,
            error=error,
            cancelled=cancelled,
        )


OLD = Run("run-old", T0)
NEW = Run("run-new", T0 + timedelta(hours=1))


@pytest.fixture(autouse=True)
def item(store: ItemStore) -> item_pb2.Item:
    return store.create_item(
        item_id="item-1",
        owner_id="owner-1",
        title="Jacket",
        description="",
        images=[NewImage(uri="a.jpg"), NewImage(uri="b.jpg")],
    )


def version(engine: Engine) -> int:
    with Session(engine) as session:
        return session.get_one(Item, "item-1").version


# Claims ----------------------------------------------------------------------------------------


def test_claim_makes_the_run_current(
    store: ItemStore, run_writes: RunWrites, clock: FakeClock
) -> None:
    clock.advance()
    claim = OLD.claim(run_writes)

    assert claim.claimed
    assert claim.skip_reason == run_pb2.SKIP_REASON_UNSPECIFIED
    assert claim.item.status == item_pb2.ITEM_STATUS_PROCESSING
    assert claim.item.current_workflow_id == OLD.workflow_id
    assert claim.item.last_workflow_id == OLD.workflow_id  # the most recent run, open or not
    assert claim.item.update_time.ToDatetime(tzinfo=UTC) == clock.now
    assert len(claim.item.images) == 2
    assert store.get_item("item-1", view=item_pb2.ITEM_VIEW_BASIC) == claim.item


def test_claim_of_a_missing_item_raises(run_writes: RunWrites) -> None:
    with pytest.raises(ItemNotFoundError):
        run_writes.claim_item(
            item_id="missing", workflow_id="w", run_id="r", run_start_time=T0, force=False
        )


def test_claim_again_by_the_same_run_is_idempotent(run_writes: RunWrites, engine: Engine) -> None:
    first = OLD.claim(run_writes)
    written = version(engine)

    again = OLD.claim(run_writes)

    assert again.claimed
    assert again.item == first.item
    assert version(engine) == written


def test_claim_of_a_processed_item_is_skipped_unless_forced(
    store: ItemStore, run_writes: RunWrites, engine: Engine
) -> None:
    OLD.claim(run_writes)
    assert OLD.apply(run_writes, store) == APPLIED
    written = version(engine)

    skipped = NEW.claim(run_writes)
    assert skipped.skip_reason == run_pb2.SKIP_REASON_ALREADY_PROCESSED
    assert skipped.item.status == item_pb2.ITEM_STATUS_PROCESSED
    assert version(engine) == written

    forced = NEW.claim(run_writes, force=True)
    assert forced.claimed
    assert forced.item.status == item_pb2.ITEM_STATUS_PROCESSING
    assert forced.item.HasField("suggestions")  # kept while the new run works


def test_claim_by_an_older_run_than_the_owner_is_superseded(
    run_writes: RunWrites, engine: Engine
) -> None:
    NEW.claim(run_writes)
    written = version(engine)

    claim = OLD.claim(run_writes)

    assert claim.skip_reason == run_pb2.SKIP_REASON_SUPERSEDED
    assert claim.item.current_workflow_id == NEW.workflow_id
    assert version(engine) == written
    with Session(engine) as session:
        assert session.get_one(Item, "item-1").current_run_id == NEW.run_id


def test_claim_by_an_older_run_than_the_last_writer_is_superseded(run_writes: RunWrites) -> None:
    NEW.claim(run_writes)
    NEW.fail(run_writes)

    assert OLD.claim(run_writes, force=True).skip_reason == run_pb2.SKIP_REASON_SUPERSEDED


def test_claim_takes_over_from_an_older_run_that_died(
    run_writes: RunWrites, engine: Engine
) -> None:
    OLD.claim(run_writes)

    claim = NEW.claim(run_writes)

    assert claim.claimed
    with Session(engine) as session:
        row = session.get_one(Item, "item-1")
        assert (row.current_run_id, row.current_run_start_time) == (NEW.run_id, NEW.start_time)


def test_claim_clears_the_last_error(store: ItemStore, run_writes: RunWrites) -> None:
    OLD.claim(run_writes)
    OLD.fail(run_writes)
    assert store.get_item("item-1").HasField("last_error")

    claim = NEW.claim(run_writes)

    assert claim.claimed
    assert not claim.item.HasField("last_error")


def test_concurrent_claims_by_one_run_all_succeed_with_one_write(
    run_writes: RunWrites, engine: Engine
) -> None:
    barrier = threading.Barrier(4)

    def claim(_: int) -> bool:
        barrier.wait()
        return OLD.claim(run_writes).claimed

    with ThreadPoolExecutor(max_workers=4) as pool:
        assert all(pool.map(claim, range(4)))
    assert version(engine) == 2  # created, then claimed once


def test_claim_refuses_a_naive_run_start_time(run_writes: RunWrites) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        Run("r", datetime(2026, 1, 1)).claim(run_writes)  # naive on purpose


# apply_suggestions -----------------------------------------------------------------------------


def test_apply_writes_the_result(
    store: ItemStore, run_writes: RunWrites, engine: Engine, clock: FakeClock
) -> None:
    OLD.claim(run_writes)
    before = version(engine)
    clock.advance()

    assert OLD.apply(run_writes, store) == APPLIED

    item = store.get_item("item-1")
    assert item.status == item_pb2.ITEM_STATUS_PROCESSED
    assert item.suggestions == analysis_pb2.ItemSuggestions(title="Navy jacket", tags=["jacket"])
    assert item.title == "Jacket"  # the owner's title is never overwritten
    assert [image.analysis.format for image in item.images] == ["JPEG", "JPEG"]
    assert [image.analysis.image_id for image in item.images] == [i.image_id for i in item.images]
    assert [image.size_bytes for image in item.images] == [1000, 1001]
    assert item.processed_time.ToDatetime(tzinfo=UTC) == clock.now
    assert item.update_time == item.processed_time
    assert item.current_workflow_id == ""
    assert item.last_workflow_id == OLD.workflow_id
    assert version(engine) == before + 1
    with Session(engine) as session:
        row = session.get_one(Item, "item-1")
        assert (row.current_run_id, row.current_run_start_time) == (None, None)
        assert (row.last_run_id, row.last_run_start_time) == (OLD.run_id, OLD.start_time)


def test_apply_twice_by_the_same_run_writes_once(
    store: ItemStore, run_writes: RunWrites, engine: Engine
) -> None:
    OLD.claim(run_writes)
    assert OLD.apply(run_writes, store) == APPLIED
    written = store.get_item("item-1")

    assert OLD.apply(run_writes, store, title="A different answer") == DUPLICATE

    assert store.get_item("item-1") == written
    assert version(engine) == 3  # created, claimed, applied


def test_apply_by_an_older_run_than_the_owner_is_stale(
    store: ItemStore, run_writes: RunWrites, engine: Engine
) -> None:
    OLD.claim(run_writes)
    NEW.claim(run_writes)
    written = version(engine)

    assert OLD.apply(run_writes, store) == STALE

    item = store.get_item("item-1")
    assert item.status == item_pb2.ITEM_STATUS_PROCESSING
    assert not item.HasField("suggestions")
    assert version(engine) == written


def test_apply_by_an_older_run_than_the_last_writer_is_stale(
    store: ItemStore, run_writes: RunWrites
) -> None:
    NEW.claim(run_writes)
    assert NEW.apply(run_writes, store, title="New") == APPLIED

    assert OLD.apply(run_writes, store, title="Old") == STALE

    assert store.get_item("item-1").suggestions.title == "New"


def test_apply_after_a_newer_run_claimed_the_item_is_stale_even_for_a_retry(
    store: ItemStore, run_writes: RunWrites
) -> None:
    OLD.claim(run_writes)
    assert OLD.apply(run_writes, store) == APPLIED
    NEW.claim(run_writes, force=True)

    assert OLD.apply(run_writes, store) == STALE


def test_apply_by_a_newer_run_takes_over_from_an_older_owner(
    store: ItemStore, run_writes: RunWrites
) -> None:
    OLD.claim(run_writes)

    assert NEW.apply(run_writes, store) == APPLIED

    assert store.get_item("item-1").current_workflow_id == ""


def test_apply_to_a_deleted_item_is_skipped(run_writes: RunWrites, engine: Engine) -> None:
    OLD.claim(run_writes)
    with Session(engine) as session, session.begin():
        session.execute(delete(Item))

    outcome = run_writes.apply_suggestions(
        item_id="item-1",
        workflow_id=OLD.workflow_id,
        run_id=OLD.run_id,
        run_start_time=OLD.start_time,
        analysis=analysis_pb2.ItemAnalysis(),
        suggestions=analysis_pb2.ItemSuggestions(),
    )

    assert outcome == DELETED
    assert OLD.fail(run_writes) == DELETED


def test_apply_clears_the_last_error(store: ItemStore, run_writes: RunWrites) -> None:
    OLD.claim(run_writes)
    OLD.fail(run_writes)
    NEW.claim(run_writes)

    assert NEW.apply(run_writes, store) == APPLIED

    assert not store.get_item("item-1").HasField("last_error")


def test_apply_with_an_analysis_of_a_foreign_image_writes_nothing(
    store: ItemStore, run_writes: RunWrites, engine: Engine
) -> None:
    OLD.claim(run_writes)
    before = store.get_item("item-1")
    analysis = analysis_pb2.ItemAnalysis(images=[analysis_pb2.ImageAnalysis(image_id="other")])

    with pytest.raises(ValueError, match="other"):
        run_writes.apply_suggestions(
            item_id="item-1",
            workflow_id=OLD.workflow_id,
            run_id=OLD.run_id,
            run_start_time=OLD.start_time,
            analysis=analysis,
            suggestions=analysis_pb2.ItemSuggestions(title="x"),
        )

    assert store.get_item("item-1") == before


def test_apply_keeps_no_old_analysis_for_an_image_the_run_did_not_analyse(
    store: ItemStore, run_writes: RunWrites, item: item_pb2.Item
) -> None:
    OLD.claim(run_writes)
    OLD.apply(run_writes, store)
    NEW.claim(run_writes, force=True)
    first_only = analysis_pb2.ItemAnalysis(
        images=[analysis_pb2.ImageAnalysis(image_id=item.images[0].image_id, format="PNG")]
    )

    outcome = run_writes.apply_suggestions(
        item_id="item-1",
        workflow_id=NEW.workflow_id,
        run_id=NEW.run_id,
        run_start_time=NEW.start_time,
        analysis=first_only,
        suggestions=analysis_pb2.ItemSuggestions(),
    )

    assert outcome == APPLIED
    images = store.get_item("item-1").images
    assert images[0].analysis.format == "PNG"
    assert images[0].size_bytes == 1000  # an analysis without a size keeps the known one
    assert not images[1].HasField("analysis")


def test_concurrent_applies_of_one_run_write_once(
    store: ItemStore, run_writes: RunWrites, engine: Engine
) -> None:
    OLD.claim(run_writes)
    barrier = threading.Barrier(4)

    def apply(_: int) -> int:
        barrier.wait()
        return OLD.apply(run_writes, store)

    with ThreadPoolExecutor(max_workers=4) as pool:
        outcomes = sorted(pool.map(apply, range(4)))

    assert outcomes == [APPLIED, DUPLICATE, DUPLICATE, DUPLICATE]
    assert version(engine) == 3


def test_concurrent_applies_of_two_runs_let_the_newer_one_win(
    store: ItemStore, run_writes: RunWrites
) -> None:
    OLD.claim(run_writes)
    barrier = threading.Barrier(2)

    def apply(run: Run) -> int:
        barrier.wait()
        return run.apply(run_writes, store, title=run.run_id)

    with ThreadPoolExecutor(max_workers=2) as pool:
        old_outcome, new_outcome = pool.map(apply, [OLD, NEW])

    # Whatever the order, the newer run's result is the one the item keeps.
    assert new_outcome == APPLIED
    assert old_outcome in (APPLIED, STALE)
    assert store.get_item("item-1").suggestions.title == NEW.run_id


# mark_failed -----------------------------------------------------------------------------------


def test_mark_failed_records_the_error_and_keeps_earlier_suggestions(
    store: ItemStore, run_writes: RunWrites, engine: Engine
) -> None:
    OLD.claim(run_writes)
    OLD.apply(run_writes, store)
    processed = store.get_item("item-1")
    NEW.claim(run_writes, force=True)

    assert NEW.fail(run_writes) == APPLIED

    item = store.get_item("item-1")
    assert item.status == item_pb2.ITEM_STATUS_FAILED
    assert item.last_error == ERROR
    assert item.suggestions == processed.suggestions
    assert item.processed_time == processed.processed_time
    assert [image.analysis for image in item.images] == [i.analysis for i in processed.images]
    assert item.current_workflow_id == ""
    with Session(engine) as session:
        row = session.get_one(Item, "item-1")
        assert (row.last_run_id, row.current_run_id) == (NEW.run_id, None)


def test_mark_cancelled(store: ItemStore, run_writes: RunWrites) -> None:
    OLD.claim(run_writes)
    cancelled = run_pb2.ProcessingError(code="CANCELLED", message="cancelled by the owner")

    assert OLD.fail(run_writes, cancelled=True, error=cancelled) == APPLIED

    item = store.get_item("item-1")
    assert item.status == item_pb2.ITEM_STATUS_CANCELLED
    assert item.last_error == cancelled


def test_mark_failed_twice_by_the_same_run_writes_once(
    store: ItemStore, run_writes: RunWrites, engine: Engine
) -> None:
    OLD.claim(run_writes)
    assert OLD.fail(run_writes) == APPLIED
    written = version(engine)

    other = run_pb2.ProcessingError(code="INTERNAL", message="a different error")
    assert OLD.fail(run_writes, error=other) == DUPLICATE

    assert store.get_item("item-1").last_error == ERROR
    assert version(engine) == written


def test_mark_failed_by_an_older_run_never_overwrites_a_newer_result(
    store: ItemStore, run_writes: RunWrites
) -> None:
    NEW.claim(run_writes)
    NEW.apply(run_writes, store)

    assert OLD.fail(run_writes) == STALE

    assert store.get_item("item-1").status == item_pb2.ITEM_STATUS_PROCESSED


def test_mark_failed_by_an_older_run_than_the_owner_is_stale(
    store: ItemStore, run_writes: RunWrites
) -> None:
    OLD.claim(run_writes)
    NEW.claim(run_writes)

    assert OLD.fail(run_writes) == STALE

    assert store.get_item("item-1").status == item_pb2.ITEM_STATUS_PROCESSING


def test_a_run_cancelled_after_it_wrote_its_result_keeps_that_result(
    store: ItemStore, run_writes: RunWrites
) -> None:
    # The run did not learn of its write (its workflow task was retried because the cancellation
    # arrived meanwhile): the result stands, as its batches counted it.
    OLD.claim(run_writes)
    OLD.apply(run_writes, store)

    assert OLD.fail(run_writes, cancelled=True) == OUTCOME_WRITTEN

    item = store.get_item("item-1")
    assert item.status == item_pb2.ITEM_STATUS_PROCESSED
    assert item.HasField("suggestions")
    assert not item.HasField("last_error")


def test_a_run_cancelled_after_it_failed_stays_failed(
    store: ItemStore, run_writes: RunWrites
) -> None:
    OLD.claim(run_writes)
    assert OLD.fail(run_writes) == APPLIED

    assert OLD.fail(run_writes, cancelled=True) == OUTCOME_WRITTEN

    assert store.get_item("item-1").status == item_pb2.ITEM_STATUS_FAILED


def test_cancelling_a_queued_rerun_leaves_the_processed_item_alone(
    store: ItemStore, run_writes: RunWrites, runs: RunRecords, batches: BatchStore, engine: Engine
) -> None:
    # apply_async(countdown=60) on a processed item, then revoke(): the rerun never claimed it.
    OLD.claim(run_writes)
    OLD.apply(run_writes, store)
    processed, written = store.get_item("item-1"), version(engine)
    batches.create(NewBatch("b1", "item-batch/b1", 5, item_ids=["item-1"]))
    runs.record(_first_step(NEW, batch_id="b1"))
    cancelled = run_pb2.ProcessingError(code="CANCELLED", message="processing was cancelled")

    assert NEW.fail(run_writes, cancelled=True, error=cancelled) == NOT_CLAIMED
    assert NEW.fail(run_writes, cancelled=True, error=cancelled) == NOT_CLAIMED  # a retry

    assert store.get_item("item-1") == processed
    assert version(engine) == written
    # The run and its batch still say it was cancelled, once.
    progress = batches.get("b1").progress  # type: ignore[union-attr]
    assert (progress.running, progress.cancelled) == (0, 1)


def test_an_analysis_attempt_that_starts_after_its_run_was_cancelled_claims_nothing(
    store: ItemStore, run_writes: RunWrites, runs: RunRecords
) -> None:
    # The cancellation found the item unclaimed; an analysis attempt already scheduled then
    # starts: claiming would leave the item PROCESSING with no run left to finish it.
    runs.record(_first_step(OLD, batch_id=""))
    cancelled = run_pb2.ProcessingError(code="CANCELLED", message="processing was cancelled")
    assert OLD.fail(run_writes, cancelled=True, error=cancelled) == NOT_CLAIMED

    claim = OLD.claim(run_writes)

    assert not claim.claimed
    assert store.get_item("item-1").status == item_pb2.ITEM_STATUS_PENDING


def test_a_failure_before_the_claim_is_still_recorded(
    store: ItemStore, run_writes: RunWrites
) -> None:
    # e.g. the analysis could not start for longer than the retry budget: the owner must see it.
    outage = run_pb2.ProcessingError(code="INFRASTRUCTURE_UNAVAILABLE", retryable=True)

    assert OLD.fail(run_writes, error=outage) == APPLIED

    assert store.get_item("item-1").status == item_pb2.ITEM_STATUS_FAILED


def test_a_stage_newer_than_this_code_round_trips(
    store: ItemStore, run_writes: RunWrites, engine: Engine
) -> None:
    OLD.claim(run_writes)
    stage = run_pb2.ProcessingStage.ValueType(42)
    OLD.fail(run_writes, error=run_pb2.ProcessingError(code="INTERNAL", stage=stage))

    with Session(engine) as session:
        assert session.scalars(select(Item.last_error_stage)).one() == "42"
    assert store.get_item("item-1").last_error.stage == 42


# The read model: each write is a step of the run -------------------------------------------


def test_a_claim_says_the_run_is_analysing_in_its_attempt(
    run_writes: RunWrites, runs: RunRecords
) -> None:
    run_writes.claim_item(
        item_id="item-1",
        workflow_id=OLD.workflow_id,
        run_id=OLD.run_id,
        run_start_time=OLD.start_time,
        force=False,
        attempt=3,
    )
    status = runs.get(OLD.run_id)
    assert status is not None
    assert (status.state, status.stage, status.attempt) == (
        run_pb2.RUN_STATE_RUNNING,
        run_pb2.PROCESSING_STAGE_ANALYZING,
        3,
    )
    assert status.queue_time.ToDatetime(tzinfo=UTC) == OLD.start_time


def test_an_applied_result_is_counted_once_for_the_batch(
    run_writes: RunWrites, runs: RunRecords, batches: BatchStore, store: ItemStore
) -> None:
    batches.create(NewBatch("b1", "item-batch/b1", 5, item_ids=["item-1"]))
    runs.record(_first_step(OLD, batch_id="b1"))
    OLD.claim(run_writes)

    assert OLD.apply(run_writes, store) == APPLIED
    assert OLD.apply(run_writes, store) == DUPLICATE  # retried: counted once

    progress = batches.get("b1").progress  # type: ignore[union-attr]
    assert (progress.running, progress.succeeded) == (0, 1)
    status = runs.get(OLD.run_id)
    assert status is not None
    assert status.state == run_pb2.RUN_STATE_RUNNING  # the last step (notify, done) is the run's
    assert status.stage == run_pb2.PROCESSING_STAGE_UPDATING_ITEM


def test_a_failure_is_counted_for_the_batch_and_moves_to_the_next_stage(
    run_writes: RunWrites, runs: RunRecords, batches: BatchStore
) -> None:
    batches.create(NewBatch("b1", "item-batch/b1", 5, item_ids=["item-1"]))
    runs.record(_first_step(OLD, batch_id="b1"))
    outcome = run_writes.mark_failed(
        item_id="item-1",
        workflow_id=OLD.workflow_id,
        run_id=OLD.run_id,
        run_start_time=OLD.start_time,
        error=ERROR,
        cancelled=False,
        next_stage=run_pb2.PROCESSING_STAGE_NOTIFYING,
    )
    assert outcome == APPLIED
    status = batches.get("b1")
    assert status is not None
    assert status.progress.failed == 1
    assert list(status.failed_item_ids) == ["item-1"]
    assert runs.get(OLD.run_id).stage == run_pb2.PROCESSING_STAGE_NOTIFYING  # type: ignore[union-attr]


def test_a_stale_result_is_not_counted(
    run_writes: RunWrites, runs: RunRecords, batches: BatchStore, store: ItemStore
) -> None:
    batches.create(NewBatch("b1", "item-batch/b1", 5, item_ids=["item-1"]))
    runs.record(_first_step(OLD, batch_id="b1"))
    NEW.claim(run_writes)
    assert OLD.apply(run_writes, store) == STALE
    assert batches.get("b1").progress.running == 1  # type: ignore[union-attr]


def test_the_analyser_version_of_the_suggestions_is_kept_for_selection(
    run_writes: RunWrites, store: ItemStore, engine: Engine
) -> None:
    item = store.get_item("item-1", view=item_pb2.ITEM_VIEW_BASIC)
    analysis = analysis_pb2.ItemAnalysis(
        item_id="item-1",
        images=[
            analysis_pb2.ImageAnalysis(image_id=image.image_id, analyzer_version=version)
            for image, version in zip(item.images, ["1.10.0", "1.9.2"], strict=True)
        ],
    )
    run_writes.apply_suggestions(
        item_id="item-1",
        workflow_id=OLD.workflow_id,
        run_id=OLD.run_id,
        run_start_time=OLD.start_time,
        analysis=analysis,
        suggestions=analysis_pb2.ItemSuggestions(title="x"),
    )
    with Session(engine) as session:
        assert session.get_one(Item, "item-1").analyzer_version_key == "000001.000009.000002"


def _first_step(run: Run, *, batch_id: str) -> RunStep:
    return RunStep(
        item_id="item-1",
        workflow_id=run.workflow_id,
        run_id=run.run_id,
        queue_time=run.start_time,
        state=run_pb2.RUN_STATE_RUNNING,
        stage=run_pb2.PROCESSING_STAGE_ANALYZING,
        time=run.start_time,
        batch_id=batch_id,
    )
