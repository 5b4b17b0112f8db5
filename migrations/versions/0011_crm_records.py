"""CRM deals/orders and cases, KPI targets, and where each computed KPI figure came from (issue 12)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

APP_ROLE = "kamreview_app"


def upgrade() -> None:
    # The CRM's records as imported (Zoho Deals, Fxiaoke 商机 and 销售订单; Zoho Cases, Fxiaoke 工单). No foreign key
    # to key_account: a deal may belong to a prospect that is not a key account (kam_id is then NULL and the deal
    # counts for nobody). kam_id is the KAM of the record's account when it was imported.
    op.create_table(
        "crm_deal",
        sa.Column("id", sa.Text(), primary_key=True),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("account_id", sa.Text(), nullable=True),
        sa.Column("kam_id", sa.Text(), sa.ForeignKey("employee.id"), nullable=True),
        sa.Column("owner", sa.Text(), nullable=True),
        sa.Column("stage", sa.Text(), nullable=True),
        sa.Column("won", sa.Boolean(), nullable=False),
        sa.Column("amount", sa.Numeric(20, 4), nullable=True),
        sa.Column("currency", sa.Text(), nullable=False),
        sa.Column("closed_on", sa.Date(), nullable=True),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()")),
        sa.CheckConstraint("kind IN ('deal', 'order')", name="ck_crm_deal_kind"),
        sa.CheckConstraint("amount IS NULL OR amount >= 0", name="ck_crm_deal_amount"),
    )
    # The KPI aggregates read the won records of a date range (the period and the customer windows before it) for
    # every KAM at once: this index answers them without the table, in date order.
    op.create_index("ix_crm_deal_won_on", "crm_deal", ["closed_on"],
                    postgresql_include=["kind", "kam_id", "account_id", "amount", "currency", "id"],
                    postgresql_where=sa.text("won"))
    # "Is this the account's first won deal?": one probe per account that won in the period, not a scan of history.
    op.create_index("ix_crm_deal_account_won", "crm_deal", ["account_id", "kind", "closed_on"],
                    postgresql_where=sa.text("won"))
    op.create_table(
        "crm_case",
        sa.Column("id", sa.Text(), primary_key=True),
        sa.Column("account_id", sa.Text(), nullable=True),
        sa.Column("kam_id", sa.Text(), sa.ForeignKey("employee.id"), nullable=True),
        sa.Column("owner", sa.Text(), nullable=True),
        sa.Column("type", sa.Text(), nullable=True),
        sa.Column("complaint", sa.Boolean(), nullable=False),
        sa.Column("status", sa.Text(), nullable=True),
        sa.Column("opened_on", sa.Date(), nullable=True),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()")),
    )
    op.create_index("ix_crm_case_kpi", "crm_case", ["kam_id", "opened_on"], postgresql_where=sa.text("complaint"))
    op.create_table(
        "kpi_target",
        sa.Column("employee_id", sa.Text(), sa.ForeignKey("employee.id"), primary_key=True),
        sa.Column("period", sa.Text(), primary_key=True),
        sa.Column("kpi_id", sa.Text(), primary_key=True),
        sa.Column("target", sa.Numeric(20, 4), nullable=False),
        sa.Column("currency", sa.Text(), nullable=True),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()")),
        sa.CheckConstraint("target > 0", name="ck_kpi_target_positive"),
    )
    # Provenance beside the figure, not in it: kpi_actual stays the narrow table the scoring and incentive queries
    # read; a figure entered by hand (KPIS.csv) simply has no row here; and the row goes with its figure.
    op.create_table(
        "kpi_source",
        sa.Column("employee_id", sa.Text(), primary_key=True),
        sa.Column("period", sa.Text(), primary_key=True),
        sa.Column("kpi_id", sa.Text(), primary_key=True),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("numerator", sa.Numeric(24, 6), nullable=False),
        sa.Column("denominator", sa.Numeric(24, 6), nullable=False),
        sa.Column("records", postgresql.JSONB(), nullable=False),
        # An order-independent fingerprint of the records (services.kpis): a re-run compares it instead of the list.
        sa.Column("digest", sa.Text(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()")),
        sa.ForeignKeyConstraint(["employee_id", "period", "kpi_id"],
                                ["kpi_actual.employee_id", "kpi_actual.period", "kpi_actual.kpi_id"],
                                ondelete="CASCADE", name="fk_kpi_source_actual"),
    )
    # What the code does there: the import upserts records and targets; `kpi compute` replaces figures and their
    # sources, and removes a computed figure whose records no longer give one (hence DELETE on kpi_actual).
    op.execute(f"GRANT SELECT, INSERT, UPDATE ON crm_deal, crm_case, kpi_target TO {APP_ROLE}")
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON kpi_source TO {APP_ROLE}")
    op.execute(f"GRANT DELETE ON kpi_actual TO {APP_ROLE}")

def downgrade() -> None:
    op.execute(f"REVOKE DELETE ON kpi_actual FROM {APP_ROLE}")
    op.drop_table("kpi_source")
    op.drop_table("kpi_target")
    op.drop_index("ix_crm_case_kpi", table_name="crm_case")
    op.drop_table("crm_case")
    op.drop_index("ix_crm_deal_account_won", table_name="crm_deal")
    op.drop_index("ix_crm_deal_won_on", table_name="crm_deal")
    op.drop_table("crm_deal")
