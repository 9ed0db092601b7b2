"""A batch's window: what it plans to start, what it started or joined, how full it is."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine, update

from bubble.processing.v1 import activities_pb2, run_pb2
from bubble_shared.store.batch_window import BatchWindows, JoinedRun, StartedRun, StartPlan
from bubble_shared.store.batches import BatchStore, NewBatch
from bubble_shared.store.conftest import run_step
from bubble_shared.store.items import ItemStore, NewImage
from bubble_shared.store.models import ItemRun
from bubble_shared.store.run_records import RunRecords
from bubble_shared.store.run_writes import RunWrites

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _plan(windows: BatchWindows, at: int, concurrency: int, *, max_starts: int = 0) -> StartPlan:
    return windows.plan(
        "b1",
        next_position=at,
        max_concurrency=concurrency,
        max_starts=max_starts,
        run_id="batch-run-1",
        continued_as_new_count=0,
        time=T0,
    )


def _started(item_id: str) -> StartedRun:
    return StartedRun(item_id, f"item-processing/{item_id}", f"r-{item_id}", T0, "req-1")


def test_the_window_fills_as_runs_end(
    windows: BatchWindows, batches: BatchStore, runs: RunRecords
) -> None:
    batches.create(NewBatch("b1", "item-batch/b1", 2, item_ids=["a", "b", "c", "d"]))
    first = _plan(windows, 0, 2)
    assert (first.item_ids, first.next_position, first.all_read) == (["a", "b"], 2, False)
    window = windows.record_starts("b1", started=[_started("a"), _started("b")])
    assert (window.open_runs, window.open_members, window.progress.running) == (2, 2, 2)
    # Each started run has its QUEUED row at once, with its batch.
    queued = runs.get("r-a")
    assert queued is not None
    assert (queued.state, queued.batch_id) == (run_pb2.RUN_STATE_QUEUED, "b1")
    assert _plan(windows, 2, 2).item_ids == []  # full
    runs.record(run_step("a", "r-a", run_pb2.RUN_STATE_SUCCEEDED))
    second = _plan(windows, 2, 2)
    assert (second.item_ids, second.next_position) == (["c"], 3)
    status = batches.get("b1")
    assert status is not None
    assert (status.state, status.run_id) == (run_pb2.RUN_STATE_RUNNING, "batch-run-1")


def test_a_retried_tick_skips_members_that_already_follow_a_run(
    windows: BatchWindows, batches: BatchStore, runs: RunRecords
) -> None:
    batches.create(NewBatch("b1", "item-batch/b1", 5, item_ids=["a", "b", "c"]))
    assert _plan(windows, 0, 5).item_ids == ["a", "b", "c"]
    # The tick started "a" and "b" but died before recording them; "a"'s run wrote its first step.
    runs.record(run_step("a", "r-a", run_pb2.RUN_STATE_RUNNING, batch_id="b1"))
    retried = _plan(windows, 0, 5)
    assert retried.item_ids == ["b", "c"]
    # "b"'s start is refused now (its run is open): the member joins it, recorded once.
    windows.record_starts("b1", started=[_started("c")], joined=[JoinedRun("b", "r-b")])
    window = windows.record_starts("b1", started=[_started("c")], joined=[JoinedRun("b", "r-b")])
    assert (window.open_runs, window.open_members, window.progress.running) == (2, 3, 3)


def test_a_claim_marks_the_member_when_the_tick_died_before_recording_it(
    windows: BatchWindows,
    batches: BatchStore,
    runs: RunRecords,
    run_writes: RunWrites,
    store: ItemStore,
) -> None:
    """A run that starts at once writes no first step: its claim does, batch member included,
    so the retried tick joins the run instead of starting another one after it has ended."""
    _item(store, "a")
    batches.create(NewBatch("b1", "item-batch/b1", 5, item_ids=["a", "b"]))
    assert _plan(windows, 0, 5).item_ids == ["a", "b"]
    # The tick started both runs but died before recording them; "a"'s run claimed its item.
    claim = run_writes.claim_item(
        item_id="a",
        workflow_id="item-processing/a",
        run_id="r-a",
        run_start_time=T0,
        force=False,
        batch_id="b1",
        request_id="req-1",
    )

    assert claim.claimed
    assert _plan(windows, 0, 5).item_ids == ["b"]
    row = runs.get("r-a")
    assert row is not None
    assert (row.stage, row.batch_id) == (run_pb2.PROCESSING_STAGE_ANALYZING, "b1")


def test_a_run_cancelled_before_its_claim_marks_and_counts_its_member(
    windows: BatchWindows, batches: BatchStore, run_writes: RunWrites, store: ItemStore
) -> None:
    _item(store, "a")
    batches.create(NewBatch("b1", "item-batch/b1", 5, item_ids=["a"]))
    assert _plan(windows, 0, 5).item_ids == ["a"]
    # The tick died before recording the start, and the run was cancelled before its claim.
    outcome = run_writes.mark_failed(
        item_id="a",
        workflow_id="item-processing/a",
        run_id="r-a",
        run_start_time=T0,
        error=run_pb2.ProcessingError(code="CANCELLED", message="cancelled"),
        cancelled=True,
        batch_id="b1",
    )

    assert outcome == activities_pb2.ITEM_WRITE_OUTCOME_SKIPPED_NOT_CLAIMED
    assert _plan(windows, 1, 5).item_ids == []
    status = batches.get("b1")
    assert status is not None
    assert status.progress.cancelled == 1


def _item(store: ItemStore, item_id: str) -> None:
    store.create_item(
        item_id=item_id, owner_id="o", title="", description="", images=[NewImage(uri="a.jpg")]
    )


def test_max_starts_caps_one_tick(windows: BatchWindows, batches: BatchStore) -> None:
    batches.create(NewBatch("b1", "item-batch/b1", 10, item_ids=list("abcdef")))
    plan = _plan(windows, 0, 10, max_starts=4)
    assert (plan.item_ids, plan.next_position) == (list("abcd"), 4)


def test_a_joined_run_holds_no_slot_and_counts_its_outcome(
    windows: BatchWindows, batches: BatchStore, runs: RunRecords
) -> None:
    batches.create(NewBatch("b1", "item-batch/b1", 1, item_ids=["a", "b"]))
    runs.record(run_step("a", "r-other", run_pb2.RUN_STATE_RUNNING))  # someone else's run
    assert _plan(windows, 0, 1).item_ids == ["a"]
    window = windows.record_starts("b1", joined=[JoinedRun("a", "r-other")])
    assert (window.open_runs, window.open_members) == (0, 1)
    assert _plan(windows, 1, 1).item_ids == ["b"]  # the slot is still free
    runs.record(run_step("a", "r-other", run_pb2.RUN_STATE_FAILED))
    window = windows.window("b1")
    assert (window.open_members, window.progress.failed) == (0, 1)


def test_a_run_that_ended_before_it_was_joined_is_counted_at_once(
    windows: BatchWindows, batches: BatchStore, runs: RunRecords
) -> None:
    batches.create(NewBatch("b1", "item-batch/b1", 1, item_ids=["a"]))
    runs.record(run_step("a", "r-other", run_pb2.RUN_STATE_RUNNING))
    runs.record(
        run_step(
            "a",
            "r-other",
            run_pb2.RUN_STATE_SUCCEEDED,
            skip_reason=run_pb2.SKIP_REASON_ALREADY_PROCESSED,
        )
    )
    window = windows.record_starts("b1", joined=[JoinedRun("a", "r-other")])
    assert (window.open_members, window.progress.skipped) == (0, 1)


def test_an_outcome_missed_while_joining_is_counted_by_the_next_look(
    windows: BatchWindows, batches: BatchStore, runs: RunRecords, engine: Engine
) -> None:
    batches.create(NewBatch("b1", "item-batch/b1", 1, item_ids=["a"]))
    runs.record(run_step("a", "r-other", run_pb2.RUN_STATE_RUNNING))
    windows.record_starts("b1", joined=[JoinedRun("a", "r-other")])
    # The run's terminal write, as if it had read the members just before the join committed.
    with engine.begin() as connection:
        connection.execute(
            update(ItemRun).where(ItemRun.run_id == "r-other").values(state="SUCCEEDED")
        )
    window = windows.window("b1")
    assert (window.open_members, window.progress.succeeded) == (0, 1)


def test_stragglers_are_planned_again_once_every_member_is_read(
    windows: BatchWindows, batches: BatchStore
) -> None:
    batches.create(NewBatch("b1", "item-batch/b1", 5, item_ids=["a", "b"]))
    assert _plan(windows, 0, 5).item_ids == ["a", "b"]
    windows.record_starts("b1", started=[_started("a")])  # "b"'s start was never recorded
    again = _plan(windows, 2, 5)
    assert (again.item_ids, again.next_position, again.all_read) == (["b"], 2, True)


def test_open_runs_are_the_batchs_own(
    windows: BatchWindows, batches: BatchStore, runs: RunRecords
) -> None:
    batches.create(NewBatch("b1", "item-batch/b1", 5, item_ids=["a", "b", "c"]))
    _plan(windows, 0, 5)
    runs.record(run_step("c", "r-other", run_pb2.RUN_STATE_RUNNING))
    windows.record_starts(
        "b1", started=[_started("a"), _started("b")], joined=[JoinedRun("c", "r-other")]
    )
    runs.record(run_step("b", "r-b", run_pb2.RUN_STATE_SUCCEEDED))
    assert windows.open_runs("b1") == [("a", "r-a")]
