"""Temporal runs an activity at least once: every activity repeated after it succeeded changes nothing."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime

import psycopg
from psycopg_pool import AsyncConnectionPool
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import ActivityEnvironment

from activities.reviews import ReviewActivities
from services.db import libpq_url
from tests.helpers import ratings, run_full_cycle, seed_org
from worker import running_worker
from workflows.payloads import (
    CUSTOMER_SURVEY,
    SELF_REVIEW,
    BeginCycleInput,
    CloseReviewInput,
    StartBatchInput,
    SubmissionRecord,
    review_id_for,
    review_workflow_id,
    task_id_for,
)

TABLES = ["review", "task", "self_review_answer", "manager_score", "survey_invitation", "survey_response",
          "notification", "audit_log", "payout_line"]


def snapshot(db_url: str, cycle_id: str) -> dict[str, object]:
    with psycopg.connect(db_url) as conn:
        counts = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}
        reviews = conn.execute(
            "SELECT id, status, preliminary_score, missing, closed_at FROM review WHERE cycle_id = %s ORDER BY id",
            (cycle_id,),
        ).fetchall()
        answers = conn.execute("SELECT review_id, item_id, rating FROM self_review_answer ORDER BY 1, 2").fetchall()
    return {"counts": counts, "reviews": reviews, "answers": answers}


async def test_review_activities_repeated_after_success_change_nothing(client, db_url, task_queue):
    org = seed_org(db_url, kams=2, contacts_per_kam=1)
    cid = f"RA{uuid.uuid4().hex[:6]}"
    async with running_worker(client, db_url, task_queue):
        await run_full_cycle(client, db_url, task_queue, cid, org)
    before = snapshot(db_url, cid)
    kam = org["kams"][0]
    review_id = review_id_for(cid, kam)
    now = datetime.now(UTC)

    env = ActivityEnvironment(client)
    env.info = dataclasses.replace(env.info, task_queue=task_queue)
    async with AsyncConnectionPool(libpq_url(db_url), min_size=1, max_size=2, kwargs={"autocommit": True}) as pool:
        acts = ReviewActivities(pool)
        plan = await env.run(acts.begin_cycle, BeginCycleInput(cid, now))
        started = await env.run(acts.start_review_batch, StartBatchInput(
            cid, 0, 0, plan.participant_count, plan.rules, plan.phases, now))
        # A different rating under the same task: the first write wins.
        await env.run(acts.record_submission, SubmissionRecord(
            cid, review_id, task_id_for(review_id, SELF_REVIEW), SELF_REVIEW, kam, now, ratings(3), {}))
        contact = org["contacts"][kam][0]
        await env.run(acts.record_submission, SubmissionRecord(
            cid, review_id, task_id_for(review_id, CUSTOMER_SURVEY, contact), CUSTOMER_SURVEY, contact, now, {}, {},
            satisfaction=1))
        result = await env.run(acts.close_review, CloseReviewInput(cid, review_id, now, ["self_review"]))

    assert started == 2
    assert snapshot(db_url, cid) == before
    stored = next(r for r in before["reviews"] if r[0] == review_id)
    assert (result.score, result.missing) == (str(stored[2]), stored[3])
    # The repeated batch start kept the ended review workflows as they were: one run each, completed.
    for k in org["kams"]:
        wf_id = review_workflow_id(review_id_for(cid, k))
        runs = [w async for w in client.list_workflows(f"WorkflowId = '{wf_id}'")]
        assert len(runs) == 1
        assert (await client.get_workflow_handle(wf_id).describe()).status == WorkflowExecutionStatus.COMPLETED


async def test_a_silent_step_heartbeats_while_it_runs_and_stops_after():
    """A step that cannot report progress itself (one long transaction) still tells the server its worker lives."""
    import asyncio

    from activities import base

    beats: list[object] = []
    env = ActivityEnvironment()
    env.on_heartbeat = lambda *details: beats.append(details)

    async def silent_step() -> int:
        async with base.heartbeating(every_s=0.05):
            await asyncio.sleep(0.3)
        during = len(beats)
        await asyncio.sleep(0.15)
        return during

    during = await env.run(silent_step)
    assert during >= 4
    assert len(beats) == during  # none once the step is done

    @base.heartbeats
    async def bulk_step(rows: int) -> int:  # the decorator the cycle's bulk steps wear
        await asyncio.sleep(0.05)
        return rows

    beats.clear()
    assert await env.run(bulk_step, 7) == 7 and len(beats) >= 1
