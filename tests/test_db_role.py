"""The app's database role (migration 0006) cannot forge, erase or unprotect a locked payout line.

Every other test already runs as that role (``db_url``), which shows the app needs nothing more; these show what
it may not do. ``db_admin_url`` is the tables' owner, for what only a migration or a DBA does.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import psycopg
import pytest
from alembic import command

from services.db import APP_ROLE, alembic_config, migrate, url_with_user
from services.embedded import database_url
from services.errors import UserError
from services.settings import Settings

LINE = """INSERT INTO payout_line (idempotency_key, cycle_id, employee_id, line_type, amount, currency, period,
                                  plan_id, plan_version, revision, explanation, status)
          VALUES (%s, 'C1', 'K01', 'bonus', 1000, 'CNY', '2026-Q3', 'plan', 1, 0, 'matrix', %s)"""


def _cycle_with_lines(url: str) -> None:
    """One cycle, K01's approved (locked) bonus and a draft (computed) one, written as the app writes them."""
    with psycopg.connect(url) as conn:
        conn.execute("INSERT INTO employee (id, name, role, currency, timezone) VALUES ('K01', 'K', 'kam', 'CNY', 'UTC')")
        conn.execute("""INSERT INTO review_cycle (id, name, cadence, period_label, period_start, period_end, timezone,
                        config, config_sha256, participant_count, status) VALUES ('C1', 'x', 'quarterly', '2026-Q3',
                        '2026-07-01', '2026-09-30', 'UTC', '{}', 'x', 1, 'awaiting_approval')""")
        conn.execute(LINE, ("C1:K01:bonus", "computed"))
        conn.execute("UPDATE payout_line SET status = 'locked', approved_by = 'HR1', locked_at = now()")
        conn.execute(LINE, ("C1:K01:draft", "computed"))


def _refused(url: str, sql: str, error: type[Exception], match: str, params: tuple = ()) -> None:
    with psycopg.connect(url) as conn, pytest.raises(error, match=match):
        conn.execute(sql, params)


def _lines(url: str) -> list[tuple[str, str]]:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT idempotency_key, status FROM payout_line ORDER BY 1").fetchall()


def test_the_app_connects_as_a_role_that_owns_nothing(db_url):
    with psycopg.connect(db_url) as conn:
        user, superuser, bypass, createrole, createdb = conn.execute(
            "SELECT rolname, rolsuper, rolbypassrls, rolcreaterole, rolcreatedb FROM pg_roles"
            " WHERE rolname = current_user").fetchone()
        owned = conn.execute("SELECT count(*) FROM pg_class WHERE relowner = (SELECT oid FROM pg_roles"
                             " WHERE rolname = current_user)").fetchone()[0]
    assert (user, superuser, bypass, createrole, createdb, owned) == (APP_ROLE, False, False, False, False, 0)


def test_locked_lines_cannot_be_truncated_deleted_or_changed_by_the_app(db_url):
    _cycle_with_lines(db_url)
    before = _lines(db_url)
    assert before == [("C1:K01:bonus", "locked"), ("C1:K01:draft", "computed")]
    _refused(db_url, "TRUNCATE payout_line", psycopg.errors.InsufficientPrivilege, "permission denied")
    _refused(db_url, "TRUNCATE review_cycle, payout_line, employee CASCADE", psycopg.errors.InsufficientPrivilege,
             "permission denied")
    _refused(db_url, "DELETE FROM payout_line WHERE status = 'locked'", psycopg.errors.InsufficientPrivilege,
             "permission denied")
    _refused(db_url, "UPDATE payout_line SET amount = 1 WHERE status = 'locked'",
             psycopg.errors.IntegrityConstraintViolation, "is locked")
    _refused(db_url, "UPDATE payout_line SET status = 'computed' WHERE status = 'locked'",
             psycopg.errors.IntegrityConstraintViolation, "is locked")
    assert _lines(db_url) == before


def test_a_line_cannot_be_written_as_locked(db_url):
    _cycle_with_lines(db_url)
    _refused(db_url, LINE, psycopg.errors.IntegrityConstraintViolation, "cannot be written as locked",
             ("C1:K01:forged", "locked"))
    with psycopg.connect(db_url) as conn, pytest.raises(psycopg.errors.IntegrityConstraintViolation, match="locked"):
        with conn.cursor().copy("COPY payout_line (idempotency_key, cycle_id, employee_id, line_type, amount, currency,"
                                " period, plan_id, plan_version, revision, explanation, status) FROM STDIN") as copy:
            copy.write_row(("C1:K01:copied", "C1", "K01", "bonus", "1", "CNY", "2026-Q3", "plan", "1", "0", "x",
                            "locked"))
    assert [key for key, _ in _lines(db_url)] == ["C1:K01:bonus", "C1:K01:draft"]


