"""What must hold after a batch survived a fault, read from the database the runs write.

"Processed exactly once" is what the store can prove: one run per item (``item_runs``), and that
run SUCCEEDED; the item PROCESSED by that run, at version 3 (created at 1, then one claim and one
result write: a result applied twice, or a second run's claim, would raise it); the batch member
counted once for that run; one notification row for that run. Nothing FAILED, nothing left
PROCESSING, and the batch's counters add up.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Engine, select

from bubble_client import ProcessingClient
from bubble_client import messages as m
from bubble_shared.store import models
from bubble_worker.testing.webhook_receiver import WebhookReceiver

# Created at version 1; the run's claim and its one applied result each add 1.
PROCESSED_ONCE_VERSION = 3
_SHOWN_PER_CHECK = 8


@dataclass
class Findings:
    """Violations (the test fails on any) and notes (evidence worth printing either way)."""

    problems: list[str]
    notes: list[str]

    def add(self, check: str, violations: Sequence[str]) -> None:
        shown = list(violations[:_SHOWN_PER_CHECK])
        if len(violations) > len(shown):
            shown.append(f"... and {len(violations) - len(shown)} more")
        self.problems.extend(f"{check}: {violation}" for violation in shown)


def processed_exactly_once(
    engine: Engine, batch_id: str, item_ids: Sequence[str], findings: Findings
) -> dict[str, str]:
    """Checks items, runs, batch members and notifications; returns each item's run id."""
    with engine.connect() as db:
        items = {
            row.item_id: row
            for row in db.execute(
                select(
                    models.Item.item_id,
                    models.Item.status,
                    models.Item.version,
                    models.Item.current_run_id,
                    models.Item.last_run_id,
                    models.Item.last_error_code,
                    models.Item.last_error_message,
                    models.Item.suggestions,
                ).where(models.Item.item_id.in_(item_ids))
            )
        }
        runs = defaultdict(list)
        for run in db.execute(
            select(
                models.ItemRun.item_id,
                models.ItemRun.run_id,
                models.ItemRun.batch_id,
                models.ItemRun.state,
                models.ItemRun.error_code,
                models.ItemRun.error_message,
            ).where(models.ItemRun.item_id.in_(item_ids))
        ):
            runs[run.item_id].append(run)
        members = {
            row.item_id: row
            for row in db.execute(
                select(
                    models.BatchItem.item_id, models.BatchItem.state, models.BatchItem.run_id
                ).where(models.BatchItem.batch_id == batch_id)
            )
        }
        notifications = defaultdict(list)
        for row in db.execute(
            select(
                models.Notification.item_id,
                models.Notification.notification_id,
                models.Notification.run_id,
                models.Notification.kind,
                models.Notification.delivered_time,
            ).where(models.Notification.item_id.in_(item_ids))
        ):
            notifications[row.item_id].append(row)

    statuses = Counter(item.status for item in items.values())
    codes = Counter(item.last_error_code for item in items.values() if item.last_error_code)
    findings.notes.append(f"item statuses: {dict(statuses)}; error codes: {dict(codes)}")
    findings.add(
        "items not PROCESSED",
        [
            f"{item.item_id} is {item.status}"
            + (
                f" ({item.last_error_code}: {item.last_error_message})"
                if item.last_error_code
                else ""
            )
            for item in items.values()
            if item.status != "PROCESSED"
        ]
        + [f"{item_id} is missing" for item_id in item_ids if item_id not in items],
    )
    findings.add(
        "items written more often than one run's claim and result",
        [
            f"{item.item_id} is at version {item.version}, not {PROCESSED_ONCE_VERSION}"
            for item in items.values()
            if item.version != PROCESSED_ONCE_VERSION
        ],
    )
    findings.add(
        "items still held by a run",
        [
            f"{item.item_id} has current run {item.current_run_id}"
            for item in items.values()
            if item.current_run_id is not None
        ],
    )
    findings.add(
        "items without suggestions",
        [item.item_id for item in items.values() if item.suggestions is None],
    )

    run_of: dict[str, str] = {}
    run_problems = []
    for item_id in item_ids:
        item_runs = runs.get(item_id, [])
        if len(item_runs) != 1:
            states = ", ".join(f"{run.run_id[:8]} {run.state}" for run in item_runs)
            run_problems.append(f"{item_id} has {len(item_runs)} runs ({states})")
            continue
        [run] = item_runs
        run_of[item_id] = run.run_id
        if run.state != "SUCCEEDED" or run.error_code:
            run_problems.append(
                f"{item_id}'s run is {run.state} ({run.error_code}: {run.error_message})"
            )
        if run.batch_id != batch_id:
            run_problems.append(f"{item_id}'s run belongs to batch {run.batch_id!r}")
        item = items.get(item_id)
        if item is not None and item.last_run_id != run.run_id:
            run_problems.append(
                f"{item_id} holds the outcome of run {item.last_run_id}, not {run.run_id}"
            )
    findings.add("runs (one SUCCEEDED run per item)", run_problems)

    findings.add(
        "batch members",
        [
            f"{item_id} is {member.state} for run {member.run_id}"
            for item_id, member in members.items()
            if member.state != "SUCCEEDED" or member.run_id != run_of.get(item_id)
        ]
        + [f"{item_id} is not a member" for item_id in item_ids if item_id not in members],
    )

    notification_problems = []
    for item_id in item_ids:
        rows = notifications.get(item_id, [])
        if len(rows) != 1:
            kinds = ", ".join(f"{row.kind} for run {row.run_id[:8]}" for row in rows)
            notification_problems.append(f"{item_id} has {len(rows)} notifications ({kinds})")
            continue
        [row] = rows
        if row.kind != "PROCESSED" or row.run_id != run_of.get(item_id):
            notification_problems.append(f"{item_id}: {row.kind} for run {row.run_id}")
        if row.delivered_time is None:
            notification_problems.append(
                f"{item_id}: notification {row.notification_id} undelivered"
            )
    findings.add("notifications (one per item, delivered)", notification_problems)
    return {
        item_id: rows[0].notification_id
        for item_id, rows in notifications.items()
        if len(rows) == 1
    }


