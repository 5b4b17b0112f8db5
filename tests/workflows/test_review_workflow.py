"""ReviewWorkflow alone, with stand-in activities: reminders, deadlines and extensions in months of
workflow time that pass in milliseconds (tests/test_deadlines.py runs the real activities in seconds)."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import pytest
from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowFailureError, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from tests.workflows.support import refusal, started, time_skipped
from workflows.common import LOCAL_ATTEMPTS, reject
from workflows.payloads import (
    CUSTOMER_SURVEY,
    MANAGER_SCORING,
    PHASES,
    SELF_REVIEW,
    CloseReviewInput,
    ContactRef,
    ManagerScoreSubmission,
    PhaseEvent,
    PhasePlan,
    Recipient,
    ReviewInput,
    ReviewResult,
    ReviewRules,
    SelfReviewSubmission,
    SubmissionRecord,
    SurveySubmission,
)
from workflows.review import ReviewWorkflow

DAY = 86400.0
RULES = ReviewRules(competency_ids=["communication", "coordination"], competency_min=1, competency_max=3,
                    kpi_ids=["revenue"])
RATINGS = {"communication": 2, "coordination": 3}
REVIEW_ID = "C1:E1"


class StandIns:
    """The review's activities by their real names and payload types, recording what they were asked."""

    def __init__(self) -> None:
        self.events: list[tuple[datetime, PhaseEvent]] = []  # with the server's (skipped) time it ran at
        self.env: WorkflowEnvironment | None = None
        self.submissions: list[SubmissionRecord] = []
        self.closes: list[CloseReviewInput] = []

    @activity.defn(name="record_submission")
    async def record_submission(self, rec: SubmissionRecord) -> None:
        self.submissions.append(rec)

    @activity.defn(name="record_phase_event")
    async def record_phase_event(self, ev: PhaseEvent) -> None:
        # A local activity's scheduled_time is the worker's wall clock; the test server's clock stands still while
        # the workflow task that runs it is outstanding, so its current time is the moment the workflow acted.
        assert self.env is not None
        self.events.append((await self.env.get_current_time(), ev))

    @activity.defn(name="close_review")
    async def close_review(self, inp: CloseReviewInput) -> ReviewResult:
        self.closes.append(inp)
        return ReviewResult(inp.review_id, None, list(inp.missing))

    def worker(self, env: WorkflowEnvironment, task_queue: str, **options: object) -> Worker:
        self.env = env
        return Worker(env.client, task_queue=task_queue, workflows=[ReviewWorkflow],
                      activities=[self.record_submission, self.record_phase_event, self.close_review],
                      **options)

    def timeline(self, phase: str) -> list[tuple[str, int]]:
        return [(ev.event, ev.number) for _, ev in self.events if ev.phase == phase]

    def times(self, phase: str) -> list[datetime]:
        return [at for at, ev in self.events if ev.phase == phase]


def _review(start: datetime, **plans: PhasePlan) -> ReviewInput:
    """Employee E1, reviewer M1, contacts CA and CB; each phase due in 90 days and closed then unless given."""
    phases = [plans.get(p) or PhasePlan(p, start + timedelta(days=90), [], "close") for p in PHASES]
    return ReviewInput("C1", REVIEW_ID, "E1", "M1", [ContactRef("CA", "A1"), ContactRef("CB", "A1")], RULES, phases)


def _near(actual: datetime, expected: datetime) -> bool:
    """Workflow time, give or take the few milliseconds a workflow task takes on a real clock."""
    return abs(actual - expected) < timedelta(seconds=1)


def _all_near(actual: list[datetime], expected: list[datetime]) -> bool:
    return len(actual) == len(expected) and all(map(_near, actual, expected))


async def _submit_all_but_self_review(handle) -> None:
    await handle.execute_update(ReviewWorkflow.submit_manager_score, ManagerScoreSubmission("M1", RATINGS))
    await handle.execute_update(ReviewWorkflow.submit_survey, SurveySubmission("CA", 4))
    await handle.execute_update(ReviewWorkflow.submit_survey, SurveySubmission("CB", 5))


