"""a person's own language and time zone for the web app, over what the org import says

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # NULL: as the organisation says (employee.locale / employee.timezone), else the browser and the cycle.
    op.add_column("web_user", sa.Column("locale", sa.Text(), nullable=True))
    op.add_column("web_user", sa.Column("timezone", sa.Text(), nullable=True))
    op.create_check_constraint("ck_web_user_locale", "web_user", "locale IS NULL OR locale IN ('zh-CN', 'en')")


def downgrade() -> None:
    op.drop_constraint("ck_web_user_locale", "web_user")
    op.drop_column("web_user", "timezone")
    op.drop_column("web_user", "locale")
