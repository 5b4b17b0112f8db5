"""Deadlines are durable timers with reminders before them; the cycle's policy decides what happens."""

from __future__ import annotations

import asyncio
import uuid

import psycopg
import pytest
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError

from services import tasks
from services.cycles import cancel_cycle, create_cycle, cycle_report, finalize_calibration, start_cycle
from services.errors import Conflict, UserError
from tests.helpers import count, cycle_config, cycle_phase_is, eventually, maybe_record_history, ratings, seed_org
from worker import running_worker
from workflows.payloads import (
    ManagerScoreSubmission,
    SelfReviewSubmission,
    SurveySubmission,
    review_id_for,
    review_workflow_id,
)
from workflows.review import ReviewWorkflow


async def _phase_state(client, cycle_id: str, employee: str, phase: str) -> str:
    try:
        status = await client.get_workflow_handle(review_workflow_id(review_id_for(cycle_id, employee))).query(
            ReviewWorkflow.status)
    except RPCError:  # not started yet
        return ""
    return next(p.state for p in status.phases if p.phase == phase)


async def test_reminders_extension_and_closing_at_the_deadline(client, db_url, task_queue):
    org = seed_org(db_url, kams=1, contacts_per_kam=2)
    cid = f"DL{uuid.uuid4().hex[:6]}"
    config = cycle_config(
        cid,
        self_review={"due_after": "4s", "reminders_before": ["2s"],
                     "on_deadline": {"action": "extend", "extend_by": "4s", "max_extensions": 1}},
        manager_scoring={"due_after": "60s", "on_deadline": {"action": "close"}},
        customer_survey={"due_after": "4s", "reminders_before": ["2s"], "on_deadline": {"action": "close"}},
    )
    await create_cycle(db_url, config)
    contact_a, contact_b = org["contacts"]["K01"]
    with psycopg.connect(db_url) as conn:  # everyone has an address, so every message is rendered and delivered
        conn.execute("UPDATE employee SET email = lower(id) || '@acme.example'")
        conn.execute("UPDATE customer_contact SET email = lower(id) || '@client.example', locale = 'en' WHERE id = %s",
                     (contact_b,))
    async with running_worker(client, db_url, task_queue):
        await start_cycle(client, db_url, cid, task_queue)
        await eventually(lambda: _phase_state(client, cid, "K01", "customer_survey"), timeout=10)
        await tasks.submit_survey(client, db_url, cid, "K01", SurveySubmission(contact_a, 4, 8))
        # Past the first deadline: the self-review is extended, the survey closes with one answer.
        assert await eventually(lambda: _is(client, cid, "customer_survey", "closed"), timeout=15)
        with pytest.raises(Conflict, match="customer survey phase is closed"):
            await tasks.submit_survey(client, db_url, cid, "K01", SurveySubmission(contact_b, 5))
        assert await _phase_state(client, cid, "K01", "self_review") == "open"
        await tasks.submit_self_review(client, db_url, cid, SelfReviewSubmission("K01", ratings(2)))  # in the grace period
        await tasks.submit_manager_score(client, db_url, cid, "K01", ManagerScoreSubmission(org["manager_of"]["K01"], ratings(2)))
        await eventually(lambda: cycle_phase_is(client, cid, "calibration"), timeout=20)
        await maybe_record_history(client, review_workflow_id(review_id_for(cid, "K01")), "review_with_deadlines_lean_from_start")

        async def delivered() -> bool:
            return count(db_url, "SELECT count(*) FROM notification WHERE status IN ('queued', 'claimed', 'sending')") == 0

        await eventually(delivered, timeout=30)

    with psycopg.connect(db_url) as conn:
        kinds = dict(conn.execute("SELECT kind, count(*) FROM notification GROUP BY kind").fetchall())
        tasks_by_id = dict(conn.execute("SELECT id, status FROM task").fetchall())
        self_task = conn.execute("SELECT extensions, reminders_sent FROM task WHERE kind = 'self_review'").fetchone()
        missing = conn.execute("SELECT missing FROM review WHERE cycle_id = %s", (cid,)).fetchone()[0]
    assert kinds["reminder"] == 2  # the KAM once, and contact B; contact A had already answered
    assert count(db_url, "SELECT count(*) FROM notification WHERE kind = 'reminder' AND recipient_id = %s", contact_b) == 1
    assert kinds["deadline_extended"] == 1
    assert kinds["escalation"] == 2  # to M1: the self-review was extended; to HR: contact B never answered
    # Every message was rendered in its recipient's language and delivered (contact A has no address on file).
    failed = count(db_url, "SELECT count(*) FROM notification WHERE status <> 'sent' AND recipient_id <> %s", contact_a)
    assert failed == 0, count(db_url, "SELECT count(*) FROM notification WHERE last_error LIKE 'cannot render%%'")
    assert self_task == (1, 1)
    assert tasks_by_id[f"{cid}:K01:customer_survey:{contact_b}"] == "missed"
    assert tasks_by_id[f"{cid}:K01:customer_survey:{contact_a}"] == "done"
    assert tasks_by_id[f"{cid}:K01:self_review"] == "done"
    assert missing == ["csat", f"customer_survey:{contact_b}"]  # one answer is below the minimum of 2


