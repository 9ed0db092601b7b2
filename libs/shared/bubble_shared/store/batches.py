"""Batches in the read model: the batch row with its counters, and its members in start order.

The service creates a batch (with its listed members, or its selector) before it starts the
workflow, so a batch is visible from the first answer; the workflow then starts its members a
window at a time (``batch_window``) and ends it (``finish``). The item runs move the counters
(``batch_counting``). Nothing here grows with the batch in memory: members
are written and read a page at a time, and a cancelled batch's members are closed by one UPDATE.

A batch may be limited to some owners' items (``NewBatch.owner_ids``: its starter's token acts
only for them). A selection then reads only their items. Listed IDs of items the batch may not
process, whether another owner's or unknown, are settled when the batch is accepted: written
after the other members, already FAILED, beyond what the workflow reads. They read as unknown IDs
do (failed, in ``failed_item_ids``), never run, and unknown and foreign IDs cannot be told apart.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bubble.processing.v1 import item_pb2, run_pb2
from bubble_shared.store import batch_counting, batch_owners, keyset, selection
from bubble_shared.store.keyset import after_row
from bubble_shared.store.models import Batch, BatchItem
from bubble_shared.store.run_convert import (
    FAILED_IDS_CAP,
    OPEN_MEMBER_STATES,
    TERMINAL_STATE_NAMES,
    Stored,
    batch_to_proto,
    state_name,
)
from bubble_shared.store.sessions import StoreBase
from bubble_shared.store.timestamps import require_aware


@dataclass(frozen=True)
class NewBatch:
    """A batch being accepted: its items listed (``item_ids``) or selected (``selector``)."""

    batch_id: str
    workflow_id: str
    max_concurrency: int
    item_ids: Sequence[str] = ()
    selector: item_pb2.ItemSelector | None = None
    request_id: str = ""
    request_fingerprint: str = ""
    owner_ids: frozenset[str] | None = None
    """The only owners whose items the batch may process; None: every owner."""


@dataclass(frozen=True)
class BatchOwners:
    """The owners whose items a batch may process; ``owner_ids`` None: every owner."""

    owner_ids: frozenset[str] | None


@dataclass(frozen=True)
class FinishedBatch:
    finished: bool
    status: run_pb2.BatchRunStatus


class BatchStore(StoreBase):
    """Batches and their members, each call one short transaction."""

    def create(self, new: NewBatch) -> tuple[run_pb2.BatchRunStatus, bool]:
        """Creates the QUEUED batch with its members (listed) or its selector; returns its status
        and True, or the existing batch's status and False when the ID is taken."""
        if (new.selector is None) == (not new.item_ids):
            raise ValueError("a batch lists its item IDs or has a selector, not both or neither")
        now = self._now()
        try:
            with self._writes.begin() as session:
                existing = session.get(Batch, new.batch_id)
                if existing is not None:
                    return _status(session, existing), False
                row = _new_batch_row(session, new, now)
                session.add(row)
                session.flush()
                if new.item_ids:
                    _insert_listed(session, row, new, now)
                return _status(session, row), True
        except IntegrityError:
            # A concurrent create of the same batch won.
            status = self.get(new.batch_id)
            if status is None:
                raise
            return status, False

    def set_first_run(self, batch_id: str, run_id: str) -> str:
        """Records the run ID of the batch's first execution, unless one is recorded already;
        returns the recorded one ("" when the batch does not exist or none is known)."""
        with self._writes.begin() as session:
            row = session.get(Batch, batch_id, with_for_update=True)
            if row is None:
                return ""
            if row.first_run_id is None and run_id:
                row.first_run_id = run_id
                row.current_run_id = row.current_run_id or run_id
                batch_counting.touch(row, self._now())
            return row.first_run_id or ""

    def request_of(self, batch_id: str) -> tuple[str, str] | None:
        """(request_id, request fingerprint) the batch was created with; None when it does not
        exist."""
        with self._reads.begin() as session:
            row = session.get(Batch, batch_id)
            if row is None:
                return None
            return row.request_id or "", row.request_fingerprint or ""

    def delete(self, batch_id: str) -> None:
        """Removes a batch whose workflow could not be started (it never ran)."""
        with self._writes.begin() as session:
            row = session.get(Batch, batch_id)
            if row is not None and row.state == "QUEUED" and row.first_run_id is None:
                session.delete(row)

    def owners(self, batch_id: str) -> BatchOwners | None:
        """Whose items the batch may process; None when the batch does not exist."""
        with self._reads.begin() as session:
            row = session.get(Batch, batch_id)
            return None if row is None else BatchOwners(batch_owners.decode(row.owner_ids))

    def get(self, batch_id: str) -> run_pb2.BatchRunStatus | None:
        stored = self.read(batch_id)
        return None if stored is None else stored.status

    def read(self, batch_id: str) -> Stored[run_pb2.BatchRunStatus] | None:
        """The batch's status with its row's version and last change; None when it does not
        exist."""
        with self._reads.begin() as session:
            row = session.get(Batch, batch_id)
            if row is None:
                return None
            return Stored(_status(session, row), row.version, row.update_time)

    def versions(self, batch_ids: Iterable[str]) -> dict[str, int]:
        """The row version of each batch that exists: what a watcher polls. One query per
        ``VERSIONS_CHUNK`` IDs, in one transaction."""
        ids = list(batch_ids)
        if not ids:
            return {}
        with self._reads.begin() as session:
            return keyset.versions(session, Batch.batch_id, Batch.version, ids)

    def finish(
        self,
        batch_id: str,
        *,
        state: run_pb2.RunState.ValueType,
        time: datetime,
        error: run_pb2.ProcessingError | None = None,
    ) -> FinishedBatch:
        """Ends the batch. SUCCEEDED only once every member has an outcome (else nothing is
        written and ``finished`` is False); CANCELLED, FAILED and TIMED_OUT count every member
        without an outcome as cancelled and stop reading the selection. A terminal batch is
        final: finishing it again returns it unchanged."""
        name = state_name(state)
        if name not in TERMINAL_STATE_NAMES:
            raise ValueError(f"{name} is not a terminal batch state")
        now = self._now()
        with self._writes.begin() as session:
            if name != "SUCCEEDED":
                # Members first, then the batch row: the lock order of batch_counting.
                _cancel_open_members(session, batch_id, now)
            batch = session.get(Batch, batch_id, with_for_update=True)
            if batch is None:
                raise LookupError(f"batch {batch_id!r} does not exist")
            if batch.state in TERMINAL_STATE_NAMES:
                return FinishedBatch(True, _status(session, batch))
            if name == "SUCCEEDED" and (
                not batch.selection_complete or _open_members(session, batch_id) > 0
            ):
                return FinishedBatch(False, _status(session, batch))
            if batch.selector is not None:
                # A listed batch's total is fixed when accepted (with its settled members).
                batch.total = batch.member_count
            batch.selection_complete = True
            batch.state = name
            batch.close_time = require_aware(time, "time")
            if error is not None and error.code:
                batch.error_code = error.code
                batch.error_message = error.message
            batch_counting.touch(batch, now)
            return FinishedBatch(True, _status(session, batch))

    def open_batches_unchanged_since(
        self, moment: datetime, limit: int, *, after_batch_id: str | None = None
    ) -> list[str]:
        """IDs of open batches whose row has not changed since ``moment``, oldest first;
        ``after_batch_id`` continues after that batch (as ``open_runs_unchanged_since``)."""
        query = (
            select(Batch.batch_id)
            .where(Batch.state.in_(("QUEUED", "RUNNING")), Batch.update_time < moment)
            .order_by(Batch.update_time, Batch.batch_id)
            .limit(limit)
        )
        if after_batch_id is not None:
            query = query.where(after_row(Batch.update_time, Batch.batch_id, after_batch_id))
        with self._reads.begin() as session:
            return list(session.scalars(query))