async def test_reminders_go_out_at_the_declared_offsets_and_the_phases_close_at_the_deadline(ts_env, task_queue):
    acts = StandIns()
    start = await ts_env.get_current_time()
    due = start + timedelta(days=90)
    plans = {p: PhasePlan(p, due, [3 * DAY, 7 * DAY, 1 * DAY], "close") for p in PHASES}  # in any order
    async with acts.worker(ts_env, task_queue), started(
            ts_env.client, ReviewWorkflow.run, _review(start, **plans), task_queue) as handle:
        with time_skipped():
            result = await handle.result()

    moments = [due - timedelta(days=7), due - timedelta(days=3), due - timedelta(days=1), due]
    for phase in PHASES:
        assert acts.timeline(phase) == [("reminder", 1), ("reminder", 2), ("reminder", 3), ("closed", 1)]
        assert _all_near(acts.times(phase), moments), (phase, acts.times(phase))
    recipients = {ev.phase: ev.recipients for _, ev in acts.events if ev.event == "reminder"}
    assert recipients == {
        SELF_REVIEW: [Recipient("employee", "E1", f"{REVIEW_ID}:self_review")],
        MANAGER_SCORING: [Recipient("employee", "M1", f"{REVIEW_ID}:manager_scoring")],
        CUSTOMER_SURVEY: [Recipient("contact", "CA", f"{REVIEW_ID}:customer_survey:CA"),
                          Recipient("contact", "CB", f"{REVIEW_ID}:customer_survey:CB")],
    }
    assert all(ev.due_at == due for _, ev in acts.events)
    missing = ["self_review", "manager_scoring", "customer_survey:CA", "customer_survey:CB"]
    [close] = acts.closes
    assert close.missing == missing and _near(close.closed_at, due)
    assert result == ReviewResult(REVIEW_ID, None, missing)


async def test_a_phase_closed_at_its_deadline_keeps_what_was_submitted_and_refuses_the_rest(ts_env, task_queue):
    acts = StandIns()
    start = await ts_env.get_current_time()
    survey_due = start + timedelta(days=10)
    plans = {CUSTOMER_SURVEY: PhasePlan(CUSTOMER_SURVEY, survey_due, [], "close")}
    async with acts.worker(ts_env, task_queue), started(
            ts_env.client, ReviewWorkflow.run, _review(start, **plans), task_queue) as handle:
        await handle.execute_update(ReviewWorkflow.submit_self_review, SelfReviewSubmission("E1", RATINGS))
        await handle.execute_update(ReviewWorkflow.submit_survey, SurveySubmission("CA", 4))
        with time_skipped():
            await ts_env.sleep(timedelta(days=11))
        status = await handle.query(ReviewWorkflow.status)
        assert {p.phase: p.state for p in status.phases} == {
            SELF_REVIEW: "done", MANAGER_SCORING: "open", CUSTOMER_SURVEY: "closed"}
        assert "closed" in await refusal(
            handle.execute_update(ReviewWorkflow.submit_survey, SurveySubmission("CB", 5)))
        await handle.execute_update(ReviewWorkflow.submit_manager_score, ManagerScoreSubmission("M1", RATINGS))
        result = await handle.result()

    assert acts.timeline(CUSTOMER_SURVEY) == [("closed", 1)]
    assert _all_near(acts.times(CUSTOMER_SURVEY), [survey_due])
    [(_, closing)] = acts.events
    assert closing.recipients == [Recipient("contact", "CB", f"{REVIEW_ID}:customer_survey:CB")]  # who missed it
    assert [s.phase for s in acts.submissions] == [SELF_REVIEW, CUSTOMER_SURVEY, MANAGER_SCORING]
    [close] = acts.closes
    assert close.missing == ["customer_survey:CB"]
    assert _near(close.closed_at, start + timedelta(days=11))  # right after the last submission
    assert result.missing == ["customer_survey:CB"]


async def test_an_extending_deadline_reminds_again_before_each_new_deadline_then_closes(ts_env, task_queue):
    acts = StandIns()
    start = await ts_env.get_current_time()
    due = start + timedelta(days=30)
    plans = {SELF_REVIEW: PhasePlan(SELF_REVIEW, due, [DAY], "extend", extend_by_s=7 * DAY, max_extensions=2)}
    async with acts.worker(ts_env, task_queue), started(
            ts_env.client, ReviewWorkflow.run, _review(start, **plans), task_queue) as handle:
        await _submit_all_but_self_review(handle)
        with time_skipped():
            result = await handle.result()
        status = await handle.query(ReviewWorkflow.status)

    assert acts.timeline(SELF_REVIEW) == [
        ("reminder", 1), ("extended", 1), ("reminder", 2), ("extended", 2), ("reminder", 3), ("closed", 1)]
    days = [29, 30, 36, 37, 43, 44]
    assert _all_near(acts.times(SELF_REVIEW), [start + timedelta(days=d) for d in days])
    # Each event carries the deadline in force after it: the reminders and the closing name the extended one.
    assert [ev.due_at for _, ev in acts.events] == [due + timedelta(days=d) for d in (0, 7, 7, 14, 14, 14)]
    self_review = next(p for p in status.phases if p.phase == SELF_REVIEW)
    assert (self_review.state, self_review.extensions, self_review.due_at) == ("closed", 2, due + timedelta(days=14))
    assert result.missing == [SELF_REVIEW]
    assert _near(acts.closes[0].closed_at, due + timedelta(days=14))


