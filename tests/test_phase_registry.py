"""A phase added through the registry only: one PhaseDefinition, its table (what its migration would create) and its
form (the generic one, from the definition's questions). No other module is edited for it, yet its tasks open, the
reviewer is told, submissions are checked and refused through the review workflow, its answers are stored, reopened
and resubmitted, it is named in both languages, the review closes with it, not missing it, and it is scored as its
definition says (docs/phases.md)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import uuid
from collections.abc import Iterator
from decimal import Decimal

import psycopg
import pytest

from activities.reviews import phase_configs, score_review
from domain.cycle import CycleConfig
from domain.phases import GENERIC_FORM_LINK, ITEM_ROWS, PhaseDefinition, Storage, link_for, phase_label, registered
from domain.scoring import ReviewInputs, preliminary_score
from i18n.catalog import gettext_for
from services import drafts, people, reopen, tasks
from services.cycles import create_cycle, finalize_calibration, start_cycle
from services.db import APP_ROLE, libpq_url
from services.errors import Conflict, Rejected
from tests.helpers import (
    count,
    cycle_config,
    cycle_phase_is,
    eventually,
    maybe_record_history,
    ratings,
    review_started,
    rows,
    seed_org,
)
from tests.workflows.support import refusal
from worker import running_worker
from workflows.payloads import (
    ManagerScoreSubmission,
    SelfReviewSubmission,
    SurveySubmission,
    TaskSubmission,
    reopened_workflow_id,
    review_id_for,
    review_workflow_id,
)
from workflows.review import ReviewWorkflow

# (1) The definition: a check-in the reviewer records for each KAM, two questions on a 1..4 scale, not scored.
CHECK_IN = PhaseDefinition(
    "toy_check_in", "reviewer", {"en": "check-in", "zh-CN": "面谈记录"}, "reviewer",
    "TaskSubmission", "submit_task", "check_answers",
    Storage("toy_check_in_answer", ITEM_ROWS + (("scored_by", "actor"), ("submitted_at", "at")),
            replaced_by="review_id"),
    link=GENERIC_FORM_LINK, questions=("clarity", "follow_up"), scale=(1, 4), optional=True,
    question_labels={"clarity": {"en": "Were the goals for next quarter made clear?", "zh-CN": "下季度目标是否已讲清楚？"},
                     "follow_up": {"en": "Were the follow-up actions agreed?", "zh-CN": "后续行动是否已达成一致？"}})

# (2) Its migration: the answer table.
MIGRATION = f"""
CREATE TABLE toy_check_in_answer (
    review_id text NOT NULL REFERENCES review(id), item_id text NOT NULL, rating integer, comment text,
    scored_by text NOT NULL, submitted_at timestamptz NOT NULL, PRIMARY KEY (review_id, item_id));
GRANT SELECT, INSERT, DELETE ON toy_check_in_answer TO {APP_ROLE};
"""


async def start_with_check_in(client, db_url: str, task_queue: str, c: str, weight: int | None = None) -> None:
    """Create and start cycle ``c`` with the check-in in its configuration (its deadline block under
    ``added_phases:``; with ``weight``, also a component of the score), as any cycle is started; return once its
    reviewers' tasks are open. Needs a running worker."""
    data = cycle_config(c, due="300s").model_dump(mode="json")
    data["added_phases"] = {"toy_check_in": {"due_after": "300s", "reminders_before": [],
                                             "on_deadline": {"action": "close"}}}
    if weight:
        weights = data["scorecard"]["component_weights"]
        data["scorecard"]["component_weights"] = weights | {"kpis": int(weights["kpis"]) - weight,
                                                            "phases": {"toy_check_in": weight}}
    await create_cycle(db_url, CycleConfig.model_validate(data))
    await start_cycle(client, db_url, c, task_queue)
    participants = count(db_url, "SELECT count(*) FROM review WHERE cycle_id = %s", c)

    async def opened() -> bool:
        return count(db_url, "SELECT count(*) FROM task WHERE cycle_id = %s AND kind = 'toy_check_in'", c) == participants

    await eventually(opened)


@contextlib.contextmanager
def check_in_phase(db_admin_url: str) -> Iterator[PhaseDefinition]:
    with psycopg.connect(db_admin_url, autocommit=True) as conn:
        conn.execute(MIGRATION)
    with registered(CHECK_IN) as definition:
        yield definition


