"""web app: users, sessions, survey links

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "web_user",
        sa.Column("username", sa.Text(), nullable=False),
        sa.Column("employee_id", sa.Text(), nullable=True),
        sa.Column("display_name", sa.Text(), nullable=False),
        sa.Column("roles", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("disabled", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("failed_logins", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("password_changed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.CheckConstraint(
            "cardinality(roles) > 0 AND roles <@ ARRAY['hr', 'manager', 'employee', 'payroll']::text[]",
            name="ck_web_user_roles",
        ),
        sa.CheckConstraint(
            "employee_id IS NOT NULL OR NOT (roles && ARRAY['manager', 'employee']::text[])",
            name="ck_web_user_employee",
        ),
        sa.ForeignKeyConstraint(["employee_id"], ["employee.id"]),
        sa.PrimaryKeyConstraint("username"),
    )
    op.create_index("ix_web_user_employee_id", "web_user", ["employee_id"], unique=False)
    op.create_index("ux_web_user_username_lower", "web_user", [sa.text("lower(username)")], unique=True)

    op.create_table(
        "web_session",
        sa.Column("token_hash", sa.Text(), nullable=False),
        sa.Column("username", sa.Text(), nullable=False),
        sa.Column("csrf_token", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["username"], ["web_user.username"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("token_hash"),
    )
    op.create_index("ix_web_session_username", "web_session", ["username"], unique=False)
    op.create_index("ix_web_session_expires_at", "web_session", ["expires_at"], unique=False)

    op.create_table(
        "survey_link",
        sa.Column("token_hash", sa.Text(), nullable=False),
        sa.Column("invitation_id", sa.Text(), nullable=False),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["invitation_id"], ["survey_invitation.id"]),
        sa.PrimaryKeyConstraint("token_hash"),
    )
    op.create_index("ix_survey_link_invitation_id", "survey_link", ["invitation_id"], unique=False)
    op.create_index("ux_survey_link_live", "survey_link", ["invitation_id"], unique=True,
                    postgresql_where=sa.text("used_at IS NULL AND revoked_at IS NULL"))


def downgrade() -> None:
    op.drop_table("survey_link")
    op.drop_table("web_session")
    op.drop_table("web_user")
