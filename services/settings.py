"""Configuration from environment variables (prefix ``KAMREVIEW_``) and an optional ``.env`` file.

The web app's settings are a nested group with the prefix ``KAMREVIEW_WEB_``. Leaving ``database_url`` or
``temporal_address`` unset selects the embedded default: the server is
started for you under ``data_dir``. Setting both means nothing is started.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


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
    # HR's import upload (/hr/imports): CRM exports and the project's CSV files, kept until the preview is confirmed
    max_upload_bytes: int = Field(default=20 * 1024 * 1024, gt=0, description="the whole upload form, all files")
    max_upload_file_bytes: int = Field(default=10 * 1024 * 1024, gt=0, description="one uploaded file")
    upload_dir: Path | None = Field(
        default=None, description="where uploads wait for their confirmation (a day at most); unset: "
        "<KAMREVIEW_DATA_DIR>/uploads. Web processes on several hosts need a shared folder here")
    lockout_after: int = Field(default=10, ge=1, description="failed sign-ins in a row before a lockout")
    lockout_minutes: float = Field(default=15, gt=0)
    # Sign-ins for everyone (docs/sign-in.md): invitation and reset links, and how often anyone may ask for a reset.
    invitation_hours: float = Field(default=72, gt=0, description="an invitation's set-password link works this long")
    reset_minutes: float = Field(default=120, gt=0, description="a password-reset link works this long")
    reset_per_address_per_hour: int = Field(
        default=5, ge=1, description="password-reset requests for one user name or e-mail address per hour")
    reset_per_client_per_hour: int = Field(
        default=20, ge=1, description="password-reset requests from one client address per hour")
    invite_on_import: bool = Field(
        default=False, description="`kamreview import` invites every employee it finds without a sign-in; off: "
        "HR invites with `kamreview people invite --all` or the People page")
    # Observability (docs/operations.md)
    metrics_token: str | None = Field(
        default=None, description="if set, GET /metrics asks for `Authorization: Bearer <token>`; unset: open, for a "
        "Prometheus inside the network (keep /metrics off the public proxy)"
    )

    def base_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host
        return f"http://{host}:{self.port}"


class MailSettings(BaseSettings):
    """E-mail (``KAMREVIEW_SMTP_*``, ``KAMREVIEW_MAIL_FROM``). No SMTP host: mail goes to a Maildir under the data dir."""

    model_config = SettingsConfigDict(env_prefix="KAMREVIEW_", env_file=".env", extra="ignore")

    smtp_host: str | None = Field(default=None, description="unset: deliver into data/mail (a Maildir) instead")
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_security: Literal["none", "starttls", "tls"] = "none"
    mail_from: str = Field(default="kamreview <kamreview@example.com>", description="the From of every message")
    company_name: str = Field(default="kamreview", description="who signs the customers' survey invitations")
    smtp_timeout_s: float = Field(default=30, gt=0)


class ChatGroup(BaseModel):
    """One chat group's bots (each optional)."""

    wecom_webhook_url: str | None = None
    dingtalk_webhook_url: str | None = None
    dingtalk_secret: str | None = None
    feishu_webhook_url: str | None = None
    feishu_secret: str | None = None


class ChatSettings(BaseSettings):
    """The company-wide group bots, and named groups a cycle can send a team's messages to instead
    (``KAMREVIEW_CHAT_GROUPS``: JSON, group name -> its bots). A person's channels come from the org import."""

    model_config = SettingsConfigDict(env_prefix="KAMREVIEW_", env_file=".env", extra="ignore")

    wecom_webhook_url: str | None = None
    dingtalk_webhook_url: str | None = None
    dingtalk_secret: str | None = None
    feishu_webhook_url: str | None = None
    feishu_secret: str | None = None
    chat_groups: dict[str, ChatGroup] = Field(default_factory=dict)


