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
    from services.observability import configure_logging, telemetry
    from services.settings import get_settings
    from services.temporal import connect_client

    settings = get_settings()
    configure_logging(settings.log_format, service="kamreview-worker")
    try:
        seen = telemetry("kamreview-worker", settings.worker_metrics_address)
    except ValueError as err:  # a busy or malformed address
        print(err, file=sys.stderr)
        return 1
    db_url, address = database_url(settings), temporal_address(settings)
    client = await connect_client(address, settings.temporal_namespace, runtime=seen.runtime,
                                  interceptors=seen.interceptors)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with running_worker(client, db_url, settings.task_queue, settings.db_pool_size):
        metrics = f", SDK metrics on http://{settings.worker_metrics_address}/metrics" if seen.runtime else ""
        print(f"worker running on task queue {settings.task_queue!r} at {address}{metrics}", flush=True)
        await stop.wait()
    seen.shutdown()
    return 0


if __name__ == "__main__":
    code = asyncio.run(main())
    shutdown_pool()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # see temporal-notes: avoid the interpreter-exit crash after using a client
