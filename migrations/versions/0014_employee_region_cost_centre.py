"""an employee's region and cost centre, so a cycle can choose its participants by them

Revision ID: 0014
Revises: 0010
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Both optional: organisation files without these columns keep working (NULL: not said).
    op.add_column("employee", sa.Column("region", sa.Text(), nullable=True))
    op.add_column("employee", sa.Column("cost_centre", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("employee", "cost_centre")
    op.drop_column("employee", "region")
