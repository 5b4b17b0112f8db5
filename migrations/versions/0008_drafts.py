"""drafts: a self-review or a manager score saved without submitting, one per task

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

APP_ROLE = "kamreview_app"


def upgrade() -> None:
    # Keyed by task: a task has one person working on it at a time. ``author_id`` is who saved it (only they read
    # it back: a reassigned reviewer does not see the previous one's draft). Deleted when the task is submitted or
    # closes; the pages also show a draft only while its task is open.
    op.create_table(
        "task_draft",
        sa.Column("task_id", sa.Text(), sa.ForeignKey("task.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("author_id", sa.Text(), nullable=False),
        sa.Column("body", postgresql.JSONB(), nullable=False),
        sa.Column("saved_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()")),
    )
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON task_draft TO {APP_ROLE}")


def downgrade() -> None:
    op.drop_table("task_draft")