def _new_batch_row(session: Session, new: NewBatch, now: datetime) -> Batch:
    if new.selector is not None:
        total = selection.count_selection(
            session, new.selector, accepted_at=now, owner_ids=new.owner_ids
        )
        members = 0
        selector: bytes | None = new.selector.SerializeToString(deterministic=True)
    else:
        total = members = len(new.item_ids)
        selector = None
    return Batch(
        batch_id=new.batch_id,
        workflow_id=new.workflow_id,
        request_id=new.request_id or None,
        request_fingerprint=new.request_fingerprint or None,
        state="QUEUED",
        max_concurrency=new.max_concurrency,
        continued_as_new_count=0,
        total=total,
        running=0,
        succeeded=0,
        failed=0,
        cancelled=0,
        skipped=0,
        member_count=members,
        selector=selector,
        owner_ids=batch_owners.encode(new.owner_ids),
        selection_complete=selector is None,
        queue_time=now,
        update_time=now,
        version=1,
    )


def _insert_listed(session: Session, batch: Batch, new: NewBatch, now: datetime) -> None:
    """Writes the listed members: those the batch may process first, for the workflow to read
    (positions below ``member_count``), then the others, already FAILED."""
    if new.owner_ids is None:
        insert_members(session, batch.batch_id, 0, new.item_ids)
        return
    runnable, settled = batch_owners.split_listed(session, new.item_ids, new.owner_ids)
    insert_members(session, batch.batch_id, 0, runnable)
    insert_members(session, batch.batch_id, len(runnable), settled, state="FAILED", time=now)
    batch.member_count = len(runnable)
    batch.failed = len(settled)


