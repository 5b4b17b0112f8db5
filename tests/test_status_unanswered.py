"""A workflow that cannot answer a status query (its worker's deadlock guard tripped on a loaded machine, a worker
restarting with a broken build) must not turn HR's cycle page or a status command into a 500 or a traceback.

Seen in CI (stop 21): the cycle workflow's query activation took longer than the SDK's 2 s guard, the query
failed with ``WorkflowQueryFailedError`` and GET /hr/cycles/ID answered 500. Here a real dev server and a real
worker stand in a workflow under the cycle's and a review's ids that has no ``status`` query at all, so every
query of it fails the same way.
"""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

import psycopg
import pytest
from temporalio import workflow
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from services import tasks
from services.cycles import create_cycle, cycle_report, retry_incentives
from services.errors import TryLater
from services.temporal import query_status
from tests.helpers import cycle_config, seed_org
from workflows.cycle import CycleWorkflow
from workflows.payloads import cycle_workflow_id, review_id_for, review_workflow_id


@workflow.defn(name="StatusLess")
class StatusLess:
    """Runs until cancelled and answers no queries."""

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: False)


async def test_a_status_query_that_fails_is_a_try_later_and_the_cycle_page_still_renders(client, db_url, task_queue):
    org = seed_org(db_url, kams=2)
    cid = f"NOANS{uuid.uuid4().hex[:6]}"
    await create_cycle(db_url, cycle_config(cid))
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("UPDATE review_cycle SET status = 'running' WHERE id = %s", (cid,))
    kam = org["kams"][0]
    async with Worker(client, task_queue=task_queue, workflows=[StatusLess],
                      workflow_runner=UnsandboxedWorkflowRunner()):  # this module imports more than a workflow may
        handles = [await client.start_workflow(StatusLess.run, id=wid, task_queue=task_queue,
                                               execution_timeout=timedelta(minutes=5))
                   for wid in (cycle_workflow_id(cid), review_workflow_id(review_id_for(cid, kam)))]
        try:
            report = await cycle_report(client, db_url, cid)
            assert report.workflow is None  # the live part is left out ...
            assert report.status == "running" and report.participants == 2  # ... the rest is PostgreSQL's
            with pytest.raises(TryLater, match="could not be read just now"):
                await tasks.review_status(client, cid, kam)
            with pytest.raises(TryLater, match="could not be read just now"):
                await retry_incentives(client, cid, "HR1")
            started = time.monotonic()  # a caller that waits anyway asks again for as long as it said
            with pytest.raises(TryLater, match="could not be read just now"):
                await query_status(handles[0], CycleWorkflow.status, patience_s=1)
            assert time.monotonic() - started >= 1
        finally:
            for handle in handles:
                await handle.terminate()