def test_the_phase_is_named_in_both_languages_and_linked_to_its_form() -> None:
    with registered(CHECK_IN):
        assert phase_label("toy_check_in", "en") == "check-in"
        assert phase_label("toy_check_in", "zh-CN") == "面谈记录"
        assert link_for("toy_check_in", "C1", "K01") == "/tasks/C1/toy_check_in/K01"
    assert phase_label("toy_check_in") == "toy check in"  # gone again with its registration


async def test_a_phase_defined_only_in_the_registry_runs_through_the_review(client, db_url, db_admin_url, task_queue):
    org = seed_org(db_url, kams=1, managers=1, contacts_per_kam=1)
    c = f"PR{uuid.uuid4().hex[:8]}"
    k, m, contact = "K01", org["manager_of"]["K01"], org["contacts"]["K01"][0]
    review = review_id_for(c, k)
    task = f"{review}:toy_check_in"
    with check_in_phase(db_admin_url):
        async with running_worker(client, db_url, task_queue):
            await start_with_check_in(client, db_url, task_queue, c, weight=10)

            # Task creation: one task for the reviewer, by the definition's assignees; announced to them.
            assert rows(db_url, "SELECT kind, assignee_type, assignee_id, status FROM task WHERE id = %s", task) == [
                ("toy_check_in", "employee", m, "open")]
            told = "SELECT kind, params FROM notification WHERE recipient_id = %s AND params ->> 'phase' = 'toy_check_in'"
            await eventually(lambda: _some(rows(db_url, told, m)))
            assert {(kind, params["link_path"]) for kind, params in rows(db_url, told, m)} == {
                ("task_assigned", f"/tasks/{c}/toy_check_in/{k}")}
            await eventually(lambda: review_started(client, c, k))

            # Who and what, through the workflow's generic Update: refused in the definition's words.
            with pytest.raises(Rejected, match=f"{k} may not submit the check-in of {k}; the reviewer is {m}") as refused:
                await tasks.submit_task(client, db_url, c, k, TaskSubmission("toy_check_in", k, {"clarity": 3,
                                                                                                  "follow_up": 4}))
            assert refused.value.text is not None  # named in the reader's language at the edge
            assert refused.value.text.render(gettext_for("zh-CN"), str, "zh-CN") == f"{k} 无权提交 {k} 的面谈记录；评分人是 {m}"
            # A bad answer is refused naming the question as the definition words it, in the reader's language.
            with pytest.raises(Rejected) as off_scale:
                await tasks.submit_task(client, db_url, c, k, TaskSubmission("toy_check_in", m, {"clarity": 9,
                                                                                                  "follow_up": 4}))
            assert str(off_scale.value) == ("check-in: rating for “Were the goals for next quarter made clear?” is 9; "
                                            "the scale is 1 to 4")
            assert off_scale.value.text is not None
            assert off_scale.value.text.render(gettext_for("zh-CN"), str, "zh-CN") == (
                "面谈记录：“下季度目标是否已讲清楚？” 的评分为 9，评分范围是 1 至 4")
            with pytest.raises(Rejected, match="missing rating for “Were the follow-up actions agreed\\?”") as missing:
                await tasks.submit_task(client, db_url, c, k, TaskSubmission("toy_check_in", m, {"clarity": 3}))
            assert "“后续行动是否已达成一致？”" in missing.value.text.render(gettext_for("zh-CN"), str, "zh-CN")
            with pytest.raises(Rejected, match="comment on “Were the goals for next quarter made clear\\?” is 4001"):
                await tasks.submit_task(client, db_url, c, k, TaskSubmission(
                    "toy_check_in", m, {"clarity": 3, "follow_up": 4}, {"clarity": "x" * 4001}))
            handle = client.get_workflow_handle(review_workflow_id(review))
            # submit_task takes only phases defined for it: the first phases keep their own Updates.
            assert "submitted through submit_self_review" in await refusal(handle.execute_update(
                ReviewWorkflow.submit_task, TaskSubmission("self_review", k, ratings(2))))

            # Stored as its Storage says: one row per item, the reviewer, the time; the task done; audited.
            answer = TaskSubmission("toy_check_in", m, {"clarity": 3, "follow_up": 4}, {"clarity": "clear goals"})
            first = await tasks.submit_task(client, db_url, c, k, answer)
            assert await tasks.submit_task(client, db_url, c, k, answer) == first  # the same again: its receipt
            with pytest.raises(Conflict, match="the check-in was already submitted"):
                await tasks.submit_task(client, db_url, c, k, dataclasses.replace(answer, ratings={
                    "clarity": 1, "follow_up": 1}))
            stored = "SELECT item_id, rating, comment, scored_by FROM toy_check_in_answer WHERE review_id = %s ORDER BY 1"
            assert rows(db_url, stored, review) == [("clarity", 3, "clear goals", m), ("follow_up", 4, None, m)]
            assert rows(db_url, "SELECT status FROM task WHERE id = %s", task) == [("done",)]
            (after,), = rows(db_url, "SELECT after FROM audit_log WHERE event_key = %s", f"task.submitted:{task}")
            assert after["status"] == "done" and after["ratings"] == answer.ratings and after["digest"]

            # Reopened by HR and submitted again: the first version kept, the live rows replaced.
            assert await reopen.reopen_task(client, db_url, c, k, "toy_check_in", actor_id="HR1",
                                            reason="follow-up missing") == 2
            await eventually(lambda: _task_version_open(db_url, task))
            await tasks.submit_task(client, db_url, c, k, dataclasses.replace(answer, ratings={
                "clarity": 2, "follow_up": 2}, comments={}))
            assert rows(db_url, stored, review) == [("clarity", 2, None, m), ("follow_up", 2, None, m)]
            (kept,), = rows(db_url, "SELECT content FROM submission_version WHERE task_id = %s AND version = 1", task)
            assert [(x["item"], x["rating"], x["comment"]) for x in kept] == [
                ("clarity", 3, "clear goals"), ("follow_up", 4, None)]

            # The review waits for it like any phase, then closes with nothing missing.
            status = await handle.query(ReviewWorkflow.status)
            assert [(p.phase, p.state) for p in status.phases][-1] == ("toy_check_in", "done")
            await tasks.submit_self_review(client, db_url, c, SelfReviewSubmission(k, ratings(2)))
            await tasks.submit_manager_score(client, db_url, c, k, ManagerScoreSubmission(m, ratings(3)))
            await tasks.submit_survey(client, db_url, c, k, SurveySubmission(contact, 5, 9))
            result = await handle.result()
            await maybe_record_history(client, review_workflow_id(review), "review_submit_task")
            # Scored as its definition says: the mean of the stored ratings (2 and 2 on 1..4) mapped onto the rating
            # scale, with the weight the cycle gives it.
            async with await psycopg.AsyncConnection.connect(libpq_url(db_url)) as conn:
                _, _, _, scored = await score_review(conn, await people.cycle_config(conn, c), review)
            lines = [x for x in scored.lines if x.component == "toy_check_in"]
            assert len(lines) == 1, (scored.missing, scored.notes)
            assert (lines[0].actual, lines[0].label) == (2, "check-in / 面谈记录")
            assert scored.component_weights_pct["toy_check_in"] > 0
    assert not [m for m in result["missing"] if m.startswith(("toy_check_in", "self_review", "manager_scoring"))]
    assert rows(db_url, "SELECT status FROM review WHERE id = %s", review) == [("closed",)]