async def test_a_submission_in_the_grace_period_of_an_extension_counts(ts_env, task_queue):
    acts = StandIns()
    start = await ts_env.get_current_time()
    due = start + timedelta(days=30)
    plans = {SELF_REVIEW: PhasePlan(SELF_REVIEW, due, [], "extend", extend_by_s=7 * DAY, max_extensions=1)}
    async with acts.worker(ts_env, task_queue), started(
            ts_env.client, ReviewWorkflow.run, _review(start, **plans), task_queue) as handle:
        await _submit_all_but_self_review(handle)
        await ts_env.sleep(timedelta(days=31))
        status = await handle.query(ReviewWorkflow.status)
        self_review = next(p for p in status.phases if p.phase == SELF_REVIEW)
        assert (self_review.state, self_review.extensions, self_review.outstanding) == ("open", 1, ["E1"])
        await handle.execute_update(ReviewWorkflow.submit_self_review, SelfReviewSubmission("E1", RATINGS))
        result = await handle.result()

    assert acts.timeline(SELF_REVIEW) == [("extended", 1)]
    assert result.missing == []
    assert _near(acts.closes[0].closed_at, start + timedelta(days=31))


async def test_a_late_alarm_after_a_worker_outage_sends_only_the_latest_reminder_once(ts_env, task_queue):
    """The worker is down over two reminders; when it is back, one reminder goes out, not two.

    The test server's clock stands still while a workflow task waits for a worker, so the outage
    (and only it) passes in real time: about 1.5 s.
    """
    acts = StandIns()
    start = await ts_env.get_current_time()
    due = start + timedelta(days=90)
    plans = {SELF_REVIEW: PhasePlan(SELF_REVIEW, due, [10 * DAY, 3, 2], "close")}
    # No cached workflows: no sticky task queue pointing at the stopped worker after the outage.
    async with started(ts_env.client, ReviewWorkflow.run, _review(start, **plans), task_queue) as handle:
        async with acts.worker(ts_env, task_queue, max_cached_workflows=0):
            await _submit_all_but_self_review(handle)
            await ts_env.sleep(due - timedelta(seconds=3.5) - await ts_env.get_current_time())
        # The worker is down: the 3 s reminder rings at due - 3 s, then the clock runs in real time.
        await ts_env.sleep(timedelta(seconds=2))
        async with acts.worker(ts_env, task_queue, max_cached_workflows=0):
            result = await handle.result()

    assert acts.timeline(SELF_REVIEW) == [("reminder", 1), ("reminder", 2), ("closed", 1)]
    first, late, closed = acts.times(SELF_REVIEW)
    assert _near(first, due - timedelta(days=10)) and _near(closed, due)
    assert due - timedelta(seconds=2) < late < due, "the worker came back after the deadline (machine too busy?)"
    assert result.missing == [SELF_REVIEW]


async def test_the_review_closes_right_after_the_last_submission(ts_env, task_queue):
    acts = StandIns()
    start = await ts_env.get_current_time()
    plans = {p: PhasePlan(p, start + timedelta(days=90), [7 * DAY], "close") for p in PHASES}
    async with acts.worker(ts_env, task_queue), started(
            ts_env.client, ReviewWorkflow.run, _review(start, **plans), task_queue) as handle:
        with time_skipped():
            await handle.execute_update(ReviewWorkflow.submit_self_review, SelfReviewSubmission("E1", RATINGS))
            await _submit_all_but_self_review(handle)
            result = await handle.result()

    assert acts.events == []  # no reminder, no deadline: nothing was outstanding
    assert [s.task_id for s in acts.submissions] == [
        f"{REVIEW_ID}:self_review", f"{REVIEW_ID}:manager_scoring",
        f"{REVIEW_ID}:customer_survey:CA", f"{REVIEW_ID}:customer_survey:CB"]
    [close] = acts.closes
    assert close.missing == [] and _near(close.closed_at, start)
    assert result == ReviewResult(REVIEW_ID, None, [])


