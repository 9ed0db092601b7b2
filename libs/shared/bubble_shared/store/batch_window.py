"""A batch's sliding window in the read model: which members to start next, and how full it is.

The batch workflow ticks: each tick plans the next starts (``plan``: as many members as the window
has free slots, reading a selector further as needed), starts their runs in Temporal, and records
what it started or joined (``record_starts``). The window's fill is read here, never learnt from
signals: a slot is taken by each run the batch started (its row carries the batch) until that run
ends, and the members' outcomes are counted when the runs write them (``batch_counting``). So the
batch's workflow history holds nothing but its own ticks, and no count is lost to a restart.

A member whose item already had an open run (someone else's) follows that run: it counts that
run's outcome and holds no slot, however long the run lasts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from bubble.processing.v1 import item_pb2, run_pb2
from bubble_shared.store import batch_counting, batch_owners, selection
from bubble_shared.store.batches import insert_members
from bubble_shared.store.models import Batch, BatchItem, Item, ItemRun
from bubble_shared.store.run_convert import (
    OPEN_MEMBER_STATES,
    OPEN_RUN_STATES,
    TERMINAL_STATE_NAMES,
    batch_to_proto,
    member_state_of,
    state_value,
)
from bubble_shared.store.run_records import RunStep, record_step
from bubble_shared.store.sessions import StoreBase
from bubble_shared.store.timestamps import require_aware


@dataclass(frozen=True)
class StartPlan:
    """The members to start now, in order, and where the next tick goes on."""

    members: dict[str, str]
    """Item ID -> its owner (for the run's search attributes), in the order to start them."""
    next_position: int
    all_read: bool
    """No member is left after ``next_position``."""

    @property
    def item_ids(self) -> list[str]:
        return list(self.members)


@dataclass(frozen=True)
class StartedRun:
    """A run the batch started for a member."""

    item_id: str
    workflow_id: str
    run_id: str
    queue_time: datetime
    request_id: str = ""


@dataclass(frozen=True)
class JoinedRun:
    """Someone else's open run that a member follows instead of starting one."""

    item_id: str
    run_id: str


@dataclass(frozen=True)
class Window:
    """How full the batch's window is, and its counters."""

    open_runs: int
    """Runs the batch started that have not ended: the slots taken."""
    open_members: int
    """Members following a run (the batch's own or joined) whose outcome is not counted yet."""
    progress: run_pb2.BatchProgress


class BatchWindows(StoreBase):
    """The bookkeeping of a running batch's window, each call one short transaction."""

    def plan(
        self,
        batch_id: str,
        *,
        next_position: int,
        max_concurrency: int,
        run_id: str,
        continued_as_new_count: int,
        time: datetime,
        max_starts: int = 0,
    ) -> StartPlan:
        """The members at ``next_position`` onward that fit in the free slots (at most
        ``max_starts``, unless 0) and have no run yet; marks the batch RUNNING and records the
        calling execution.

        Once every member has been read, members before ``next_position`` still without a run
        are planned again first: their start failed or was never recorded (a retried call finds
        them joined to the run that did start)."""
        if next_position < 0 or max_concurrency < 0:
            raise ValueError("next_position and max_concurrency must be >= 0")
        now = self._now()
        with self._writes.begin() as session:
            batch = session.get(Batch, batch_id, with_for_update=True)
            if batch is None:
                raise LookupError(f"batch {batch_id!r} does not exist")
            if batch.state in TERMINAL_STATE_NAMES:  # ended meanwhile (e.g. reconciled)
                return StartPlan({}, next_position, all_read=True)
            before = _seen(batch)
            if batch.state == "QUEUED":
                batch.state = "RUNNING"
                batch.start_time = require_aware(time, "time")
            batch.first_run_id = batch.first_run_id or run_id
            batch.current_run_id = run_id
            batch.continued_as_new_count = max(batch.continued_as_new_count, continued_as_new_count)
            free = max(0, max_concurrency - _open_runs(session, batch_id))
            if max_starts > 0:
                free = min(free, max_starts)
            _select_up_to(session, batch, next_position + free)
            if _seen(batch) != before:  # watchers see a new version only when something changed
                batch_counting.touch(batch, now)
            end = max(next_position, min(next_position + free, batch.member_count))
            all_read = batch.selection_complete and end >= batch.member_count
            first = 0 if all_read and next_position >= batch.member_count else next_position
            query = (
                select(BatchItem.item_id, Item.owner_id)
                .outerjoin(Item, Item.item_id == BatchItem.item_id)
                .where(
                    BatchItem.batch_id == batch_id,
                    BatchItem.position >= first,
                    BatchItem.position < end,
                    BatchItem.state == "PENDING",
                    BatchItem.run_id.is_(None),
                )
                .order_by(BatchItem.position)
                .limit(free)
            )
            members = {row.item_id: row.owner_id or "" for row in session.execute(query)}
            return StartPlan(members, end, all_read)

    def record_starts(
        self,
        batch_id: str,
        *,
        started: Sequence[StartedRun] = (),
        joined: Sequence[JoinedRun] = (),
    ) -> Window:
        """Records the runs the batch started (their QUEUED rows, as StartItemProcessing writes)
        and the runs it joined; then how full the window is. Idempotent: a member that already
        follows a run is left as it is.

        Locks are taken in the order every writer uses (run rows, then members, then the batch
        row), so this never deadlocks with the runs writing their own steps meanwhile."""
        now = self._now()
        with self._writes.begin() as session:
            for start in sorted(started, key=lambda run: run.run_id):
                row = record_step(session, _queued(start), now)
                row.batch_id = row.batch_id or batch_id
            ended = {
                join.run_id: _ended(session.get(ItemRun, join.run_id, with_for_update=True))
                for join in sorted(joined, key=lambda run: run.run_id)
            }
            for start in started:
                batch_counting.start_member(
                    session, batch_id=batch_id, item_id=start.item_id, run_id=start.run_id, now=now
                )
            for join in joined:
                _join(session, batch_id, join, ended[join.run_id], now)
            return _window(session, batch_id)

    def window(self, batch_id: str) -> Window:
        """How full the window is. Counts first, for members following a run that has recorded
        its outcome, any outcome not counted yet (a run that ended while it was being joined):
        each tick looks here before it plans."""
        now = self._now()
        with self._writes.begin() as session:
            _count_missed_outcomes(session, batch_id, now)
            return _window(session, batch_id)

    def open_run_count(self, batch_id: str) -> int:
        """How many runs the batch started have not ended: one indexed count, for polling."""
        with self._reads.begin() as session:
            return _open_runs(session, batch_id)

    def open_runs(self, batch_id: str) -> list[tuple[str, str]]:
        """(item_id, run_id) of the runs the batch started that have not ended: what a cancelled
        batch cancels."""
        query = (
            select(ItemRun.item_id, ItemRun.run_id)
            .where(*_own_open(batch_id))
            .order_by(ItemRun.queue_time, ItemRun.run_id)
        )
        with self._reads.begin() as session:
            return [(row.item_id, row.run_id) for row in session.execute(query)]


def _own_open(batch_id: str) -> tuple[ColumnElement[bool], ...]:
    return (ItemRun.batch_id == batch_id, ItemRun.state.in_(OPEN_RUN_STATES))


def _open_runs(session: Session, batch_id: str) -> int:
    query = select(func.count()).select_from(ItemRun).where(*_own_open(batch_id))
    return int(session.scalar(query) or 0)


def _seen(batch: Batch) -> tuple[object, ...]:
    """What a batch's status shows of the fields a tick may change."""
    return (
        batch.state,
        batch.current_run_id,
        batch.continued_as_new_count,
        batch.member_count,
        batch.selection_complete,
        batch.total,
    )


def _window(session: Session, batch_id: str) -> Window:
    batch = session.get(Batch, batch_id)
    if batch is None:
        raise LookupError(f"batch {batch_id!r} does not exist")
    status = batch_to_proto(batch, [])
    return Window(
        open_runs=_open_runs(session, batch_id),
        open_members=batch.running,
        progress=status.progress,
    )


def _queued(start: StartedRun) -> RunStep:
    """The QUEUED step of a run the batch started; the member moves separately (lock order)."""
    return RunStep(
        item_id=start.item_id,
        workflow_id=start.workflow_id,
        run_id=start.run_id,
        queue_time=start.queue_time,
        state=run_pb2.RUN_STATE_QUEUED,
        stage=run_pb2.PROCESSING_STAGE_QUEUED,
        time=start.queue_time,
        request_id=start.request_id,
        scheduled_start_time=start.queue_time,
    )


def _ended(row: ItemRun | None) -> str | None:
    """What a member counts for the run of ``row`` if that run has ended; None while it runs."""
    if row is None or row.state not in TERMINAL_STATE_NAMES:
        return None
    return _outcome(row.state, row.skip_reason)


def _join(
    session: Session, batch_id: str, run: JoinedRun, outcome: str | None, now: datetime
) -> None:
    """The member follows someone else's run; if that run has already ended (between the refused
    start and now), its ``outcome`` is counted at once. The run's row was locked first, so its
    terminal write either sees this member or was seen here."""
    if outcome is not None:
        member = _pending_member(session, batch_id, run.item_id)
        if member is not None:
            batch_counting.finish_member(session, member, outcome, now)
        return
    batch_counting.start_member(
        session, batch_id=batch_id, item_id=run.item_id, run_id=run.run_id, now=now
    )


def _pending_member(session: Session, batch_id: str, item_id: str) -> BatchItem | None:
    query = select(BatchItem).where(
        BatchItem.batch_id == batch_id, BatchItem.item_id == item_id, BatchItem.state == "PENDING"
    )
    return session.scalars(query.with_for_update()).one_or_none()


def _outcome(run_state: str, skip_reason: str | None) -> str:
    """What a member counts for a run that ended as its row says."""
    reason = run_pb2.SkipReason.Value(f"SKIP_REASON_{skip_reason}") if skip_reason else 0
    return member_state_of(state_value(run_state), reason)


def _count_missed_outcomes(session: Session, batch_id: str, now: datetime) -> None:
    query = (
        select(BatchItem, ItemRun.state, ItemRun.skip_reason)
        .join(ItemRun, ItemRun.run_id == BatchItem.run_id)
        .where(
            BatchItem.batch_id == batch_id,
            BatchItem.state.in_(OPEN_MEMBER_STATES),
            ItemRun.state.in_(TERMINAL_STATE_NAMES),
        )
        .order_by(BatchItem.position)
    )
    missed = session.execute(query.with_for_update(of=BatchItem)).all()
    for member, state, skip_reason in missed:
        batch_counting.finish_member(session, member, _outcome(state, skip_reason), now)


def _select_up_to(session: Session, batch: Batch, wanted: int) -> None:
    """Reads the batch's selector further until it has ``wanted`` members or is exhausted."""
    if batch.selection_complete or batch.member_count >= wanted or batch.selector is None:
        return
    selector = item_pb2.ItemSelector.FromString(batch.selector)
    after = None
    if batch.selection_cursor_time is not None and batch.selection_cursor_item_id is not None:
        after = (batch.selection_cursor_time, batch.selection_cursor_item_id)
    limit = wanted - batch.member_count
    found = selection.next_selected(
        session,
        selector,
        accepted_at=batch.queue_time,
        after=after,
        limit=limit,
        owner_ids=batch_owners.decode(batch.owner_ids),
    )
    insert_members(session, batch.batch_id, batch.member_count, [item for item, _ in found])
    batch.member_count += len(found)
    if found:
        batch.selection_cursor_item_id, batch.selection_cursor_time = found[-1]
    if len(found) < limit:
        batch.selection_complete = True
        batch.total = batch.member_count