async def test_a_registry_phase_reopened_in_calibration_is_resubmitted_and_rescored(client, db_url, db_admin_url,
                                                                                      task_queue):
    """The review has closed into calibration: HR's reopen of the check-in goes to the review's reopen workflow (as the
    first phases' do), the reviewer resubmits through the same service, the review is rescored with the new answers,
    and calibration finalizes once nothing is outstanding. A draft of the check-in is its reviewer's own."""
    org = seed_org(db_url, kams=1, managers=1, contacts_per_kam=1)
    c = f"PQ{uuid.uuid4().hex[:8]}"
    k, m, contact = "K01", org["manager_of"]["K01"], org["contacts"]["K01"][0]
    review = review_id_for(c, k)
    task = f"{review}:toy_check_in"
    with check_in_phase(db_admin_url):
        async with running_worker(client, db_url, task_queue):
            await start_with_check_in(client, db_url, task_queue, c, weight=10)
            await eventually(lambda: review_started(client, c, k))
            async with await psycopg.AsyncConnection.connect(libpq_url(db_url), autocommit=True) as conn:
                await drafts.save_draft(conn, review, "toy_check_in", m, {"clarity": 2})
                assert (await drafts.get_draft(conn, review, "toy_check_in", m)).body == {"clarity": 2}
                assert await drafts.get_draft(conn, review, "toy_check_in", k) is None  # someone else's: none
            low = TaskSubmission("toy_check_in", m, {"clarity": 1, "follow_up": 1})
            await tasks.submit_task(client, db_url, c, k, low)
            async with await psycopg.AsyncConnection.connect(libpq_url(db_url), autocommit=True) as conn:
                with pytest.raises(Conflict, match="already submitted, so a draft can no longer be saved"):
                    await drafts.save_draft(conn, review, "toy_check_in", m, {"clarity": 3})
            await tasks.submit_self_review(client, db_url, c, SelfReviewSubmission(k, ratings(2)))
            await tasks.submit_manager_score(client, db_url, c, k, ManagerScoreSubmission(m, ratings(3)))
            await tasks.submit_survey(client, db_url, c, k, SurveySubmission(contact, 5, 9))
            await eventually(lambda: cycle_phase_is(client, c, "calibration"))
            (before,) = rows(db_url, "SELECT preliminary_score FROM review WHERE id = %s", review)[0]

            assert await reopen.reopen_task(client, db_url, c, k, "toy_check_in", actor_id="HR1",
                                            reason="the check-in was recorded for the wrong quarter") == 2
            assert rows(db_url, "SELECT status, version FROM task WHERE id = %s", task) == [("open", 2)]
            with pytest.raises(Rejected, match="may not submit the check-in"):
                await tasks.submit_task(client, db_url, c, k, dataclasses.replace(low, actor_id=k))
            high = TaskSubmission("toy_check_in", m, {"clarity": 4, "follow_up": 4}, {"follow_up": "agreed"})
            receipt = await tasks.submit_task(client, db_url, c, k, high)
            assert await tasks.submit_task(client, db_url, c, k, high) == receipt  # the same again: its receipt
            stored = "SELECT item_id, rating, comment FROM toy_check_in_answer WHERE review_id = %s ORDER BY 1"
            assert rows(db_url, stored, review) == [("clarity", 4, None), ("follow_up", 4, "agreed")]

            async def rescored() -> bool:
                return count(db_url, "SELECT count(*) FROM audit_log WHERE event_key = %s",
                             f"review.rescored:{task}:2") == 1

            await eventually(rescored, timeout=30)
            (after,) = rows(db_url, "SELECT preliminary_score FROM review WHERE id = %s", review)[0]
            assert after > before  # the check-in's 4s instead of its 1s
            assert rows(db_url, "SELECT preliminary_score FROM calibrated_rating WHERE review_id = %s", review) == [
                (after,)]
            await client.get_workflow_handle(reopened_workflow_id(review)).result()
            await maybe_record_history(client, reopened_workflow_id(review), "reopened_review_submit_task")
            await finalize_calibration(client, db_url, c, "HR1")


