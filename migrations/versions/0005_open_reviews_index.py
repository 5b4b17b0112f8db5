"""an index of the reviews still open, per cycle

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The cycle polls for its last open review a few times a second; with this partial index each
    # poll reads only the reviews still open, not every review of a 10,000-participant cycle.
    op.execute("CREATE INDEX ix_review_open_by_cycle ON review (cycle_id) WHERE status <> 'closed'")


def downgrade() -> None:
    op.execute("DROP INDEX ix_review_open_by_cycle")
