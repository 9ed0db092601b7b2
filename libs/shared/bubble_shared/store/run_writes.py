"""What a processing run writes to its item: its claim, then its suggestions or its failure.

Each write depends on what the row holds, so it locks the row first: ``SELECT ... FOR UPDATE`` on
PostgreSQL; on SQLite every write transaction is ``BEGIN IMMEDIATE`` (see ``database.py``), which
serialises writers. Transient database errors propagate as SQLAlchemy exceptions: callers (Temporal
activities) retry, and the run rules (``run_rules.py``) make those retries harmless.

Each write is also a step of the run in the read model (``run_records``), in the same
transaction: the claim says the run is analysing (and which attempt), a written outcome says what
the run does next, and counts the outcome for the batches following the run. So the run's status
and its batch's counters change exactly when the item does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bubble.processing.v1 import activities_pb2, analysis_pb2, item_pb2, run_pb2
from bubble_shared.store import batch_counting
from bubble_shared.store.convert import item_to_proto, stage_name, status_name
from bubble_shared.store.errors import ItemNotFoundError
from bubble_shared.store.items import load_images
from bubble_shared.store.models import Item
from bubble_shared.store.run_records import RunStep, has_moved_past, record_step
from bubble_shared.store.run_rules import (
    ClaimVerdict,
    RunRef,
    WriteVerdict,
    claim_verdict,
    write_verdict,
)
from bubble_shared.store.selection import version_key_or_none
from bubble_shared.store.sessions import StoreBase
from bubble_shared.store.timestamps import require_aware

_SKIP_REASONS: Mapping[ClaimVerdict, run_pb2.SkipReason.ValueType] = {
    ClaimVerdict.CLAIM: run_pb2.SKIP_REASON_UNSPECIFIED,
    ClaimVerdict.ALREADY_CLAIMED: run_pb2.SKIP_REASON_UNSPECIFIED,
    ClaimVerdict.SKIP_ALREADY_PROCESSED: run_pb2.SKIP_REASON_ALREADY_PROCESSED,
    ClaimVerdict.SKIP_SUPERSEDED: run_pb2.SKIP_REASON_SUPERSEDED,
}
_SKIPPED_WRITES: Mapping[WriteVerdict, activities_pb2.ItemWriteOutcome.ValueType] = {
    WriteVerdict.SKIP_DUPLICATE: activities_pb2.ITEM_WRITE_OUTCOME_SKIPPED_DUPLICATE,
    WriteVerdict.SKIP_STALE: activities_pb2.ITEM_WRITE_OUTCOME_SKIPPED_STALE,
    WriteVerdict.SKIP_NOT_CLAIMED: activities_pb2.ITEM_WRITE_OUTCOME_SKIPPED_NOT_CLAIMED,
    WriteVerdict.SKIP_OUTCOME_WRITTEN: activities_pb2.ITEM_WRITE_OUTCOME_SKIPPED_OUTCOME_WRITTEN,
}


@dataclass(frozen=True)
class ItemClaim:
    """The result of a claim: the item (BASIC view) and why the run must skip, if it must."""

    item: item_pb2.Item
    # SKIP_REASON_UNSPECIFIED when the run owns the item (claimed now or by an earlier attempt).
    skip_reason: run_pb2.SkipReason.ValueType

    @property
    def claimed(self) -> bool:
        return self.skip_reason == run_pb2.SKIP_REASON_UNSPECIFIED


class RunWrites(StoreBase):
    """A run's claim on its item and its outcome, each idempotent for the run, refused when stale.

    ``clock`` returns the current aware time (update_time, processed_time); tests pass a fake one.
    """

    def claim_item(
        self,
        *,
        item_id: str,
        workflow_id: str,
        run_id: str,
        run_start_time: datetime,
        force: bool,
        attempt: int = 1,
        batch_id: str = "",
        request_id: str = "",
    ) -> ItemClaim:
        """Makes the run the item's current run: status PROCESSING, last_error cleared.

        The rules (``run_rules.claim_verdict``), in order:

        - the item does not exist: ItemNotFoundError;
        - the run already owns it (a retried claim): claimed, nothing written;
        - the item is PROCESSED and ``force`` is False: skip, SKIP_REASON_ALREADY_PROCESSED;
        - a run with a later run_start_time has claimed or written it, or this run has already
          gone past its analysis (cancelled before this attempt began): skip,
          SKIP_REASON_SUPERSEDED;
        - otherwise (no owner, or an older owner whose run died): claimed, the run takes over.

        A skip writes nothing to the item. Either way the run's status says it is analysing, in
        ``attempt``; a claim that finds no row for the run writes it, and marks the member of
        ``batch_id`` as following the run, as the run's first step would (the batch's record of
        the start may have been lost to a database outage). The returned item is the BASIC view
        after the claim.
        """
        run = _run(workflow_id, run_id, run_start_time)
        with self._writes.begin() as session:
            row = _lock_item(session, item_id)
            if row is None:
                raise ItemNotFoundError(item_id)
            analyzing = run_pb2.PROCESSING_STAGE_ANALYZING
            step = _step(
                run,
                item_id,
                analyzing,
                self._now(),
                attempt=attempt,
                batch_id=batch_id,
                request_id=request_id,
            )
            run_row = record_step(session, step, self._now())
            verdict = claim_verdict(row, run, force=force)
            if has_moved_past(run_row, analyzing):
                # An attempt that starts after its run was cancelled (and recorded that the
                # item was never claimed): claiming now would leave the item PROCESSING for good.
                verdict = ClaimVerdict.SKIP_SUPERSEDED
            if verdict is ClaimVerdict.CLAIM:
                row.status = status_name(item_pb2.ITEM_STATUS_PROCESSING)
                row.current_workflow_id = run.workflow_id
                row.current_run_id = run.run_id
                row.current_run_start_time = run.start_time
                _clear_error(row)
                self._touch(row)
            item = item_to_proto(row, include_analysis=False)
        return ItemClaim(item=item, skip_reason=_SKIP_REASONS[verdict])

    def apply_suggestions(
        self,
        *,
        item_id: str,
        workflow_id: str,
        run_id: str,
        run_start_time: datetime,
        analysis: analysis_pb2.ItemAnalysis,
        suggestions: analysis_pb2.ItemSuggestions,
        next_stage: run_pb2.ProcessingStage.ValueType = run_pb2.PROCESSING_STAGE_UNSPECIFIED,
    ) -> activities_pb2.ItemWriteOutcome.ValueType:
        """Writes a successful run's result to the item, in one transaction under a row lock.

        Outcomes (``run_rules.write_verdict``): SKIPPED_ITEM_DELETED when the item is gone;
        SKIPPED_DUPLICATE when the item already holds this run's PROCESSED result (a retry or
        replay writes once); SKIPPED_STALE when a run with a later run_start_time has claimed or
        written the item; otherwise APPLIED: status PROCESSED, the suggestions, each image's
        analysis matched by image_id (and its size_bytes from the analysis; an image missing from
        ``analysis`` loses its old analysis), processed_time, last_error cleared, the run recorded
        as the last run and no run current, the analyser version of the suggestions, and the
        outcome counted for the run's batches. An analysis naming an image the item does not
        have raises ValueError and writes nothing. The run's status holds the suggestions and
        moves to ``next_stage`` (UNSPECIFIED: UPDATING_ITEM) whatever the outcome.
        """
        run = _run(workflow_id, run_id, run_start_time)
        by_image = _analysis_by_image(item_id, analysis)
        processed = status_name(item_pb2.ITEM_STATUS_PROCESSED)
        with self._writes.begin() as session:
            row = _lock_item(session, item_id)
            if row is None:
                return activities_pb2.ITEM_WRITE_OUTCOME_SKIPPED_ITEM_DELETED
            verdict = write_verdict(row, run, status=processed)
            if verdict is not WriteVerdict.APPLY:
                stage = next_stage or run_pb2.PROCESSING_STAGE_UPDATING_ITEM
                record_step(session, _step(run, item_id, stage, self._now()), self._now())
                return _SKIPPED_WRITES[verdict]
            unknown = set(by_image) - {image.image_id for image in row.images}
            if unknown:
                raise ValueError(
                    f"the analysis names images that item {item_id!r} does not have: "
                    f"{', '.join(sorted(unknown))}"
                )
            now = self._now()
            for image in row.images:
                image_analysis = by_image.get(image.image_id)
                if image_analysis is None:
                    image.analysis = None
                    continue
                image.analysis = image_analysis.SerializeToString(deterministic=True)
                if image_analysis.size_bytes > 0:
                    image.size_bytes = image_analysis.size_bytes
            row.suggestions = suggestions.SerializeToString(deterministic=True)
            row.status = processed
            row.processed_time = now
            row.analyzer_version_key = _analyzer_version_key(analysis)
            _clear_error(row)
            _record_outcome(row, run)
            self._touch(row, now)
            self._record_outcome_step(
                session,
                _step(run, item_id, next_stage or run_pb2.PROCESSING_STAGE_UPDATING_ITEM, now),
                result=suggestions,
                counted="SUCCEEDED",
            )
        return activities_pb2.ITEM_WRITE_OUTCOME_APPLIED

    def mark_failed(
        self,
        *,
        item_id: str,
        workflow_id: str,
        run_id: str,
        run_start_time: datetime,
        error: run_pb2.ProcessingError,
        cancelled: bool,
        next_stage: run_pb2.ProcessingStage.ValueType = run_pb2.PROCESSING_STAGE_UNSPECIFIED,
        batch_id: str = "",
        request_id: str = "",
    ) -> activities_pb2.ItemWriteOutcome.ValueType:
        """Records that the run failed (status FAILED) or was cancelled (CANCELLED).

        Same rules and outcomes as ``apply_suggestions`` (a duplicate is this run's FAILED or
        CANCELLED outcome already recorded). When applied, last_error is ``error`` and the run is
        recorded as the last run; earlier suggestions, processed_time and image analyses stay;
        the outcome is counted for the run's batches. The run's status moves to ``next_stage``
        (UNSPECIFIED: MARKING_FAILED) whatever the outcome. A cancellation of a run that never
        claimed the item leaves the item alone (SKIPPED_NOT_CLAIMED) but is still counted; when
        it finds no row for the run, it writes it as the claim would (``batch_id``).
        """
        run = _run(workflow_id, run_id, run_start_time)
        status = status_name(
            item_pb2.ITEM_STATUS_CANCELLED if cancelled else item_pb2.ITEM_STATUS_FAILED
        )
        stage = next_stage or run_pb2.PROCESSING_STAGE_MARKING_FAILED
        with self._writes.begin() as session:
            row = _lock_item(session, item_id)
            if row is None:
                return activities_pb2.ITEM_WRITE_OUTCOME_SKIPPED_ITEM_DELETED
            verdict = write_verdict(row, run, status=status, requires_claim=cancelled)
            step = _step(
                run, item_id, stage, self._now(), batch_id=batch_id, request_id=request_id
            )
            if verdict is WriteVerdict.SKIP_NOT_CLAIMED:
                # Nothing happened to the item, but the run's batches count the cancellation.
                self._record_outcome_step(session, step, counted=status)
                return _SKIPPED_WRITES[verdict]
            if verdict is not WriteVerdict.APPLY:
                record_step(session, step, self._now())
                return _SKIPPED_WRITES[verdict]
            row.status = status
            row.last_error_code = error.code
            row.last_error_message = error.message
            row.last_error_image_id = error.image_id
            row.last_error_retryable = error.retryable
            row.last_error_stage = stage_name(error.stage)
            _record_outcome(row, run)
            self._touch(row)
            self._record_outcome_step(session, step, counted=status)
        return activities_pb2.ITEM_WRITE_OUTCOME_APPLIED

    def _record_outcome_step(
        self,
        session: Session,
        step: RunStep,
        *,
        counted: str,
        result: analysis_pb2.ItemSuggestions | None = None,
    ) -> None:
        """The run's step after its outcome was written, and the outcome counted for its batches
        (``counted``: the member state, e.g. "SUCCEEDED")."""
        now = self._now()
        if result is not None:
            step = RunStep(**{**step.__dict__, "result": result})
        record_step(session, step, now)
        batch_counting.count_outcome(
            session, item_id=step.item_id, run_id=step.run_id, member_state=counted, now=now
        )

    def _touch(self, row: Item, now: datetime | None = None) -> None:
        row.update_time = now or self._now()
        row.version += 1


def _run(workflow_id: str, run_id: str, run_start_time: datetime) -> RunRef:
    if not workflow_id or not run_id:
        raise ValueError("workflow_id and run_id are required to identify the run")
    return RunRef(
        workflow_id=workflow_id,
        run_id=run_id,
        start_time=require_aware(run_start_time, "run_start_time"),
    )


def _step(
    run: RunRef,
    item_id: str,
    stage: run_pb2.ProcessingStage.ValueType,
    now: datetime,
    *,
    attempt: int = 0,
    batch_id: str = "",
    request_id: str = "",
) -> RunStep:
    """A step of an open run, written by the run's activity (at the store's clock)."""
    return RunStep(
        item_id=item_id,
        workflow_id=run.workflow_id,
        run_id=run.run_id,
        queue_time=run.start_time,
        state=run_pb2.RUN_STATE_RUNNING,
        stage=stage,
        time=now,
        attempt=attempt,
        batch_id=batch_id,
        request_id=request_id,
    )


def _analyzer_version_key(analysis: analysis_pb2.ItemAnalysis) -> str | None:
    """The (oldest) analyser version of the item's image analyses, as a sortable key."""
    keys = [version_key_or_none(image.analyzer_version) for image in analysis.images]
    known = [key for key in keys if key is not None]
    return min(known) if known else None


