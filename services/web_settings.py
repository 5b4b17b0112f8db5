"""Settings of the web app (prefix ``KAMREVIEW_WEB_``), apart from the engine's own settings.

Kept separate so the engine's settings stay untouched; the demo reads the sign-in URL from here.
"""

from __future__ import annotations

from functools import lru_cache

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


@lru_cache(maxsize=1)
def get_web_settings() -> WebSettings:
    return WebSettings()


def sign_in_url(settings: WebSettings | None = None) -> str:
    return (settings or get_web_settings()).base_url() + "/login"
