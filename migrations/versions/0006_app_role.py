"""the app's least-privilege role; locked lines cannot be forged or truncated

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# The role the app (worker, web, CLI) connects as; services.db.APP_ROLE names it for the code. Tables stay owned by
# the migrating role, so the app can neither ALTER them (nor disable a trigger) nor TRUNCATE them. A later migration
# that adds a table grants the app what its code does there, and no more.
APP_ROLE = "kamreview_app"

# What the code does, table by table (grep INSERT/UPDATE/DELETE/COPY/FOR UPDATE). Append-only tables get no UPDATE;
# only the sign-in sessions are ever deleted.
GRANTS = {
    "SELECT": ["alembic_version", "payroll_payout_lines"],
    "SELECT, INSERT": [
        "audit_log", "manager_score", "notification", "rating_adjustment", "self_review_answer", "survey_response",
    ],
    "SELECT, INSERT, UPDATE": [
        "calibrated_rating", "customer_contact", "employee", "key_account", "kpi_actual", "payout_line", "review",
        "review_cycle", "survey_invitation", "survey_link", "task", "web_user",
    ],
    "SELECT, INSERT, UPDATE, DELETE": ["web_session"],
}


def upgrade() -> None:
    # Roles are cluster-wide: the first database of a cluster creates it, every later one (or a concurrent start)
    # finds it. No password here: the embedded server trusts its socket; on a real server the operator sets one.
    op.execute(
        f"""
        DO $$
        BEGIN
            IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
                BEGIN
                    CREATE ROLE {APP_ROLE} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS NOREPLICATION;
                EXCEPTION WHEN duplicate_object THEN
                    NULL;
                END;
            END IF;
            IF EXISTS (SELECT FROM pg_roles WHERE rolname = '{APP_ROLE}'
                       AND (rolsuper OR rolbypassrls OR rolcreaterole OR rolcreatedb OR rolreplication)) THEN
                RAISE EXCEPTION 'role {APP_ROLE} exists with more than the app needs'
                    USING HINT = 'ALTER ROLE {APP_ROLE} NOSUPERUSER NOBYPASSRLS NOCREATEROLE NOCREATEDB NOREPLICATION';
            END IF;
            EXECUTE format('GRANT CONNECT, TEMPORARY ON DATABASE %I TO {APP_ROLE}', current_database());
            EXECUTE format('GRANT USAGE ON SCHEMA %I TO {APP_ROLE}', current_schema());
        END
        $$;
        """
    )
    for privileges, tables in GRANTS.items():
        op.execute(f"GRANT {privileges} ON {', '.join(tables)} TO {APP_ROLE}")

    # Lines become locked only by approval (an UPDATE of computed lines), never by being written so: a line
    # inserted (or copied) as locked is a forgery. Locked lines stay until nobody holds one: no TRUNCATE wipes them.
    op.execute(
        """
        CREATE OR REPLACE FUNCTION payout_line_locked_guard() RETURNS trigger AS $$
        DECLARE
            has_locked boolean;
        BEGIN
            IF TG_OP = 'TRUNCATE' THEN
                EXECUTE format('SELECT EXISTS (SELECT FROM %I.%I WHERE status = ''locked'')',
                               TG_TABLE_SCHEMA, TG_TABLE_NAME) INTO has_locked;
                IF has_locked THEN
                    RAISE EXCEPTION 'payout_line holds locked lines and cannot be truncated'
                        USING ERRCODE = 'integrity_constraint_violation';
                END IF;
                RETURN NULL;
            END IF;
            IF TG_OP = 'INSERT' THEN
                IF NEW.status = 'locked' THEN
                    RAISE EXCEPTION 'payout line % cannot be written as locked: only approval locks a line',
                        NEW.idempotency_key USING ERRCODE = 'integrity_constraint_violation';
                END IF;
                RETURN NEW;
            END IF;
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
    # WHEN keeps the bulk COPY of computed lines free of a function call per row.
    op.execute(
        """
        CREATE TRIGGER payout_line_insert_guard
        BEFORE INSERT ON payout_line
        FOR EACH ROW WHEN (NEW.status = 'locked') EXECUTE FUNCTION payout_line_locked_guard();
        """
    )
    op.execute(
        """
        CREATE TRIGGER payout_line_truncate_guard
        BEFORE TRUNCATE ON payout_line
        FOR EACH STATEMENT EXECUTE FUNCTION payout_line_locked_guard();
        """
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS payout_line_truncate_guard ON payout_line")
    op.execute("DROP TRIGGER IF EXISTS payout_line_insert_guard ON payout_line")
    for privileges, tables in GRANTS.items():
        op.execute(f"REVOKE {privileges} ON {', '.join(tables)} FROM {APP_ROLE}")
    op.execute(
        f"""
        DO $$
        BEGIN
            EXECUTE format('REVOKE CONNECT, TEMPORARY ON DATABASE %I FROM {APP_ROLE}', current_database());
            EXECUTE format('REVOKE USAGE ON SCHEMA %I FROM {APP_ROLE}', current_schema());
        END
        $$;
        """
    )
    # The function keeps its wider body (harmless without the two triggers); the role stays, as other databases
    # of the cluster may still grant to it.
