"""reopen and sign-off: earlier versions of reopened submissions, and the results conversation and acknowledgment

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

APP_ROLE = "kamreview_app"


def upgrade() -> None:
    # Which version of its submission a task awaits or holds: 1 until HR reopens it.
    op.add_column("task", sa.Column("version", sa.Integer(), nullable=False, server_default="1"))
    # Every submission HR reopened, as it was: kept when the resubmission replaces the live answer rows, so the
    # audit and the history show both versions. superseded_at stays NULL while the earlier version still counts.
    op.create_table(
        "submission_version",
        sa.Column("task_id", sa.Text(), sa.ForeignKey("task.id"), primary_key=True),
        sa.Column("version", sa.Integer(), primary_key=True),
        sa.Column("review_id", sa.Text(), sa.ForeignKey("review.id"), nullable=False, index=True),
        sa.Column("phase", sa.Text(), nullable=False),
        sa.Column("submitted_by", sa.Text(), nullable=True),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("content", JSONB(), nullable=False),
        sa.Column("reopened_by", sa.Text(), nullable=False),
        sa.Column("reopened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("superseded_at", sa.DateTime(timezone=True), nullable=True),
    )
    # After release: the manager's results conversation, the KAM's acknowledgment or disagreement (one per review).
    op.create_table(
        "results_acknowledgment",
        sa.Column("review_id", sa.Text(), sa.ForeignKey("review.id"), primary_key=True),
        sa.Column("cycle_id", sa.Text(), sa.ForeignKey("review_cycle.id"), nullable=False, index=True),
        sa.Column("conversation_on", sa.Date(), nullable=True),
        sa.Column("conversation_by", sa.Text(), nullable=True),
        sa.Column("conversation_marked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("response", sa.Text(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("responded_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("response IS NULL OR response IN ('acknowledged', 'disagreed')",
                           name="ck_results_acknowledgment_response"),
        sa.CheckConstraint("response <> 'disagreed' OR coalesce(btrim(comment), '') <> ''",
                           name="ck_results_acknowledgment_disagreement_comment"),
    )
    op.execute(f"GRANT SELECT, INSERT, UPDATE ON submission_version, results_acknowledgment TO {APP_ROLE}")
    # A resubmission replaces the live answer rows; the earlier ones are kept in submission_version first.
    op.execute(f"GRANT DELETE ON self_review_answer, manager_score, survey_response TO {APP_ROLE}")


def downgrade() -> None:
    op.drop_table("results_acknowledgment")
    op.drop_table("submission_version")
    op.drop_column("task", "version")
