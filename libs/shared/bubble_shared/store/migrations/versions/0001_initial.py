"""The initial schema: items, item_images, notifications, analysis_cache.

Written by hand to match ``bubble_shared/store/models.py`` at the time; ``migrate_test.py`` checks
that a migrated database equals the models. A migration is history: it spells out its schema
instead of importing the models, which will have moved on.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WORKFLOW_ID = sa.String(1000)
RUN_ID = sa.String(255)
ITEM_ID = sa.String(128)
OWNER_ID = sa.String(128)
IMAGE_ID = sa.String(64)


def timestamp() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "items",
        sa.Column("item_id", ITEM_ID, nullable=False),
        sa.Column("owner_id", OWNER_ID, nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("last_error_code", sa.String(64), nullable=True),
        sa.Column("last_error_message", sa.Text(), nullable=True),
        sa.Column("last_error_image_id", IMAGE_ID, nullable=True),
        sa.Column("last_error_retryable", sa.Boolean(), nullable=True),
        sa.Column("last_error_stage", sa.String(32), nullable=True),
        sa.Column("suggestions", sa.LargeBinary(), nullable=True),
        sa.Column("current_workflow_id", WORKFLOW_ID, nullable=True),
        sa.Column("current_run_id", RUN_ID, nullable=True),
        sa.Column("current_run_start_time", timestamp(), nullable=True),
        sa.Column("last_workflow_id", WORKFLOW_ID, nullable=True),
        sa.Column("last_run_id", RUN_ID, nullable=True),
        sa.Column("last_run_start_time", timestamp(), nullable=True),
        sa.Column("create_time", timestamp(), nullable=False),
        sa.Column("update_time", timestamp(), nullable=False),
        sa.Column("processed_time", timestamp(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("item_id", name=op.f("pk_items")),
        sa.CheckConstraint(
            "status IN ('PENDING', 'PROCESSING', 'PROCESSED', 'FAILED', 'CANCELLED')",
            name=op.f("ck_items_status"),
        ),
        sa.CheckConstraint(
            "length(item_id) BETWEEN 1 AND 128", name=op.f("ck_items_item_id_length")
        ),
        sa.CheckConstraint("version >= 1", name=op.f("ck_items_version_positive")),
    )
    op.create_index(
        "ix_items_owner_id_create_time", "items", ["owner_id", "create_time", "item_id"]
    )
    op.create_index("ix_items_create_time", "items", ["create_time", "item_id"])
    op.create_index("ix_items_status", "items", ["status"])

    op.create_table(
        "item_images",
        sa.Column("image_id", IMAGE_ID, nullable=False),
        sa.Column("item_id", ITEM_ID, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("uri", sa.Text(), nullable=False),
        sa.Column("filename", sa.Text(), nullable=False),
        sa.Column("content_type", sa.String(255), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("analysis", sa.LargeBinary(), nullable=True),
        sa.PrimaryKeyConstraint("image_id", name=op.f("pk_item_images")),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["items.item_id"],
            name=op.f("fk_item_images_item_id_items"),
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("item_id", "position", name=op.f("uq_item_images_item_id_position")),
        sa.CheckConstraint("position >= 0", name=op.f("ck_item_images_position_non_negative")),
        sa.CheckConstraint("size_bytes >= 0", name=op.f("ck_item_images_size_bytes_non_negative")),
    )

    op.create_table(
        "notifications",
        sa.Column("notification_id", sa.String(64), nullable=False),
        sa.Column("workflow_id", WORKFLOW_ID, nullable=False),
        sa.Column("run_id", RUN_ID, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("item_id", ITEM_ID, nullable=False),
        sa.Column("owner_id", OWNER_ID, nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("create_time", timestamp(), nullable=False),
        sa.Column("delivered_time", timestamp(), nullable=True),
        sa.Column("delivery_attempts", sa.Integer(), nullable=False),
        sa.Column("last_delivery_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("notification_id", name=op.f("pk_notifications")),
        sa.UniqueConstraint(
            "workflow_id", "run_id", "kind", name=op.f("uq_notifications_workflow_id_run_id_kind")
        ),
        sa.CheckConstraint(
            "kind IN ('PROCESSED', 'FAILED', 'CANCELLED')", name=op.f("ck_notifications_kind")
        ),
        sa.CheckConstraint(
            "delivery_attempts >= 0",
            name=op.f("ck_notifications_delivery_attempts_non_negative"),
        ),
    )
    op.create_index("ix_notifications_item_id", "notifications", ["item_id"])

    op.create_table(
        "analysis_cache",
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("analyzer_name", sa.String(128), nullable=False),
        sa.Column("analyzer_version", sa.String(64), nullable=False),
        sa.Column("analysis", sa.LargeBinary(), nullable=False),
        sa.Column("create_time", timestamp(), nullable=False),
        sa.PrimaryKeyConstraint(
            "sha256", "analyzer_name", "analyzer_version", name=op.f("pk_analysis_cache")
        ),
    )


def downgrade() -> None:
    op.drop_table("analysis_cache")
    op.drop_index("ix_notifications_item_id", table_name="notifications")
    op.drop_table("notifications")
    op.drop_table("item_images")
    op.drop_index("ix_items_status", table_name="items")
    op.drop_index("ix_items_create_time", table_name="items")
    op.drop_index("ix_items_owner_id_create_time", table_name="items")
    op.drop_table("items")
