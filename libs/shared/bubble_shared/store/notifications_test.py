"""Owner notifications: one per run and kind, delivery bookkeeping, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from bubble.processing.v1 import activities_pb2
from bubble_shared.store import NotificationNotFoundError, NotificationStore
from bubble_shared.store.conftest import FakeClock

PROCESSED = activities_pb2.NOTIFICATION_KIND_PROCESSED
FAILED = activities_pb2.NOTIFICATION_KIND_FAILED


def record(
    notifications: NotificationStore,
    *,
    run_id: str = "run-1",
    kind: int = PROCESSED,
    **changes: Any,
) -> tuple[str, bool]:
    fields: dict[str, Any] = {
        "workflow_id": "item-processing/item-1",
        "item_id": "item-1",
        "owner_id": "owner-1",
        "summary": "2 photos analysed",
        "payload": {"suggested_title": "Navy jacket", "warnings": 0},
    }
    fields.update(changes)
    return notifications.record_notification(run_id=run_id, kind=kind, **fields)


def test_record_notification_creates_a_row(
    notifications: NotificationStore, clock: FakeClock
) -> None:
    notification_id, created = record(notifications)

    assert created
    notification = notifications.get_notification(notification_id)
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
    notifications: NotificationStore,
) -> None:
    first_id, first_created = record(notifications)

    again_id, again_created = record(notifications, summary="a retry", payload={"other": True})

    assert (first_created, again_created) == (True, False)
    assert again_id == first_id
    assert notifications.get_notification(first_id).summary == "2 photos analysed"


def test_other_runs_and_kinds_get_their_own_notifications(notifications: NotificationStore) -> None:
    ids = {
        record(notifications)[0],
        record(notifications, kind=FAILED)[0],
        record(notifications, run_id="run-2")[0],
        record(notifications, workflow_id="item-processing/item-2")[0],
    }

    assert len(ids) == 4


def test_concurrent_duplicates_create_one_row(notifications: NotificationStore) -> None:
    threads = 8
    barrier = threading.Barrier(threads)

    def attempt(_: int) -> tuple[str, bool]:
        barrier.wait()
        return record(notifications)

    with ThreadPoolExecutor(max_workers=threads) as pool:
        results = list(pool.map(attempt, range(threads)))

    assert sorted(created for _, created in results) == [False] * (threads - 1) + [True]
    assert len({notification_id for notification_id, _ in results}) == 1
    assert len(notifications.list_notifications("item-1")) == 1


def test_unspecified_kind_is_refused(notifications: NotificationStore) -> None:
    with pytest.raises(ValueError, match="notification kind"):
        record(notifications, kind=activities_pb2.NOTIFICATION_KIND_UNSPECIFIED)


def test_a_payload_json_cannot_hold_is_refused(notifications: NotificationStore) -> None:
    with pytest.raises(TypeError):
        record(notifications, payload={"when": object()})


def test_delivery_failures_are_counted_until_delivered(
    notifications: NotificationStore, clock: FakeClock
) -> None:
    notification_id, _ = record(notifications)

    notifications.record_delivery_failure(notification_id, "HTTP 503")
    notifications.record_delivery_failure(notification_id, "connection refused")
    failing = notifications.get_notification(notification_id)
    clock.advance()
    notifications.mark_notification_delivered(notification_id)
    delivered = notifications.get_notification(notification_id)

    assert (failing.delivery_attempts, failing.last_delivery_error) == (2, "connection refused")
    assert failing.delivered_time is None
    assert delivered.delivered_time == clock.now
    assert delivered.delivery_attempts == 3
    assert delivered.last_delivery_error is None


def test_delivery_is_recorded_once(notifications: NotificationStore, clock: FakeClock) -> None:
    notification_id, _ = record(notifications)
    notifications.mark_notification_delivered(notification_id)
    delivered = notifications.get_notification(notification_id)

    clock.advance()
    notifications.mark_notification_delivered(notification_id)
    notifications.record_delivery_failure(notification_id, "a late report of an earlier attempt")

    assert notifications.get_notification(notification_id) == delivered


def test_unknown_notifications_raise(notifications: NotificationStore) -> None:
    with pytest.raises(NotificationNotFoundError):
        notifications.get_notification("nope")
    with pytest.raises(NotificationNotFoundError):
        notifications.mark_notification_delivered("nope")
    with pytest.raises(NotificationNotFoundError):
        notifications.record_delivery_failure("nope", "error")


def test_list_notifications_of_an_item_oldest_first(
    notifications: NotificationStore, clock: FakeClock
) -> None:
    first, _ = record(notifications, kind=FAILED)
    clock.advance()
    second, _ = record(notifications, run_id="run-2")
    record(notifications, item_id="item-2", workflow_id="item-processing/item-2")

    listed = notifications.list_notifications("item-1")

    assert [notification.notification_id for notification in listed] == [first, second]
    assert notifications.list_notifications("nothing") == []