async def test_reviews_close_with_what_was_submitted_and_the_cycle_history_stays_small(client, db_url, task_queue):
    """12 participants in batches of 5: nobody submits, every phase closes, calibration waits for HR."""
    seed_org(db_url, kams=12, managers=3, contacts_per_kam=1)
    cid = f"BT{uuid.uuid4().hex[:6]}"
    config = cycle_config(cid, due="3s").model_copy(update={"batch_size": 5})
    await create_cycle(db_url, config)
    async with running_worker(client, db_url, task_queue):
        await start_cycle(client, db_url, cid, task_queue)
        await eventually(lambda: cycle_phase_is(client, cid, "calibration"), timeout=40)
        report = await cycle_report(client, db_url, cid)
        assert (report.workflow.batches_total, report.workflow.batches_done) == (3, 3)
        assert report.workflow.reviews_closed == 12 and report.workflow.reviews_with_missing == 12
        # Without any inputs but KPIs, everybody still gets a preliminary score from the KPIs alone.
        assert count(db_url, "SELECT count(*) FROM review WHERE cycle_id = %s AND preliminary_score IS NOT NULL", cid) == 12
        assert count(db_url, "SELECT count(*) FROM task WHERE cycle_id = %s AND status = 'missed'", cid) == 36
        # The reviews are not children: the cycle's history holds a few events per batch, none per review.
        history = await client.get_workflow_handle(f"cycle:{cid}").fetch_history()
        kinds = [e.WhichOneof("attributes") for e in history.events]
        assert not any("child_workflow" in k for k in kinds)
        # begin, 3 batches, the announcement of the cycle to everyone, the wait, calibration
        assert kinds.count("activity_task_scheduled_event_attributes") == 1 + 3 + 1 + 1 + 1
        assert len(history.events) < 60
        await finalize_calibration(client, db_url, cid, "HR1")
        await eventually(lambda: cycle_phase_is(client, cid, "awaiting_approval"), timeout=20)


async def _is(client, cid: str, phase: str, state: str) -> bool:
    return await _phase_state(client, cid, "K01", phase) == state




