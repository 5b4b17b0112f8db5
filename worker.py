"""Runs a kamreview worker: all workflows and activities on one task queue, one DB pool per process."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

from activities.payout_rows import shutdown_pool
from services.worker_runtime import WORKFLOWS, activities_for, running_worker

__all__ = ["WORKFLOWS", "activities_for", "running_worker", "main"]


async def main() -> int:
    from services.embedded import database_url, temporal_address
    from services.settings import get_settings
    from services.temporal import connect_client

    settings = get_settings()
    db_url, address = database_url(settings), temporal_address(settings)
    client = await connect_client(address, settings.temporal_namespace)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with running_worker(client, db_url, settings.task_queue, settings.db_pool_size):
        print(f"worker running on task queue {settings.task_queue!r} at {address}", flush=True)
        await stop.wait()
    return 0


if __name__ == "__main__":
    code = asyncio.run(main())
    shutdown_pool()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # see temporal-notes: avoid the interpreter-exit crash after using a client
