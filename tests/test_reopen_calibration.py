"""HR reopens a submission of a review that has closed into calibration (workflows/reopened.py), on the dev server
with the real activities: resubmitted or kept at the deadline, the review rescored and its calibration row updated,
finalize refused while anything is outstanding, and refused in both languages."""

from __future__ import annotations

import asyncio
import uuid

import psycopg
import pytest
from temporalio.client import WorkflowUpdateFailedError

from i18n.format import Formatter
from services import tasks
from services.cycles import create_cycle, finalize_calibration, start_cycle
from services.errors import Conflict, message_of, refusal
from services.reopen import reopen_task
from tests.helpers import (
    count,
    cycle_config,
    cycle_phase_is,
    eventually,
    maybe_record_history,
    ratings,
    review_started,
    seed_org,
)
from worker import running_worker
from workflows.cycle import CycleWorkflow
from workflows.payloads import (
    ActorRequest,
    ManagerScoreSubmission,
    SelfReviewSubmission,
    SurveySubmission,
    cycle_workflow_id,
    reopened_workflow_id,
    review_id_for,
)


@pytest.fixture
async def in_calibration(client, db_url, task_queue):
    """Three KAMs, every review closed, the cycle in calibration; K01's manager scored 1s, the others 3s."""
    org = seed_org(db_url, kams=3, managers=1, contacts_per_kam=1)
    cycle_id = f"RC{uuid.uuid4().hex[:8]}"
    await create_cycle(db_url, cycle_config(cycle_id, due="300s"))
    async with running_worker(client, db_url, task_queue):
        await start_cycle(client, db_url, cycle_id, task_queue)
        for k in org["kams"]:
            await eventually(lambda k=k: review_started(client, cycle_id, k))
            await tasks.submit_self_review(client, db_url, cycle_id, SelfReviewSubmission(k, ratings(2)))
            await tasks.submit_manager_score(client, db_url, cycle_id, k, ManagerScoreSubmission(
                org["manager_of"][k], ratings(1 if k == "K01" else 3)))
            for c in org["contacts"][k]:
                await tasks.submit_survey(client, db_url, cycle_id, k, SurveySubmission(c, 5, 9))
        await eventually(lambda: cycle_phase_is(client, cycle_id, "calibration"))
        yield org | {"cycle": cycle_id}


def _row(db_url: str, sql: str, *params):
    with psycopg.connect(db_url) as conn:
        return conn.execute(sql, params).fetchone()


def _calibration(db_url: str, c: str, k: str):
    return _row(db_url, "SELECT preliminary_score, suggested_level, final_level FROM calibrated_rating WHERE review_id = %s",
                review_id_for(c, k))


