"""Migration 0004 creates exactly the web tables of models/tables.py, and its constraints hold."""

from __future__ import annotations

import psycopg
import pytest

from tests.helpers import schema_drift

WEB_TABLES = {"web_user", "web_session", "survey_link", "web_user_token", "web_rate_limit"}  # 0004, 0013


def test_migration_matches_the_models_for_the_web_tables(db_url):
    assert schema_drift(db_url, WEB_TABLES) == []


def test_constraints_refuse_what_the_app_must_never_store(db_admin_url):
    # As the owner: the constraints hold whoever writes, and only the owner may delete a user (the app never does).
    with psycopg.connect(db_admin_url, autocommit=True) as conn:
        conn.execute("INSERT INTO employee (id, name, role, currency, timezone) VALUES ('E1', 'E', 'kam', 'CNY', 'UTC')")
        with pytest.raises(psycopg.errors.CheckViolation):
            conn.execute("INSERT INTO web_user (username, display_name, roles, password_hash) "
                         "VALUES ('u1', 'u', ARRAY['root'], 'h')")
        with pytest.raises(psycopg.errors.CheckViolation):  # a manager or employee sign-in needs its employee
            conn.execute("INSERT INTO web_user (username, display_name, roles, password_hash) "
                         "VALUES ('u2', 'u', ARRAY['employee'], 'h')")
        conn.execute("INSERT INTO web_user (username, employee_id, display_name, roles, password_hash) "
                     "VALUES ('E1', 'E1', 'E', ARRAY['employee'], 'h')")
        with pytest.raises(psycopg.errors.UniqueViolation):  # user names are unique whatever their case
            conn.execute("INSERT INTO web_user (username, employee_id, display_name, roles, password_hash) "
                         "VALUES ('e1', 'E1', 'E', ARRAY['employee'], 'h')")
        conn.execute("INSERT INTO web_session (token_hash, username, csrf_token, expires_at) "
                     "VALUES ('h1', 'E1', 'c', now() + interval '1 hour')")
        conn.execute("DELETE FROM web_user WHERE username = 'E1'")
        assert conn.execute("SELECT count(*) FROM web_session").fetchone()[0] == 0  # sessions go with the user
