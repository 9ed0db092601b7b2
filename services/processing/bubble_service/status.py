"""How a status is read: resolve the request's target, then read the database, and only that.

Every RPC that shows a run (GetStatus, WatchStatus, CancelProcessing and the answers of the start
calls) reads it here, so a run reads the same whichever RPC asks. Runs write their own status at
every step into the read model (``bubble_shared.store.RunRecords`` for item runs, ``BatchStore``
for batches, whose counters move with each item's outcome), so a status is one indexed read:
right while no worker runs, and never a Temporal call. Temporal is only asked about rows that look
abandoned (``reconcile``).

    target = reader.resolve(field, value)     # INVALID_ARGUMENT / WORKFLOW_NOT_FOUND, no I/O
    snapshot = await reader.snapshot(target)  # NOT_FOUND when there is no run

- item_id: the item's latest run (its open one, since an item has at most one); none: NOT_FOUND,
  ITEM_NOT_FOUND when the item does not exist, else RUN_NOT_FOUND.
- workflow_id "item-processing/<item_id>": the same, by that item ID.
- batch_id, or workflow_id "item-batch/<batch_id>": the batch's row; none: BATCH_NOT_FOUND.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from bubble.processing.v1 import item_pb2, run_pb2
from bubble_service.errors import ServiceError, item_not_found, not_found
from bubble_service.validation import MAX_WORKFLOW_ID_LENGTH, Violations
from bubble_shared.store import BatchStore, ItemNotFoundError, ItemStore, RunRecords
from bubble_shared.store.run_convert import TERMINAL_STATES, Stored
from bubble_shared.temporal import names

TargetKind = Literal["item", "batch"]


@dataclass(frozen=True)
class Target:
    """A run as a request named it: an item's latest run or a batch."""

    kind: TargetKind
    id: str
    """The item ID or the batch ID."""
    workflow_id: str
    named_by: str
    """The field and value the request used, for messages: "workflow_id 'item-processing/a'"."""
    by_item_id: bool = False


@dataclass(frozen=True)
class Snapshot:
    """A run's status as the database holds it, with its row's version and last change."""

    item_run: run_pb2.ItemRunStatus | None = None
    batch_run: run_pb2.BatchRunStatus | None = None
    version: int = 0
    update_time: datetime | None = None

    @property
    def state(self) -> run_pb2.RunState.ValueType:
        run = self.item_run or self.batch_run
        return run.state if run is not None else run_pb2.RUN_STATE_UNSPECIFIED

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL_STATES

    @property
    def workflow_id(self) -> str:
        run = self.item_run or self.batch_run
        return run.workflow_id if run is not None else ""

    @property
    def run_id(self) -> str:
        run = self.item_run or self.batch_run
        return run.run_id if run is not None else ""

    def same_status(self, other: Snapshot | None) -> bool:
        """Whether a client would see no difference (a version bump may change nothing shown)."""
        return (
            other is not None
            and self.item_run == other.item_run
            and self.batch_run == other.batch_run
        )


