"""Database access shared by services and activities: URLs, migrations, connections."""

from __future__ import annotations

from pathlib import Path

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