# The CLI in its own process, with the toy phase registered there too (as a real phase is, in PHASE_DEFINITIONS).
CLI_WITH_CHECK_IN = ("-c", "from domain.phases import registered; from tests.test_phase_registry import CHECK_IN; "
                           "registered(CHECK_IN).__enter__(); from cli.app import run; run()")


async def test_the_cli_submits_a_registry_phase_with_the_exit_code_of_each_refusal(client, db_url, db_admin_url,
                                                                                   task_queue, tmp_path):
    from tests.test_cli import cli_env, run_cli

    org = seed_org(db_url, kams=1, managers=1, contacts_per_kam=1)
    c = f"PC{uuid.uuid4().hex[:8]}"
    k, m = "K01", org["manager_of"]["K01"]
    env = cli_env(db_url, client, task_queue, tmp_path, KAMREVIEW_ACTOR=m)

    async def cli(*args: str):  # in a thread: the worker runs on this test's event loop
        return await asyncio.to_thread(run_cli, env, tmp_path, "submit", "task", *args, entry=CLI_WITH_CHECK_IN)

    with check_in_phase(db_admin_url):
        async with running_worker(client, db_url, task_queue):
            await start_with_check_in(client, db_url, task_queue, c)
            await eventually(lambda: review_started(client, c, k))
            unknown = await cli(c, k, "--phase", "no_such_phase", "--ratings", "clarity=3")
            assert unknown.returncode == 3 and "there is no phase 'no_such_phase' to submit" in unknown.stderr
            typo = await cli(c, k, "--phase", "toy_check_in", "--ratings", "clarity=three")
            assert typo.returncode == 2 and "clarity must be a whole number" in typo.stderr
            off = await cli(c, k, "--phase", "toy_check_in", "--ratings", "clarity=9,follow_up=2")
            assert off.returncode == 2, off.stderr
            assert "rating for “Were the goals for next quarter made clear?” is 9; the scale is 1 to 4" in off.stderr
            other = await cli(c, k, "--phase", "toy_check_in", "--ratings", "clarity=3,follow_up=2", "--actor", k)
            assert other.returncode == 2 and f"{k} may not submit the check-in of {k}" in other.stderr
            nobody = await cli(c, "K99", "--phase", "toy_check_in", "--ratings", "clarity=3,follow_up=2")
            assert nobody.returncode == 3, nobody.stderr

            done = await cli(c, k, "--phase", "toy_check_in", "--ratings", "clarity=3,follow_up=2",
                             "--comment", "clarity=goals for Q4 agreed")
            assert done.returncode == 0, done.stderr
            assert done.stdout.startswith(f"accepted: task {review_id_for(c, k)}:toy_check_in at ")
            assert rows(db_url, "SELECT item_id, rating, comment, scored_by FROM toy_check_in_answer "
                        "WHERE review_id = %s ORDER BY 1", review_id_for(c, k)) == [
                ("clarity", 3, "goals for Q4 agreed", m), ("follow_up", 2, None, m)]
            again = await cli(c, k, "--phase", "toy_check_in", "--ratings", "clarity=1,follow_up=1")
            assert again.returncode == 4 and "already submitted" in again.stderr


