"""Owner notifications: one per run and kind, delivery bookkeeping, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from bubble.processing.v1 import activities_pb2
from bubble_shared.store import ItemStore, NotificationNotFoundError
from bubble_shared.store.conftest import FakeClock

PROCESSED = activities_pb2.NOTIFICATION_KIND_PROCESSED
FAILED = activities_pb2.NOTIFICATION_KIND_FAILED


def record(
    store: ItemStore, *, run_id: str = "run-1", kind: int = PROCESSED, **changes: Any
) -> tuple[str, bool]:
    fields: dict[str, Any] = {
        "workflow_id": "item-processing/item-1",
        "item_id": "item-1",
        "owner_id": "owner-1",
        "summary": "2 photos analysed",
        "payload": {"suggested_title": "Navy jacket", "warnings": 0},
    }
    fields.update(changes)
    return store.record_notification(run_id=run_id, kind=kind, **fields)


def test_record_notification_creates_a_row(store: ItemStore, clock: FakeClock) -> None:
    notification_id, created = record(store)

    assert created
    notification = store.get_notification(notification_id)
    assert notification.notification_id == notification_id
    assert notification.workflow_id == "item-processing/item-1"
    assert notification.run_id == "run-1"
    assert notification.kind == PROCESSED
    assert (notification.item_id, notification.owner_id) == ("item-1", "owner-1")
    assert notification.summary == "2 photos analysed"
    assert notification.payload == {"suggested_title": "Navy jacket", "warnings": 0}
    assert notification.create_time == clock.now
    assert notification.create_time.tzinfo is not None
    assert notification.delivered_time is None
    assert notification.delivery_attempts == 0
    assert notification.last_delivery_error is None


def test_recording_the_same_notification_again_returns_the_existing_row(
    store: ItemStore,
) -> None:
    first_id, first_created = record(store)

    again_id, again_created = record(store, summary="a retry", payload={"other": True})

    assert (first_created, again_created) == (True, False)
    assert again_id == first_id
    assert store.get_notification(first_id).summary == "2 photos analysed"


def test_other_runs_and_kinds_get_their_own_notifications(store: ItemStore) -> None:
    ids = {
        record(store)[0],
        record(store, kind=FAILED)[0],
        record(store, run_id="run-2")[0],
        record(store, workflow_id="item-processing/item-2")[0],
    }

    assert len(ids) == 4


def test_concurrent_duplicates_create_one_row(store: ItemStore) -> None:
    threads = 8
    barrier = threading.Barrier(threads)

    def attempt(_: int) -> tuple[str, bool]:
        barrier.wait()
        return record(store)

    with ThreadPoolExecutor(max_workers=threads) as pool:
        results = list(pool.map(attempt, range(threads)))

    assert sorted(created for _, created in results) == [False] * (threads - 1) + [True]
    assert len({notification_id for notification_id, _ in results}) == 1
    assert len(store.list_notifications("item-1")) == 1


def test_unspecified_kind_is_refused(store: ItemStore) -> None:
    with pytest.raises(ValueError, match="notification kind"):
        record(store, kind=activities_pb2.NOTIFICATION_KIND_UNSPECIFIED)


def test_a_payload_json_cannot_hold_is_refused(store: ItemStore) -> None:
    with pytest.raises(TypeError):
        record(store, payload={"when": object()})


def test_delivery_failures_are_counted_until_delivered(store: ItemStore, clock: FakeClock) -> None:
    notification_id, _ = record(store)

    store.record_delivery_failure(notification_id, "HTTP 503")
    store.record_delivery_failure(notification_id, "connection refused")
    failing = store.get_notification(notification_id)
    clock.advance()
    store.mark_notification_delivered(notification_id)
    delivered = store.get_notification(notification_id)

    assert (failing.delivery_attempts, failing.last_delivery_error) == (2, "connection refused")
    assert failing.delivered_time is None
    assert delivered.delivered_time == clock.now
    assert delivered.delivery_attempts == 3
    assert delivered.last_delivery_error is None


def test_delivery_is_recorded_once(store: ItemStore, clock: FakeClock) -> None:
    notification_id, _ = record(store)
    store.mark_notification_delivered(notification_id)
    delivered = store.get_notification(notification_id)

    clock.advance()
    store.mark_notification_delivered(notification_id)
    store.record_delivery_failure(notification_id, "a late report of an earlier attempt")

    assert store.get_notification(notification_id) == delivered


def test_unknown_notifications_raise(store: ItemStore) -> None:
    with pytest.raises(NotificationNotFoundError):
        store.get_notification("nope")
    with pytest.raises(NotificationNotFoundError):
        store.mark_notification_delivered("nope")
    with pytest.raises(NotificationNotFoundError):
        store.record_delivery_failure("nope", "error")


def test_list_notifications_of_an_item_oldest_first(store: ItemStore, clock: FakeClock) -> None:
    first, _ = record(store, kind=FAILED)
    clock.advance()
    second, _ = record(store, run_id="run-2")
    record(store, item_id="item-2", workflow_id="item-processing/item-2")

    listed = store.list_notifications("item-1")

    assert [notification.notification_id for notification in listed] == [first, second]
    assert store.list_notifications("nothing") == []