def _lock_item(session: Session, item_id: str) -> Item | None:
    """The item with its images (without analysis), its row locked until the transaction ends."""
    query = (
        select(Item)
        .where(Item.item_id == item_id)
        .options(load_images(include_analysis=False))
        .with_for_update()
    )
    return session.scalars(query).one_or_none()


def _analysis_by_image(
    item_id: str, analysis: analysis_pb2.ItemAnalysis
) -> dict[str, analysis_pb2.ImageAnalysis]:
    if analysis.item_id and analysis.item_id != item_id:
        raise ValueError(f"the analysis is for item {analysis.item_id!r}, not {item_id!r}")
    by_image: dict[str, analysis_pb2.ImageAnalysis] = {}
    for image_analysis in analysis.images:
        if image_analysis.image_id in by_image:
            raise ValueError(f"the analysis names image {image_analysis.image_id!r} twice")
        by_image[image_analysis.image_id] = image_analysis
    return by_image


def _clear_error(row: Item) -> None:
    row.last_error_code = None
    row.last_error_message = None
    row.last_error_image_id = None
    row.last_error_retryable = None
    row.last_error_stage = None


def _record_outcome(row: Item, run: RunRef) -> None:
    """The run's outcome is now the item's: it becomes the last run and no run is current."""
    row.last_workflow_id = run.workflow_id
    row.last_run_id = run.run_id
    row.last_run_start_time = run.start_time
    row.current_workflow_id = None
    row.current_run_id = None
    row.current_run_start_time = None
