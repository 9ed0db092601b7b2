"""Batches newest first: what the dashboard's batch list reads.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_batches_queue_time", "batches", ["queue_time", "batch_id"])


def downgrade() -> None:
    op.drop_index("ix_batches_queue_time", table_name="batches")
