"""The read model: item runs, batches and their members; the analyser version of an item.

GetStatus and WatchStatus read these tables instead of asking Temporal; batches keep their members
here instead of in the workflow input, so a batch has no size limit.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WORKFLOW_ID = sa.String(1000)
RUN_ID = sa.String(255)
ITEM_ID = sa.String(128)
BATCH_ID = sa.String(128)
IMAGE_ID = sa.String(64)
REQUEST_ID = sa.String(36)
RUN_STATES = "('QUEUED', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED', 'TIMED_OUT')"
MEMBER_STATES = "('PENDING', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED', 'SKIPPED')"


def timestamp() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("items", sa.Column("analyzer_version_key", sa.String(32), nullable=True))

    op.create_table(
        "item_runs",
        sa.Column("run_id", RUN_ID, nullable=False),
        sa.Column("workflow_id", WORKFLOW_ID, nullable=False),
        sa.Column("item_id", ITEM_ID, nullable=False),
        sa.Column("batch_id", BATCH_ID, nullable=True),
        sa.Column("request_id", REQUEST_ID, nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("stage", sa.String(32), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("error_code", sa.String(64), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("error_image_id", IMAGE_ID, nullable=True),
        sa.Column("error_retryable", sa.Boolean(), nullable=True),
        sa.Column("error_stage", sa.String(32), nullable=True),
        sa.Column("skip_reason", sa.String(32), nullable=True),
        sa.Column("result", sa.LargeBinary(), nullable=True),
        sa.Column("queue_time", timestamp(), nullable=False),
        sa.Column("scheduled_start_time", timestamp(), nullable=False),
        sa.Column("start_time", timestamp(), nullable=True),
        sa.Column("close_time", timestamp(), nullable=True),
        sa.Column("update_time", timestamp(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("run_id", name=op.f("pk_item_runs")),
        sa.CheckConstraint(f"state IN {RUN_STATES}", name=op.f("ck_item_runs_state")),
        sa.CheckConstraint("attempt >= 0", name=op.f("ck_item_runs_attempt_non_negative")),
    )
    op.create_index("ix_item_runs_item_id_queue_time", "item_runs", ["item_id", "queue_time"])
    op.create_index("ix_item_runs_state_update_time", "item_runs", ["state", "update_time"])

    op.create_table(
        "batches",
        sa.Column("batch_id", BATCH_ID, nullable=False),
        sa.Column("workflow_id", WORKFLOW_ID, nullable=False),
        sa.Column("first_run_id", RUN_ID, nullable=True),
        sa.Column("current_run_id", RUN_ID, nullable=True),
        sa.Column("request_id", REQUEST_ID, nullable=True),
        sa.Column("request_fingerprint", sa.String(64), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("max_concurrency", sa.Integer(), nullable=False),
        sa.Column("continued_as_new_count", sa.Integer(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("running", sa.Integer(), nullable=False),
        sa.Column("succeeded", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("cancelled", sa.Integer(), nullable=False),
        sa.Column("skipped", sa.Integer(), nullable=False),
        sa.Column("member_count", sa.Integer(), nullable=False),
        sa.Column("selector", sa.LargeBinary(), nullable=True),
        sa.Column("selection_complete", sa.Boolean(), nullable=False),
        sa.Column("selection_cursor_time", timestamp(), nullable=True),
        sa.Column("selection_cursor_item_id", ITEM_ID, nullable=True),
        sa.Column("error_code", sa.String(64), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("queue_time", timestamp(), nullable=False),
        sa.Column("start_time", timestamp(), nullable=True),
        sa.Column("close_time", timestamp(), nullable=True),
        sa.Column("update_time", timestamp(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("batch_id", name=op.f("pk_batches")),
        sa.CheckConstraint(f"state IN {RUN_STATES}", name=op.f("ck_batches_state")),
        sa.CheckConstraint(
            "running >= 0 AND succeeded >= 0 AND failed >= 0 AND cancelled >= 0 AND skipped >= 0",
            name=op.f("ck_batches_counters_non_negative"),
        ),
    )
    op.create_index("ix_batches_state_update_time", "batches", ["state", "update_time"])

    op.create_table(
        "batch_items",
        sa.Column("batch_id", BATCH_ID, nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("item_id", ITEM_ID, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("run_id", RUN_ID, nullable=True),
        sa.Column("finish_time", timestamp(), nullable=True),
        sa.PrimaryKeyConstraint("batch_id", "position", name=op.f("pk_batch_items")),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["batches.batch_id"],
            name=op.f("fk_batch_items_batch_id_batches"),
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("batch_id", "item_id", name=op.f("uq_batch_items_batch_id_item_id")),
        sa.CheckConstraint(f"state IN {MEMBER_STATES}", name=op.f("ck_batch_items_state")),
        sa.CheckConstraint("position >= 0", name=op.f("ck_batch_items_position_non_negative")),
    )
    op.create_index("ix_batch_items_item_id_run_id", "batch_items", ["item_id", "run_id"])
    op.create_index(
        "ix_batch_items_batch_id_state_finish_time",
        "batch_items",
        ["batch_id", "state", "finish_time"],
    )


def downgrade() -> None:
    op.drop_table("batch_items")
    op.drop_table("batches")
    op.drop_table("item_runs")
    with op.batch_alter_table("items") as batch:
        batch.drop_column("analyzer_version_key")
