"""Configuration from environment variables (prefix ``KAMREVIEW_``) and an optional ``.env`` file.

The web app's settings are a nested group with the prefix ``KAMREVIEW_WEB_``. Leaving ``database_url`` or
``temporal_address`` unset selects the embedded default: the server is
started for you under ``data_dir``. Setting both means nothing is started.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class WebSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KAMREVIEW_WEB_", env_file=".env", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    public_url: str | None = Field(
        default=None, description="base URL people reach the app at (survey links use it); default http://host:port"
    )
    session_hours: float = Field(default=8, gt=0, description="a session ends this long after sign-in")
    idle_minutes: float = Field(default=60, gt=0, description="a session ends after this long without a request")
    secure_cookies: bool = Field(default=False, description="set when the app is served over HTTPS")
    max_body_bytes: int = Field(default=512 * 1024, gt=0)
    lockout_after: int = Field(default=10, ge=1, description="failed sign-ins in a row before a lockout")
    lockout_minutes: float = Field(default=15, gt=0)

    def base_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host
        return f"http://{host}:{self.port}"


class Settings(BaseSettings):
    """The one settings class. Groups of settings are nested (``web``) and keep their own prefixes."""

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
    web: WebSettings = Field(default_factory=WebSettings, description="the web app (KAMREVIEW_WEB_*)")

    @property
    def data_path(self) -> Path:
        return self.data_dir.expanduser().resolve()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def get_web_settings() -> WebSettings:
    return get_settings().web


def sign_in_url(settings: WebSettings | None = None) -> str:
    return (settings or get_web_settings()).base_url() + "/login"
