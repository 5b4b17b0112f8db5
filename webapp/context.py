"""What every request handler needs: the database pool, the Temporal client, the task queue, settings."""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import Request
from psycopg_pool import AsyncConnectionPool
from temporalio.client import Client

from services.db import libpq_url
from services.import_uploads import UploadStore
from services.settings import WebSettings, get_settings


@dataclass
class AppContext:
    database_url: str
    client: Client
    task_queue: str
    settings: WebSettings
    pool_size: int = 16
    pool: AsyncConnectionPool = field(init=False)

    def __post_init__(self) -> None:
        # Autocommit: each statement stands alone unless a handler opens a transaction. Connections are
        # held only around queries, never across a Temporal Update, so a small pool serves many users.
        self.pool = AsyncConnectionPool(
            libpq_url(self.database_url), min_size=2, max_size=self.pool_size, open=False,
            kwargs={"autocommit": True},
        )

    @property
    def uploads(self) -> UploadStore:
        """HR's import uploads, waiting for their confirmation (services.import_uploads)."""
        return UploadStore(self.settings.upload_dir or get_settings().data_path / "uploads")

    async def open(self) -> None:
        await self.pool.open(wait=True)

    async def close(self) -> None:
        await self.pool.close()


def get_ctx(request: Request) -> AppContext:
    return request.app.state.ctx
