"""Which run may change an item: the rules behind claims and result writes, in one place.

A run is identified by (workflow_id, run_id): item runs share one workflow ID per item, so the run
ID tells a retry of this run from a later run of the same item. Every run also carries a run
marker, ``start_time`` (Temporal's start time of the run's first execution, deterministic on
replay), and a newer run always has a later marker. The rules guarantee that

- a retried activity or a replayed workflow changes the item at most once (idempotence), and
- an old run that wakes up late (a long start delay, a stuck worker) never overwrites what a newer
  run has claimed or written.

They are pure functions of the locked row, so they are easy to read and to test; the store
applies their verdict inside the transaction that holds the row lock.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from bubble_shared.store.models import Item


@dataclass(frozen=True)
class RunRef:
    """A run as the rules see it; ``start_time`` must be aware (UTC)."""

    workflow_id: str
    run_id: str
    start_time: datetime


class ClaimVerdict(enum.Enum):
    CLAIM = "claim"
    ALREADY_CLAIMED = "already_claimed"
    SKIP_ALREADY_PROCESSED = "skip_already_processed"
    SKIP_SUPERSEDED = "skip_superseded"


class WriteVerdict(enum.Enum):
    APPLY = "apply"
    SKIP_DUPLICATE = "skip_duplicate"
    SKIP_STALE = "skip_stale"
    SKIP_NOT_CLAIMED = "skip_not_claimed"
    SKIP_OUTCOME_WRITTEN = "skip_outcome_written"


def is_current_run(item: Item, run: RunRef) -> bool:
    return item.current_workflow_id == run.workflow_id and item.current_run_id == run.run_id


def is_last_run(item: Item, run: RunRef) -> bool:
    return item.last_workflow_id == run.workflow_id and item.last_run_id == run.run_id


def newer_run_involved(item: Item, run: RunRef) -> bool:
    """Whether another run with a later marker has claimed the item or written its outcome."""
    claimed_by_newer = (
        item.current_run_start_time is not None
        and item.current_run_start_time > run.start_time
        and not is_current_run(item, run)
    )
    written_by_newer = (
        item.last_run_start_time is not None
        and item.last_run_start_time > run.start_time
        and not is_last_run(item, run)
    )
    return claimed_by_newer or written_by_newer


def claim_verdict(item: Item, run: RunRef, *, force: bool) -> ClaimVerdict:
    """Whether ``run`` may take ownership of ``item``. In order:

    1. The run already owns the item (a retried claim): ALREADY_CLAIMED, nothing to write.
    2. The item is PROCESSED and the run is not forced: SKIP_ALREADY_PROCESSED.
    3. A newer run has claimed or written the item: SKIP_SUPERSEDED.
    4. Otherwise CLAIM: there is no owner, or the owner is an older (or equally old) run. At most
       one run is open per item (one workflow ID per item), so an older owner that is still
       recorded is a run that died without recording an outcome (terminated, timed out), and
       the new run takes over.
    """
    if is_current_run(item, run):
        return ClaimVerdict.ALREADY_CLAIMED
    if item.status == "PROCESSED" and not force:
        return ClaimVerdict.SKIP_ALREADY_PROCESSED
    if newer_run_involved(item, run):
        return ClaimVerdict.SKIP_SUPERSEDED
    return ClaimVerdict.CLAIM


def write_verdict(
    item: Item, run: RunRef, *, status: str, requires_claim: bool = False
) -> WriteVerdict:
    """Whether ``run`` may write its outcome ``status`` to ``item``. In order:

    1. The item already holds this outcome of this run (an activity retried after its commit, or
       a replay): SKIP_DUPLICATE, so the write happens once.
    2. A newer run has claimed or written the item: SKIP_STALE.
    3. ``requires_claim`` (a cancellation) and the run never claimed the item: SKIP_NOT_CLAIMED.
       A run cancelled while it waited (a Celery ``apply_async(countdown=...)`` then ``revoke()``)
       did nothing to the item, so the item keeps what its earlier runs left.
    4. ``requires_claim`` (a cancellation) and the item holds this run's outcome already:
       SKIP_OUTCOME_WRITTEN. The outcome stands, as the run's batches counted it; a run that knows
       it wrote its outcome never asks, but one may not know (its workflow task, with the write in
       it, was retried because the cancellation arrived meanwhile).
    5. Otherwise APPLY, whether or not this run still owns the item: an older owner is a dead run
       (see ``claim_verdict``), and a run that failed before its claim (the item's analysis could
       not even start) records that failure.
    """
    if is_last_run(item, run) and item.status == status:
        return WriteVerdict.SKIP_DUPLICATE
    if newer_run_involved(item, run):
        return WriteVerdict.SKIP_STALE
    if requires_claim and not (is_current_run(item, run) or is_last_run(item, run)):
        return WriteVerdict.SKIP_NOT_CLAIMED
    if requires_claim and is_last_run(item, run):
        return WriteVerdict.SKIP_OUTCOME_WRITTEN
    return WriteVerdict.APPLY
