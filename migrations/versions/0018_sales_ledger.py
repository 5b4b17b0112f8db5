"""sales compensation in a cycle: split credit and events of CRM deals, and the balance ledger per person

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

APP_ROLE = "kamreview_app"


def upgrade() -> None:
    # A deal shared by KAMs: each one's declared percent (summing to 100). A deal without rows here is credited in
    # full to its crm_deal.kam_id, as the KPI figures count it.
    op.create_table(
        "crm_deal_credit",
        sa.Column("deal_id", sa.Text(), sa.ForeignKey("crm_deal.id"), primary_key=True),
        sa.Column("employee_id", sa.Text(), sa.ForeignKey("employee.id"), primary_key=True),
        sa.Column("percent", sa.Numeric(7, 4), nullable=False),
        sa.CheckConstraint("percent > 0 AND percent <= 100", name="ck_crm_deal_credit_percent"),
    )
    # What happened to a deal after it was won: a clawback's cause (or a reinstatement). One row per event.
    op.create_table(
        "crm_deal_event",
        sa.Column("deal_id", sa.Text(), sa.ForeignKey("crm_deal.id"), primary_key=True),
        sa.Column("kind", sa.Text(), primary_key=True),
        sa.Column("on", sa.Date(), primary_key=True),
        sa.Column("refunded_pct", sa.Numeric(7, 4), nullable=False, server_default="100"),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()")),
        sa.CheckConstraint("kind IN ('cancelled', 'refunded', 'churned', 'reinstated')",
                           name="ck_crm_deal_event_kind"),
        sa.CheckConstraint("refunded_pct > 0 AND refunded_pct <= 100", name="ck_crm_deal_event_refunded_pct"),
    )
    # The balance ledger: what each person earned, drew, had recovered, clawed back and written off, cycle by cycle,
    # and what they owe after it. Written when payouts lock, in the lock's transaction, under a natural key
    # (plan year, employee, cycle, revision, kind): a retried or repeated approval writes nothing twice.
    op.create_table(
        "ledger_entry",
        sa.Column("key", sa.Text(), primary_key=True),
        sa.Column("seq", sa.BigInteger(), sa.Identity(), nullable=False, unique=True),
        sa.Column("plan_year", sa.Text(), nullable=False),
        sa.Column("employee_id", sa.Text(), sa.ForeignKey("employee.id"), nullable=False),
        sa.Column("cycle_id", sa.Text(), sa.ForeignKey("review_cycle.id"), nullable=False, index=True),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("amount", sa.Numeric(20, 4), nullable=False),
        sa.Column("currency", sa.Text(), nullable=False),
        sa.Column("balance_after", sa.Numeric(20, 4), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()")),
        sa.CheckConstraint("kind IN ('earned', 'drawn', 'recovered', 'clawed_back', 'written_off')",
                           name="ck_ledger_entry_kind"),
    )
    # A cycle reads each person's last balance of its plan year; a statement reads one person's ledger.
    op.create_index("ix_ledger_entry_person", "ledger_entry", ["plan_year", "employee_id", "seq"])
    op.execute(f"GRANT SELECT, INSERT, UPDATE ON crm_deal_credit, crm_deal_event TO {APP_ROLE}")
    op.execute(f"GRANT DELETE ON crm_deal_credit TO {APP_ROLE}")
    # The ledger is written once and never changed: corrections are new entries. It holds approved figures only
    # (written when lines lock), so payroll systems may read it with their own role.
    op.execute(f"GRANT SELECT, INSERT ON ledger_entry TO {APP_ROLE}")
    op.execute("GRANT SELECT ON ledger_entry TO kamreview_payroll")
    # Payroll's view names the deal a line pays or claws back, and the event behind a clawback (new columns last:
    # a view keeps its columns' order).
    op.execute(_VIEW.format(extra=""",
               p.inputs ->> 'deal_id' AS deal_id, p.inputs ->> 'event' AS event"""))


_VIEW = """
CREATE OR REPLACE VIEW payroll_payout_lines AS
SELECT p.idempotency_key, p.cycle_id, p.period, p.employee_id, e.name AS employee_name,
       p.line_type, p.amount, p.currency, p.plan_id, p.plan_version, p.revision,
       p.explanation, p.approved_by, p.locked_at{extra}
FROM payout_line p JOIN employee e ON e.id = p.employee_id
WHERE p.status = 'locked'
"""


def downgrade() -> None:
    op.execute("DROP VIEW payroll_payout_lines")
    op.execute(_VIEW.format(extra=""))
    op.execute("GRANT SELECT ON payroll_payout_lines TO kamreview_payroll")
    op.execute(f"GRANT SELECT ON payroll_payout_lines TO {APP_ROLE}")
    op.drop_index("ix_ledger_entry_person", table_name="ledger_entry")
    op.drop_table("ledger_entry")
    op.drop_table("crm_deal_event")
    op.drop_table("crm_deal_credit")
