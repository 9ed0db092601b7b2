"""Batches limited to some owners' items: listed IDs of other owners (or of no item) are settled
as failed when the batch is accepted and never reach the workflow; a selection reads only those
owners' items; the scope is stored with the batch. Items: listing limited to some owners."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bubble.processing.v1 import item_pb2, run_pb2
from bubble_shared.store.batch_window import BatchWindows
from bubble_shared.store.batches import BatchOwners, BatchStore, NewBatch
from bubble_shared.store.conftest import FakeClock
from bubble_shared.store.items import ItemStore, NewImage
from bubble_shared.store.run_records import RunRecords, RunStep

T0 = datetime(2026, 1, 1, tzinfo=UTC)
OWNER_A = frozenset({"owner-a"})


def _items(store: ItemStore, clock: FakeClock) -> None:
    for item_id, owner in [("a1", "owner-a"), ("b1", "owner-b"), ("a2", "owner-a")]:
        clock.advance()
        store.create_item(
            item_id=item_id,
            owner_id=owner,
            title="",
            description="",
            images=[NewImage(uri="a.jpg")],
        )


def _page(batches: BatchStore, batch_id: str, start: int = 0) -> tuple[list[str], bool]:
    plan = BatchWindows(batches.engine).plan(
        batch_id,
        next_position=start,
        max_concurrency=100,
        run_id="r",
        continued_as_new_count=0,
        time=T0,
    )
    return plan.item_ids, plan.all_read


def _finish_run(runs: RunRecords, item_id: str, batch_id: str) -> None:
    for state in (run_pb2.RUN_STATE_RUNNING, run_pb2.RUN_STATE_SUCCEEDED):
        runs.record(
            RunStep(
                item_id=item_id,
                workflow_id=f"item-processing/{item_id}",
                run_id=f"run-{item_id}",
                queue_time=T0,
                state=state,
                stage=run_pb2.PROCESSING_STAGE_DONE,
                time=T0,
                batch_id=batch_id,
            )
        )


def test_listed_ids_outside_the_scope_are_failed_at_once_and_never_read(
    store: ItemStore, clock: FakeClock, batches: BatchStore, runs: RunRecords
) -> None:
    _items(store, clock)

    status, _ = batches.create(
        NewBatch("b", "item-batch/b", 10, item_ids=["b1", "a1", "ghost", "a2"], owner_ids=OWNER_A)
    )

    assert (status.progress.total, status.progress.failed, status.progress.pending) == (4, 2, 2)
    assert list(status.failed_item_ids) == ["b1", "ghost"]
    assert _page(batches, "b") == (["a1", "a2"], True)
    # Past the end, only members that were never started come again; settled ones never do.
    assert _page(batches, "b", start=2) == (["a1", "a2"], True)
    for item_id in ("a1", "a2"):
        _finish_run(runs, item_id, "b")
    done = batches.finish("b", state=run_pb2.RUN_STATE_SUCCEEDED, time=T0 + timedelta(1))
    assert done.finished
    assert (done.status.progress.total, done.status.progress.succeeded) == (4, 2)
    assert done.status.progress.failed == 2
    assert batches.owners("b") == BatchOwners(OWNER_A)


def test_a_cancelled_scoped_batch_keeps_its_total(
    store: ItemStore, clock: FakeClock, batches: BatchStore
) -> None:
    _items(store, clock)
    batches.create(NewBatch("b", "item-batch/b", 10, item_ids=["a1", "b1"], owner_ids=OWNER_A))

    done = batches.finish("b", state=run_pb2.RUN_STATE_CANCELLED, time=T0)

    counted = done.status.progress
    assert (counted.total, counted.failed, counted.cancelled) == (2, 1, 1)


def test_a_selection_reads_only_the_scopes_owners(
    store: ItemStore, clock: FakeClock, batches: BatchStore
) -> None:
    _items(store, clock)
    clock.advance()
    selector = item_pb2.ItemSelector(statuses=[item_pb2.ITEM_STATUS_PENDING])

    scoped, _ = batches.create(
        NewBatch("s", "item-batch/s", 10, selector=selector, owner_ids=OWNER_A)
    )
    every, _ = batches.create(NewBatch("e", "item-batch/e", 10, selector=selector))

    assert (scoped.progress.total, every.progress.total) == (2, 3)
    assert _page(batches, "s") == (["a1", "a2"], True)
    assert _page(batches, "e") == (["a1", "b1", "a2"], True)
    assert batches.owners("e") == BatchOwners(None)
    assert batches.owners("nope") is None


def test_items_are_listed_for_some_owners_and_their_owner_is_known(
    store: ItemStore, clock: FakeClock
) -> None:
    _items(store, clock)

    page, _ = store.list_items(page_size=10, owner_ids={"owner-a"})
    none, _ = store.list_items(page_size=10, owner_ids=set())

    assert [item.item_id for item in page] == ["a2", "a1"]
    assert none == []
    assert (store.owner_of("b1"), store.owner_of("ghost")) == ("owner-b", None)
