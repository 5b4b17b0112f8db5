"""HR reopens a submitted task through the review workflow: versions kept, score from the resubmission, refusals."""

from __future__ import annotations

import json
import uuid

import psycopg
import pytest

from services import tasks
from services.cycles import create_cycle, start_cycle
from services.errors import Conflict, NotFound, Rejected
from services.reopen import reopen_task, submission_versions
from tests.helpers import (
    count,
    cycle_config,
    eventually,
    maybe_record_history,
    ratings,
    review_started,
    run_full_cycle,
    seed_org,
)
from worker import running_worker
from workflows.payloads import (
    ManagerScoreSubmission,
    SelfReviewSubmission,
    SurveySubmission,
    review_id_for,
    review_workflow_id,
)
from workflows.review import ReviewWorkflow


@pytest.fixture
async def open_cycle(client, db_url, task_queue):
    org = seed_org(db_url, kams=3, managers=1)
    cycle_id = f"RO{uuid.uuid4().hex[:8]}"
    await create_cycle(db_url, cycle_config(cycle_id, due="300s"))
    async with running_worker(client, db_url, task_queue):
        await start_cycle(client, db_url, cycle_id, task_queue)
        for k in org["kams"]:
            await eventually(lambda k=k: review_started(client, cycle_id, k))
        yield org | {"cycle": cycle_id}


def _row(db_url: str, sql: str, *params):
    with psycopg.connect(db_url) as conn:
        return conn.execute(sql, params).fetchone()


async def _finish(client, db_url, c: str, org, k: str, manager_level: int = 2) -> None:
    """Everything else of K's review submitted, so it closes and is scored."""
    m = org["manager_of"][k]
    for sub, fn in ((SelfReviewSubmission(k, ratings(2)), "self"),
                    (ManagerScoreSubmission(m, ratings(manager_level)), "manager")):
        try:
            if fn == "self":
                await tasks.submit_self_review(client, db_url, c, sub)
            else:
                await tasks.submit_manager_score(client, db_url, c, k, sub)
        except Conflict:
            pass  # already in
    for contact in org["contacts"][k]:
        try:
            await tasks.submit_survey(client, db_url, c, k, SurveySubmission(contact, 5, 9))
        except Conflict:
            pass


async def test_reopened_manager_score_is_resubmitted_and_the_score_recomputed(client, db_url, open_cycle):
    c, org = open_cycle["cycle"], open_cycle
    m = org["manager_of"]["K01"]
    # K01's manager first scores 1s, then HR reopens and the manager scores 3s; K02 scores 3s, K03 1s directly.
    await tasks.submit_manager_score(client, db_url, c, "K01", ManagerScoreSubmission(m, ratings(1)))
    version = await reopen_task(client, db_url, c, "K01", "manager_scoring", actor_id="HR1",
                                reason="scored with last quarter's figures", due="2d")
    assert version == 2
    assert _row(db_url, "SELECT status, version FROM task WHERE id = %s", f"{c}:K01:manager_scoring") == ("open", 2)
    # The earlier version is kept; the live rows stay until the resubmission replaces them.
    (content,) = _row(db_url, "SELECT content FROM submission_version WHERE task_id = %s AND version = 1",
                      f"{c}:K01:manager_scoring")
    assert {i["item"]: i["rating"] for i in content}["communication"] == 1
    # The person hears of it, with the reason.
    (params,) = _row(db_url, "SELECT params FROM notification WHERE kind = 'task_reopened' AND recipient_id = %s", m)
    assert params["reason"] == "scored with last quarter's figures" and params["phase"] == "manager_scoring"
    # A second reopen while it waits is refused.
    with pytest.raises(Conflict, match="already reopened"):
        await reopen_task(client, db_url, c, "K01", "manager_scoring", actor_id="HR1", reason="again")
    receipt = await tasks.submit_manager_score(client, db_url, c, "K01", ManagerScoreSubmission(m, ratings(3)))
    assert receipt.task_id == f"{c}:K01:manager_scoring"
    assert count(db_url, "SELECT count(*) FROM manager_score WHERE review_id = %s AND rating = 3", f"{c}:K01") == 7
    assert count(db_url, "SELECT count(*) FROM manager_score WHERE review_id = %s AND rating = 1", f"{c}:K01") == 0
    assert _row(db_url, "SELECT superseded_at IS NOT NULL FROM submission_version WHERE task_id = %s",
                f"{c}:K01:manager_scoring") == (True,)
    # Both versions in the audit log.
    audits = [json.dumps(r) for r in _rows(db_url, """SELECT action, after FROM audit_log WHERE entity_id = %s
                                                       ORDER BY id""", f"{c}:K01:manager_scoring")]
    assert len([a for a in audits if "manager_scoring.submitted" in a]) == 2
    assert any("manager_scoring.reopened" in a and "last quarter" in a for a in audits)
    versions = await submission_versions(db_url, c, "K01")
    assert [(v.phase, v.version, v.reason) for v in versions] == [("manager_scoring", 1, "scored with last quarter's figures")]
    # The score is computed from the resubmission: K01 (1 then 3) equals K02 (3), not K03 (1).
    await tasks.submit_manager_score(client, db_url, c, "K02", ManagerScoreSubmission(org["manager_of"]["K02"], ratings(3)))
    await tasks.submit_manager_score(client, db_url, c, "K03", ManagerScoreSubmission(org["manager_of"]["K03"], ratings(1)))
    for k in org["kams"]:
        await _finish(client, db_url, c, org, k)
        await client.get_workflow_handle(review_workflow_id(review_id_for(c, k))).result()
    scores = {k: _row(db_url, "SELECT preliminary_score FROM review WHERE id = %s", review_id_for(c, k))[0]
              for k in org["kams"]}
    assert scores["K01"] is not None and scores["K01"] != scores["K03"]
    # K01 and K02 differ only by KPI actuals (seeded per KAM), so compare the competency part of the breakdown.
    parts = {k: _row(db_url, "SELECT score_breakdown FROM review WHERE id = %s", review_id_for(c, k))[0]
             for k in ("K01", "K02")}
    assert _competencies(parts["K01"]) == _competencies(parts["K02"])
    await maybe_record_history(client, review_workflow_id(review_id_for(c, "K01")), "review_reopened")