async def test_reopen_in_calibration_resubmit_rescores_and_finalize_waits(client, db_url, in_calibration):
    c, org = in_calibration["cycle"], in_calibration
    m = org["manager_of"]["K01"]
    before = _calibration(db_url, c, "K01")
    assert await reopen_task(client, db_url, c, "K01", "manager_scoring", actor_id="HR1",
                             reason="scored with last quarter's figures", due="2d") == 2
    task = f"{c}:K01:manager_scoring"
    assert _row(db_url, "SELECT status, version FROM task WHERE id = %s", task) == ("open", 2)
    assert count(db_url, "SELECT count(*) FROM notification WHERE kind = 'task_reopened' AND recipient_id = %s", m) == 1
    (content,) = _row(db_url, "SELECT content FROM submission_version WHERE task_id = %s AND version = 1", task)
    assert {i["rating"] for i in content if i["item"] != "potential"} == {1}
    # Finalizing while it is outstanding is refused, naming the review, in both languages.
    with pytest.raises(Conflict) as refused:
        await finalize_calibration(client, db_url, c, "HR1")
    name = _row(db_url, "SELECT name FROM employee WHERE id = 'K01'")[0]
    assert f"{name} (K01)" in str(refused.value) and "reopened" in str(refused.value)
    chinese = Formatter("zh-CN").text(message_of(refused.value))
    assert f"{name} (K01)" in chinese and "重新开放" in chinese
    # The finalize Update sent straight to the cycle workflow is refused by its activity, under the cycle's lock.
    with pytest.raises(WorkflowUpdateFailedError) as raw:
        await client.get_workflow_handle(cycle_workflow_id(c)).execute_update(
            CycleWorkflow.finalize_calibration, ActorRequest("HR1"), id=f"finalize:{c}:HR1")
    assert isinstance(refusal(raw.value), Conflict) and "(K01)" in str(refusal(raw.value))
    # The resubmission goes through the same service and checks: the wrong person and a bad value are refused.
    from services.errors import Rejected

    with pytest.raises(Rejected, match="may not submit the manager scoring"):
        await tasks.submit_manager_score(client, db_url, c, "K01", ManagerScoreSubmission("K02", ratings(3)))
    with pytest.raises(Conflict, match="already submitted"):  # only the reopened task takes a new submission
        await tasks.submit_self_review(client, db_url, c, SelfReviewSubmission("K01", ratings(3)))
    receipt = await tasks.submit_manager_score(client, db_url, c, "K01", ManagerScoreSubmission(m, ratings(3)))
    assert receipt.task_id == task
    # A repeat of the very same resubmission gets its first receipt.
    again = await tasks.submit_manager_score(client, db_url, c, "K01", ManagerScoreSubmission(m, ratings(3)))
    assert again == receipt
    await eventually(lambda: _rescored(db_url, task, 2), timeout=30)
    after = _calibration(db_url, c, "K01")
    assert after[0] > before[0]  # the calibration row shows the new preliminary score
    assert after[0] == _row(db_url, "SELECT preliminary_score FROM review WHERE id = %s", review_id_for(c, "K01"))[0]
    # K01's score now equals K02's (same self-review and manager ratings; KPI actuals differ per seeded KAM, so
    # compare the competency component).
    parts = [_row(db_url, "SELECT score_breakdown FROM review WHERE id = %s", review_id_for(c, k))[0]["component_scores"]
             for k in ("K01", "K02")]
    assert parts[0]["competencies"] == parts[1]["competencies"]
    assert _row(db_url, "SELECT superseded_at IS NOT NULL FROM submission_version WHERE task_id = %s", task) == (True,)
    assert count(db_url, "SELECT count(*) FROM audit_log WHERE event_key LIKE %s", f"task.submitted:{task}%") == 2
    await client.get_workflow_handle(reopened_workflow_id(review_id_for(c, "K01"))).result()
    await maybe_record_history(client, reopened_workflow_id(review_id_for(c, "K01")), "reopened_review")
    # Nothing outstanding: calibration finalizes (a new request: the refused one above does not stand in its way),
    # and after that a reopen is refused.
    await finalize_calibration(client, db_url, c, "HR1")
    with pytest.raises(Conflict, match="is finalized"):
        await reopen_task(client, db_url, c, "K02", "self_review", actor_id="HR1", reason="too late")


async def _rescored(db_url: str, task_id: str, version: int) -> bool:
    return count(db_url, "SELECT count(*) FROM audit_log WHERE event_key = %s", f"review.rescored:{task_id}:{version}") == 1


async def test_a_reopened_task_not_resubmitted_by_its_deadline_keeps_the_earlier_and_is_rescored(
        client, db_url, in_calibration):
    c = in_calibration["cycle"]
    before = _calibration(db_url, c, "K03")
    task = f"{c}:K03:self_review"
    await reopen_task(client, db_url, c, "K03", "self_review", actor_id="HR1", reason="evidence missing", due="2s")
    await eventually(lambda: _rescored(db_url, task, 2), timeout=30)
    assert _row(db_url, "SELECT status, version FROM task WHERE id = %s", task) == ("done", 2)
    assert _row(db_url, "SELECT superseded_at FROM submission_version WHERE task_id = %s", task) == (None,)
    assert count(db_url, "SELECT count(*) FROM self_review_answer WHERE review_id = %s AND rating = 2",
                 review_id_for(c, "K03")) > 0
    assert _calibration(db_url, c, "K03") == before  # the earlier submission stands: the same score
    await client.get_workflow_handle(reopened_workflow_id(review_id_for(c, "K03"))).result()
    await maybe_record_history(client, reopened_workflow_id(review_id_for(c, "K03")), "reopened_review_kept")
    # A late resubmission is refused; finalize goes through.
    with pytest.raises(Conflict):
        await tasks.submit_self_review(client, db_url, c, SelfReviewSubmission("K03", ratings(3)))
    await finalize_calibration(client, db_url, c, "HR1")


