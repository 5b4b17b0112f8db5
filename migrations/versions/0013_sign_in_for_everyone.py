"""a sign-in for everyone: invitations and password resets by e-mail, accounts whose roles follow the org

Revision ID: 0013
Revises: 0010
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0011"
branch_labels = None
depends_on = None

APP_ROLE = "kamreview_app"


def upgrade() -> None:
    # An invited account has no password until its owner sets one from the e-mailed link.
    op.alter_column("web_user", "password_hash", nullable=True)
    op.add_column("web_user", sa.Column("org_roles", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column("web_user", sa.Column("invited_at", sa.DateTime(timezone=True), nullable=True))
    # Set-password links (invitation or reset): random token, only its SHA-256 stored, single use, expiring.
    op.create_table(
        "web_user_token",
        sa.Column("token_hash", sa.Text(), primary_key=True),
        sa.Column("username", sa.Text(), sa.ForeignKey("web_user.username", ondelete="CASCADE"), nullable=False,
                  index=True),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()")),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("purpose IN ('invite', 'reset')", name="ck_web_user_token_purpose"),
    )
    # At most one usable link per account: a new invitation or reset revokes the one before.
    op.create_index("ux_web_user_token_live", "web_user_token", ["username"], unique=True,
                    postgresql_where=sa.text("used_at IS NULL AND revoked_at IS NULL"))
    # Fixed-window counters for requests anyone can make (a password reset), per address and per client.
    op.create_table(
        "web_rate_limit",
        sa.Column("key", sa.Text(), primary_key=True),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
    )
    op.execute(f"GRANT SELECT, INSERT, UPDATE ON web_user_token, web_rate_limit TO {APP_ROLE}")
    # HR's People page reads each person's newest invitation e-mail without scanning every message sent.
    op.create_index("ix_notification_account_invitation", "notification", ["recipient_id", "created_at"],
                    postgresql_where=sa.text("kind = 'account_invitation'"))


def downgrade() -> None:
    op.drop_index("ix_notification_account_invitation", "notification")
    op.drop_table("web_rate_limit")
    op.drop_table("web_user_token")
    op.drop_column("web_user", "invited_at")
    op.drop_column("web_user", "org_roles")
    op.execute("UPDATE web_user SET password_hash = '!' WHERE password_hash IS NULL")  # no password matches '!'
    op.alter_column("web_user", "password_hash", nullable=False)