def _competencies(breakdown: dict) -> object:
    """The competency component's score and its lines' manager ratings (KPI actuals differ per seeded KAM)."""
    lines = [(line["item"], line["manager_rating"]) for line in breakdown["lines"] if line["component"] == "competencies"]
    assert lines, breakdown["lines"]
    return breakdown["component_scores"]["competencies"], lines


def _rows(db_url: str, sql: str, *params):
    with psycopg.connect(db_url) as conn:
        return conn.execute(sql, params).fetchall()


async def test_reopen_self_review_and_survey_answer(client, db_url, open_cycle):
    c, org = open_cycle["cycle"], open_cycle
    contact = org["contacts"]["K02"][0]
    await tasks.submit_self_review(client, db_url, c, SelfReviewSubmission("K02", ratings(1)))
    await tasks.submit_survey(client, db_url, c, "K02", SurveySubmission(contact, 2, 3, "slow answers"))
    assert await reopen_task(client, db_url, c, "K02", "self_review", actor_id="HR1", reason="evidence missing") == 2
    assert await reopen_task(client, db_url, c, "K02", "customer_survey", contact_id=contact, actor_id="HR1",
                             reason="answered about the wrong account") == 2
    status = await client.get_workflow_handle(review_workflow_id(review_id_for(c, "K02"))).query(ReviewWorkflow.status)
    outstanding = {p.phase: p.outstanding for p in status.phases}
    assert outstanding["self_review"] == ["K02"] and contact in outstanding["customer_survey"]
    # The same content as the first time is a new submission of the reopened task, not a repeat of the first.
    await tasks.submit_self_review(client, db_url, c, SelfReviewSubmission("K02", ratings(1)))
    await tasks.submit_survey(client, db_url, c, "K02", SurveySubmission(contact, 5, 9))
    assert _row(db_url, "SELECT satisfaction, nps FROM survey_response WHERE invitation_id = %s",
                f"{c}:K02:customer_survey:{contact}") == (5, 9)
    assert _row(db_url, "SELECT status FROM survey_invitation WHERE id = %s", f"{c}:K02:customer_survey:{contact}") == (
        "answered",)
    kept = {v.phase: v.content for v in await submission_versions(db_url, c, "K02")}
    assert kept["customer_survey"] == [{"satisfaction": 2, "nps": 3, "comment": "slow answers"}]
    assert count(db_url, "SELECT count(*) FROM submission_version WHERE review_id = %s AND superseded_at IS NOT NULL",
                 f"{c}:K02") == 2
    # The contact was told (a customer gets a fresh survey link at send time).
    assert count(db_url, "SELECT count(*) FROM notification WHERE kind = 'task_reopened' AND recipient_id = %s",
                 contact) == 1
    # Reopened a second time: version 3, and both earlier versions are kept.
    assert await reopen_task(client, db_url, c, "K02", "self_review", actor_id="HR1", reason="still no evidence") == 3
    await tasks.submit_self_review(client, db_url, c, SelfReviewSubmission("K02", ratings(3)))
    kept = [(v.version, {i["rating"] for i in v.content}) for v in await submission_versions(db_url, c, "K02")
            if v.phase == "self_review"]
    assert kept == [(1, {1}), (2, {1})]
    assert count(db_url, "SELECT count(*) FROM audit_log WHERE event_key LIKE %s", f"task.submitted:{c}:K02:self_review%") == 3


