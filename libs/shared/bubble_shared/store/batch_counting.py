"""Batch counters, moved in the same transaction as the member's run: exactly once per member.

A member (``batch_items`` row) goes PENDING -> RUNNING when the batch starts its run (or its run
writes its first step, or the batch joins someone else's run), and RUNNING -> its outcome when
that run records the outcome. Each move is guarded by the member's current state, so a retried
activity or a replayed workflow moves nothing twice, and the batch's counters change with the
move. Locks are always taken run row first, then members, then the batch row, so two
transactions never wait on each other in a circle.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bubble_shared.store.models import Batch, BatchItem
from bubble_shared.store.run_convert import OPEN_MEMBER_STATES

_COUNTER_OF_STATE = {
    "SUCCEEDED": "succeeded",
    "FAILED": "failed",
    "CANCELLED": "cancelled",
    "SKIPPED": "skipped",
}


def start_member(
    session: Session, *, batch_id: str, item_id: str, run_id: str, now: datetime
) -> bool:
    """The pending member of ``batch_id`` for ``item_id`` now follows ``run_id``; False when the
    batch has no such pending member (already moved on, or not a member)."""
    query = select(BatchItem).where(
        BatchItem.batch_id == batch_id, BatchItem.item_id == item_id, BatchItem.state == "PENDING"
    )
    member = session.scalars(query.with_for_update()).one_or_none()
    if member is None:
        return False
    member.state = "RUNNING"
    member.run_id = run_id
    batch = _lock_batch(session, batch_id)
    batch.running += 1
    touch(batch, now)
    return True


def finish_member(session: Session, member: BatchItem, outcome: str, now: datetime) -> None:
    """Counts ``outcome`` for a member that has none yet (its row must be locked)."""
    if member.state not in OPEN_MEMBER_STATES:
        return
    batch = _lock_batch(session, member.batch_id)
    if member.state == "RUNNING":
        batch.running -= 1
    counter = _COUNTER_OF_STATE[outcome]
    setattr(batch, counter, getattr(batch, counter) + 1)
    member.state = outcome
    member.finish_time = now
    touch(batch, now)


def count_outcome(
    session: Session, *, item_id: str, run_id: str, member_state: str, now: datetime
) -> None:
    """Counts the run's outcome for every member following it that has no outcome yet."""
    query = select(BatchItem).where(
        BatchItem.item_id == item_id,
        BatchItem.run_id == run_id,
        BatchItem.state.in_(OPEN_MEMBER_STATES),
    )
    members = session.scalars(query.order_by(BatchItem.batch_id).with_for_update()).all()
    for member in members:
        finish_member(session, member, member_state, now)


def touch(batch: Batch, now: datetime) -> None:
    batch.update_time = now
    batch.version += 1


def _lock_batch(session: Session, batch_id: str) -> Batch:
    batch = session.get(Batch, batch_id, with_for_update=True)
    if batch is None:  # the foreign key makes this impossible while the member exists
        raise LookupError(f"batch {batch_id!r} does not exist")
    return batch
