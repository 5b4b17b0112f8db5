"""locked payout lines are immutable

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The database itself refuses to change what payroll may already have read: a correction after
    # lock is a new delta line, never an edit.
    op.execute(
        """
        CREATE FUNCTION payout_line_locked_guard() RETURNS trigger AS $$
        BEGIN
            IF OLD.status = 'locked' THEN
                RAISE EXCEPTION 'payout line % is locked and cannot be changed', OLD.idempotency_key
                    USING ERRCODE = 'integrity_constraint_violation';
            END IF;
            IF TG_OP = 'DELETE' THEN
                RETURN OLD;
            END IF;
            RETURN NEW;
        END;
        $$ LANGUAGE plpgsql;
        """
    )
    op.execute(
        """
        CREATE TRIGGER payout_line_locked_guard
        BEFORE UPDATE OR DELETE ON payout_line
        FOR EACH ROW EXECUTE FUNCTION payout_line_locked_guard();
        """
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS payout_line_locked_guard ON payout_line")
    op.execute("DROP FUNCTION IF EXISTS payout_line_locked_guard()")