async def test_refusals(client, db_url, open_cycle):
    c = open_cycle["cycle"]
    with pytest.raises(Rejected, match="needs a reason"):
        await reopen_task(client, db_url, c, "K01", "self_review", actor_id="HR1", reason="  ")
    with pytest.raises(Conflict, match="has not been submitted yet"):
        await reopen_task(client, db_url, c, "K01", "self_review", actor_id="HR1", reason="typo")
    with pytest.raises(Rejected, match="no task 'peer'"):
        await reopen_task(client, db_url, c, "K01", "peer", actor_id="HR1", reason="typo")
    with pytest.raises(Rejected, match="needs the contact"):
        await reopen_task(client, db_url, c, "K01", "customer_survey", actor_id="HR1", reason="typo")
    with pytest.raises(NotFound):
        await reopen_task(client, db_url, c, "K99", "self_review", actor_id="HR1", reason="typo")
    await tasks.submit_self_review(client, db_url, c, SelfReviewSubmission("K01", ratings(2)))
    with pytest.raises(Rejected, match="not a duration|duration"):
        await reopen_task(client, db_url, c, "K01", "self_review", actor_id="HR1", reason="typo", due="soon")
    # The workflow's own validator refuses too (sent straight, no service checks in front).
    from datetime import UTC, datetime, timedelta

    from temporalio.client import WorkflowUpdateFailedError

    from services.errors import refusal
    from workflows.payloads import ReopenTask

    handle = client.get_workflow_handle(review_workflow_id(review_id_for(c, "K01")))
    for req, message in ((ReopenTask("HR1", "self_review", "", datetime.now(UTC) + timedelta(days=1)), "needs a reason"),
                         (ReopenTask("HR1", "manager_scoring", "x", datetime.now(UTC) + timedelta(days=1)),
                          "has not been submitted")):
        with pytest.raises(WorkflowUpdateFailedError) as err:
            await handle.execute_update(ReviewWorkflow.reopen_task, req, id=f"t-{message}")
        assert message in str(refusal(err.value))
    assert count(db_url, "SELECT count(*) FROM submission_version") == 0


async def test_a_closed_review_and_a_finalized_cycle_refuse(client, db_url, task_queue):
    org = seed_org(db_url, kams=1, managers=1, contacts_per_kam=1)
    c = f"RF{uuid.uuid4().hex[:8]}"
    async with running_worker(client, db_url, task_queue):
        await run_full_cycle(client, db_url, task_queue, c, org)
    with pytest.raises(Conflict, match="calibration of cycle .* is finalized"):
        await reopen_task(client, db_url, c, "K01", "manager_scoring", actor_id="HR1", reason="late correction")


