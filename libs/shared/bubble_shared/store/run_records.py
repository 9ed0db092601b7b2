"""The read model of item runs: one row per run, moved forward by the run at every step.

A run writes its steps itself (local activities in the workflow, and the claim and result writes
of its activities); the service writes the first row when it starts a run, so a run is visible
from the moment its start is acknowledged. Every write is idempotent and monotonic: a step older
than the row's (a retried activity that lost its race, a replayed workflow, the service's late
"queued") changes nothing, and a terminal row is final. So GetStatus can read one row and trust it.

The functions taking a ``Session`` run inside a caller's transaction (the claim or the result
write of the same step); ``RunRecords`` runs them on their own.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bubble.processing.v1 import activities_pb2, analysis_pb2, run_pb2
from bubble_shared.store import batch_counting, keyset
from bubble_shared.store.convert import stage_name, stage_value
from bubble_shared.store.keyset import after_row
from bubble_shared.store.models import ItemRun
from bubble_shared.store.run_convert import (
    TERMINAL_STATE_NAMES,
    Stored,
    item_run_to_proto,
    member_state_of,
    skip_reason_name,
    state_name,
)
from bubble_shared.store.sessions import StoreBase
from bubble_shared.store.timestamps import require_aware

# Steps in the order a run takes them; a step may only move a run forward.
_STAGE_RANK: Mapping[int, int] = {
    run_pb2.PROCESSING_STAGE_UNSPECIFIED: 0,
    run_pb2.PROCESSING_STAGE_QUEUED: 1,
    run_pb2.PROCESSING_STAGE_ANALYZING: 2,
    run_pb2.PROCESSING_STAGE_UPDATING_ITEM: 3,
    run_pb2.PROCESSING_STAGE_MARKING_FAILED: 3,
    run_pb2.PROCESSING_STAGE_NOTIFYING: 4,
    run_pb2.PROCESSING_STAGE_DONE: 5,
}


@dataclass(frozen=True)
class RunStep:
    """One step of an item run, as the run (or the service starting it) reports it."""

    item_id: str
    workflow_id: str
    run_id: str
    queue_time: datetime
    """Temporal's start time of the run."""
    state: run_pb2.RunState.ValueType
    stage: run_pb2.ProcessingStage.ValueType
    time: datetime
    """When the step happened (workflow time): becomes the start or close time."""
    batch_id: str = ""
    request_id: str = ""
    scheduled_start_time: datetime | None = None
    attempt: int = 0
    error: run_pb2.ProcessingError | None = None
    skip_reason: run_pb2.SkipReason.ValueType = run_pb2.SKIP_REASON_UNSPECIFIED
    result: analysis_pb2.ItemSuggestions | None = None

    @classmethod
    def of(cls, request: activities_pb2.RecordItemRunInput) -> RunStep:
        """The step a ``record_item_run`` request reports."""
        return cls(
            item_id=request.item_id,
            workflow_id=request.workflow_id,
            run_id=request.run_id,
            queue_time=request.run_start_time.ToDatetime(tzinfo=UTC),
            state=request.state,
            stage=request.stage,
            time=request.time.ToDatetime(tzinfo=UTC),
            batch_id=request.batch_id,
            request_id=request.request_id,
            scheduled_start_time=(
                request.scheduled_start_time.ToDatetime(tzinfo=UTC)
                if request.HasField("scheduled_start_time")
                else None
            ),
            error=request.error if request.HasField("error") else None,
            skip_reason=request.skip_reason,
        )


def latest_run_of_item(session: Session, item_id: str) -> ItemRun | None:
    """The row of the item's most recent run (by queue time), open or closed."""
    query = (
        select(ItemRun)
        .where(ItemRun.item_id == item_id)
        .order_by(ItemRun.queue_time.desc(), ItemRun.run_id.desc())
        .limit(1)
    )
    return session.scalars(query).one_or_none()


def record_step(session: Session, step: RunStep, now: datetime) -> ItemRun:
    """Moves the run's row forward to ``step`` (creating it on the first step); returns the row.

    A first step of a batch's run also marks its batch member as running. A terminal step
    counts the run's outcome for every batch member following it that has no outcome yet.
    """
    row = session.get(ItemRun, step.run_id, with_for_update=True)
    created = False
    if row is None:
        # The service (QUEUED) and the run's first step may both find no row and insert it: the
        # one that loses (a unique violation, inside its own savepoint) goes on with the row the
        # other wrote, as if it had found it.
        try:
            with session.begin_nested():
                row = _new_row(step, now)
                session.add(row)
            created = True
        except IntegrityError:
            row = session.get(ItemRun, step.run_id, with_for_update=True, populate_existing=True)
            assert row is not None
    if created:
        if step.batch_id:
            batch_counting.start_member(
                session, batch_id=step.batch_id, item_id=step.item_id, run_id=step.run_id, now=now
            )
    elif row.state in TERMINAL_STATE_NAMES or not _moves_forward(row, step):
        return row
    else:
        _advance(row, step, now)
    if state_name(step.state) in TERMINAL_STATE_NAMES:
        batch_counting.count_outcome(
            session,
            item_id=step.item_id,
            run_id=step.run_id,
            member_state=member_state_of(step.state, step.skip_reason),
            now=now,
        )
    return row


