"""send_processing_notification with a real store and a real webhook receiver on loopback."""

from __future__ import annotations

import json

import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from bubble.processing.v1 import activities_pb2, run_pb2
from bubble_shared.store import ItemStore, NotificationStore, RunRecords
from bubble_worker.activities.notify import Notifications
from bubble_worker.activities.webhook import SIGNATURE_HEADER, WebhookConfig, WebhookSender
from bubble_worker.testing.webhook_receiver import WebhookReceiver, webhook_receiver


def _request(
    store: ItemStore, kind: int = activities_pb2.NOTIFICATION_KIND_PROCESSED, run: str = "r1"
) -> activities_pb2.SendProcessingNotificationInput:
    item = store.create_item(item_id=None, owner_id="owner-7", title="t", description="", images=[])
    return activities_pb2.SendProcessingNotificationInput(
        item_id=item.item_id,
        workflow_id=f"item-processing/{item.item_id}",
        run_id=run,
        kind=kind,  # type: ignore[arg-type]
        summary="Suggested title: 'Red jacket'",
    )


def _notifications(
    store: ItemStore, notifications: NotificationStore, receiver: WebhookReceiver | None
) -> Notifications:
    webhook = WebhookSender(WebhookConfig(url=receiver.url, secret="s3cret")) if receiver else None
    return Notifications(
        items=store, notifications=notifications, runs=RunRecords(store.engine), webhook=webhook
    )


def _with_last_step(
    request: activities_pb2.SendProcessingNotificationInput,
) -> activities_pb2.SendProcessingNotificationInput:
    request.last_step.CopyFrom(
        activities_pb2.RecordItemRunInput(
            item_id=request.item_id,
            workflow_id=request.workflow_id,
            run_id=request.run_id,
            run_start_time=Timestamp(seconds=1_700_000_000),
            state=run_pb2.RUN_STATE_SUCCEEDED,
            stage=run_pb2.PROCESSING_STAGE_DONE,
        )
    )
    return request


def test_records_one_notification_per_run_and_kind_even_when_retried(
    store: ItemStore, notifications: NotificationStore
) -> None:
    activities = _notifications(store, notifications, None)
    request = _request(store)

    first = ActivityEnvironment().run(activities.send_processing_notification, request)
    retried = ActivityEnvironment().run(activities.send_processing_notification, request)

    assert (first.created, retried.created) == (True, False)
    assert first.notification_id == retried.notification_id
    assert not first.webhook_configured
    [row] = notifications.list_notifications(request.item_id)
    assert row.owner_id == "owner-7"  # looked up from the item
    assert row.payload["kind"] == "PROCESSED"


def test_a_later_run_of_the_same_item_notifies_again(
    store: ItemStore, notifications: NotificationStore
) -> None:
    activities = _notifications(store, notifications, None)
    request = _request(store)
    later = activities_pb2.SendProcessingNotificationInput()
    later.CopyFrom(request)
    later.run_id = "r2"

    ActivityEnvironment().run(activities.send_processing_notification, request)
    ActivityEnvironment().run(activities.send_processing_notification, later)

    assert len(notifications.list_notifications(request.item_id)) == 2


def test_an_item_that_does_not_exist_notifies_nobody(
    store: ItemStore, notifications: NotificationStore
) -> None:
    # A batch listing unknown ids once wrote a notification row with an empty owner per id
    # (478 of them for 478 ids), and a webhook would have received each.
    with webhook_receiver() as receiver:
        activities = _notifications(store, notifications, receiver)
        request = activities_pb2.SendProcessingNotificationInput(
            item_id="no-such-item",
            workflow_id="item-processing/no-such-item",
            run_id="r1",
            kind=activities_pb2.NOTIFICATION_KIND_FAILED,
            summary="item 'no-such-item' does not exist",
        )

        sent = ActivityEnvironment().run(activities.send_processing_notification, request)

    assert (sent.notification_id, sent.created, sent.webhook_delivered) == ("", False, False)
    assert notifications.list_notifications("no-such-item") == []
    assert receiver.received == []


