"""The item store: items, their processing state, owner notifications and the analysis cache.

Every method is one short transaction, and everything it returns is converted to protobuf (or a
frozen dataclass) inside that transaction, so no ORM object escapes a session. Writes that depend
on what the row holds (claims, run outcomes) lock the row first: ``SELECT ... FOR UPDATE`` on
PostgreSQL; on SQLite every write transaction is ``BEGIN IMMEDIATE`` (see ``database.py``), which
serialises writers. Transient database errors propagate as SQLAlchemy exceptions: callers (Temporal
activities) retry, and the run rules (``run_rules.py``) make those retries harmless.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, exists, select, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload, sessionmaker
from sqlalchemy.orm.interfaces import LoaderOption

from bubble.processing.v1 import activities_pb2, analysis_pb2, item_pb2, run_pb2
from bubble_shared.store import models
from bubble_shared.store.convert import item_to_proto, stage_name, status_name
from bubble_shared.store.database import read_only
from bubble_shared.store.dialects import insert_or_ignore
from bubble_shared.store.errors import (
    ItemAlreadyExistsError,
    ItemNotFoundError,
    NotificationNotFoundError,
)
from bubble_shared.store.models import AnalysisCacheEntry, Item, ItemImage
from bubble_shared.store.notifications import (
    Notification,
    encode_payload,
    kind_name,
    notification_from_row,
)
from bubble_shared.store.page_tokens import (
    PageCursor,
    decode_page_token,
    encode_page_token,
    filters_fingerprint,
)
from bubble_shared.store.run_rules import (
    ClaimVerdict,
    RunRef,
    WriteVerdict,
    claim_verdict,
    write_verdict,
)
from bubble_shared.store.timestamps import require_aware, utc_now

# Item IDs as item.proto defines them; checked here too because the ID is the primary key.
ITEM_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,128}")
# ListItems: page_size 0 means this many.
DEFAULT_PAGE_SIZE = 50
# ListItems: larger page sizes are treated as this one.
MAX_PAGE_SIZE = 1000

_SKIP_REASONS: Mapping[ClaimVerdict, run_pb2.SkipReason.ValueType] = {
    ClaimVerdict.CLAIM: run_pb2.SKIP_REASON_UNSPECIFIED,
    ClaimVerdict.ALREADY_CLAIMED: run_pb2.SKIP_REASON_UNSPECIFIED,
    ClaimVerdict.SKIP_ALREADY_PROCESSED: run_pb2.SKIP_REASON_ALREADY_PROCESSED,
    ClaimVerdict.SKIP_SUPERSEDED: run_pb2.SKIP_REASON_SUPERSEDED,
}
_SKIPPED_WRITES: Mapping[WriteVerdict, activities_pb2.ItemWriteOutcome.ValueType] = {
    WriteVerdict.SKIP_DUPLICATE: activities_pb2.ITEM_WRITE_OUTCOME_SKIPPED_DUPLICATE,
    WriteVerdict.SKIP_STALE: activities_pb2.ITEM_WRITE_OUTCOME_SKIPPED_STALE,
}


@dataclass(frozen=True)
class NewImage:
    """An image of an item being created: a file under MEDIA_ROOT (see ``bubble_shared.media``)."""

    uri: str
    filename: str = ""
    content_type: str = ""
    size_bytes: int = 0


@dataclass(frozen=True)
class ItemClaim:
    """The result of a claim: the item (BASIC view) and why the run must skip, if it must."""

    item: item_pb2.Item
    # SKIP_REASON_UNSPECIFIED when the run owns the item (claimed now or by an earlier attempt).
    skip_reason: run_pb2.SkipReason.ValueType

    @property
    def claimed(self) -> bool:
        return self.skip_reason == run_pb2.SKIP_REASON_UNSPECIFIED


class ItemStore:
    """Items and everything the processing runs record about them.

    ``clock`` returns the current aware time; tests pass a fake one to control create_time order.
    """

    def __init__(self, engine: Engine, *, clock: Callable[[], datetime] = utc_now) -> None:
        self._writes = sessionmaker(engine, expire_on_commit=False)
        self._reads = sessionmaker(read_only(engine), expire_on_commit=False)
        self._clock = clock

    # Items -----------------------------------------------------------------------------------

    def create_item(
        self,
        *,
        item_id: str | None,
        owner_id: str,
        title: str,
        description: str,
        images: Sequence[NewImage],
    ) -> item_pb2.Item:
        """Creates a PENDING item; ``item_id`` None picks a new UUID. Returns the FULL view.

        Images get new IDs and positions 0..n-1 in the given order. Raises ItemAlreadyExistsError
        when the ID is taken (also when a concurrent create took it first), and ValueError when
        the ID is not 1 to 128 characters of [A-Za-z0-9_-].
        """
        if item_id is None:
            item_id = uuid.uuid4().hex
        elif not ITEM_ID_PATTERN.fullmatch(item_id):
            raise ValueError(
                f"invalid item ID {item_id!r}: use 1 to 128 characters from A-Z, a-z, 0-9, _ and -"
            )
        now = self._now()
        row = Item(
            item_id=item_id,
            owner_id=owner_id,
            title=title,
            description=description,
            status=status_name(item_pb2.ITEM_STATUS_PENDING),
            create_time=now,
            update_time=now,
            version=1,
            images=[
                ItemImage(
                    image_id=uuid.uuid4().hex,
                    position=position,
                    uri=image.uri,
                    filename=image.filename,
                    content_type=image.content_type,
                    size_bytes=image.size_bytes,
                    analysis=None,
                )
                for position, image in enumerate(images)
            ],
        )
        try:
            with self._writes.begin() as session:
                if session.get(Item, item_id) is not None:
                    raise ItemAlreadyExistsError(item_id)
                session.add(row)
                session.flush()
                return item_to_proto(row, include_analysis=True)
        except IntegrityError as error:
            # A concurrent create won the race between our check and our insert.
            if self._item_exists(item_id):
                raise ItemAlreadyExistsError(item_id) from error
            raise

    def get_item(self, item_id: str, *, view: int = item_pb2.ITEM_VIEW_FULL) -> item_pb2.Item:
        """The item; BASIC omits each image's analysis. Raises ItemNotFoundError."""
        include_analysis = _include_analysis(view, default=item_pb2.ITEM_VIEW_FULL)
        with self._reads.begin() as session:
            query = select(Item).where(Item.item_id == item_id)
            row = session.scalars(query.options(_load_images(include_analysis))).one_or_none()
            if row is None:
                raise ItemNotFoundError(item_id)
            return item_to_proto(row, include_analysis=include_analysis)

    def list_items(
        self,
        *,
        page_size: int,
        page_token: str = "",
        owner_id: str = "",
        statuses: Sequence[int] = (),
        view: int = item_pb2.ITEM_VIEW_BASIC,
    ) -> tuple[list[item_pb2.Item], str]:
        """A page of items, newest first (create_time, then item_id, both descending).

        Returns the items and the token of the next page ("" after the last page). page_size 0
        means DEFAULT_PAGE_SIZE and values above MAX_PAGE_SIZE mean MAX_PAGE_SIZE; a negative one,
        or ITEM_STATUS_UNSPECIFIED among ``statuses``, raises ValueError. A token is only valid
        with the owner_id, statuses and view it was issued for (InvalidPageTokenError otherwise).

        Keyset pagination: an item created while paging shows up on a new first page and never
        shifts or repeats an item on later pages. Two queries per page, whatever its size: the
        items, then all of their images.
        """
        if page_size < 0:
            raise ValueError(f"page_size must not be negative, got {page_size}")
        limit = min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        status_names = sorted({status_name(status) for status in statuses})
        include_analysis = _include_analysis(view, default=item_pb2.ITEM_VIEW_BASIC)
        fingerprint = filters_fingerprint(
            owner_id=owner_id,
            statuses=[*statuses],
            view=item_pb2.ITEM_VIEW_FULL if include_analysis else item_pb2.ITEM_VIEW_BASIC,
        )
        query = select(Item).options(_load_images(include_analysis))
        if owner_id:
            query = query.where(Item.owner_id == owner_id)
        if status_names:
            query = query.where(Item.status.in_(status_names))
        if page_token:
            cursor = decode_page_token(page_token, fingerprint)
            # Row comparison: PostgreSQL walks the (create_time, item_id) index backwards from it.
            position = (cursor.create_time, cursor.item_id)
            query = query.where(tuple_(Item.create_time, Item.item_id) < position)
        query = query.order_by(Item.create_time.desc(), Item.item_id.desc()).limit(limit + 1)
        with self._reads.begin() as session:
            rows = list(session.scalars(query))
            page = [item_to_proto(row, include_analysis=include_analysis) for row in rows[:limit]]
        if len(rows) <= limit:
            return page, ""
        last = rows[limit - 1]
        cursor = PageCursor(create_time=last.create_time, item_id=last.item_id)
        return page, encode_page_token(cursor, fingerprint)

    # Runs ------------------------------------------------------------------------------------

    def claim_item(
        self,
        *,
        item_id: str,
        workflow_id: str,
        run_id: str,
        run_start_time: datetime,
        force: bool,
    ) -> ItemClaim:
        """Makes the run the item's current run: status PROCESSING, last_error cleared.

        The rules (``run_rules.claim_verdict``), in order:

        - the item does not exist: ItemNotFoundError;
        - the run already owns it (a retried claim): claimed, nothing written;
        - the item is PROCESSED and ``force`` is False: skip, SKIP_REASON_ALREADY_PROCESSED;
        - a run with a later run_start_time has claimed or written it: skip,
          SKIP_REASON_SUPERSEDED;
        - otherwise (no owner, or an older owner whose run died): claimed, the run takes over.

        A skip writes nothing. The returned item is the BASIC view after the claim.
        """
        run = _run(workflow_id, run_id, run_start_time)
        with self._writes.begin() as session:
            row = _lock_item(session, item_id)
            if row is None:
                raise ItemNotFoundError(item_id)
            verdict = claim_verdict(row, run, force=force)
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
    ) -> activities_pb2.ItemWriteOutcome.ValueType:
        """Writes a successful run's result to the item, in one transaction under a row lock.

        Outcomes (``run_rules.write_verdict``): SKIPPED_ITEM_DELETED when the item is gone;
        SKIPPED_DUPLICATE when the item already holds this run's PROCESSED result (a retry or
        replay writes once); SKIPPED_STALE when a run with a later run_start_time has claimed or
        written the item; otherwise APPLIED: status PROCESSED, the suggestions, each image's
        analysis matched by image_id (and its size_bytes from the analysis; an image missing from
        ``analysis`` loses its old analysis), processed_time, last_error cleared, the run recorded
        as the last run and no run current. An analysis naming an image the item does not have
        raises ValueError and writes nothing.
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
            _clear_error(row)
            _record_outcome(row, run)
            self._touch(row, now)
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
    ) -> activities_pb2.ItemWriteOutcome.ValueType:
        """Records that the run failed (status FAILED) or was cancelled (CANCELLED).

        Same rules and outcomes as ``apply_suggestions`` (a duplicate is this run's FAILED or
        CANCELLED outcome already recorded). When applied, last_error is ``error`` and the run is
        recorded as the last run; earlier suggestions, processed_time and image analyses stay.
        """
        run = _run(workflow_id, run_id, run_start_time)
        status = status_name(
            item_pb2.ITEM_STATUS_CANCELLED if cancelled else item_pb2.ITEM_STATUS_FAILED
        )
        with self._writes.begin() as session:
            row = _lock_item(session, item_id)
            if row is None:
                return activities_pb2.ITEM_WRITE_OUTCOME_SKIPPED_ITEM_DELETED
            verdict = write_verdict(row, run, status=status)
            if verdict is not WriteVerdict.APPLY:
                return _SKIPPED_WRITES[verdict]
            row.status = status
            row.last_error_code = error.code
            row.last_error_message = error.message
            row.last_error_image_id = error.image_id
            row.last_error_retryable = error.retryable
            row.last_error_stage = stage_name(error.stage)
            _record_outcome(row, run)
            self._touch(row)
        return activities_pb2.ITEM_WRITE_OUTCOME_APPLIED

    # Notifications ---------------------------------------------------------------------------

    def record_notification(
        self,
        *,
        workflow_id: str,
        run_id: str,
        kind: int,
        item_id: str,
        owner_id: str,
        summary: str,
        payload: Mapping[str, object],
    ) -> tuple[str, bool]:
        """Records a notification once per (workflow_id, run_id, kind).

        Returns (notification_id, created): created is False when the row already existed, also
        when a concurrent call inserted it first. The existing row is left as it was. Raises
        ValueError for NOTIFICATION_KIND_UNSPECIFIED, TypeError/ValueError for a payload that
        JSON cannot represent.
        """
        values = {
            "notification_id": uuid.uuid4().hex,
            "workflow_id": workflow_id,
            "run_id": run_id,
            "kind": kind_name(kind),
            "item_id": item_id,
            "owner_id": owner_id,
            "summary": summary,
            "payload": encode_payload(payload),
            "create_time": self._now(),
            "delivered_time": None,
            "delivery_attempts": 0,
            "last_delivery_error": None,
        }
        with self._writes.begin() as session:
            inserted = insert_or_ignore(
                session,
                models.Notification,
                values,
                conflict_columns=("workflow_id", "run_id", "kind"),
                returning=models.Notification.notification_id,
            )
            if inserted is not None:
                return inserted, True
            existing = session.scalars(
                select(models.Notification.notification_id).where(
                    models.Notification.workflow_id == workflow_id,
                    models.Notification.run_id == run_id,
                    models.Notification.kind == values["kind"],
                )
            ).one()
            return existing, False

    def mark_notification_delivered(self, notification_id: str) -> None:
        """Records a successful delivery (counted as an attempt). Later calls change nothing."""
        with self._writes.begin() as session:
            row = _lock_notification(session, notification_id)
            if row.delivered_time is None:
                row.delivered_time = self._now()
                row.delivery_attempts += 1
                row.last_delivery_error = None

    def record_delivery_failure(self, notification_id: str, error: str) -> None:
        """Counts a failed delivery attempt and keeps its error.

        Ignored once the notification is delivered: a late report of an earlier attempt must not
        make a delivered notification look undelivered.
        """
        with self._writes.begin() as session:
            row = _lock_notification(session, notification_id)
            if row.delivered_time is None:
                row.delivery_attempts += 1
                row.last_delivery_error = error

    def get_notification(self, notification_id: str) -> Notification:
        """The notification; raises NotificationNotFoundError."""
        with self._reads.begin() as session:
            row = session.get(models.Notification, notification_id)
            if row is None:
                raise NotificationNotFoundError(notification_id)
            return notification_from_row(row)

    def list_notifications(self, item_id: str) -> list[Notification]:
        """The item's notifications, oldest first."""
        query = (
            select(models.Notification)
            .where(models.Notification.item_id == item_id)
            .order_by(models.Notification.create_time, models.Notification.notification_id)
        )
        with self._reads.begin() as session:
            return [notification_from_row(row) for row in session.scalars(query)]

    # Analysis cache --------------------------------------------------------------------------

    def get_cached_analysis(
        self, *, sha256: str, analyzer_name: str, analyzer_version: str
    ) -> analysis_pb2.ImageAnalysis | None:
        """The cached analysis of these bytes by this analyser version, or None."""
        with self._reads.begin() as session:
            row = session.get(AnalysisCacheEntry, (sha256, analyzer_name, analyzer_version))
            if row is None:
                return None
            return analysis_pb2.ImageAnalysis.FromString(row.analysis)

    def put_cached_analysis(
        self,
        *,
        sha256: str,
        analyzer_name: str,
        analyzer_version: str,
        analysis: analysis_pb2.ImageAnalysis,
    ) -> None:
        """Caches an analysis unless the key is cached already (the first writer wins).

        Analysis is deterministic per (bytes, analyser version), so a concurrent writer of the
        same key holds an equivalent result and losing the race is harmless.
        """
        with self._writes.begin() as session:
            insert_or_ignore(
                session,
                AnalysisCacheEntry,
                {
                    "sha256": sha256,
                    "analyzer_name": analyzer_name,
                    "analyzer_version": analyzer_version,
                    "analysis": analysis.SerializeToString(deterministic=True),
                    "create_time": self._now(),
                },
                conflict_columns=("sha256", "analyzer_name", "analyzer_version"),
                returning=AnalysisCacheEntry.sha256,
            )

    # Helpers ---------------------------------------------------------------------------------

    def _now(self) -> datetime:
        return require_aware(self._clock(), "the store's clock")

    def _touch(self, row: Item, now: datetime | None = None) -> None:
        row.update_time = now or self._now()
        row.version += 1

    def _item_exists(self, item_id: str) -> bool:
        with self._reads.begin() as session:
            return bool(session.scalar(select(exists().where(Item.item_id == item_id))))