def _new_row(step: RunStep, now: datetime) -> ItemRun:
    queue_time = require_aware(step.queue_time, "queue_time")
    row = ItemRun(
        run_id=step.run_id,
        workflow_id=step.workflow_id,
        item_id=step.item_id,
        batch_id=step.batch_id or None,
        request_id=step.request_id or None,
        state=state_name(run_pb2.RUN_STATE_QUEUED),
        stage=stage_name(run_pb2.PROCESSING_STAGE_QUEUED),
        attempt=0,
        queue_time=queue_time,
        scheduled_start_time=step.scheduled_start_time or queue_time,
        update_time=now,
        version=0,
    )
    _advance(row, step, now)
    return row


def has_moved_past(row: ItemRun, stage: run_pb2.ProcessingStage.ValueType) -> bool:
    """Whether the run of ``row`` has ended or gone on beyond ``stage``."""
    if row.state in TERMINAL_STATE_NAMES:
        return True
    return _STAGE_RANK.get(stage_value(row.stage), 0) > _STAGE_RANK.get(stage, 0)


def _moves_forward(row: ItemRun, step: RunStep) -> bool:
    if state_name(step.state) in TERMINAL_STATE_NAMES:
        return True
    old, new = _STAGE_RANK.get(stage_value(row.stage), 0), _STAGE_RANK.get(step.stage, 0)
    return new > old or (new == old and step.attempt > row.attempt)


def _advance(row: ItemRun, step: RunStep, now: datetime) -> None:
    state = state_name(step.state)
    row.state = state
    row.stage = stage_name(step.stage)
    row.attempt = step.attempt
    row.batch_id = row.batch_id or step.batch_id or None
    row.request_id = row.request_id or step.request_id or None
    if step.scheduled_start_time is not None:
        row.scheduled_start_time = require_aware(step.scheduled_start_time, "scheduled_start_time")
    if state != "QUEUED" and row.start_time is None:
        row.start_time = max(require_aware(step.time, "time"), row.scheduled_start_time)
    if step.result is not None:
        row.result = step.result.SerializeToString(deterministic=True)
    if step.error is not None and step.error.code:
        row.error_code = step.error.code
        row.error_message = step.error.message
        row.error_image_id = step.error.image_id
        row.error_retryable = step.error.retryable
        row.error_stage = stage_name(step.error.stage)
    if state in TERMINAL_STATE_NAMES:
        row.stage = stage_name(run_pb2.PROCESSING_STAGE_DONE)
        row.attempt = 0
        row.close_time = require_aware(step.time, "time")
        row.skip_reason = skip_reason_name(step.skip_reason)
        if row.start_time is None:
            row.start_time = row.close_time
    row.update_time = now
    row.version += 1


class RunRecords(StoreBase):
    """Item runs in the read model, each call one short transaction."""

    def record(self, step: RunStep) -> None:
        """Records the step (and, for a terminal step, counts it for the batches following the
        run: they read it from their members)."""
        with self._writes.begin() as session:
            record_step(session, step, self._now())

    def get(self, run_id: str) -> run_pb2.ItemRunStatus | None:
        stored = self.read(run_id)
        return None if stored is None else stored.status

    def read(self, run_id: str) -> Stored[run_pb2.ItemRunStatus] | None:
        """The run's status with its row's version and last change; None when it has no row."""
        with self._reads.begin() as session:
            return _stored(session.get(ItemRun, run_id))

    def latest_of_item(self, item_id: str) -> run_pb2.ItemRunStatus | None:
        """The item's most recent run (by queue time), open or closed; None when it never ran."""
        stored = self.read_latest_of_item(item_id)
        return None if stored is None else stored.status

    def read_latest_of_item(self, item_id: str) -> Stored[run_pb2.ItemRunStatus] | None:
        """``latest_of_item`` with the row's version and last change."""
        with self._reads.begin() as session:
            return _stored(latest_run_of_item(session, item_id))

    def started_by_request(self, item_id: str, request_id: str) -> run_pb2.ItemRunStatus | None:
        """The item's run that the request with this request_id started, if any."""
        query = select(ItemRun).where(ItemRun.item_id == item_id, ItemRun.request_id == request_id)
        with self._reads.begin() as session:
            row = session.scalars(query.limit(1)).one_or_none()
            return None if row is None else item_run_to_proto(row)

    def versions(self, run_ids: Iterable[str]) -> dict[str, int]:
        """The row version of each run that exists: what a watcher polls. One query per
        ``VERSIONS_CHUNK`` IDs, in one transaction."""
        ids = list(run_ids)
        if not ids:
            return {}
        with self._reads.begin() as session:
            return keyset.versions(session, ItemRun.run_id, ItemRun.version, ids)

    def open_runs_unchanged_since(
        self, moment: datetime, limit: int, *, after_run_id: str | None = None
    ) -> list[tuple[str, str]]:
        """(workflow_id, run_id) of open runs whose row has not changed since ``moment``, oldest
        first: the candidates for reconciliation with Temporal.

        ``after_run_id`` (the last run of the previous page) continues after that run, so that a
        sweep walks through every stale run over successive pages instead of seeing the same
        oldest ones again; a page past the end is empty.
        """
        query = (
            select(ItemRun.workflow_id, ItemRun.run_id)
            .where(ItemRun.state.in_(("QUEUED", "RUNNING")), ItemRun.update_time < moment)
            .order_by(ItemRun.update_time, ItemRun.run_id)
            .limit(limit)
        )
        if after_run_id is not None:
            query = query.where(after_row(ItemRun.update_time, ItemRun.run_id, after_run_id))
        with self._reads.begin() as session:
            return [(row.workflow_id, row.run_id) for row in session.execute(query)]


def _stored(row: ItemRun | None) -> Stored[run_pb2.ItemRunStatus] | None:
    if row is None:
        return None
    return Stored(item_run_to_proto(row), row.version, row.update_time)