class StatusReader:
    """Target resolution and status reads. The async methods run the store off the event loop;
    the ``load_*`` and ``versions`` methods are for callers already in a thread (the watch
    poller reads many targets in one hop)."""

    def __init__(self, items: ItemStore, runs: RunRecords, batches: BatchStore) -> None:
        self._items = items
        self._runs = runs
        self._batches = batches

    def resolve(self, field: str | None, value: str) -> Target:
        """The target of a GetStatus/WatchStatus/CancelProcessing request's ``target`` oneof.

        INVALID_ARGUMENT when unset, empty or malformed; NOT_FOUND for a workflow ID this service
        does not own. Reads nothing.
        """
        violations = Violations()
        if field is None:
            violations.add(
                "target", "set one of item_id, batch_id or workflow_id", "FIELD_REQUIRED"
            )
        elif field == "item_id":
            violations.required_id("item_id", value, what="item ID")
        elif field == "batch_id":
            violations.required_id("batch_id", value, what="batch ID")
        elif not value:
            violations.add("workflow_id", "the workflow ID is required", "FIELD_REQUIRED")
        elif len(value) > MAX_WORKFLOW_ID_LENGTH:
            violations.add(
                "workflow_id", f"is longer than {MAX_WORKFLOW_ID_LENGTH} characters", "INVALID_ID"
            )
        violations.raise_if_any()
        if field == "item_id":
            return Target(
                "item", value, names.item_workflow_id(value), f"item_id {value!r}", by_item_id=True
            )
        if field == "batch_id":
            return Target("batch", value, names.batch_workflow_id(value), f"batch_id {value!r}")
        if (item_id := names.item_id_from_workflow_id(value)) is not None:
            return Target("item", item_id, value, f"workflow_id {value!r}")
        if (batch_id := names.batch_id_from_workflow_id(value)) is not None:
            return Target("batch", batch_id, value, f"workflow_id {value!r}")
        raise not_found(
            f"no run has workflow_id {value[:200]!r}: this service only knows item runs "
            "('item-processing/<item_id>') and batches ('item-batch/<batch_id>')",
            "WORKFLOW_NOT_FOUND",
            workflow_id=value[:200],
        )

    async def snapshot(self, target: Target) -> Snapshot:
        """The target's status now; NOT_FOUND when it has no run."""
        found = await self.find(target)
        if found is None:
            raise await self.no_run(target)
        return found

    async def find(self, target: Target) -> Snapshot | None:
        """The target's status now, or None when it has no run."""
        if target.kind == "item":
            return await asyncio.to_thread(self.load_latest_of_item, target.id)
        return await asyncio.to_thread(self.load_batch, target.id)

    async def of_run(self, run_id: str) -> Snapshot | None:
        return await asyncio.to_thread(self.load_run, run_id)

    async def of_batch(self, batch_id: str) -> Snapshot | None:
        return await asyncio.to_thread(self.load_batch, batch_id)

    async def item(self, item_id: str) -> item_pb2.Item:
        """The item (BASIC view); NOT_FOUND ITEM_NOT_FOUND when it does not exist."""
        try:
            return await asyncio.to_thread(
                self._items.get_item, item_id, view=item_pb2.ITEM_VIEW_BASIC
            )
        except ItemNotFoundError:
            raise item_not_found(item_id) from None

    async def no_run(self, target: Target) -> ServiceError:
        """The NOT_FOUND for a target without a run: an unknown item, an item never processed,
        or an unknown batch."""
        if target.by_item_id:
            await self.item(target.id)  # raises ITEM_NOT_FOUND
            return not_found(
                f"item {target.id!r} has never been processed: it has no run",
                "RUN_NOT_FOUND",
                item_id=target.id,
            )
        return self.absent(target)

    @staticmethod
    def absent(target: Target) -> ServiceError:
        """The NOT_FOUND for a target whose item or batch does not exist (also what a caller
        that may not see it gets)."""
        if target.by_item_id:
            return item_not_found(target.id)
        reason = "BATCH_NOT_FOUND" if target.kind == "batch" else "RUN_NOT_FOUND"
        return not_found(
            f"no run found for {target.named_by}", reason, workflow_id=target.workflow_id
        )

    # Sync reads, for threads -----------------------------------------------------------------

    def load_run(self, run_id: str) -> Snapshot | None:
        return _item_snapshot(self._runs.read(run_id))

    def load_latest_of_item(self, item_id: str) -> Snapshot | None:
        return _item_snapshot(self._runs.read_latest_of_item(item_id))

    def load_batch(self, batch_id: str) -> Snapshot | None:
        stored = self._batches.read(batch_id)
        if stored is None:
            return None
        return Snapshot(
            batch_run=stored.status, version=stored.version, update_time=stored.update_time
        )

    def versions(
        self, run_ids: Iterable[str], batch_ids: Iterable[str]
    ) -> tuple[dict[str, int], dict[str, int]]:
        """The row versions of these item runs and batches (those that exist)."""
        return self._runs.versions(run_ids), self._batches.versions(batch_ids)


def _item_snapshot(stored: Stored[run_pb2.ItemRunStatus] | None) -> Snapshot | None:
    if stored is None:
        return None
    return Snapshot(item_run=stored.status, version=stored.version, update_time=stored.update_time)
