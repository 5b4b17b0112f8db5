"""Migrations run once: concurrent starts upgrade one at a time, and a current schema costs one query, no alembic."""

from __future__ import annotations

import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor

import psycopg

from services.db import ROOT, alembic_config, head_revision, migrate, schema_revision
from tests.conftest import _with_db


def test_the_head_read_from_the_files_is_alembics():
    from alembic.script import ScriptDirectory

    assert head_revision() == ScriptDirectory.from_config(alembic_config("postgresql://x/y")).get_current_head()


def test_four_starts_at_once_on_an_empty_database_migrate_it_once(pg_admin_url: str):
    name = f"kr_race_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = _with_db(pg_admin_url, name)
    try:
        with ThreadPoolExecutor(4) as pool:  # without the advisory lock these collide on CREATE TABLE
            list(pool.map(lambda _: migrate(url), range(4)))
        with psycopg.connect(url) as conn:
            assert schema_revision(conn) == head_revision()
            assert conn.execute("SELECT count(*) FROM alembic_version").fetchone()[0] == 1
    finally:
        with psycopg.connect(pg_admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_a_current_schema_is_checked_without_importing_alembic(db_url: str):
    probe = ("import sys; from services.db import migrate; migrate(sys.argv[1]); "
             "print('alembic' in sys.modules, 'sqlalchemy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", probe, db_url], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"], out.stderr