def test_the_app_cannot_switch_the_guard_off(db_url):
    _cycle_with_lines(db_url)
    for sql in ("ALTER TABLE payout_line DISABLE TRIGGER payout_line_locked_guard",
                "ALTER TABLE payout_line DISABLE TRIGGER ALL",
                "DROP TRIGGER payout_line_insert_guard ON payout_line",
                "CREATE OR REPLACE FUNCTION payout_line_locked_guard() RETURNS trigger AS $$ BEGIN RETURN NEW; END;"
                " $$ LANGUAGE plpgsql"):
        _refused(db_url, sql, psycopg.errors.InsufficientPrivilege, "must be owner|permission denied for schema")
    _refused(db_url, "SET session_replication_role = replica", psycopg.errors.InsufficientPrivilege, "permission denied")
    _refused(db_url, "SET ROLE kamreview_payroll", psycopg.errors.InsufficientPrivilege, "permission denied")
    _refused(db_url, "CREATE TABLE payout_line_copy (LIKE payout_line)", psycopg.errors.InsufficientPrivilege,
             "permission denied")
    _refused(db_url, "DELETE FROM audit_log", psycopg.errors.InsufficientPrivilege, "permission denied")
    _refused(db_url, "UPDATE audit_log SET actor = 'x'", psycopg.errors.InsufficientPrivilege, "permission denied")


def test_even_the_owner_truncates_no_locked_line(db_url, db_admin_url):
    _cycle_with_lines(db_url)
    _refused(db_admin_url, "TRUNCATE payout_line", psycopg.errors.IntegrityConstraintViolation, "holds locked lines")
    _refused(db_admin_url, LINE, psycopg.errors.IntegrityConstraintViolation, "cannot be written as locked",
             ("C1:K01:forged", "locked"))
    with psycopg.connect(db_admin_url) as conn:
        conn.execute("DELETE FROM payout_line WHERE status = 'computed'")
    assert _lines(db_url) == [("C1:K01:bonus", "locked")]


def test_the_payroll_role_still_reads_only_locked_lines(db_url, db_admin_url):
    _cycle_with_lines(db_url)
    with psycopg.connect(db_admin_url) as conn:  # a payroll system's login is a member of kamreview_payroll
        conn.execute("SET ROLE kamreview_payroll")
        assert conn.execute("SELECT idempotency_key FROM payroll_payout_lines").fetchall() == [("C1:K01:bonus",)]
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT * FROM payout_line")


@pytest.fixture
def empty_db_admin_url(pg_admin_url: str) -> Iterator[str]:
    """A database of the same cluster with no schema yet, as its owner."""
    name = f"kr_role_{os.getpid()}"
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, query = pg_admin_url.partition("?")
    yield f"{base.rsplit('/', 1)[0]}/{name}" + (f"?{query}" if query else "")
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_a_database_migrated_before_the_role_gets_its_grants(db_url, empty_db_admin_url):
    """The role is cluster-wide and exists already (the template made it); an old database is granted on upgrade."""
    command.upgrade(alembic_config(empty_db_admin_url), "0005")
    app = url_with_user(empty_db_admin_url, APP_ROLE, os.environ.get("KAMREVIEW_TEST_APP_PASSWORD"))
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        _cycle_with_lines(app)
    migrate(empty_db_admin_url)
    migrate(empty_db_admin_url)  # as at every start
    _cycle_with_lines(app)
    assert _lines(app) == [("C1:K01:bonus", "locked"), ("C1:K01:draft", "computed")]


def test_settings_migrate_as_the_owner_and_connect_as_the_app(empty_db_admin_url):
    app = url_with_user(empty_db_admin_url, APP_ROLE, os.environ.get("KAMREVIEW_TEST_APP_PASSWORD"))
    with pytest.raises(UserError, match="KAMREVIEW_DATABASE_ADMIN_URL"):  # the app's role may not migrate
        database_url(Settings(database_url=app, _env_file=None))
    assert database_url(Settings(database_url=app, database_admin_url=empty_db_admin_url, _env_file=None)) == app
    assert database_url(Settings(database_url=app, _env_file=None)) == app  # up to date: the app's check passes
    with psycopg.connect(app) as conn:
        assert conn.execute("SELECT current_user").fetchone() == (APP_ROLE,)
