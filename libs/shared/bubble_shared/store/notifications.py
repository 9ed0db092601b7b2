"""Owner notifications as the store returns them, and how their kinds are stored."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from bubble.processing.v1 import activities_pb2
from bubble_shared.store import models

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