async def _some(found: list) -> bool:
    return bool(found)


async def _task_version_open(db_url: str, task: str) -> bool:
    return rows(db_url, "SELECT status, version FROM task WHERE id = %s", task) == [("open", 2)]


async def test_a_reopen_of_what_cannot_be_reopened_names_the_phases_that_can_in_both_languages() -> None:
    with registered(CHECK_IN):
        with pytest.raises(Rejected) as refused:  # refused before anything is read
            await reopen.reopen_task(None, "postgresql://unused/unused", "C1", "K01", "peer_feedback", actor_id="HR1",
                                     reason="x")
        assert str(refused.value) == ("there is no task 'peer_feedback' to reopen; choose self_review (self-review), "
                                      "manager_scoring (manager scoring), customer_survey (customer survey), "
                                      "toy_check_in (check-in)")
        assert refused.value.text is not None
        assert refused.value.text.render(gettext_for("zh-CN"), str, "zh-CN").endswith(
            "请选择 self_review（自评）、manager_scoring（经理评分）、customer_survey（客户满意度调查）、toy_check_in（面谈记录）")


def test_a_cycle_adds_only_phases_the_registry_defines_for_the_generic_form() -> None:
    data = cycle_config("C1").model_dump(mode="json")
    block = {"due_after": "7d", "reminders_before": [], "on_deadline": {"action": "close"}}
    with pytest.raises(ValueError, match="is not a phase defined in the registry"):
        CycleConfig.model_validate(data | {"added_phases": {"toy_check_in": block}})  # not registered
    with pytest.raises(ValueError, match="is not a phase defined in the registry"):
        CycleConfig.model_validate(data | {"added_phases": {"self_review": block}})  # has its own block and Update
    with registered(CHECK_IN):
        config = CycleConfig.model_validate(data | {"added_phases": {"toy_check_in": block}})
    assert [name for name, _ in phase_configs(config)][-1] == "toy_check_in"
    assert "toy_check_in" not in [name for name, _ in phase_configs(CycleConfig.model_validate(data))]


def test_a_scored_phase_needs_its_min_answers_then_maps_its_mean_onto_the_rating_scale() -> None:
    data = cycle_config("C1").model_dump(mode="json")
    weights = data["scorecard"]["component_weights"]
    data["scorecard"]["component_weights"] = weights | {"kpis": int(weights["kpis"]) - 20, "phases": {"toy_check_in": 20}}
    block = {"due_after": "7d", "reminders_before": [], "on_deadline": {"action": "close"}}
    twice = dataclasses.replace(CHECK_IN, min_answers=2)
    with registered(twice):
        config = CycleConfig.model_validate(data | {"added_phases": {"toy_check_in": block}})
        card = config.scorecard
        one = preliminary_score(card, ReviewInputs(phase_answers={"toy_check_in": ({"clarity": 4, "follow_up": 4},)}))
        assert "toy_check_in" in one.missing and "toy_check_in" not in one.component_scores
        two = preliminary_score(card, ReviewInputs(phase_answers={"toy_check_in": (
            {"clarity": 4, "follow_up": 4}, {"clarity": 1, "follow_up": 1})}))
    (line,) = [x for x in two.lines if x.component == "toy_check_in"]
    scale = card.rating_scale
    assert line.actual == Decimal("2.5")  # the two answer sets' means, averaged
    assert line.item_score == scale.min + (Decimal("2.5") - 1) / 3 * (scale.max - scale.min)
    with pytest.raises(ValueError, match="no added_phases block"):
        CycleConfig.model_validate(data)  # weighed, but not in the cycle
