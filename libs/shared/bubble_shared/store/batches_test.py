"""Batches in the read model: listed and selected members, pages, finishing, cancelling."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, update

from bubble.processing.v1 import item_pb2, run_pb2
from bubble_shared.store.batch_window import BatchWindows
from bubble_shared.store.batches import BatchStore, NewBatch
from bubble_shared.store.conftest import FakeClock, run_step
from bubble_shared.store.items import ItemStore, NewImage
from bubble_shared.store.models import Item
from bubble_shared.store.run_records import RunRecords
from bubble_shared.store.selection import selector_problems, version_key

T0 = datetime(2026, 1, 1, tzinfo=UTC)
_ITEM_NUMBERS = itertools.count()


def _listed(batch_id: str, item_ids: list[str]) -> NewBatch:
    return NewBatch(batch_id, f"item-batch/{batch_id}", 10, item_ids=item_ids)


def _selected(batch_id: str, selector: item_pb2.ItemSelector) -> NewBatch:
    return NewBatch(batch_id, f"item-batch/{batch_id}", 10, selector=selector)


def _page(batches: BatchStore, batch_id: str, start: int, limit: int) -> tuple[list[str], bool]:
    plan = BatchWindows(batches.engine).plan(
        batch_id,
        next_position=start,
        max_concurrency=limit,
        run_id="run-1",
        continued_as_new_count=0,
        time=T0,
    )
    return plan.item_ids, plan.all_read


def _create_items(store: ItemStore, clock: FakeClock, owners: list[str]) -> list[str]:
    ids = []
    for owner in owners:
        clock.advance()
        item = store.create_item(
            item_id=f"item-{next(_ITEM_NUMBERS):03d}",
            owner_id=owner,
            title="",
            description="",
            images=[NewImage(uri="a.jpg")],
        )
        ids.append(item.item_id)
    return ids


def test_a_listed_batch_is_queued_with_its_members(batches: BatchStore) -> None:
    status, created = batches.create(_listed("b1", ["a", "b", "c"]))
    assert created
    assert status.state == run_pb2.RUN_STATE_QUEUED
    assert (status.progress.total, status.progress.pending) == (3, 3)
    assert status.selection_complete
    again, created_again = batches.create(_listed("b1", ["x"]))
    assert not created_again
    assert again.progress.total == 3


def test_pages_in_order_and_the_first_page_starts_the_batch(batches: BatchStore) -> None:
    batches.create(_listed("b1", ["a", "b", "c", "d", "e"]))
    assert _page(batches, "b1", 0, 2) == (["a", "b"], False)
    assert _page(batches, "b1", 2, 2) == (["c", "d"], False)
    assert _page(batches, "b1", 4, 2) == (["e"], True)
    status = batches.get("b1")
    assert status is not None
    assert status.state == run_pb2.RUN_STATE_RUNNING
    assert status.run_id == "run-1"
    assert status.start_time.ToDatetime(tzinfo=UTC) == T0


def test_a_selector_is_read_page_by_page(
    batches: BatchStore, store: ItemStore, clock: FakeClock, engine: Engine
) -> None:
    ids = _create_items(store, clock, ["alice", "bob", "alice", "alice", "bob", "alice"])
    status, _ = batches.create(_selected("b1", item_pb2.ItemSelector(owner_id="alice")))
    assert (status.progress.total, status.selection_complete) == (4, False)
    clock.advance()
    late = _create_items(store, clock, ["alice"])  # created after acceptance: not selected
    assert late

    assert _page(batches, "b1", 0, 3) == ([ids[0], ids[2], ids[3]], False)
    assert batches.get("b1").selection_complete is False  # type: ignore[union-attr]
    assert _page(batches, "b1", 3, 3) == ([ids[5]], True)
    done = batches.get("b1")
    assert done is not None
    assert done.selection_complete
    assert done.progress.total == 4


def test_selector_filters(
    batches: BatchStore, store: ItemStore, clock: FakeClock, engine: Engine
) -> None:
    ids = _create_items(store, clock, ["o"] * 5)
    with engine.begin() as connection:
        connection.execute(update(Item).where(Item.item_id == ids[1]).values(status="FAILED"))
        for item_id, version in [(ids[2], "1.2.9"), (ids[3], "1.10.0"), (ids[4], "0.9.0")]:
            connection.execute(
                update(Item)
                .where(Item.item_id == item_id)
                .values(status="PROCESSED", analyzer_version_key=version_key(version))
            )
    statuses = item_pb2.ItemSelector(statuses=[item_pb2.ITEM_STATUS_FAILED])
    older = item_pb2.ItemSelector(analyzed_before_version="1.10.0")
    window = item_pb2.ItemSelector()
    window.created_after.FromDatetime(T0 + timedelta(seconds=2))
    window.created_before.FromDatetime(T0 + timedelta(seconds=4))
    for batch_id, selector, expected in [
        ("s", statuses, [ids[1]]),
        ("v", older, [ids[2], ids[4]]),
        ("w", window, [ids[1], ids[2]]),
    ]:
        batches.create(_selected(batch_id, selector))
        assert _page(batches, batch_id, 0, 10) == (expected, True), batch_id


def test_an_empty_selection_finishes_with_total_zero(batches: BatchStore) -> None:
    status, _ = batches.create(_selected("b1", item_pb2.ItemSelector(owner_id="nobody")))
    assert status.progress.total == 0
    assert _page(batches, "b1", 0, 10) == ([], True)
    done = batches.finish("b1", state=run_pb2.RUN_STATE_SUCCEEDED, time=T0)
    assert done.finished
    assert done.status.state == run_pb2.RUN_STATE_SUCCEEDED
    assert done.status.progress.total == 0


def test_finishing_waits_for_every_member(batches: BatchStore, runs: RunRecords) -> None:
    batches.create(_listed("b1", ["a", "b"]))
    _page(batches, "b1", 0, 10)
    runs.record(run_step("a", "ra", run_pb2.RUN_STATE_RUNNING, batch_id="b1"))
    refused = batches.finish("b1", state=run_pb2.RUN_STATE_SUCCEEDED, time=T0)
    assert not refused.finished
    assert refused.status.state == run_pb2.RUN_STATE_RUNNING
    runs.record(run_step("a", "ra", run_pb2.RUN_STATE_SUCCEEDED))
    runs.record(run_step("b", "rb", run_pb2.RUN_STATE_RUNNING, batch_id="b1"))
    runs.record(run_step("b", "rb", run_pb2.RUN_STATE_SUCCEEDED))
    done = batches.finish("b1", state=run_pb2.RUN_STATE_SUCCEEDED, time=T0 + timedelta(1))
    assert done.finished
    assert done.status.progress.succeeded == 2
    assert done.status.close_time.ToDatetime(tzinfo=UTC) == T0 + timedelta(1)


def test_cancelling_counts_the_rest_cancelled_and_freezes_the_counters(
    batches: BatchStore, runs: RunRecords
) -> None:
    batches.create(_listed("b1", ["a", "b", "c"]))
    _page(batches, "b1", 0, 10)
    runs.record(run_step("a", "ra", run_pb2.RUN_STATE_RUNNING, batch_id="b1"))
    runs.record(run_step("b", "rb", run_pb2.RUN_STATE_RUNNING, batch_id="b1"))
    runs.record(run_step("b", "rb", run_pb2.RUN_STATE_SUCCEEDED))
    error = run_pb2.ProcessingError(code="CANCELLED", message="the batch was cancelled")
    done = batches.finish("b1", state=run_pb2.RUN_STATE_CANCELLED, time=T0, error=error)
    progress = done.status.progress
    assert done.status.state == run_pb2.RUN_STATE_CANCELLED
    assert done.status.error == error
    assert (progress.total, progress.pending, progress.running) == (3, 0, 0)
    assert (progress.succeeded, progress.cancelled) == (1, 2)
    # The open run ending later no longer moves a closed batch.
    runs.record(run_step("a", "ra", run_pb2.RUN_STATE_SUCCEEDED))
    assert batches.get("b1").progress == progress  # type: ignore[union-attr]


def test_failed_ids_are_capped(batches: BatchStore, runs: RunRecords, clock: FakeClock) -> None:
    ids = [f"i{index:04d}" for index in range(1003)]
    batches.create(_listed("b1", ids))
    error = run_pb2.ProcessingError(code="IMAGE_CORRUPT", message="bad")
    for item_id in ids:
        clock.advance(0.001)
        runs.record(
            run_step(item_id, f"r-{item_id}", run_pb2.RUN_STATE_FAILED, batch_id="b1", error=error)
        )
    status = batches.get("b1")
    assert status is not None
    assert status.progress.failed == 1003
    assert list(status.failed_item_ids) == ids[:1000]
    assert status.failed_item_ids_truncated


def test_selector_problems_are_named() -> None:
    bad = item_pb2.ItemSelector(
        statuses=[item_pb2.ITEM_STATUS_UNSPECIFIED], analyzed_before_version="v2"
    )
    bad.created_after.FromDatetime(T0)
    bad.created_before.FromDatetime(T0)
    fields = [field for field, _ in selector_problems(bad)]
    assert fields == ["statuses[0]", "analyzed_before_version", "created_after"]
    assert selector_problems(item_pb2.ItemSelector(owner_id="o")) == []
