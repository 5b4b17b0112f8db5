"""The peer feedback phase of ReviewWorkflow with stand-in activities: nominate, approve, answer, in months of workflow
time that pass in milliseconds; an unanswered peer is simply not counted at the deadline, and never named."""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import activity
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from tests.workflows.support import refusal, started, time_skipped
from tests.workflows.test_review_workflow import RATINGS, REVIEW_ID, StandIns
from workflows.payloads import (
    PEER_FEEDBACK,
    PHASES,
    ContactRef,
    ManagerScoreSubmission,
    PeerApproval,
    PeerFeedbackPlan,
    PeerFeedbackSubmission,
    PeerNomination,
    PeerStepRecord,
    PhasePlan,
    Recipient,
    ReviewInput,
    ReviewRules,
    SelfReviewSubmission,
    SurveySubmission,
)
from workflows.review import ReviewWorkflow

DAY = 86400.0
PLAN = PeerFeedbackPlan(min_answers=3, max_peers=5, question_ids=["collaboration", "reliability"])
RULES = ReviewRules(competency_ids=["communication", "coordination"], competency_min=1, competency_max=3,
                    kpi_ids=["revenue"], peer_feedback=PLAN)
ANSWER = {"collaboration": 4, "reliability": 5}


class PeerStandIns(StandIns):
    def __init__(self) -> None:
        super().__init__()
        self.steps: list[PeerStepRecord] = []

    @activity.defn(name="record_peer_step")
    async def record_peer_step(self, rec: PeerStepRecord) -> None:
        self.steps.append(rec)

    def worker(self, env: WorkflowEnvironment, task_queue: str, **options: object) -> Worker:
        self.env = env
        return Worker(env.client, task_queue=task_queue, workflows=[ReviewWorkflow],
                      activities=[self.record_submission, self.record_phase_event, self.close_review,
                                  self.record_peer_step], **options)


def _review(start: datetime, peer_due: datetime) -> ReviewInput:
    phases = [PhasePlan(p, start + timedelta(days=90), [], "close") for p in PHASES]
    phases.append(PhasePlan(PEER_FEEDBACK, peer_due, [DAY], "close"))
    return ReviewInput("C1", REVIEW_ID, "E1", "M1", [ContactRef("CA", "A1")], RULES, phases)


async def _everything_else(handle) -> None:
    await handle.execute_update(ReviewWorkflow.submit_self_review, SelfReviewSubmission("E1", RATINGS))
    await handle.execute_update(ReviewWorkflow.submit_manager_score, ManagerScoreSubmission("M1", RATINGS))
    await handle.execute_update(ReviewWorkflow.submit_survey, SurveySubmission("CA", 4))


async def test_nominate_approve_answer_then_the_review_closes(ts_env, task_queue):
    acts = PeerStandIns()
    start = await ts_env.get_current_time()
    async with acts.worker(ts_env, task_queue), started(
            ts_env.client, ReviewWorkflow.run, _review(start, start + timedelta(days=30)), task_queue) as handle:
        await _everything_else(handle)
        # Before nomination: nothing to approve, nobody to answer.
        assert "not nominated" in await refusal(
            handle.execute_update(ReviewWorkflow.approve_peers, PeerApproval("M1", ["P1", "P2", "P3"])))
        assert "not asked" in await refusal(
            handle.execute_update(ReviewWorkflow.submit_peer_feedback, PeerFeedbackSubmission("P1", ANSWER)))
        # The nomination's own rules: only the KAM, never the KAM or the manager as a peer, within min..max.
        assert "only the employee" in await refusal(
            handle.execute_update(ReviewWorkflow.nominate_peers, PeerNomination("P1", ["P1", "P2", "P3"])))
        assert "manager" in await refusal(
            handle.execute_update(ReviewWorkflow.nominate_peers, PeerNomination("E1", ["M1", "P2", "P3"])))
        assert "at least 3" in await refusal(
            handle.execute_update(ReviewWorkflow.nominate_peers, PeerNomination("E1", ["P1", "P2"])))
        await handle.execute_update(ReviewWorkflow.nominate_peers, PeerNomination("E1", ["P1", "P2", "P3", "P4"]))
        status = await handle.query(ReviewWorkflow.status)
        [peer] = [p for p in status.phases if p.phase == PEER_FEEDBACK]
        assert (peer.state, peer.outstanding) == ("open", ["M1"])  # the reviewer's approval is awaited
        assert "may not approve" in await refusal(
            handle.execute_update(ReviewWorkflow.approve_peers, PeerApproval("E1", ["P1", "P2", "P3"])))
        assert "was not nominated" in await refusal(
            handle.execute_update(ReviewWorkflow.approve_peers, PeerApproval("M1", ["P1", "P2", "P9"])))
        await handle.execute_update(ReviewWorkflow.approve_peers, PeerApproval("M1", ["P3", "P1", "P2"]))
        assert "not asked" in await refusal(  # P4 was nominated, not approved
            handle.execute_update(ReviewWorkflow.submit_peer_feedback, PeerFeedbackSubmission("P4", ANSWER)))
        assert "missing rating" in await refusal(
            handle.execute_update(ReviewWorkflow.submit_peer_feedback, PeerFeedbackSubmission("P1", {"reliability": 3})))
        status = await handle.query(ReviewWorkflow.status)
        [peer] = [p for p in status.phases if p.phase == PEER_FEEDBACK]
        assert (peer.state, peer.outstanding) == ("open", [])  # which peers have answered is never shown
        for p in ("P1", "P2", "P3"):
            await handle.execute_update(ReviewWorkflow.submit_peer_feedback, PeerFeedbackSubmission(p, ANSWER))
        with time_skipped():
            result = await handle.result()

    assert [(s.step, s.peer_ids, s.next_assignees) for s in acts.steps] == [
        ("peer_nomination", ["P1", "P2", "P3", "P4"], ["M1"]),
        ("peer_approval", ["P1", "P2", "P3"], ["P1", "P2", "P3"])]
    peer_records = [s for s in acts.submissions if s.phase == PEER_FEEDBACK]
    assert [(s.actor_id, s.task_id, s.ratings, s.comments) for s in peer_records] == [
        (p, f"{REVIEW_ID}:peer_feedback:{p}", ANSWER, {}) for p in ("P1", "P2", "P3")]
    assert result.missing == []  # closed as soon as the last peer answered, before the deadline
    assert acts.events == []