def _run(workflow_id: str, run_id: str, run_start_time: datetime) -> RunRef:
    if not workflow_id or not run_id:
        raise ValueError("workflow_id and run_id are required to identify the run")
    return RunRef(
        workflow_id=workflow_id,
        run_id=run_id,
        start_time=require_aware(run_start_time, "run_start_time"),
    )


def _include_analysis(view: int, *, default: int) -> bool:
    if view == item_pb2.ITEM_VIEW_UNSPECIFIED:
        view = default
    if view == item_pb2.ITEM_VIEW_FULL:
        return True
    if view == item_pb2.ITEM_VIEW_BASIC:
        return False
    raise ValueError(f"not a valid item view: {view}")


def _load_images(include_analysis: bool) -> LoaderOption:
    """Loads the images of all selected items in one more query (never one per item)."""
    if include_analysis:
        return selectinload(Item.images)
    # raiseload: touching the column by mistake raises instead of loading it image by image.
    return selectinload(Item.images).defer(ItemImage.analysis, raiseload=True)


def _lock_item(session: Session, item_id: str) -> Item | None:
    """The item with its images (without analysis), its row locked until the transaction ends."""
    query = (
        select(Item)
        .where(Item.item_id == item_id)
        .options(_load_images(include_analysis=False))
        .with_for_update()
    )
    return session.scalars(query).one_or_none()


def _lock_notification(session: Session, notification_id: str) -> models.Notification:
    row = session.get(models.Notification, notification_id, with_for_update=True)
    if row is None:
        raise NotificationNotFoundError(notification_id)
    return row


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
