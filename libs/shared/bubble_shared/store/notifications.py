"""Owner notifications: their store, the form it returns them in, and how their kinds are stored.

A notification is recorded once per (workflow_id, run_id, kind), so a retried activity or a
replayed workflow finds the row instead of notifying twice; the row also counts the deliveries.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bubble.processing.v1 import activities_pb2
from bubble_shared.store import models
from bubble_shared.store.dialects import insert_or_ignore
from bubble_shared.store.errors import NotificationNotFoundError
from bubble_shared.store.sessions import StoreBase

_KIND_PREFIX = "NOTIFICATION_KIND_"


@dataclass(frozen=True)
class Notification:
    """One notification row. ``delivered_time`` is set once a webhook delivery succeeded."""

    notification_id: str
    workflow_id: str
    run_id: str
    kind: activities_pb2.NotificationKind.ValueType
    item_id: str
    owner_id: str
    summary: str
    payload: Mapping[str, object]
    create_time: datetime
    delivered_time: datetime | None
    delivery_attempts: int
    last_delivery_error: str | None


def kind_name(kind: int) -> str:
    """The stored name of a NotificationKind: NOTIFICATION_KIND_FAILED -> "FAILED"."""
    if kind == activities_pb2.NOTIFICATION_KIND_UNSPECIFIED or (
        kind not in activities_pb2.NotificationKind.values()
    ):
        raise ValueError(f"not a valid notification kind: {kind}")
    value = activities_pb2.NotificationKind.ValueType(kind)
    return activities_pb2.NotificationKind.Name(value).removeprefix(_KIND_PREFIX)


def encode_payload(payload: Mapping[str, object]) -> str:
    """The payload as JSON text; TypeError when it holds something JSON cannot represent."""
    return json.dumps(dict(payload), sort_keys=True, separators=(",", ":"), allow_nan=False)


def notification_from_row(row: models.Notification) -> Notification:
    return Notification(
        notification_id=row.notification_id,
        workflow_id=row.workflow_id,
        run_id=row.run_id,
        kind=activities_pb2.NotificationKind.Value(_KIND_PREFIX + row.kind),
        item_id=row.item_id,
        owner_id=row.owner_id,
        summary=row.summary,
        payload=json.loads(row.payload),
        create_time=row.create_time,
        delivered_time=row.delivered_time,
        delivery_attempts=row.delivery_attempts,
        last_delivery_error=row.last_delivery_error,
    )


class NotificationStore(StoreBase):
    """Owner notifications and their delivery; ``clock`` stamps create_time and delivered_time."""

    def record_notification(
        self,
        *,
        workflow_id: str,
        run_id: str,
        kind: int,
        item_id: str,
        owner_id: str,
        summary: str,
        payload: Mapping[str, object],
    ) -> tuple[str, bool]:
        """Records a notification once per (workflow_id, run_id, kind).

        Returns (notification_id, created): created is False when the row already existed, also
        when a concurrent call inserted it first. The existing row is left as it was. Raises
        ValueError for NOTIFICATION_KIND_UNSPECIFIED, TypeError/ValueError for a payload that
        JSON cannot represent.
        """
        values = {
            "notification_id": uuid.uuid4().hex,
            "workflow_id": workflow_id,
            "run_id": run_id,
            "kind": kind_name(kind),
            "item_id": item_id,
            "owner_id": owner_id,
            "summary": summary,
            "payload": encode_payload(payload),
            "create_time": self._now(),
            "delivered_time": None,
            "delivery_attempts": 0,
            "last_delivery_error": None,
        }
        with self._writes.begin() as session:
            inserted = insert_or_ignore(
                session,
                models.Notification,
                values,
                conflict_columns=("workflow_id", "run_id", "kind"),
                returning=models.Notification.notification_id,
            )
            if inserted is not None:
                return inserted, True
            existing = session.scalars(
                select(models.Notification.notification_id).where(
                    models.Notification.workflow_id == workflow_id,
                    models.Notification.run_id == run_id,
                    models.Notification.kind == values["kind"],
                )
            ).one()
            return existing, False

    def mark_notification_delivered(self, notification_id: str) -> None:
        """Records a successful delivery (counted as an attempt). Later calls change nothing."""
        with self._writes.begin() as session:
            row = _lock_notification(session, notification_id)
            if row.delivered_time is None:
                row.delivered_time = self._now()
                row.delivery_attempts += 1
                row.last_delivery_error = None

    def record_delivery_failure(self, notification_id: str, error: str) -> None:
        """Counts a failed delivery attempt and keeps its error.

        Ignored once the notification is delivered: a late report of an earlier attempt must not
        make a delivered notification look undelivered.
        """
        with self._writes.begin() as session:
            row = _lock_notification(session, notification_id)
            if row.delivered_time is None:
                row.delivery_attempts += 1
                row.last_delivery_error = error

    def get_notification(self, notification_id: str) -> Notification:
        """The notification; raises NotificationNotFoundError."""
        with self._reads.begin() as session:
            row = session.get(models.Notification, notification_id)
            if row is None:
                raise NotificationNotFoundError(notification_id)
            return notification_from_row(row)

    def list_notifications(self, item_id: str) -> list[Notification]:
        """The item's notifications, oldest first."""
        query = (
            select(models.Notification)
            .where(models.Notification.item_id == item_id)
            .order_by(models.Notification.create_time, models.Notification.notification_id)
        )
        with self._reads.begin() as session:
            return [notification_from_row(row) for row in session.scalars(query)]


def _lock_notification(session: Session, notification_id: str) -> models.Notification:
    row = session.get(models.Notification, notification_id, with_for_update=True)
    if row is None:
        raise NotificationNotFoundError(notification_id)
    return row