async def test_an_unanswered_peer_is_not_counted_and_not_named_at_the_deadline(ts_env, task_queue):
    acts = PeerStandIns()
    start = await ts_env.get_current_time()
    due = start + timedelta(days=30)
    async with acts.worker(ts_env, task_queue), started(
            ts_env.client, ReviewWorkflow.run, _review(start, due), task_queue) as handle:
        await _everything_else(handle)
        await handle.execute_update(ReviewWorkflow.nominate_peers, PeerNomination("E1", ["P1", "P2", "P3"]))
        await handle.execute_update(ReviewWorkflow.approve_peers, PeerApproval("M1", ["P1", "P2", "P3"]))
        await handle.execute_update(ReviewWorkflow.submit_peer_feedback, PeerFeedbackSubmission("P2", ANSWER))
        with time_skipped():
            result = await handle.result()

    # The reminder a day before goes to the two who have not answered; the phase closes at its deadline.
    assert acts.timeline(PEER_FEEDBACK) == [("reminder", 1), ("closed", 1)]
    reminder = acts.events[0][1]
    assert reminder.recipients == [Recipient("employee", p, f"{REVIEW_ID}:peer_feedback:{p}") for p in ("P1", "P3")]
    assert result.missing == []  # unanswered peers are not missing work, and never listed
    assert abs(acts.closes[0].closed_at - due) < timedelta(seconds=1)


async def test_a_kam_who_never_nominates_is_reminded_and_the_phase_closes(ts_env, task_queue):
    acts = PeerStandIns()
    start = await ts_env.get_current_time()
    async with acts.worker(ts_env, task_queue), started(
            ts_env.client, ReviewWorkflow.run, _review(start, start + timedelta(days=10)), task_queue) as handle:
        await _everything_else(handle)
        with time_skipped():
            await handle.result()
    reminder = acts.events[0][1]
    assert reminder.recipients == [Recipient("employee", "E1", f"{REVIEW_ID}:peer_nomination")]
    assert acts.timeline(PEER_FEEDBACK) == [("reminder", 1), ("closed", 1)]


async def test_a_cycle_without_peer_feedback_refuses_a_nomination(ts_env, task_queue):
    acts = PeerStandIns()
    start = await ts_env.get_current_time()
    inp = _review(start, start + timedelta(days=10))
    inp.phases = inp.phases[:3]
    inp.rules = ReviewRules(["communication"], 1, 3, [])
    async with acts.worker(ts_env, task_queue), started(ts_env.client, ReviewWorkflow.run, inp, task_queue) as handle:
        assert "no peer feedback" in await refusal(
            handle.execute_update(ReviewWorkflow.nominate_peers, PeerNomination("E1", ["P1", "P2", "P3"])))