def insert_members(
    session: Session,
    batch_id: str,
    first: int,
    item_ids: Sequence[str],
    *,
    state: str = "PENDING",
    time: datetime | None = None,
) -> None:
    """Writes members at positions ``first``, ``first + 1``, ... in one INSERT."""
    if item_ids:
        session.execute(
            insert(BatchItem),
            [
                {
                    "batch_id": batch_id,
                    "position": first + offset,
                    "item_id": item_id,
                    "state": state,
                    "finish_time": time,
                }
                for offset, item_id in enumerate(item_ids)
            ],
        )


def _open_members(session: Session, batch_id: str) -> int:
    query = select(func.count()).where(
        BatchItem.batch_id == batch_id, BatchItem.state.in_(OPEN_MEMBER_STATES)
    )
    return int(session.scalar(query) or 0)


def _cancel_open_members(session: Session, batch_id: str, now: datetime) -> None:
    """Counts every member without an outcome as cancelled, in one UPDATE per state."""
    counts: dict[str, int] = {}
    for state in OPEN_MEMBER_STATES:
        result = session.execute(
            update(BatchItem)
            .where(BatchItem.batch_id == batch_id, BatchItem.state == state)
            .values(state="CANCELLED", finish_time=now)
            .execution_options(synchronize_session=False)
        )
        counts[state] = result.rowcount  # type: ignore[attr-defined]
    if not any(counts.values()):
        return
    batch = session.get(Batch, batch_id, with_for_update=True)
    if batch is None:
        return
    batch.running -= counts["RUNNING"]
    batch.cancelled += counts["PENDING"] + counts["RUNNING"]
    batch_counting.touch(batch, now)


def _status(session: Session, row: Batch) -> run_pb2.BatchRunStatus:
    failed = session.scalars(
        select(BatchItem.item_id)
        .where(BatchItem.batch_id == row.batch_id, BatchItem.state == "FAILED")
        .order_by(BatchItem.finish_time, BatchItem.position)
        .limit(FAILED_IDS_CAP + 1)
    )
    return batch_to_proto(row, list(failed))