async def test_a_reopened_task_not_resubmitted_by_its_deadline_keeps_the_earlier_submission(client, db_url, open_cycle):
    c, org = open_cycle["cycle"], open_cycle
    m = org["manager_of"]["K03"]
    await tasks.submit_manager_score(client, db_url, c, "K03", ManagerScoreSubmission(m, ratings(3)))
    await reopen_task(client, db_url, c, "K03", "manager_scoring", actor_id="HR1", reason="check the evidence",
                      due="2s")
    # The phase's deadline policy here is "close": the task closes with the earlier score, which still counts.
    await eventually(lambda: _done(db_url, f"{c}:K03:manager_scoring"), timeout=30)
    assert count(db_url, "SELECT count(*) FROM manager_score WHERE review_id = %s AND rating = 3", f"{c}:K03") == 7
    assert count(db_url, "SELECT count(*) FROM notification WHERE kind = 'deadline_missed' AND recipient_id = %s", m) == 0
    await _finish(client, db_url, c, org, "K03")
    await client.get_workflow_handle(review_workflow_id(review_id_for(c, "K03"))).result()
    missing, breakdown = _row(db_url, "SELECT missing, score_breakdown FROM review WHERE id = %s", f"{c}:K03")
    assert "manager_scoring" not in missing
    assert {r for _, r in _competencies(breakdown)[1]} == {3}


async def _done(db_url: str, task_id: str) -> bool:
    return _row(db_url, "SELECT status FROM task WHERE id = %s", task_id) == ("done",)


async def test_reopen_activities_repeated_after_success_change_nothing(client, db_url, open_cycle):
    import dataclasses
    from datetime import UTC, datetime, timedelta

    from psycopg_pool import AsyncConnectionPool
    from temporalio.testing import ActivityEnvironment

    from activities.reviews import ReviewActivities
    from services.db import libpq_url
    from workflows.payloads import MANAGER_SCORING, ReopenRecord, SubmissionRecord, task_id_for

    c, org = open_cycle["cycle"], open_cycle
    m, review_id = org["manager_of"]["K01"], review_id_for(c, "K01")
    task_id = task_id_for(review_id, MANAGER_SCORING)
    await tasks.submit_manager_score(client, db_url, c, "K01", ManagerScoreSubmission(m, ratings(1)))
    await reopen_task(client, db_url, c, "K01", MANAGER_SCORING, actor_id="HR1", reason="wrong figures")
    await tasks.submit_manager_score(client, db_url, c, "K01", ManagerScoreSubmission(m, ratings(3)))

    def snapshot() -> object:
        return (_rows(db_url, "SELECT * FROM submission_version ORDER BY task_id, version"),
                _rows(db_url, "SELECT item_id, rating FROM manager_score WHERE review_id = %s ORDER BY 1", review_id),
                _rows(db_url, "SELECT status, version, completed_at FROM task WHERE id = %s", task_id),
                count(db_url, "SELECT count(*) FROM audit_log"), count(db_url, "SELECT count(*) FROM notification"))

    before = snapshot()
    now = datetime.now(UTC)
    env = ActivityEnvironment(client)
    env.info = dataclasses.replace(env.info, task_queue="unused")
    async with AsyncConnectionPool(libpq_url(db_url), min_size=1, max_size=2, kwargs={"autocommit": True}) as pool:
        acts = ReviewActivities(pool)
        await env.run(acts.reopen_task, ReopenRecord(c, review_id, task_id, MANAGER_SCORING, 2, "HR1", "wrong figures",
                                                     now + timedelta(days=3), now))
        await env.run(acts.record_submission, SubmissionRecord(c, review_id, task_id, MANAGER_SCORING, m, now,
                                                               ratings(2), {}, version=2))
    assert snapshot() == before


async def test_cli_review_reopen(client, db_url, task_queue, tmp_path, open_cycle):
    import asyncio

    from tests.test_cli import cli_env, run_cli

    c = open_cycle["cycle"]
    env = cli_env(db_url, client, task_queue, tmp_path)

    def cli(*args: str):
        return asyncio.to_thread(run_cli, env, tmp_path, *args)

    refused = await cli("review", "reopen", c, "K01", "--task", "self_review", "--reason", "typo")
    assert refused.returncode != 0 and "has not been submitted yet" in refused.stderr
    await tasks.submit_self_review(client, db_url, c, SelfReviewSubmission("K01", ratings(2)))
    no_reason = await cli("review", "reopen", c, "K01", "--task", "self_review", "--reason", " ")
    assert no_reason.returncode == 2 and "needs a reason" in no_reason.stderr
    done = await cli("review", "reopen", c, "K01", "--task", "self_review", "--reason", "evidence missing", "--due", "2d")
    assert done.returncode == 0, done.stderr
    assert "version 2" in done.stdout
    survey = await cli("review", "reopen", c, "K01", "--task", "survey", "--reason", "x")
    assert survey.returncode == 2 and "needs the contact" in survey.stderr
