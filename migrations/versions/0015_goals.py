"""goals (OKRs): a KAM's objectives and key results per period, approved by the manager, with check-ins

Revision ID: 0015
Revises: 0010
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

APP_ROLE = "kamreview_app"
TABLES = ("goal_plan", "goal_objective", "goal_key_result", "goal_check_in")
# What the code does there: drafts add and remove objectives and key results; check-ins are append-only.
GRANTS = {"goal_plan": "SELECT, INSERT, UPDATE", "goal_objective": "SELECT, INSERT, UPDATE, DELETE",
          "goal_key_result": "SELECT, INSERT, UPDATE, DELETE", "goal_check_in": "SELECT, INSERT"}


def upgrade() -> None:
    # One plan per KAM and period (the period label of KPI actuals and cycles): the unit the manager approves.
    op.create_table(
        "goal_plan",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("employee_id", sa.Text(), sa.ForeignKey("employee.id"), nullable=False, index=True),
        sa.Column("period", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False, server_default="draft"),
        sa.Column("comment", sa.Text(), nullable=True),  # the manager's words when returning it
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()")),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.Text(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("employee_id", "period", name="uq_goal_plan_employee_period"),
        sa.CheckConstraint("status IN ('draft', 'submitted', 'approved', 'returned')", name="ck_goal_plan_status"),
    )
    op.create_table(
        "goal_objective",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("plan_id", sa.BigInteger(), sa.ForeignKey("goal_plan.id", ondelete="CASCADE"), nullable=False,
                  index=True),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("weight", sa.Numeric(8, 4), nullable=False, server_default="1"),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()")),
        sa.CheckConstraint("weight > 0", name="ck_goal_objective_weight"),
    )
    op.create_table(
        "goal_key_result",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("objective_id", sa.BigInteger(), sa.ForeignKey("goal_objective.id", ondelete="CASCADE"),
                  nullable=False, index=True),
        sa.Column("metric", sa.Text(), nullable=False),
        sa.Column("unit", sa.Text(), nullable=False),
        sa.Column("start_value", sa.Numeric(20, 6), nullable=False),
        sa.Column("target_value", sa.Numeric(20, 6), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("owner_id", sa.Text(), sa.ForeignKey("employee.id"), nullable=False),
        sa.Column("weight", sa.Numeric(8, 4), nullable=False, server_default="1"),
        sa.Column("kpi_id", sa.Text(), nullable=True),  # progress read from kpi_actual for the plan's period
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()")),
        sa.CheckConstraint("weight > 0", name="ck_goal_key_result_weight"),
        sa.CheckConstraint("target_value <> start_value", name="ck_goal_key_result_target"),
    )
    # Check-ins are only ever inserted: the history of progress is kept, the latest one counts.
    op.create_table(
        "goal_check_in",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("key_result_id", sa.BigInteger(), sa.ForeignKey("goal_key_result.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("value", sa.Numeric(20, 6), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("author_id", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()")),
    )
    op.create_index("ix_goal_check_in_kr_at", "goal_check_in", ["key_result_id", "at"])
    for table, grant in GRANTS.items():
        op.execute(f"GRANT {grant} ON {table} TO {APP_ROLE}")


def downgrade() -> None:
    for table in reversed(TABLES):
        op.drop_table(table)
