"""payroll view and role; results release

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("review_cycle", sa.Column("results_released_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("review_cycle", sa.Column("results_released_by", sa.Text(), nullable=True))
    # What payroll systems read with their own role: approved (locked) lines only, never drafts.
    op.execute(
        """
        CREATE VIEW payroll_payout_lines AS
        SELECT p.idempotency_key, p.cycle_id, p.period, p.employee_id, e.name AS employee_name,
               p.line_type, p.amount, p.currency, p.plan_id, p.plan_version, p.revision,
               p.explanation, p.approved_by, p.locked_at
        FROM payout_line p JOIN employee e ON e.id = p.employee_id
        WHERE p.status = 'locked'
        """
    )
    op.execute(
        """
        DO $$
        BEGIN
            IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'kamreview_payroll') THEN
                CREATE ROLE kamreview_payroll NOLOGIN;
            END IF;
        END
        $$;
        """
    )
    op.execute("GRANT SELECT ON payroll_payout_lines TO kamreview_payroll")


def downgrade() -> None:
    op.execute("DROP VIEW IF EXISTS payroll_payout_lines")
    op.drop_column("review_cycle", "results_released_by")
    op.drop_column("review_cycle", "results_released_at")
