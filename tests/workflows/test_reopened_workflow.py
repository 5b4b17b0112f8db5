"""ReopenedReviewWorkflow alone, with stand-in activities: a closed review's reopened tasks, their own deadlines
(days of workflow time in milliseconds), the rescore when each settles, the checks, and a refused reopen
(tests/test_reopen_calibration.py runs the real activities)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from tests.workflows.support import refusal, started, time_skipped
from workflows.common import conflict
from workflows.payloads import (
    ManagerScoreSubmission,
    ReopenedReviewInput,
    ReopenRecord,
    ReopenTask,
    RescoreInput,
    RescoreResult,
    ReviewRules,
    SelfReviewSubmission,
    SubmissionRecord,
    SurveySubmission,
)
from workflows.reopened import ReopenedReviewWorkflow

RULES = ReviewRules(competency_ids=["communication", "coordination"], competency_min=1, competency_max=3,
                    kpi_ids=["revenue"])
RATINGS = {"communication": 2, "coordination": 3}
REVIEW_ID = "C1:E1"


class StandIns:
    """The reopen workflow's activities by their real names, recording what they were asked."""

    def __init__(self, refuse_reopen: bool = False) -> None:
        self.refuse_reopen = refuse_reopen
        self.reopens: list[ReopenRecord] = []
        self.submissions: list[SubmissionRecord] = []
        self.rescores: list[RescoreInput] = []

    @activity.defn(name="reopen_closed_task")
    async def reopen_closed_task(self, rec: ReopenRecord) -> None:
        if self.refuse_reopen:
            raise conflict("calibration of cycle C1 is finalized; submissions can no longer be reopened")
        self.reopens.append(rec)

    @activity.defn(name="record_submission")
    async def record_submission(self, rec: SubmissionRecord) -> None:
        self.submissions.append(rec)

    @activity.defn(name="rescore_reopened")
    async def rescore_reopened(self, inp: RescoreInput) -> RescoreResult:
        self.rescores.append(inp)
        return RescoreResult(inp.review_id, "2.5", 3, 3)

    def worker(self, env: WorkflowEnvironment, task_queue: str) -> Worker:
        return Worker(env.client, task_queue=task_queue, workflows=[ReopenedReviewWorkflow],
                      activities=[self.reopen_closed_task, self.record_submission, self.rescore_reopened])


def _input() -> ReopenedReviewInput:
    return ReopenedReviewInput("C1", REVIEW_ID, "E1", "M1", ["CA", "CB"], RULES,
                               {"self_review": 1, "manager_scoring": 2, "CA": 1, "CB": 1})


async def test_resubmitted_and_kept_tasks_are_each_rescored_then_the_run_ends(ts_env, task_queue):
    stand_ins = StandIns()
    async with stand_ins.worker(ts_env, task_queue), started(
            ts_env.client, ReopenedReviewWorkflow.run, _input(), task_queue) as handle:
        now = await ts_env.get_current_time()
        # The manager score was reopened once already while the review ran: this reopen awaits version 3.
        assert await handle.execute_update(ReopenedReviewWorkflow.reopen_task, ReopenTask(
            "HR1", "manager_scoring", "wrong figures", now + timedelta(days=3))) == 3
        assert await handle.execute_update(ReopenedReviewWorkflow.reopen_task, ReopenTask(
            "HR1", "customer_survey", "wrong account", now + timedelta(days=1), "CA")) == 2
        assert "already reopened" in await refusal(handle.execute_update(
            ReopenedReviewWorkflow.reopen_task, ReopenTask("HR2", "manager_scoring", "again", now + timedelta(days=3))))
        # Who and what are checked as in the review workflow; only a reopened task takes a submission.
        assert "may not submit the manager scoring" in await refusal(handle.execute_update(
            ReopenedReviewWorkflow.submit_manager_score, ManagerScoreSubmission("E1", RATINGS)))
        assert "closed" in await refusal(handle.execute_update(
            ReopenedReviewWorkflow.submit_self_review, SelfReviewSubmission("E1", RATINGS)))
        assert "not invited" in await refusal(handle.execute_update(
            ReopenedReviewWorkflow.submit_survey, SurveySubmission("CX", 4)))
        receipt = await handle.execute_update(ReopenedReviewWorkflow.submit_manager_score,
                                              ManagerScoreSubmission("M1", RATINGS))
        assert receipt.task_id == "C1:E1:manager_scoring" and stand_ins.submissions[-1].version == 3
        assert "already submitted" in await refusal(handle.execute_update(
            ReopenedReviewWorkflow.submit_manager_score, ManagerScoreSubmission("M1", {**RATINGS, "coordination": 1})))
        # CA's deadline passes without an answer: the earlier one stands, and the review is rescored for it.
        with time_skipped():
            assert len(await handle.result()) == 2
    settled = [[(s.task_id, s.version, s.resubmitted) for s in r.settled] for r in stand_ins.rescores]
    assert settled == [[("C1:E1:manager_scoring", 3, True)], [("C1:E1:customer_survey:CA", 2, False)]]
    assert [r.version for r in stand_ins.reopens] == [3, 2]


async def test_a_reopen_the_activity_refuses_is_undone_and_the_run_ends_without_a_rescore(ts_env, task_queue):
    stand_ins = StandIns(refuse_reopen=True)
    async with stand_ins.worker(ts_env, task_queue), started(
            ts_env.client, ReopenedReviewWorkflow.run, _input(), task_queue) as handle:
        now = await ts_env.get_current_time()
        assert "finalized" in await refusal(handle.execute_update(ReopenedReviewWorkflow.reopen_task, ReopenTask(
            "HR1", "self_review", "typo", now + timedelta(days=3))))
        assert await handle.result() == []
    assert stand_ins.rescores == []


async def test_a_reopen_is_checked_before_anything_is_recorded(ts_env, task_queue):
    stand_ins = StandIns()
    async with stand_ins.worker(ts_env, task_queue), started(
            ts_env.client, ReopenedReviewWorkflow.run, _input(), task_queue) as handle:
        now = await ts_env.get_current_time()
        for req, says in ((ReopenTask("HR1", "self_review", " ", now + timedelta(days=1)), "needs a reason"),
                          (ReopenTask("HR1", "peer", "x", now + timedelta(days=1)), "no task 'peer'"),
                          (ReopenTask("HR1", "customer_survey", "x", now + timedelta(days=1)), "needs the contact"),
                          (ReopenTask("HR1", "self_review", "x", now - timedelta(minutes=1)), "not in the future")):
            assert says in await refusal(handle.execute_update(ReopenedReviewWorkflow.reopen_task, req))
        # A run whose first reopen never comes ends by itself.
        with time_skipped():
            assert await handle.result() == []
    assert stand_ins.reopens == [] and stand_ins.rescores == []

