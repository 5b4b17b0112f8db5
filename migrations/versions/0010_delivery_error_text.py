"""a failed message's reason in words HR reads in their language

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Our own reasons ("no e-mail address on file for K04 …") as a message id and parameters, translated for the
    # reader; NULL when last_error is a server's reply, which is shown as it came.
    op.add_column("notification", sa.Column("last_error_text", postgresql.JSONB(), nullable=True))


def downgrade() -> None:
    op.drop_column("notification", "last_error_text")
