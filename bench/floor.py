"""The floor of the cycle benchmark: the least a Temporal review engine can do per participant.

Per participant: one workflow, three Updates (each runs one one-row INSERT activity) and one more
one-row activity before the workflow completes: "one workflow, three Updates, four one-row
writes". Written the fast way (temporal-notes, "Speed"): the workflow module (floor_workflow.py)
imports only temporalio (its payloads are passed through from floor_payloads.py), and the
activities write through one psycopg AsyncConnectionPool per worker. The worker has the same settings as worker.running_worker, and
the client crowd the same concurrency as the engine's, so engine/floor measures the engine.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import AsyncIterator

from psycopg_pool import AsyncConnectionPool
from temporalio import activity
from temporalio.client import Client, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.worker import Worker

from bench.floor_payloads import KINDS, FloorInput, FloorRow, FloorSubmission
from bench.floor_workflow import FloorWorkflow
from services.settings import get_settings
from services.worker_runtime import share_workflow_code, worker_tuning

RESULT_POLLS = 200

FLOOR_TABLE = """CREATE TABLE IF NOT EXISTS bench_floor_row (
    key text PRIMARY KEY,
    run_id text NOT NULL,
    participant text NOT NULL,
    kind text NOT NULL,
    actor_id text NOT NULL,
    value integer NOT NULL,
    at timestamptz NOT NULL
)"""


class FloorActivities:
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self.pool = pool

    @activity.defn(name="floor_write_row")
    async def write_row(self, row: FloorRow) -> None:
        """One row, idempotent by its natural key (like every kamreview activity)."""
        async with self.pool.connection() as conn:
            await conn.execute(
                """INSERT INTO bench_floor_row (key, run_id, participant, kind, actor_id, value, at)
                   VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (key) DO NOTHING""",
                (row.key, row.run_id, row.participant, row.kind, row.actor_id, row.value, row.at),
            )


@contextlib.asynccontextmanager
async def floor_worker(client: Client, libpq_url: str, task_queue: str, pool_size: int = 10,
                       cache_size: int | None = None) -> AsyncIterator[Worker]:
    """Same shape as worker.running_worker: one pool, the same concurrency (worker_tuning) and cache."""
    # The same pool settings as worker.running_worker (autocommit: one round trip per one-row write).
    pool = AsyncConnectionPool(libpq_url, min_size=1, max_size=pool_size, open=False, kwargs={"autocommit": True})
    await pool.open(wait=True)
    async with pool.connection() as conn:
        await conn.execute(FLOOR_TABLE)
    # The floor runs in the SDK's sandbox, as it was defined (the engine's worker runs workflow code outside it unless
    # KAMREVIEW_WORKER_SANDBOX=true: bench/README.md, session 24); its per-run import reuses one code object.
    share_workflow_code([FloorWorkflow])
    try:
        tuning = worker_tuning(get_settings(), pool_size)  # the engine's worker's (KAMREVIEW_WORKER_*, the cache)
        if cache_size:
            tuning["max_cached_workflows"] = cache_size
        worker = Worker(
            client, task_queue=task_queue, workflows=[FloorWorkflow], activities=[FloorActivities(pool).write_row],
            **tuning,
        )
        async with worker:
            yield worker
    finally:
        await pool.close()


async def run_floor_crowd(client: Client, task_queue: str, run_id: str, participants: int, concurrency: int,
                          on_crowd_done=None, round_trips: list | None = None) -> tuple[int, dict[str, int]]:
    """Start every participant's workflow, submit its three Updates (bounded), wait for every result.

    ``round_trips`` collects (kind, issued at, seconds) of the second and third Updates, as the engine's
    manager score and survey are measured (the first follows the start at once)."""
    t_start = time.perf_counter()
    sem = asyncio.Semaphore(concurrency)
    retries: Counter[str] = Counter()

    async def one(i: int):
        participant = f"P{i:06d}"
        async with sem:
            handle = await client.start_workflow(
                FloorWorkflow.run, FloorInput(run_id, participant), id=f"floor:{run_id}:{participant}",
                task_queue=task_queue,
            )
            for n, kind in enumerate(KINDS):
                while True:
                    t0 = time.perf_counter()
                    try:
                        await handle.execute_update(
                            FloorWorkflow.submit, FloorSubmission(kind, f"{participant}-{n}", 1 + (i + n) % 3),
                            id=f"{run_id}:{participant}:{kind}",
                        )
                        if round_trips is not None and n > 0:
                            round_trips.append((kind, t0 - t_start, time.perf_counter() - t0))
                        break
                    except WorkflowUpdateRPCTimeoutOrCancelledError:
                        retries["update_rpc_timeouts"] += 1  # same Update id: applied once, safe to repeat
        return handle

    handles = await asyncio.gather(*(one(i) for i in range(participants)))
    if on_crowd_done is not None:
        on_crowd_done()
    # Each result is a long poll: 10,000 at once exceed the server's concurrent-poller limit per namespace.
    waiting = asyncio.Semaphore(RESULT_POLLS)

    async def result(handle) -> int:
        async with waiting:
            return await handle.result()

    results = await asyncio.gather(*(result(h) for h in handles))
    return sum(results), dict(retries)