async def test_two_concurrent_reopens_of_one_task_give_one_reopen(client, db_url, in_calibration):
    c = in_calibration["cycle"]
    task = f"{c}:K02:self_review"
    results = await asyncio.gather(
        *(reopen_task(client, db_url, c, "K02", "self_review", actor_id=who, reason="evidence missing", due="1d")
          for who in ("HR1", "HR2")), return_exceptions=True)
    assert [r for r in results if not isinstance(r, Conflict)] and all(r == 2 or isinstance(r, Conflict) for r in results)
    assert count(db_url, "SELECT count(*) FROM submission_version WHERE task_id = %s", task) == 1
    assert count(db_url, "SELECT count(*) FROM audit_log WHERE event_key LIKE %s", f"task.reopened:{task}:%") == 1
    assert count(db_url, "SELECT count(*) FROM notification WHERE kind = 'task_reopened' AND recipient_id = 'K02'") == 1
    # Reopened again while it waits: refused.
    with pytest.raises(Conflict, match="already reopened"):
        await reopen_task(client, db_url, c, "K02", "self_review", actor_id="HR1", reason="again")
    # A second task of the same review joins the same run; both settle, then finalize passes.
    contact = in_calibration["contacts"]["K02"][0]
    assert await reopen_task(client, db_url, c, "K02", "customer_survey", contact_id=contact, actor_id="HR1",
                             reason="answered about the wrong account") == 2
    await tasks.submit_survey(client, db_url, c, "K02", SurveySubmission(contact, 2, 3))
    with pytest.raises(Conflict, match="K02"):
        await finalize_calibration(client, db_url, c, "HR1")
    await tasks.submit_self_review(client, db_url, c, SelfReviewSubmission("K02", ratings(3)))
    await eventually(lambda: _rescored(db_url, task, 2), timeout=30)
    await eventually(lambda: _rescored(db_url, f"{c}:K02:customer_survey:{contact}", 2), timeout=30)
    await finalize_calibration(client, db_url, c, "HR1")


async def test_an_hr_adjusted_rating_keeps_its_level_and_a_running_review_path_is_unchanged(client, db_url, in_calibration):
    from services.cycles import adjust_rating

    c, org = in_calibration["cycle"], in_calibration
    await adjust_rating(client, db_url, c, "K01", 1, "committee decision", "HR1")
    await reopen_task(client, db_url, c, "K01", "manager_scoring", actor_id="HR1", reason="recheck", due="1d")
    await tasks.submit_manager_score(client, db_url, c, "K01", ManagerScoreSubmission(org["manager_of"]["K01"], ratings(3)))
    await eventually(lambda: _rescored(db_url, f"{c}:K01:manager_scoring", 2), timeout=30)
    score, suggested, final = _calibration(db_url, c, "K01")
    assert final == 1  # HR's adjustment stands; the score and the suggestion are new
    (after,) = _row(db_url, "SELECT after FROM audit_log WHERE event_key = %s", f"review.rescored:{c}:K01:manager_scoring:2")
    assert after["final_level"] == 1 and after["resubmitted"] is True and after["suggested_level"] == suggested


async def test_cancelling_the_cycle_ends_the_reopen_workflow(client, db_url, in_calibration):
    from temporalio.client import WorkflowExecutionStatus

    from services.cycles import cancel_cycle

    c = in_calibration["cycle"]
    await reopen_task(client, db_url, c, "K01", "self_review", actor_id="HR1", reason="evidence missing", due="1d")
    await cancel_cycle(client, db_url, c, "HR1", "reorganisation")
    handle = client.get_workflow_handle(reopened_workflow_id(review_id_for(c, "K01")))

    async def ended() -> bool:
        return (await handle.describe()).status == WorkflowExecutionStatus.CANCELED

    await eventually(ended, timeout=30)
    assert _row(db_url, "SELECT status FROM task WHERE id = %s", f"{c}:K01:self_review") == ("cancelled",)


async def test_a_closed_review_before_calibration_opens_is_refused_in_both_languages(client, db_url, task_queue):
    org = seed_org(db_url, kams=2, managers=1, contacts_per_kam=1)
    c = f"RB{uuid.uuid4().hex[:8]}"
    await create_cycle(db_url, cycle_config(c, due="300s"))
    async with running_worker(client, db_url, task_queue):
        await start_cycle(client, db_url, c, task_queue)
        for k in org["kams"]:
            await eventually(lambda k=k: review_started(client, c, k))
        await tasks.submit_self_review(client, db_url, c, SelfReviewSubmission("K01", ratings(2)))
        await tasks.submit_manager_score(client, db_url, c, "K01", ManagerScoreSubmission(org["manager_of"]["K01"],
                                                                                          ratings(3)))
        await tasks.submit_survey(client, db_url, c, "K01", SurveySubmission(org["contacts"]["K01"][0], 5, 9))

        async def closed() -> bool:
            return _row(db_url, "SELECT status FROM review WHERE id = %s", review_id_for(c, "K01")) == ("closed",)

        await eventually(closed, timeout=30)
        with pytest.raises(Conflict) as refused:
            await reopen_task(client, db_url, c, "K01", "self_review", actor_id="HR1", reason="evidence missing")
        assert "has not opened calibration yet" in str(refused.value)
        assert "尚未进入校准环节" in Formatter("zh-CN").text(message_of(refused.value))
        assert count(db_url, "SELECT count(*) FROM submission_version") == 0
