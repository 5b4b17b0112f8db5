"""Configuration from environment variables (prefix ``KAMREVIEW_``) and an optional ``.env`` file.

Leaving ``database_url`` or ``temporal_address`` unset selects the embedded default: the server is
started for you under ``data_dir``. Setting both means nothing is started.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KAMREVIEW_", env_file=".env", extra="ignore")

    temporal_address: str | None = Field(
        default=None, description="host:port of a Temporal frontend; unset starts the dev server"
    )
    temporal_namespace: str = "default"
    task_queue: str = "kamreview"
    database_url: str | None = Field(
        default=None,
        description="libpq URL (postgresql://...) the app connects with, as its least-privilege role "
        "kamreview_app; unset starts an embedded PostgreSQL",
    )
    database_admin_url: str | None = Field(
        default=None,
        description="libpq URL of the role that owns the tables, used only to migrate; unset: migrations use "
        "database_url (enough when the schema is already up to date)",
    )
    data_dir: Path = Path("data")
    temporal_port: int = 7233
    temporal_ui_port: int = 8233
    db_pool_size: int = 10

    @property
    def data_path(self) -> Path:
        return self.data_dir.expanduser().resolve()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
