"""Database access shared by services and activities: URLs, migrations, connections."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Protocol
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg

ROOT = Path(__file__).resolve().parent.parent

# The least-privilege role the app connects as (created and granted by migration 0006): it owns no table, so it can
# neither alter, truncate nor disable a trigger of one, and it may not write a payout line as locked.
APP_ROLE = "kamreview_app"


def sqlalchemy_url(libpq_url: str) -> str:
    """SQLAlchemy needs the driver named; our settings carry plain libpq URLs."""
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if libpq_url.startswith(prefix):
            return "postgresql+psycopg://" + libpq_url[len(prefix):]
    raise ValueError(f"database URL must start with postgresql:// (got {libpq_url.split(':', 1)[0]}://...)")


def libpq_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def url_with_user(url: str, user: str, password: str | None = None) -> str:
    """The same server and database as ``url`` for another role (no password: for a server that trusts it)."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    login = quote(user, safe="") + (f":{quote(password, safe='')}" if password else "")
    return urlunsplit(parts._replace(netloc=f"{login}@{host}"))


def alembic_config(url: str):  # -> alembic.config.Config
    from alembic.config import Config

    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    cfg.set_main_option("sqlalchemy.url", sqlalchemy_url(url).replace("%", "%%"))
    return cfg


# Concurrent starts (two workers, a web process, a CLI call) migrate one at a time: the first upgrades, the
# others wait on this PostgreSQL advisory lock and then find the schema current.
MIGRATION_LOCK = 0x6B616D72  # "kamr"
_REVISION = re.compile(r'^revision = "([^"]+)"', re.M)
_DOWN = re.compile(r'^down_revision = "([^"]+)"', re.M)


def head_revision() -> str | None:
    """The newest migration's id, read from the files (None when they do not form one line of revisions).

    Read without importing alembic or SQLAlchemy, which take longer to import than a CLI read takes to run.
    """
    revisions: set[str] = set()
    downs: set[str] = set()
    for path in (ROOT / "migrations" / "versions").glob("*.py"):
        text = path.read_text(encoding="utf-8")
        if found := _REVISION.search(text):
            revisions.add(found.group(1))
        if down := _DOWN.search(text):
            downs.add(down.group(1))
    heads = revisions - downs
    return heads.pop() if len(heads) == 1 else None


def schema_revision(conn: psycopg.Connection) -> str | None:
    try:
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except psycopg.errors.UndefinedTable:
        return None
    return row[0] if row else None


def migrate(url: str) -> None:
    """Bring the schema to the newest revision (idempotent; cheap when it is current: one query, no alembic).

    ``url`` is the owner's (the admin URL); the app's role may call it too, and then passes only when the schema
    is already up to date, since it may read the revision but change nothing.
    """
    head = head_revision()
    with connect(url, autocommit=True) as conn:
        if head is not None and schema_revision(conn) == head:
            return
        conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
        try:
            if head is None or schema_revision(conn) != head:  # another start may have migrated while we waited
                _upgrade(url)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))


def _upgrade(url: str) -> None:
    from alembic import command
    from sqlalchemy.exc import ProgrammingError

    from domain.text import tr
    from services.errors import UserError

    try:
        command.upgrade(alembic_config(url), "head")
    except ProgrammingError as err:
        if not isinstance(err.orig, psycopg.errors.InsufficientPrivilege):
            raise
        user = urlsplit(libpq_url(url)).username or "this role"
        raise UserError(tr(
            "the database schema needs migrating, which %(role)s may not do: set KAMREVIEW_DATABASE_ADMIN_URL "
            "to the URL of the role that owns the tables (%(problem)s)", role=user, problem=str(err.orig))) from None


def connect(url: str, **kwargs) -> psycopg.Connection:
    return psycopg.connect(libpq_url(url), **kwargs)


class Database(Protocol):
    """Where async services get a connection: the web app's pool, or one connection per call for the CLI."""

    def connection(self) -> AbstractAsyncContextManager[psycopg.AsyncConnection]: ...


class DirectDatabase:
    """A connection per use (autocommit, like the pools'): for short-lived processes such as a CLI command."""

    def __init__(self, url: str) -> None:
        self.url = url

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[psycopg.AsyncConnection]:
        async with await psycopg.AsyncConnection.connect(libpq_url(self.url), autocommit=True) as conn:
            yield conn


def as_database(db: Database | str) -> Database:
    """Services take a pool or a URL; a URL gets a connection per use."""
    return DirectDatabase(db) if isinstance(db, str) else db