class DeliverySettings(BaseSettings):
    """How stubbornly a message is retried before it is ``failed`` (``KAMREVIEW_DELIVERY_*``)."""

    model_config = SettingsConfigDict(env_prefix="KAMREVIEW_DELIVERY_", env_file=".env", extra="ignore")

    retry_after_s: float = Field(default=60, gt=0, description="first wait after a transient failure; doubles")
    max_attempts: int = Field(default=8, ge=1, le=50, description="8 attempts from 60 s: about four hours")
    connections: int = Field(default=4, ge=1, le=64, description="SMTP connections used in parallel")
    mark_batch: int = Field(
        default=8, ge=1, le=100,
        description="e-mails in doubt per connection: at most this many times the connections are 'sending' at "
        "once, all that a worker killed mid-send can leave 'uncertain' (docs/notifications.md)",
    )


class FxiaokeSettings(BaseSettings):
    """The Fxiaoke (纷享销客) open API, for ``kamreview crm pull fxiaoke`` (``KAMREVIEW_FXIAOKE_*``): the
    self-built app's credentials from the Fxiaoke admin console (管理后台 > 应用 > 企业自建应用, developer mode on).
    Secrets are read from the environment or .env only, never from the command line."""

    model_config = SettingsConfigDict(env_prefix="KAMREVIEW_FXIAOKE_", env_file=".env", extra="ignore")

    app_id: str | None = Field(default=None, description="the app's appId (FSAID_...)")
    app_secret: SecretStr | None = Field(default=None, description="the app's appSecret")
    permanent_code: SecretStr | None = Field(default=None, description="the company's permanentCode (永久授权码)")
    open_user_id: str | None = Field(
        default=None, description="currentOpenUserId (FSUID_...): whose data permissions the pull uses; a CRM "
        "administrator sees every account")
    base_url: str = Field(
        default="https://open.fxiaoke.com", description="the open API host of the company's cloud "
        "(e.g. https://open-hwcloud.fxiaoke.com); not www.fxiaoke.com")
    timeout_s: float = Field(default=30, gt=0, description="per HTTP request")
    attempts: int = Field(default=6, ge=1, le=20, description="tries of a call Fxiaoke answers busy or rate-limited")
    backoff_s: float = Field(default=1.0, ge=0, description="the first wait before a retry; doubles, at most 20 s")
    min_interval_s: float = Field(
        default=0.2, ge=0, description="at least this long between two calls of one interface (Fxiaoke allows 100 "
        "per 20 s each), so a long pull stays under the limit instead of running into it")