def test_delivers_a_signed_webhook_once_across_retries(
    store: ItemStore, notifications: NotificationStore
) -> None:
    with webhook_receiver() as receiver:
        activities = _notifications(store, notifications, receiver)
        request = _request(store, kind=activities_pb2.NOTIFICATION_KIND_FAILED)
        request.error.CopyFrom(
            run_pb2.ProcessingError(code="IMAGE_CORRUPT", message="bad", image_id="i1")
        )

        sent = ActivityEnvironment().run(activities.send_processing_notification, request)
        again = ActivityEnvironment().run(activities.send_processing_notification, request)

    assert (sent.webhook_delivered, again.webhook_delivered) == (True, True)
    [delivery] = receiver.received
    body = json.loads(delivery.body)
    assert body["notification_id"] == sent.notification_id
    assert body["kind"] == "FAILED"
    assert body["error"] == {"code": "IMAGE_CORRUPT", "message": "bad", "image_id": "i1"}
    assert delivery.headers[SIGNATURE_HEADER.lower()].startswith("sha256=")
    assert notifications.get_notification(sent.notification_id).delivered_time is not None


def test_a_failing_receiver_raises_a_retryable_error_and_the_retry_delivers(
    store: ItemStore, notifications: NotificationStore
) -> None:
    with webhook_receiver() as receiver:
        receiver.statuses.append(503)
        activities = _notifications(store, notifications, receiver)
        request = _request(store)

        with pytest.raises(ApplicationError) as raised:
            ActivityEnvironment().run(activities.send_processing_notification, request)
        assert not raised.value.non_retryable
        [failed] = notifications.list_notifications(request.item_id)
        assert (failed.delivery_attempts, failed.delivered_time) == (1, None)
        assert "503" in (failed.last_delivery_error or "")
        retried = ActivityEnvironment().run(activities.send_processing_notification, request)

    assert (retried.webhook_delivered, retried.created) == (True, False)
    assert len(receiver.received) == 2
    assert notifications.get_notification(retried.notification_id).delivery_attempts == 2


def test_a_receiver_refusing_the_notification_is_final_and_does_not_raise(
    store: ItemStore, notifications: NotificationStore
) -> None:
    with webhook_receiver() as receiver:
        receiver.statuses.append(410)
        sent = ActivityEnvironment().run(
            _notifications(store, notifications, receiver).send_processing_notification,
            _request(store),
        )

    assert (sent.created, sent.webhook_delivered) == (True, False)


def test_the_runs_last_step_is_recorded_once_the_owner_is_told(
    store: ItemStore, notifications: NotificationStore
) -> None:
    runs = RunRecords(store.engine)
    activities = _notifications(store, notifications, None)
    request = _with_last_step(_request(store))

    sent = ActivityEnvironment().run(activities.send_processing_notification, request)

    assert sent.last_step_recorded
    status = runs.get(request.run_id)
    assert status is not None
    assert (status.state, status.stage) == (
        run_pb2.RUN_STATE_SUCCEEDED,
        run_pb2.PROCESSING_STAGE_DONE,
    )
    assert status.HasField("close_time")
    # Without one, the run records its last step itself.
    plain = ActivityEnvironment().run(activities.send_processing_notification, _request(store))
    assert not plain.last_step_recorded


def test_a_notification_still_being_retried_leaves_the_run_open(
    store: ItemStore, notifications: NotificationStore
) -> None:
    runs = RunRecords(store.engine)
    with webhook_receiver() as receiver:
        receiver.statuses = [503]
        activities = _notifications(store, notifications, receiver)
        request = _with_last_step(_request(store))

        with pytest.raises(ApplicationError):
            ActivityEnvironment().run(activities.send_processing_notification, request)

    assert runs.get(request.run_id) is None
