"""The open runs a batch started: what its window counts at every tick.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_item_runs_batch_id_state", "item_runs", ["batch_id", "state"])


def downgrade() -> None:
    op.drop_index("ix_item_runs_batch_id_state", table_name="item_runs")