class ZohoSettings(BaseSettings):
    """Zoho CRM's REST API for `kamreview crm pull zoho` (``KAMREVIEW_ZOHO_*``): a self client's id and secret and
    a refresh token made with the scopes docs/crm-imports.md lists. Secrets come from the environment (or the
    .env file), never from the command line."""

    model_config = SettingsConfigDict(env_prefix="KAMREVIEW_ZOHO_", env_file=".env", extra="ignore")

    client_id: str | None = None
    client_secret: str | None = None
    refresh_token: str | None = None
    accounts_url: str = Field(
        default="https://accounts.zoho.com",
        description="the Zoho accounts server of the data centre: https://accounts.zoho.com.cn (China), "
        ".eu, .in, .com.au, .jp, ...",
    )
    api_domain: str | None = Field(
        default=None, description="e.g. https://www.zohoapis.com.cn; unset: the api_domain Zoho names with each token"
    )
    credit_budget: int = Field(
        default=500, ge=1,
        description="API credits one pull may spend (a COQL call of 2,000 records costs 3); the pull stops with an "
        "error, writing nothing, before it would spend more",
    )
    modules: Annotated[list[Literal["accounts", "contacts", "deals", "cases"]], NoDecode] = Field(
        default=["accounts", "contacts", "deals", "cases"],
        description="what a pull reads, comma-separated (KAMREVIEW_ZOHO_MODULES=accounts,contacts,deals where the "
        "edition has no Cases)",
    )
    page_size: int = Field(default=2000, ge=1, le=2000, description="records per COQL call (Zoho's maximum: 2,000)")
    timeout_s: float = Field(default=30, gt=0)
    max_attempts: int = Field(default=5, ge=1, le=20, description="tries per call while Zoho answers 429 or 5xx")
    retry_first_s: float = Field(default=2, ge=0, description="first wait before a retry; doubles, at most 60 s")

    @field_validator("modules", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        return [part.strip().lower() for part in value.split(",") if part.strip()] if isinstance(value, str) else value


class WorkerSettings(BaseSettings):
    """A worker's concurrency (``KAMREVIEW_WORKER_*``); unset: the defaults measured in bench/README.md. Its workflow
    cache is ``KAMREVIEW_WORKFLOW_CACHE_SIZE``, its database pool ``KAMREVIEW_DB_POOL_SIZE``."""

    model_config = SettingsConfigDict(env_prefix="KAMREVIEW_WORKER_", env_file=".env", extra="ignore")

    workflow_tasks: int | None = Field(default=None, ge=2, description="workflow tasks run at once (SDK default 100)")
    activities: int | None = Field(default=None, ge=1, description="activities run at once; unset: twice the "
                                   "database pool, at least 20 (an activity holds a pool connection while it writes)")
    local_activities: int | None = Field(default=None, ge=1, description="local activities at once (SDK default 100)")
    workflow_task_pollers: int | None = Field(default=None, ge=2, description="long polls for workflow tasks "
                                              "(SDK default 5; at least 2: the sticky and the shared queue)")
    activity_task_pollers: int | None = Field(default=None, ge=1, description="long polls for activity tasks "
                                              "(SDK default 5)")
    nonsticky_poll_ratio: float = Field(default=0.2, gt=0, le=1, description="share of the workflow task polls "
                                        "on the shared queue (new runs) rather than this worker's sticky one")
    sandbox: bool = Field(default=False, description="run workflow code in the SDK's sandbox, which imports each "
                          "workflow's module afresh for every run; off: the committed histories' replay and the "
                          "workflow tests run it sandboxed instead (bench/README.md, session 24)")


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
    # -- the worker (issue 11: a cycle of 10,000 must not replay its reviews on every Update) --
    workflow_cache_size: int = Field(
        default=12_000, ge=1,
        description="workflows a worker keeps in memory (KAMREVIEW_WORKFLOW_CACHE_SIZE): size it for the largest "
        "cycle's participants plus a margin; an evicted review replays its history on its next Update, and its "
        "tasks leave the worker's sticky queue for the shared one, behind a cycle's opening batch",
    )
    hr_may_approve_payouts: bool = Field(
        default=False,
        description="let HR approve payouts as well as payroll (KAMREVIEW_HR_MAY_APPROVE_PAYOUTS); off: the people "
        "who calibrate ratings never release the money themselves (separation of duties), for small companies only",
    )
    actor: str | None = Field(
        default=None,
        description="who is acting on the command line (KAMREVIEW_ACTOR, an employee id such as HR1): recorded in "
        "the audit log; unset: the CLI reads actor from ~/.config/kamreview/config.toml, else refuses",
    )
    # Observability (docs/operations.md)
    log_format: Literal["text", "json"] = Field(
        default="text", description="json: one JSON object per line (time, level, logger, message, ids when known)"
    )
    worker_metrics_address: str | None = Field(
        default=None, description="host:port where a worker serves the Temporal SDK's Prometheus metrics; unset: off"
    )
    web: WebSettings = Field(default_factory=WebSettings, description="the web app (KAMREVIEW_WEB_*)")
    mail: MailSettings = Field(default_factory=MailSettings)
    chat: ChatSettings = Field(default_factory=ChatSettings)
    delivery: DeliverySettings = Field(default_factory=DeliverySettings)
    worker: WorkerSettings = Field(default_factory=WorkerSettings, description="a worker's concurrency "
                                   "(KAMREVIEW_WORKER_*)")
    fxiaoke: FxiaokeSettings = Field(default_factory=FxiaokeSettings, description="the Fxiaoke open API "
                                     "(KAMREVIEW_FXIAOKE_*)")
    zoho: ZohoSettings = Field(default_factory=ZohoSettings, description="Zoho CRM's API (KAMREVIEW_ZOHO_*)")

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