async def test_cancelling_a_cycle_cancels_its_open_reviews(client, db_url, task_queue):
    org = seed_org(db_url, kams=3, contacts_per_kam=1)
    cid = f"CX{uuid.uuid4().hex[:6]}"
    await create_cycle(db_url, cycle_config(cid, due="1h"))
    async with running_worker(client, db_url, task_queue):
        await start_cycle(client, db_url, cid, task_queue)
        employees = sorted(org["manager_of"])
        await eventually(lambda: _phase_state(client, cid, employees[-1], "self_review"))
        await tasks.submit_self_review(client, db_url, cid, SelfReviewSubmission(employees[0], ratings(2)))
        with pytest.raises(UserError, match="needs a reason"):
            await cancel_cycle(client, db_url, cid, "HR1", "  ")
        assert await cancel_cycle(client, db_url, cid, "HR1", "reorganisation of the sales team") == "cancelled"
        assert await eventually(lambda: _none_running(client, cid, employees), timeout=30)
        with pytest.raises(Conflict, match="was cancelled with its cycle"):
            await tasks.submit_self_review(client, db_url, cid, SelfReviewSubmission(employees[1], ratings(2)))
        with pytest.raises(UserError, match="already cancelled"):
            await cancel_cycle(client, db_url, cid, "HR1", "again")
        with pytest.raises(UserError, match="was cancelled"):
            await start_cycle(client, db_url, cid, task_queue)
    assert count(db_url, "SELECT count(*) FROM audit_log WHERE event_key = %s", f"cycle.cancelled:{cid}") == 1
    assert count(db_url, "SELECT count(*) FROM audit_log WHERE action = 'cycle.cancel_requested' AND actor = 'HR1'"
                 " AND after->>'reason' = 'reorganisation of the sales team'") == 1
    # What was submitted before the cancellation stays recorded; everything still open is out of the inboxes.
    assert count(db_url, "SELECT count(*) FROM task WHERE cycle_id = %s AND status = 'done'", cid) == 1
    assert count(db_url, "SELECT count(*) FROM task WHERE cycle_id = %s AND status = 'open'", cid) == 0
    assert count(db_url, "SELECT count(*) FROM review WHERE cycle_id = %s AND status = 'cancelled'", cid) == 3
    assert count(db_url, "SELECT count(*) FROM survey_invitation WHERE cycle_id = %s AND status = 'sent'", cid) == 0


async def test_cancelling_while_a_batch_starts_reviews_leaves_none_running(client, db_url, task_queue):
    seed_org(db_url, kams=400, managers=20, contacts_per_kam=1)
    cid = f"CB{uuid.uuid4().hex[:6]}"
    await create_cycle(db_url, cycle_config(cid, due="1h").model_copy(update={"batch_size": 200}))
    async with running_worker(client, db_url, task_queue):
        await start_cycle(client, db_url, cid, task_queue)
        await eventually(lambda: _any_review_started(db_url, cid), interval=0.02)
        await cancel_cycle(client, db_url, cid, "HR1", "wrong participant list")
        kams = [f"K{i:02d}" for i in range(1, 401)]
        assert await eventually(lambda: _none_running(client, cid, kams), timeout=30)
    assert count(db_url, "SELECT count(*) FROM review WHERE cycle_id = %s AND status = 'open'", cid) == 0


async def _none_running(client, cid: str, employees: list[str]) -> bool:
    """No review workflow of the cycle runs: each one was never started or has ended (cancelled)."""
    for e in employees:
        try:
            status = (await client.get_workflow_handle(review_workflow_id(review_id_for(cid, e))).describe()).status
        except RPCError:
            continue  # never started
        if status == WorkflowExecutionStatus.RUNNING:
            return False
    return True


async def _any_review_started(db_url: str, cid: str) -> bool:
    return count(db_url, "SELECT count(*) FROM review WHERE cycle_id = %s AND status <> 'pending'", cid) > 0


def test_a_cycle_never_started_is_cancelled_in_the_database_alone(db_url):
    seed_org(db_url, kams=1)
    cid = f"CN{uuid.uuid4().hex[:6]}"
    asyncio.run(create_cycle(db_url, cycle_config(cid)))
    assert asyncio.run(cancel_cycle(None, db_url, cid, "HR1", "created by mistake")) == "cancelled"
    assert count(db_url, "SELECT count(*) FROM review_cycle WHERE id = %s AND status = 'cancelled'", cid) == 1
