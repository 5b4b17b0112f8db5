"""Real servers for the tests: an embedded PostgreSQL (pgserver) and the Temporal dev server.

Set KAMREVIEW_TEST_DATABASE_URL to use another PostgreSQL (a role allowed to CREATE DATABASE and CREATE ROLE),
and KAMREVIEW_TEST_APP_PASSWORD if that server asks the app's role kamreview_app for a password.
Every test that needs data gets its own database, cloned from a migrated template in ~100 ms; tests connect
as the app's role (``db_url``), and as the tables' owner only where they say so (``db_admin_url``).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator

import psycopg
import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from services.db import APP_ROLE, migrate, url_with_user
from services.embedded import dev_server_config_flags, temporal_cli_path
from services.temporal import DATA_CONVERTER
from workflows.search_attributes import ALL as SEARCH_ATTRIBUTES

# One template per test process (make test runs two, pytest-xdist): with a configured server they must not share it.
TEMPLATE = f"kamreview_template{os.environ.get('PYTEST_XDIST_WORKER', '')}"


@pytest.fixture(scope="session", autouse=True)
def data_dir() -> Iterator[str]:
    """The run's data directory (the embedded Maildir of delivered mail, logs): never the checkout's ./data."""
    from services.settings import get_settings

    path = tempfile.mkdtemp(prefix="krdata")
    os.environ["KAMREVIEW_DATA_DIR"] = path
    get_settings.cache_clear()
    yield path
    shutil.rmtree(path, ignore_errors=True)
_counter = itertools.count()


def _with_db(url: str, name: str) -> str:
    base, sep, query = url.partition("?")
    base = base.rsplit("/", 1)[0]
    return f"{base}/{name}{sep}{query}"


@pytest.fixture(scope="session")
def pg_admin_url() -> Iterator[str]:
    configured = os.environ.get("KAMREVIEW_TEST_DATABASE_URL")
    if configured:
        yield configured
        return
    import pgserver

    # A short path: PostgreSQL's socket path must stay under 107 characters.
    root = tempfile.mkdtemp(prefix="krpg")
    server = pgserver.get_server(root, cleanup_mode=None)
    try:
        yield server.get_uri()
    finally:
        import pgserver.postgres_server as pgs

        kwargs = {"user": "pgserver"} if os.geteuid() == 0 else {}
        try:
            pgs.pg_ctl(["stop", "-m", "immediate"], pgdata=root, **kwargs)
        except Exception as err:  # noqa: BLE001 - best effort at teardown
            print(f"could not stop test PostgreSQL: {err}", file=sys.stderr)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def template_db(pg_admin_url: str) -> str:
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{TEMPLATE}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{TEMPLATE}"')
    url = _with_db(pg_admin_url, TEMPLATE)
    migrate(url)
    return url


@contextlib.contextmanager
def new_database(pg_admin_url: str, template: str | None = None) -> Iterator[str]:
    """A database of its own, cloned from ``template`` (else empty), as its owner, while the context is open."""
    name = f"kr_test_{os.getpid()}_{next(_counter)}"
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    try:
        yield _with_db(pg_admin_url, name)
    finally:
        with psycopg.connect(pg_admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def db_admin_url(pg_admin_url: str, template_db: str) -> Iterator[str]:
    """A fresh, migrated database for one test, as the role that owns its tables (for DDL and setup the app may not do)."""
    with new_database(pg_admin_url, TEMPLATE) as url:
        yield url


@pytest.fixture
def db_url(db_admin_url: str) -> str:
    """The same database as the app sees it: as its least-privilege role, as in production."""
    return url_with_user(db_admin_url, APP_ROLE, os.environ.get("KAMREVIEW_TEST_APP_PASSWORD"))


@pytest.fixture(scope="session")
async def temporal_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(temporal_cli_path()),
        data_converter=DATA_CONVERTER,
        dev_server_log_level="error",
        search_attributes=SEARCH_ATTRIBUTES,  # as the embedded dev server registers them
        dev_server_extra_args=dev_server_config_flags(),  # and configured as it is
    )
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture
def client(temporal_env: WorkflowEnvironment) -> Client:
    return temporal_env.client


@pytest.fixture
def task_queue() -> str:
    return f"kr-test-{uuid.uuid4().hex[:8]}"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: end to end with real processes (tests/test_scale_out.py, ~1.5 min); "
                                       "-m 'not slow' leaves it out")


_exit_status = 0


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    global _exit_status
    _exit_status = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    # temporal-notes: a process that used a Temporal client can abort while finalizing the
    # interpreter (PyGILState_Release) after every test passed. Exit with pytest's own status first.
    from activities.payout_rows import shutdown_pool

    shutdown_pool()  # os._exit would orphan the incentive calculation's worker processes
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(_exit_status)
