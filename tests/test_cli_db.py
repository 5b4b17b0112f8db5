"""`kamreview db upgrade`: idempotent, safe to run twice at once (the schema is migrated once), and the only
command that migrates a configured database: a read on a schema that is behind refuses and says what to run."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest

from services.db import head_revision, schema_revision
from tests.conftest import _with_db

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def empty_db(pg_admin_url: str) -> Iterator[str]:
    name = f"kr_cli_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield _with_db(pg_admin_url, name)
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _kamreview(url: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = os.environ | {"KAMREVIEW_DATABASE_URL": url, "KAMREVIEW_TEMPORAL_ADDRESS": "127.0.0.1:9",
                        "KAMREVIEW_DATA_DIR": str(tmp_path / "data"), "PYTHONPATH": str(ROOT)}
    env.pop("KAMREVIEW_DATABASE_ADMIN_URL", None)
    proc = subprocess.run([sys.executable, "-m", "cli", *args], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=300)
    assert "Traceback" not in proc.stdout + proc.stderr
    return proc


def _applied(url: str) -> tuple[str | None, int]:
    with psycopg.connect(url) as conn:
        return schema_revision(conn), conn.execute("SELECT count(*) FROM alembic_version").fetchone()[0]


def test_a_read_on_a_schema_that_is_behind_refuses_and_does_not_migrate(empty_db, tmp_path):
    proc = _kamreview(empty_db, tmp_path, "cycle", "list")
    assert proc.returncode == 4, proc.stderr
    assert "database schema is behind; run `kamreview db upgrade`" in proc.stderr
    with psycopg.connect(empty_db) as conn:
        assert schema_revision(conn) is None  # nothing was created


def test_two_upgrades_at_once_both_succeed_and_migrate_once(empty_db, tmp_path):
    with ThreadPoolExecutor(2) as pool:
        runs = list(pool.map(lambda _: _kamreview(empty_db, tmp_path, "db", "upgrade"), range(2)))
    for proc in runs:
        assert proc.returncode == 0 and proc.stdout.strip() == "schema is up to date", proc.stderr
    assert _applied(empty_db) == (head_revision(), 1)
    again = _kamreview(empty_db, tmp_path, "db", "upgrade")  # idempotent: nothing to do, same answer
    assert again.returncode == 0 and again.stdout.strip() == "schema is up to date"
    legacy = _kamreview(empty_db, tmp_path, "migrate")  # the old name stays, hidden from --help
    assert legacy.returncode == 0 and "schema is up to date" in legacy.stdout
    assert "migrate" not in _kamreview(empty_db, tmp_path, "--help").stdout
    assert _applied(empty_db) == (head_revision(), 1)
    listed = _kamreview(empty_db, tmp_path, "cycle", "list", "--json")
    assert listed.returncode == 0 and listed.stdout.strip().startswith("{"), listed.stderr
