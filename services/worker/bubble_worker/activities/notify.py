"""The ``send_processing_notification`` activity: one notification per run and outcome.

The row is written first, unique per (workflow id, run id, kind), so a retried activity or a
replayed workflow finds it instead of notifying twice; a webhook delivery already recorded on the
row is not sent again. Transient webhook failures are retried by Temporal with backoff; a refusal
(4xx) is final, and the run still succeeds: the item is already up to date. Once the owner is
told, it records the run's last step when the run hands it one (a write the run saves).
"""

from __future__ import annotations

import json

from temporalio import activity
from temporalio.exceptions import ApplicationError

from bubble.processing.v1 import activities_pb2
from bubble_shared.store import ItemStore, NotificationStore, RunRecords, RunStep
from bubble_shared.temporal import names
from bubble_worker.activities.webhook import (
    WebhookRejectedError,
    WebhookSender,
    WebhookTransientError,
)


class Notifications:
    def __init__(
        self,
        *,
        items: ItemStore,
        notifications: NotificationStore,
        runs: RunRecords,
        webhook: WebhookSender | None,
    ) -> None:
        self._items = items
        self._notifications = notifications
        self._runs = runs
        self._webhook = webhook

    @activity.defn(name=names.SEND_PROCESSING_NOTIFICATION)
    def send_processing_notification(
        self, request: activities_pb2.SendProcessingNotificationInput
    ) -> activities_pb2.SendProcessingNotificationOutput:
        output = self._notify(request)
        if request.HasField("last_step"):
            # The owner is told (or there is nobody to tell): the run's last step, in this task.
            step = activities_pb2.RecordItemRunInput()
            step.CopyFrom(request.last_step)
            step.time.GetCurrentTime()
            self._runs.record(RunStep.of(step))
            output.last_step_recorded = True
        return output

    def _notify(
        self, request: activities_pb2.SendProcessingNotificationInput
    ) -> activities_pb2.SendProcessingNotificationOutput:
        owner_id = request.owner_id or self._items.owner_of(request.item_id) or ""
        if not owner_id:
            # No such item (a batch listed an unknown id, or it was deleted): nobody to tell, and
            # a row or webhook with an empty owner would reach whoever reads them.
            activity.logger.info(
                "no notification: item %s has no owner",
                request.item_id,
                extra={"item_id": request.item_id},
            )
            return activities_pb2.SendProcessingNotificationOutput(
                webhook_configured=self._webhook is not None
            )
        kind = activities_pb2.NotificationKind.Name(request.kind).removeprefix("NOTIFICATION_KIND_")
        payload: dict[str, object] = {
            "kind": kind,
            "item_id": request.item_id,
            "owner_id": owner_id,
            "workflow_id": request.workflow_id,
            "run_id": request.run_id,
            "batch_id": request.batch_id or None,
            "summary": request.summary,
            "error": (
                {
                    "code": request.error.code,
                    "message": request.error.message,
                    "image_id": request.error.image_id or None,
                }
                if request.HasField("error")
                else None
            ),
        }
        notification_id, created = self._notifications.record_notification(
            workflow_id=request.workflow_id,
            run_id=request.run_id,
            kind=request.kind,
            item_id=request.item_id,
            owner_id=owner_id,
            summary=request.summary,
            payload=payload,
        )
        output = activities_pb2.SendProcessingNotificationOutput(
            notification_id=notification_id,
            created=created,
            webhook_configured=self._webhook is not None,
        )
        if self._webhook is not None:
            output.webhook_delivered = self._deliver(notification_id)
        return output

    def _deliver(self, notification_id: str) -> bool:
        assert self._webhook is not None
        notification = self._notifications.get_notification(notification_id)
        if notification.delivered_time is not None:
            return True
        body = json.dumps(
            {"notification_id": notification_id, **notification.payload}, sort_keys=True
        ).encode()
        try:
            self._webhook.deliver(notification_id, body)
        except WebhookTransientError as err:
            self._notifications.record_delivery_failure(notification_id, str(err))
            raise ApplicationError(str(err), type="WEBHOOK_UNAVAILABLE") from None
        except WebhookRejectedError as err:
            self._notifications.record_delivery_failure(notification_id, str(err))
            activity.logger.warning("notification %s: %s", notification_id, err)
            return False
        self._notifications.mark_notification_delivered(notification_id)
        return True
