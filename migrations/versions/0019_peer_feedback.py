"""peer feedback (360): the KAM's nominated peers, the reviewer's approval, and the peers' answers

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

APP_ROLE = "kamreview_app"


def upgrade() -> None:
    op.create_table(
        "peer_nomination",
        sa.Column("review_id", sa.Text(), sa.ForeignKey("review.id"), primary_key=True),
        sa.Column("peer_id", sa.Text(), sa.ForeignKey("employee.id"), primary_key=True),
        sa.Column("nominated_by", sa.Text(), nullable=False),
        sa.Column("nominated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("approved_by", sa.Text(), nullable=True),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
    )
    # One row per peer and question; read only in aggregate (activities.reviews.peer_aggregate).
    op.create_table(
        "peer_feedback_answer",
        sa.Column("task_id", sa.Text(), sa.ForeignKey("task.id"), primary_key=True),
        sa.Column("question_id", sa.Text(), primary_key=True),
        sa.Column("review_id", sa.Text(), sa.ForeignKey("review.id"), nullable=False, index=True),
        sa.Column("rating", sa.Integer(), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("rating BETWEEN 0 AND 10", name="ck_peer_feedback_rating"),
    )
    op.execute(f"GRANT SELECT, INSERT, UPDATE ON peer_nomination TO {APP_ROLE}")
    op.execute(f"GRANT SELECT, INSERT ON peer_feedback_answer TO {APP_ROLE}")


def downgrade() -> None:
    op.drop_table("peer_feedback_answer")
    op.drop_table("peer_nomination")