def webhook_deliveries(
    webhook: WebhookReceiver,
    notification_of: dict[str, str],
    findings: Findings,
    *,
    repeats_allowed: bool,
) -> None:
    """One notification per item reached the webhook: the receiver, deduplicating by
    Idempotency-Key as the webhook contract tells it to, sees each item's notification once.

    A delivery repeated with the same key is what at-least-once delivery allows when the worker
    died (or lost the database) between the POST and recording it: with ``repeats_allowed`` it
    is a note, otherwise a violation.
    """
    keys_by_item: dict[str, set[str]] = defaultdict(set)
    posts_by_key: Counter[str] = Counter()
    for request in list(webhook.received):
        body = json.loads(request.body)
        key = request.headers.get("idempotency-key", "")
        keys_by_item[str(body["item_id"])].add(key)
        posts_by_key[key] += 1
        if key != body["notification_id"]:
            findings.problems.append(
                f"webhook: key {key!r} is not notification {body['notification_id']}"
            )
    findings.add(
        "webhook (one notification per item)",
        [
            f"{item_id} reached the webhook as {sorted(keys_by_item.get(item_id, set()))}, "
            f"expected [{notification_id!r}]"
            for item_id, notification_id in notification_of.items()
            if keys_by_item.get(item_id, set()) != {notification_id}
        ]
        + [
            f"{item_id} reached the webhook without one notification row to match"
            for item_id in keys_by_item
            if item_id not in notification_of
        ],
    )
    repeated = {key: count for key, count in posts_by_key.items() if count > 1}
    if not repeats_allowed:
        findings.add(
            "webhook (no repeated delivery)",
            [f"notification {key} POSTed {count} times" for key, count in repeated.items()],
        )
    findings.notes.append(
        f"webhook: {sum(posts_by_key.values())} POSTs, {len(posts_by_key)} notifications, "
        f"repeated with the same key: {repeated or 'none'}, "
        f"cut off before the body ended: {len(webhook.cut_off)}"
    )


def batch_counters(
    engine: Engine, client: ProcessingClient, batch_id: str, count: int, findings: Findings
) -> None:
    """The batch ended SUCCEEDED with every item succeeded, in the database and over gRPC."""
    with engine.connect() as db:
        row = db.execute(
            select(
                models.Batch.state,
                models.Batch.total,
                models.Batch.running,
                models.Batch.succeeded,
                models.Batch.failed,
                models.Batch.cancelled,
                models.Batch.skipped,
            ).where(models.Batch.batch_id == batch_id)
        ).one()
    counted = row.succeeded + row.failed + row.cancelled + row.skipped
    stored = (
        f"{row.state}: total {row.total}, running {row.running}, succeeded {row.succeeded}, "
        f"failed {row.failed}, cancelled {row.cancelled}, skipped {row.skipped}"
    )
    findings.notes.append(f"batch row {stored}")
    violations = []
    if row.state != "SUCCEEDED":
        violations.append(f"the batch is {row.state}, not SUCCEEDED")
    if counted != row.total or row.total != count:
        violations.append(
            f"succeeded+failed+cancelled+skipped = {counted}, total {row.total}, items {count}"
        )
    if row.succeeded != count or row.running != 0:
        violations.append(f"succeeded {row.succeeded} of {count}, running {row.running}")
    status = client.get_status(batch_id=batch_id).batch_run
    progress = status.progress if status is not None else None
    if status is None or progress is None:
        violations.append("GetStatus has no batch run")
    elif (status.state, progress.total, progress.succeeded, progress.pending, progress.running) != (
        m.RunState.SUCCEEDED,
        count,
        count,
        0,
        0,
    ):
        violations.append(f"GetStatus says {status.state.name}, {progress}")
    findings.add("batch counters", violations)
