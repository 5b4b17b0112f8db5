"""Runs a kamreview worker: all workflows and activities on one task queue, one DB pool per process."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator

from psycopg_pool import AsyncConnectionPool
from temporalio.client import Client
from temporalio.worker import Worker

from activities.cycle import CycleActivities
from activities.payout_rows import shutdown_pool
from activities.reviews import ReviewActivities
from services.db import libpq_url
from workflows.correction import IncentiveCorrectionWorkflow
from workflows.cycle import CycleWorkflow
from workflows.review import ReviewWorkflow

WORKFLOWS = [CycleWorkflow, ReviewWorkflow, IncentiveCorrectionWorkflow]


def activities_for(pool: AsyncConnectionPool) -> list:
    reviews, cycle = ReviewActivities(pool), CycleActivities(pool)
    return [
        reviews.begin_cycle, reviews.start_review_batch, reviews.await_reviews_closed, reviews.cancel_cycle,
        reviews.record_submission, reviews.record_phase_event,
        reviews.reassign_reviewer, reviews.close_review,
        cycle.open_calibration, cycle.adjust_rating, cycle.finalize_calibration, cycle.compute_incentives,
        cycle.lock_payouts,
    ]


@contextlib.asynccontextmanager
async def running_worker(client: Client, database_url: str, task_queue: str, pool_size: int = 10) -> AsyncIterator[Worker]:
    """A worker with its pool, for as long as the context is open (used by tests, demo and bench)."""
    # Autocommit: a single-statement activity is one round trip; several statements take conn.transaction().
    pool = AsyncConnectionPool(libpq_url(database_url), min_size=1, max_size=pool_size, open=False,
                               kwargs={"autocommit": True})
    await pool.open(wait=True)
    try:
        worker = Worker(
            client, task_queue=task_queue, workflows=WORKFLOWS, activities=activities_for(pool),
            max_concurrent_activities=max(pool_size * 2, 20),
        )
        async with worker:
            yield worker
    finally:
        await pool.close()
        shutdown_pool()  # the incentive calculation's worker processes, if any were started


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
