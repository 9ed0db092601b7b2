"""What an operator browses beside the API's reads: recent batches, a batch's members, an item's
runs. The dashboard's own queries, each bounded by a limit and served by an index.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import select

from bubble.processing.v1 import run_pb2
from bubble_shared.store import batch_owners
from bubble_shared.store.models import Batch, BatchItem, ItemRun
from bubble_shared.store.run_convert import batch_to_proto, item_run_to_proto
from bubble_shared.store.sessions import StoreBase

RECENT_BATCHES_SCANNED = 500
"""A caller limited to some owners sees the batches it may read among this many newest."""


@dataclass(frozen=True)
class BatchMember:
    position: int
    item_id: str
    state: str
    """PENDING, RUNNING, SUCCEEDED, FAILED, CANCELLED or SKIPPED."""


class Browsing(StoreBase):
    """Read-only listings for the dashboard, each call one short transaction."""

    def recent_batches(
        self, limit: int, *, owner_ids: Collection[str] | None = None
    ) -> list[run_pb2.BatchRunStatus]:
        """The newest batches first (without their failed item IDs). ``owner_ids`` (not None)
        keeps the batches limited to some of these owners, as the API lets such a caller read
        them, among the RECENT_BATCHES_SCANNED newest."""
        query = select(Batch).order_by(Batch.queue_time.desc(), Batch.batch_id.desc())
        if owner_ids is None:
            query = query.limit(limit)
        else:
            query = query.where(Batch.owner_ids.is_not(None)).limit(RECENT_BATCHES_SCANNED)
        allowed = None if owner_ids is None else frozenset(owner_ids)
        found: list[run_pb2.BatchRunStatus] = []
        with self._reads.begin() as session:
            for row in session.scalars(query):
                scope = batch_owners.decode(row.owner_ids)
                if allowed is None or (scope is not None and scope <= allowed):
                    found.append(batch_to_proto(row, []))
                if len(found) == limit:
                    break
        return found

    def batch_members(self, batch_id: str, limit: int) -> list[BatchMember]:
        """The batch's first ``limit`` members in start order, with what was counted for each."""
        query = (
            select(BatchItem.position, BatchItem.item_id, BatchItem.state)
            .where(BatchItem.batch_id == batch_id)
            .order_by(BatchItem.position)
            .limit(limit)
        )
        with self._reads.begin() as session:
            return [BatchMember(*row) for row in session.execute(query)]

    def item_runs(self, item_id: str, limit: int) -> list[run_pb2.ItemRunStatus]:
        """The item's runs, newest first."""
        query = (
            select(ItemRun)
            .where(ItemRun.item_id == item_id)
            .order_by(ItemRun.queue_time.desc(), ItemRun.run_id.desc())
            .limit(limit)
        )
        with self._reads.begin() as session:
            return [item_run_to_proto(row) for row in session.scalars(query)]