async def test_submissions_are_checked_before_anything_is_recorded(ts_env, task_queue):
    acts = StandIns()
    start = await ts_env.get_current_time()
    async with acts.worker(ts_env, task_queue), started(
            ts_env.client, ReviewWorkflow.run, _review(start), task_queue) as handle:
        submit_self = ReviewWorkflow.submit_self_review
        submit_score = ReviewWorkflow.submit_manager_score
        submit_survey = ReviewWorkflow.submit_survey
        assert "may not" in await refusal(handle.execute_update(submit_self, SelfReviewSubmission("M1", RATINGS)))
        assert "may not" in await refusal(handle.execute_update(submit_score, ManagerScoreSubmission("E1", RATINGS)))
        assert "the scale is 1 to 3" in await refusal(handle.execute_update(
            submit_score, ManagerScoreSubmission("M1", {"communication": 4, "coordination": 2})))
        assert "missing rating for coordination" in await refusal(handle.execute_update(
            submit_self, SelfReviewSubmission("E1", {"communication": 2})))
        assert "potential" in await refusal(handle.execute_update(
            submit_score, ManagerScoreSubmission("M1", RATINGS, potential=7)))
        assert "not invited" in await refusal(handle.execute_update(submit_survey, SurveySubmission("CZ", 4)))
        assert "satisfaction" in await refusal(handle.execute_update(submit_survey, SurveySubmission("CA", 6)))
        assert "likelihood to recommend" in await refusal(handle.execute_update(
            submit_survey, SurveySubmission("CA", 4, nps=11)))
        assert acts.submissions == []

        await handle.execute_update(submit_self, SelfReviewSubmission("E1", RATINGS))
        changed = SelfReviewSubmission("E1", {"communication": 1, "coordination": 1})
        assert "already submitted" in await refusal(handle.execute_update(submit_self, changed))
        assert [s.ratings for s in acts.submissions] == [RATINGS]  # the first one stays


async def test_a_true_rating_sent_to_the_workflow_is_refused(ts_env, task_queue):
    """The converter is lax: JSON true arrived as 1 before any validator ran; the payload's levels are strict now."""
    acts = StandIns()
    start = await ts_env.get_current_time()
    async with acts.worker(ts_env, task_queue), started(
            ts_env.client, ReviewWorkflow.run, _review(start), task_queue) as handle:
        with pytest.raises(WorkflowUpdateFailedError):
            await handle.execute_update(ReviewWorkflow.submit_self_review, SelfReviewSubmission(
                "E1", {"communication": True, "coordination": 2}))
    assert acts.submissions == []


class FlakyStandIns(StandIns):
    """The review's close fails its first ``failures`` attempts (the database away), or refuses every time."""

    def __init__(self, failures: int = 0, refuse: bool = False) -> None:
        super().__init__()
        self.failures, self.refuse = failures, refuse
        self.attempts: list[bool] = []  # is_local, per attempt

    @activity.defn(name="close_review")
    async def close_review(self, inp: CloseReviewInput) -> ReviewResult:
        self.attempts.append(activity.info().is_local)
        if self.refuse:
            raise reject("the stored review says no")
        if len(self.attempts) <= self.failures:
            raise RuntimeError("connection refused")
        return await super().close_review(inp)


async def _event_types(handle) -> Counter[str]:
    history = await handle.fetch_history()
    return Counter(EventType.Name(e.event_type).removeprefix("EVENT_TYPE_") for e in history.events)


async def _run_to_close(acts: StandIns, ts_env, task_queue) -> tuple[Any, Counter[str]]:
    start = await ts_env.get_current_time()
    async with acts.worker(ts_env, task_queue), started(
            ts_env.client, ReviewWorkflow.run, _review(start), task_queue) as handle:
        await handle.execute_update(ReviewWorkflow.submit_self_review, SelfReviewSubmission("E1", RATINGS))
        await _submit_all_but_self_review(handle)
        try:
            await handle.result()
        except WorkflowFailureError as err:
            return err, await _event_types(handle)
        return None, await _event_types(handle)


async def test_the_review_s_own_writes_are_local_its_submissions_ordinary(ts_env, task_queue):
    """The close is one marker in the review's history; a submission's write is an ordinary activity, scheduled only
    once the Update's acceptance is in history (a local one would write before it, test_answers_true's race)."""
    acts = StandIns()
    failure, kinds = await _run_to_close(acts, ts_env, task_queue)
    assert failure is None
    assert kinds["ACTIVITY_TASK_SCHEDULED"] == 4  # the four submissions
    assert kinds["MARKER_RECORDED"] == 1 + 1  # the patch, the close
    assert len(acts.submissions) == 4 and len(acts.closes) == 1


async def test_a_write_still_failing_locally_moves_to_an_ordinary_activity(ts_env, task_queue):
    acts = FlakyStandIns(failures=LOCAL_ATTEMPTS)
    failure, kinds = await _run_to_close(acts, ts_env, task_queue)
    assert failure is None
    assert acts.attempts == [True] * LOCAL_ATTEMPTS + [False]
    assert len(acts.closes) == 1 and kinds["ACTIVITY_TASK_COMPLETED"] == 4 + 1


async def test_a_refused_local_write_is_refused_once(ts_env, task_queue):
    acts = FlakyStandIns(refuse=True)
    failure, _ = await _run_to_close(acts, ts_env, task_queue)
    assert failure is not None and "says no" in str(failure.cause)
    assert acts.attempts == [True]  # not retried, not handed to an ordinary activity
