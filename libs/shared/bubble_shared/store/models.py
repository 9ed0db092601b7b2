"""The database schema of the item store, as SQLAlchemy ORM models.

``migrations/versions`` must create exactly this schema: ``migrate_test.py`` compares a migrated
database with these models, so the two cannot drift apart. Change both together.

Enumerations are stored as short names ("PROCESSED"), not protobuf numbers, so the data reads
well in SQL and survives renumbering; the CHECK constraints list the names a migration allows.
Protobuf messages (suggestions, per-image analysis) are stored as serialized bytes: the store
never queries inside them, and binary protobuf tolerates fields added or removed later.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from bubble_shared.store.timestamps import UtcDateTime

# Deterministic constraint names, so migrations can refer to (and later drop) them by name.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# ItemStatus values without the "ITEM_STATUS_" prefix; UNSPECIFIED is never stored.
ITEM_STATUS_NAMES = ("PENDING", "PROCESSING", "PROCESSED", "FAILED", "CANCELLED")
# NotificationKind values without the "NOTIFICATION_KIND_" prefix; UNSPECIFIED is never stored.
NOTIFICATION_KIND_NAMES = ("PROCESSED", "FAILED", "CANCELLED")
# RunState values without the "RUN_STATE_" prefix; UNSPECIFIED is never stored.
RUN_STATE_NAMES = ("QUEUED", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED", "TIMED_OUT")
# A batch member: not started yet, following an open run, or the outcome counted for the batch.
MEMBER_STATE_NAMES = ("PENDING", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED", "SKIPPED")
BATCH_ID_LENGTH = 128

# Temporal accepts workflow IDs up to 1,000 characters by default; run IDs are UUIDs.
WORKFLOW_ID_LENGTH = 1000
RUN_ID_LENGTH = 255
ITEM_ID_LENGTH = 128
OWNER_ID_LENGTH = 128
IMAGE_ID_LENGTH = 64
# Idempotency records: a gRPC method name, and a UUID in canonical form.
REQUEST_METHOD_LENGTH = 128
REQUEST_ID_LENGTH = 36
# Upload IDs: a UUID's 32 hex digits.
UPLOAD_ID_LENGTH = 32


def _in_list(column: str, names: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(name) for name in names)})"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Item(Base):
    """A marketplace item and the state of its processing.

    Two run references tell runs apart: ``current_*`` is the run that has claimed the item and not
    yet written an outcome (set exactly while the status is PROCESSING); ``last_*`` is the run whose
    outcome (PROCESSED, FAILED, CANCELLED) the item holds. Their start times are the monotonic run
    markers that let an old run's late write be refused.
    """

    __tablename__ = "items"

    item_id: Mapped[str] = mapped_column(String(ITEM_ID_LENGTH), primary_key=True)
    owner_id: Mapped[str] = mapped_column(String(OWNER_ID_LENGTH))
    title: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))

    last_error_code: Mapped[str | None] = mapped_column(String(64))
    last_error_message: Mapped[str | None] = mapped_column(Text)
    last_error_image_id: Mapped[str | None] = mapped_column(String(IMAGE_ID_LENGTH))
    last_error_retryable: Mapped[bool | None]
    last_error_stage: Mapped[str | None] = mapped_column(String(32))

    # Serialized analysis_pb2.ItemSuggestions of the last successful run.
    suggestions: Mapped[bytes | None] = mapped_column(LargeBinary)

    current_workflow_id: Mapped[str | None] = mapped_column(String(WORKFLOW_ID_LENGTH))
    current_run_id: Mapped[str | None] = mapped_column(String(RUN_ID_LENGTH))
    current_run_start_time: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_workflow_id: Mapped[str | None] = mapped_column(String(WORKFLOW_ID_LENGTH))
    last_run_id: Mapped[str | None] = mapped_column(String(RUN_ID_LENGTH))
    last_run_start_time: Mapped[datetime | None] = mapped_column(UtcDateTime)

    create_time: Mapped[datetime] = mapped_column(UtcDateTime)
    update_time: Mapped[datetime] = mapped_column(UtcDateTime)
    processed_time: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # Bumped by every write, so a reader can tell whether the item changed.
    version: Mapped[int] = mapped_column(Integer)
    # The analyser version of the current suggestions as a sortable key ("000001.000003.000000"),
    # so a batch can select "analysed by an older version than X" with an index range.
    analyzer_version_key: Mapped[str | None] = mapped_column(String(32))

    images: Mapped[list[ItemImage]] = relationship(
        back_populates="item",
        order_by="ItemImage.position",
        cascade="all, delete-orphan",
        passive_deletes=True,
        # Every query says how it loads images: an accidental lazy load (N+1) raises instead.
        lazy="raise",
    )

    __table_args__ = (
        CheckConstraint(_in_list("status", ITEM_STATUS_NAMES), name="status"),
        CheckConstraint(f"length(item_id) BETWEEN 1 AND {ITEM_ID_LENGTH}", name="item_id_length"),
        CheckConstraint("version >= 1", name="version_positive"),
        # ListItems: newest first, optionally for one owner; item_id breaks ties in the keyset.
        Index("ix_items_owner_id_create_time", "owner_id", "create_time", "item_id"),
        Index("ix_items_create_time", "create_time", "item_id"),
        Index("ix_items_status", "status"),
    )


class ItemImage(Base):
    """One image of an item. Images are fixed at creation; runs only fill in their analysis."""

    __tablename__ = "item_images"

    image_id: Mapped[str] = mapped_column(String(IMAGE_ID_LENGTH), primary_key=True)
    item_id: Mapped[str] = mapped_column(
        String(ITEM_ID_LENGTH), ForeignKey("items.item_id", ondelete="CASCADE")
    )
    position: Mapped[int] = mapped_column(Integer)
    uri: Mapped[str] = mapped_column(Text)
    filename: Mapped[str] = mapped_column(Text)
    content_type: Mapped[str] = mapped_column(String(255))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    # Serialized analysis_pb2.ImageAnalysis from the last successful run.
    analysis: Mapped[bytes | None] = mapped_column(LargeBinary)

    item: Mapped[Item] = relationship(back_populates="images", lazy="raise")

    __table_args__ = (
        # Also the index that finds an item's images (and serves the foreign key).
        UniqueConstraint("item_id", "position"),
        CheckConstraint("position >= 0", name="position_non_negative"),
        CheckConstraint("size_bytes >= 0", name="size_bytes_non_negative"),
    )


class Notification(Base):
    """A notification to an item's owner about how a run ended.

    Unique per run and kind, so a retried activity or a replayed workflow finds the existing row
    instead of notifying twice. No foreign key to items: a run whose item was deleted still
    notifies, and the history outlives the item.
    """

    __tablename__ = "notifications"

    notification_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    workflow_id: Mapped[str] = mapped_column(String(WORKFLOW_ID_LENGTH))
    run_id: Mapped[str] = mapped_column(String(RUN_ID_LENGTH))
    kind: Mapped[str] = mapped_column(String(16))
    item_id: Mapped[str] = mapped_column(String(ITEM_ID_LENGTH))
    owner_id: Mapped[str] = mapped_column(String(OWNER_ID_LENGTH))
    summary: Mapped[str] = mapped_column(Text)
    # JSON object, as text: portable, and only ever read back whole.
    payload: Mapped[str] = mapped_column(Text)
    create_time: Mapped[datetime] = mapped_column(UtcDateTime)
    delivered_time: Mapped[datetime | None] = mapped_column(UtcDateTime)
    delivery_attempts: Mapped[int] = mapped_column(Integer)
    last_delivery_error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        UniqueConstraint("workflow_id", "run_id", "kind"),
        CheckConstraint(_in_list("kind", NOTIFICATION_KIND_NAMES), name="kind"),
        CheckConstraint("delivery_attempts >= 0", name="delivery_attempts_non_negative"),
        Index("ix_notifications_item_id", "item_id"),
    )


class AnalysisCacheEntry(Base):
    """An image analysis keyed by the file's bytes and the analyser that produced it.

    Analysis is a pure function of (bytes, analyser version), so an entry never goes stale and is
    never updated: the first writer wins and later writers of the same key are ignored.
    """

    __tablename__ = "analysis_cache"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    analyzer_name: Mapped[str] = mapped_column(String(128), primary_key=True)
    analyzer_version: Mapped[str] = mapped_column(String(64), primary_key=True)
    # Serialized analysis_pb2.ImageAnalysis.
    analysis: Mapped[bytes] = mapped_column(LargeBinary)
    create_time: Mapped[datetime] = mapped_column(UtcDateTime)


class VisionModelAnswer(Base):
    """A vision model's validated answer about an item's pictures, by what it was asked.

    ``cache_key`` is the SHA-256 of everything the answer depends on (the images' bytes, the
    owner's text, the model and the prompt version), so a key never goes stale: the first
    writer wins, like the analysis cache. ``model`` and ``prompt_version`` are kept for
    operators (which answers a model or a prompt change leaves behind).
    """

    __tablename__ = "vision_model_answers"

    cache_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    model: Mapped[str] = mapped_column(String(255))
    prompt_version: Mapped[str] = mapped_column(String(64))
    # Serialized analysis_pb2.ItemSuggestions holding only the model's fields.
    answer: Mapped[bytes] = mapped_column(LargeBinary)
    create_time: Mapped[datetime] = mapped_column(UtcDateTime)


class RequestRecord(Base):
    """The first answer to an idempotent request (AIP-155), kept so a retry gets the same answer.

    Keyed by the RPC's name and the client's request_id: the same request_id may be used with two
    methods. ``fingerprint`` identifies the request's parameters, so a reuse of the request_id with
    other parameters can be refused; ``response`` is the serialized response message. Rows are kept
    until ``expire_time`` (at least a day after the request) and then purged.
    """

    __tablename__ = "request_records"

    method: Mapped[str] = mapped_column(String(REQUEST_METHOD_LENGTH), primary_key=True)
    request_id: Mapped[str] = mapped_column(String(REQUEST_ID_LENGTH), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    response: Mapped[bytes] = mapped_column(LargeBinary)
    create_time: Mapped[datetime] = mapped_column(UtcDateTime)
    expire_time: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (
        # The purge deletes by expiry.
        Index("ix_request_records_expire_time", "expire_time"),
    )


class Upload(Base):
    """An image received by UploadImage, waiting for CreateItem to use it by ``upload_id``.

    The file itself is content-addressed under MEDIA_ROOT (``uri``), like inline images; the row
    says whose it is and until when it may be used. No foreign key to items: an upload may back
    several items (a retried CreateItem) and expired rows are purged.
    """

    __tablename__ = "uploads"

    upload_id: Mapped[str] = mapped_column(String(UPLOAD_ID_LENGTH), primary_key=True)
    owner_id: Mapped[str] = mapped_column(String(OWNER_ID_LENGTH))
    uri: Mapped[str] = mapped_column(Text)
    filename: Mapped[str] = mapped_column(Text)
    content_type: Mapped[str] = mapped_column(Text)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    create_time: Mapped[datetime] = mapped_column(UtcDateTime)
    expire_time: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (
        # The purge deletes by expiry.
        Index("ix_uploads_expire_time", "expire_time"),
    )


class ItemRun(Base):
    """The status of one item run (one ItemImageProcessingWorkflow execution): the read model.

    Written by the run itself at every step (and by the service when it starts the run), so that
    GetStatus and WatchStatus read one row instead of asking Temporal. ``version`` is bumped by
    every change, so a watcher polls one small column. No foreign key to items: the history of a
    run outlives a deleted item.
    """

    __tablename__ = "item_runs"

    run_id: Mapped[str] = mapped_column(String(RUN_ID_LENGTH), primary_key=True)
    workflow_id: Mapped[str] = mapped_column(String(WORKFLOW_ID_LENGTH))
    item_id: Mapped[str] = mapped_column(String(ITEM_ID_LENGTH))
    batch_id: Mapped[str | None] = mapped_column(String(BATCH_ID_LENGTH))
    request_id: Mapped[str | None] = mapped_column(String(REQUEST_ID_LENGTH))
    state: Mapped[str] = mapped_column(String(16))
    stage: Mapped[str] = mapped_column(String(32))
    attempt: Mapped[int] = mapped_column(Integer)
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    error_image_id: Mapped[str | None] = mapped_column(String(IMAGE_ID_LENGTH))
    error_retryable: Mapped[bool | None]
    error_stage: Mapped[str | None] = mapped_column(String(32))
    skip_reason: Mapped[str | None] = mapped_column(String(32))
    # Serialized analysis_pb2.ItemSuggestions, once the run has written them.
    result: Mapped[bytes | None] = mapped_column(LargeBinary)
    queue_time: Mapped[datetime] = mapped_column(UtcDateTime)
    scheduled_start_time: Mapped[datetime] = mapped_column(UtcDateTime)
    start_time: Mapped[datetime | None] = mapped_column(UtcDateTime)
    close_time: Mapped[datetime | None] = mapped_column(UtcDateTime)
    update_time: Mapped[datetime] = mapped_column(UtcDateTime)
    version: Mapped[int] = mapped_column(Integer)

    __table_args__ = (
        CheckConstraint(_in_list("state", RUN_STATE_NAMES), name="state"),
        CheckConstraint("attempt >= 0", name="attempt_non_negative"),
        # The latest run of an item (GetStatus by item_id).
        Index("ix_item_runs_item_id_queue_time", "item_id", "queue_time"),
        # Open runs that have not changed for a while (reconciliation with Temporal).
        Index("ix_item_runs_state_update_time", "state", "update_time"),
        # The open runs a batch started (its window, at every tick).
        Index("ix_item_runs_batch_id_state", "batch_id", "state"),
    )


class Batch(Base):
    """A batch and its counters: the read model of an ItemBatchProcessingWorkflow chain.

    Counters change in the same transaction as the member's outcome (``BatchItem``), exactly once
    per member, so they are right while workers are down and never count an item twice.
    ``selector`` (a serialized item_pb2.ItemSelector) is set for a batch that selects its items;
    the members are then written page by page as the batch reads further (``selection_*``).
    Listed members the batch may not process (``owner_ids``) are written after the others,
    already FAILED, at positions from ``member_count`` on: the workflow never reads them.
    """

    __tablename__ = "batches"

    batch_id: Mapped[str] = mapped_column(String(BATCH_ID_LENGTH), primary_key=True)
    workflow_id: Mapped[str] = mapped_column(String(WORKFLOW_ID_LENGTH))
    first_run_id: Mapped[str | None] = mapped_column(String(RUN_ID_LENGTH))
    current_run_id: Mapped[str | None] = mapped_column(String(RUN_ID_LENGTH))
    request_id: Mapped[str | None] = mapped_column(String(REQUEST_ID_LENGTH))
    # Fingerprint of the starting request's parameters (a retried start is recognised).
    request_fingerprint: Mapped[str | None] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))
    max_concurrency: Mapped[int] = mapped_column(Integer)
    continued_as_new_count: Mapped[int] = mapped_column(Integer)
    total: Mapped[int] = mapped_column(Integer)
    running: Mapped[int] = mapped_column(Integer)
    succeeded: Mapped[int] = mapped_column(Integer)
    failed: Mapped[int] = mapped_column(Integer)
    cancelled: Mapped[int] = mapped_column(Integer)
    skipped: Mapped[int] = mapped_column(Integer)
    # Members written so far (positions 0..member_count-1).
    member_count: Mapped[int] = mapped_column(Integer)
    selector: Mapped[bytes | None] = mapped_column(LargeBinary)
    # The owners whose items the batch may process, as a JSON array of owner IDs (its starter's
    # token was restricted to them, or its selector named one); NULL: every owner. Reading the
    # batch needs a token allowed for all of them.
    owner_ids: Mapped[str | None] = mapped_column(Text)
    selection_complete: Mapped[bool] = mapped_column(Boolean)
    # Keyset position of the selection read so far: (create_time, item_id) of the last member.
    selection_cursor_time: Mapped[datetime | None] = mapped_column(UtcDateTime)
    selection_cursor_item_id: Mapped[str | None] = mapped_column(String(ITEM_ID_LENGTH))
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    queue_time: Mapped[datetime] = mapped_column(UtcDateTime)
    start_time: Mapped[datetime | None] = mapped_column(UtcDateTime)
    close_time: Mapped[datetime | None] = mapped_column(UtcDateTime)
    update_time: Mapped[datetime] = mapped_column(UtcDateTime)
    version: Mapped[int] = mapped_column(Integer)

    __table_args__ = (
        CheckConstraint(_in_list("state", RUN_STATE_NAMES), name="state"),
        CheckConstraint(
            "running >= 0 AND succeeded >= 0 AND failed >= 0 AND cancelled >= 0 AND skipped >= 0",
            name="counters_non_negative",
        ),
        # Open batches that have not changed for a while (reconciliation with Temporal).
        Index("ix_batches_state_update_time", "state", "update_time"),
        # The newest batches first (the dashboard's batch list).
        Index("ix_batches_queue_time", "queue_time", "batch_id"),
    )


class BatchItem(Base):
    """One member of a batch, in start order, and what the batch counted for it.

    ``run_id`` is the run the member follows (one the batch started, or someone else's run it
    joined); the outcome is counted when that run records it, exactly once: a member leaves
    PENDING/RUNNING once and never returns.
    """

    __tablename__ = "batch_items"

    batch_id: Mapped[str] = mapped_column(
        String(BATCH_ID_LENGTH),
        ForeignKey("batches.batch_id", ondelete="CASCADE"),
        primary_key=True,
    )
    position: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    item_id: Mapped[str] = mapped_column(String(ITEM_ID_LENGTH))
    state: Mapped[str] = mapped_column(String(16))
    run_id: Mapped[str | None] = mapped_column(String(RUN_ID_LENGTH))
    finish_time: Mapped[datetime | None] = mapped_column(UtcDateTime)

    __table_args__ = (
        UniqueConstraint("batch_id", "item_id"),
        CheckConstraint(_in_list("state", MEMBER_STATE_NAMES), name="state"),
        CheckConstraint("position >= 0", name="position_non_negative"),
        # The members following a run, when it records its outcome.
        Index("ix_batch_items_item_id_run_id", "item_id", "run_id"),
        # A batch's failed items in failure order.
        Index("ix_batch_items_batch_id_state_finish_time", "batch_id", "state", "finish_time"),
    )
