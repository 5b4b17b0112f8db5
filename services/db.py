"""Database access shared by services and activities: URLs, migrations, connections."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Protocol

import psycopg

ROOT = Path(__file__).resolve().parent.parent


def sqlalchemy_url(libpq_url: str) -> str:
    """SQLAlchemy needs the driver named; our settings carry plain libpq URLs."""
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if libpq_url.startswith(prefix):
            return "postgresql+psycopg://" + libpq_url[len(prefix):]
    raise ValueError(f"database URL must start with postgresql:// (got {libpq_url.split(':', 1)[0]}://...)")


def libpq_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def alembic_config(url: str):  # -> alembic.config.Config
    from alembic.config import Config

    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    cfg.set_main_option("sqlalchemy.url", sqlalchemy_url(url).replace("%", "%%"))
    return cfg


def migrate(url: str) -> None:
    """Bring the schema to the newest revision (idempotent; safe to call at every start)."""
    from alembic import command

    command.upgrade(alembic_config(url), "head")


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
