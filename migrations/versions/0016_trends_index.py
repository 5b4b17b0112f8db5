"""trends: a manager's team across cycles is read by the manager who rated them

Revision ID: 0016
Revises: 0010
Create Date: 2026-12-01
"""

from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The team view and the drift list read calibrated ratings by their manager; without this every request would
    # scan all ratings of all cycles (a million rows at 100 cycles of 10,000 people).
    op.create_index("ix_calibrated_rating_manager", "calibrated_rating", ["manager_id", "cycle_id"])


def downgrade() -> None:
    op.drop_index("ix_calibrated_rating_manager", table_name="calibrated_rating")
