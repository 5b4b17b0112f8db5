"""message delivery: people's channels and language; the outbox records each send

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

APP_ROLE = "kamreview_app"
STATUSES = ("queued", "claimed", "sending", "sent", "retry", "failed", "uncertain")


def upgrade() -> None:
    # How a person is reached: optional columns, so existing imports keep working.
    op.add_column("employee", sa.Column("mobile", sa.Text(), nullable=True))
    for platform in ("wecom", "dingtalk", "feishu"):  # the person's user id on each chat platform
        op.add_column("employee", sa.Column(f"{platform}_id", sa.Text(), nullable=True))
    op.add_column("employee", sa.Column("channels", postgresql.ARRAY(sa.Text()), nullable=False,
                                        server_default="{email}"))
    op.add_column("employee", sa.Column("locale", sa.Text(), nullable=False, server_default="zh-CN"))
    op.create_check_constraint(
        "ck_employee_channels", "employee",
        "channels <@ ARRAY['email', 'wecom', 'dingtalk', 'feishu']::text[]")

    # The outbox row is the message: what (kind and parameters, rendered at send time in the recipient's language),
    # to whom, over which channel, and what happened to it. ``batch`` names the event that queued it; the delivery
    # workflow of that event sends the batch.
    op.add_column("notification", sa.Column("cycle_id", sa.Text(), nullable=True))
    op.add_column("notification", sa.Column("batch", sa.Text(), nullable=True))
    op.add_column("notification", sa.Column("channel", sa.Text(), nullable=False, server_default="email"))
    op.add_column("notification", sa.Column("params", postgresql.JSONB(), nullable=False, server_default="{}"))
    op.add_column("notification", sa.Column("status", sa.Text(), nullable=False, server_default="queued"))
    op.add_column("notification", sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
    op.add_column("notification", sa.Column("last_error", sa.Text(), nullable=True))
    op.add_column("notification", sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("notification", sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("notification", sa.Column("address", sa.Text(), nullable=True))
    op.add_column("notification", sa.Column("message_id", sa.Text(), nullable=True))
    op.alter_column("notification", "subject", server_default="")
    op.alter_column("notification", "body", server_default="")
    op.execute("UPDATE notification SET status = 'sent' WHERE sent_at IS NOT NULL")
    op.create_check_constraint("ck_notification_status", "notification",
                               "status IN (" + ", ".join(f"'{s}'" for s in STATUSES) + ")")
    op.create_index("ix_notification_batch", "notification", ["batch", "status"])
    op.create_index("ix_notification_cycle", "notification", ["cycle_id", "status"])
    # Every e-mail to a customer carries its own signed link (an invitation, then reminders), each usable until
    # the survey is answered or closed; only the links HR issues by hand stay one live link per invitation.
    op.drop_index("ux_survey_link_live", "survey_link")
    op.create_index("ux_survey_link_live", "survey_link", ["invitation_id"], unique=True,
                    postgresql_where=sa.text("used_at IS NULL AND revoked_at IS NULL AND created_by <> 'delivery'"))
    # Delivery updates the row it sends (attempts, status, the time it was delivered); nothing deletes one.
    op.execute(f"GRANT UPDATE ON notification TO {APP_ROLE}")


def downgrade() -> None:
    op.drop_index("ux_survey_link_live", "survey_link")
    op.create_index("ux_survey_link_live", "survey_link", ["invitation_id"], unique=True,
                    postgresql_where=sa.text("used_at IS NULL AND revoked_at IS NULL"))
    op.execute(f"REVOKE UPDATE ON notification FROM {APP_ROLE}")
    op.drop_index("ix_notification_cycle", "notification")
    op.drop_index("ix_notification_batch", "notification")
    op.drop_constraint("ck_notification_status", "notification")
    for col in ("message_id", "address", "next_attempt_at", "claimed_at", "last_error", "attempts", "status",
                "params", "channel", "batch", "cycle_id"):
        op.drop_column("notification", col)
    op.drop_constraint("ck_employee_channels", "employee")
    for col in ("locale", "channels", "wecom_id", "dingtalk_id", "feishu_id", "mobile"):
        op.drop_column("employee", col)
