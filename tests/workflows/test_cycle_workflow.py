"""CycleWorkflow and IncentiveCorrectionWorkflow alone, with stand-in activities: batches, a blocked
incentive calculation and its retry, cancellation, approval (tests/test_cycle.py runs the real ones)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from temporalio import activity
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import ApplicationError, CancelledError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from tests.helpers import eventually
from tests.workflows.support import refusal, started
from workflows.common import REJECTED, REVIEWS_STILL_OPEN
from workflows.correction import IncentiveCorrectionWorkflow
from workflows.cycle import CycleWorkflow
from workflows.payloads import (
    PHASES,
    ActorRequest,
    AdjustmentRecord,
    BeginCycleInput,
    CalibrationSummary,
    CorrectionResult,
    CycleActionInput,
    CycleInput,
    CyclePlan,
    CycleResult,
    CycleStatus,
    IncentiveSummary,
    PhasePlan,
    RatingAdjustmentRequest,
    ReviewRules,
    ReviewsClosed,
    StartBatchInput,
)

CYCLE = "Q3"
RULES = ReviewRules(competency_ids=["communication"], competency_min=1, competency_max=3, kpi_ids=["revenue"])
PHASE_PLANS = [PhasePlan(p, datetime(2026, 9, 30, tzinfo=UTC), [86400.0], "close") for p in PHASES]
MISSING_KPI = "KPI sales_attainment of K02 for 2026-Q3 is missing; import it, then retry"
LINES = 7


def _rejected(message: str) -> ApplicationError:
    """A failure retrying cannot fix, as the activities raise it."""
    return ApplicationError(message, type=REJECTED, non_retryable=True)


class StandIns:
    """The cycle's activities by their real names and payload types, recording what they were asked."""

    def __init__(self, participants: int = 12, batch_size: int = 5, incentive_refusals: tuple[str, ...] = (),
                 still_open_rounds: int = 0) -> None:
        self.participants, self.batch_size = participants, batch_size
        self.incentive_refusals = list(incentive_refusals)
        self.still_open_rounds = still_open_rounds
        self.reviews_closed = asyncio.Event()  # await_reviews_closed returns once set
        self.reviews_closed.set()
        self.begun: list[BeginCycleInput] = []
        self.batches: list[StartBatchInput] = []
        self.announced: list[str] = []
        self.wait_attempts = 0
        self.waiting = False  # an await_reviews_closed is running
        self.adjustments: list[AdjustmentRecord] = []
        self.finalized: list[CycleActionInput] = []
        self.incentive_attempts = 0
        self.locks: list[CycleActionInput] = []
        self.cancelled: list[str] = []

    @activity.defn(name="begin_cycle")
    async def begin_cycle(self, inp: BeginCycleInput) -> CyclePlan:
        self.begun.append(inp)
        return CyclePlan(inp.cycle_id, self.participants, self.batch_size, RULES, PHASE_PLANS, [1, 2, 3, 4, 5], True)

    @activity.defn(name="start_review_batch")
    async def start_review_batch(self, inp: StartBatchInput) -> int:
        self.batches.append(inp)
        return inp.seq_to - inp.seq_from

    @activity.defn(name="announce_cycle")
    async def announce_cycle(self, cycle_id: str) -> int:
        self.announced.append(cycle_id)
        return self.participants

    @activity.defn(name="await_reviews_closed")
    async def await_reviews_closed(self, cycle_id: str) -> ReviewsClosed:
        self.wait_attempts += 1
        if self.wait_attempts <= self.still_open_rounds:
            raise ApplicationError(f"reviews of {cycle_id} are still open", type=REVIEWS_STILL_OPEN)
        self.waiting = True
        try:
            while not self.reviews_closed.is_set():
                activity.heartbeat()
                await asyncio.sleep(0.02)  # raises CancelledError when the cycle is cancelled meanwhile
        finally:
            self.waiting = False
        return ReviewsClosed(self.participants, self.participants, 2)

    @activity.defn(name="open_calibration")
    async def open_calibration(self, cycle_id: str) -> CalibrationSummary:
        return CalibrationSummary(self.participants, True, [])

    @activity.defn(name="adjust_rating")
    async def adjust_rating(self, rec: AdjustmentRecord) -> None:
        self.adjustments.append(rec)

    @activity.defn(name="finalize_calibration")
    async def finalize_calibration(self, inp: CycleActionInput) -> CalibrationSummary:
        self.finalized.append(inp)
        return CalibrationSummary(self.participants, True, [])

    @activity.defn(name="compute_incentives")
    async def compute_incentives(self, cycle_id: str) -> IncentiveSummary:
        self.incentive_attempts += 1
        if self.incentive_refusals:
            raise _rejected(self.incentive_refusals.pop(0))
        return IncentiveSummary(LINES, {"CNY": "84000.0000"}, new_lines=LINES, revision=1)

    @activity.defn(name="lock_payouts")
    async def lock_payouts(self, inp: CycleActionInput) -> int:
        self.locks.append(inp)
        return LINES

    @activity.defn(name="cancel_cycle")
    async def cancel_cycle(self, cycle_id: str) -> int:
        self.cancelled.append(cycle_id)
        # The cycle does not wait for its cancelled wait to end. Let that end first: an activity still
        # running when its workflow has ended holds the test server's clock still for later tests.
        for _ in range(500):
            if not self.waiting:
                break
            await asyncio.sleep(0.01)
        return self.participants

    def worker(self, env: WorkflowEnvironment, task_queue: str) -> Worker:
        return Worker(env.client, task_queue=task_queue, workflows=[CycleWorkflow, IncentiveCorrectionWorkflow],
                      activities=[self.begin_cycle, self.start_review_batch, self.announce_cycle, self.await_reviews_closed,
                                  self.open_calibration, self.adjust_rating, self.finalize_calibration,
                                  self.compute_incentives, self.lock_payouts, self.cancel_cycle],
                      # Heartbeats at once, so a cancelled wait learns of it in milliseconds, not 8 s.
                      max_heartbeat_throttle_interval=timedelta(milliseconds=20))


async def _status(handle: WorkflowHandle) -> CycleStatus:
    return await handle.query(CycleWorkflow.status)


async def _reaches(handle: WorkflowHandle, phase: str) -> CycleStatus:
    async def check() -> CycleStatus | None:
        status = await _status(handle)
        return status if status.phase == phase else None
    return await eventually(check, timeout=10, interval=0.02)


async def _blocked(handle: WorkflowHandle) -> CycleStatus:
    async def check() -> CycleStatus | None:
        status = await _status(handle)
        return status if status.blocked_reason else None
    return await eventually(check, timeout=10, interval=0.02)


async def _finalize(handle: WorkflowHandle) -> None:
    await _reaches(handle, "calibration")
    await handle.execute_update(CycleWorkflow.finalize_calibration, ActorRequest("HR1"))


@pytest.mark.parametrize(("participants", "batch_size", "ranges"), [
    (12, 5, [(0, 5), (5, 10), (10, 12)]),
    (10, 5, [(0, 5), (5, 10)]),
    (3, 200, [(0, 3)]),
])
async def test_reviews_are_started_in_batches_of_batch_size(ts_env, task_queue, participants, batch_size, ranges):
    acts = StandIns(participants, batch_size)
    async with acts.worker(ts_env, task_queue), started(
            ts_env.client, CycleWorkflow.run, CycleInput(CYCLE), task_queue) as handle:
        status = await _reaches(handle, "calibration")
        history = await handle.fetch_history()

    assert [(b.batch_no, b.seq_from, b.seq_to) for b in acts.batches] == [(n, *r) for n, r in enumerate(ranges)]
    assert all(b.cycle_id == CYCLE and b.rules == RULES and b.phases == PHASE_PLANS for b in acts.batches)
    assert (status.participants, status.batches_total, status.batches_done) == (participants, len(ranges), len(ranges))
    assert (status.reviews_closed, status.reviews_with_missing) == (participants, 2)
    # The reviews are not children: the cycle's history grows with its batches, not its participants.
    kinds = [e.WhichOneof("attributes") for e in history.events]
    assert not any("child_workflow" in k for k in kinds)
    # begin, the batches, one announcement to everyone once all are open, the wait, calibration
    assert kinds.count("activity_task_scheduled_event_attributes") == 1 + len(ranges) + 1 + 1 + 1
    assert acts.announced == [CYCLE]


async def test_a_wait_for_reviews_that_outlasts_its_round_is_retried_without_growing_the_history(ts_env, task_queue):
    acts = StandIns(still_open_rounds=3)
    async with acts.worker(ts_env, task_queue), started(
            ts_env.client, CycleWorkflow.run, CycleInput(CYCLE), task_queue) as handle:
        await ts_env.sleep(timedelta(seconds=10))  # skips the retries' backoff
        await _reaches(handle, "calibration")
        history = await handle.fetch_history()

    assert acts.wait_attempts == 4
    scheduled = [e.activity_task_scheduled_event_attributes.activity_type.name for e in history.events
                 if e.HasField("activity_task_scheduled_event_attributes")]
    assert scheduled.count("await_reviews_closed") == 1


async def test_calibration_then_approval_completes_the_cycle_with_its_result(ts_env, task_queue):
    acts = StandIns()
    async with acts.worker(ts_env, task_queue), started(
            ts_env.client, CycleWorkflow.run, CycleInput(CYCLE), task_queue) as handle:
        await _reaches(handle, "calibration")
        assert "cannot approve payouts" in await refusal(
            handle.execute_update(CycleWorkflow.approve_payouts, ActorRequest("PAY1")))
        assert "does not exist" in await refusal(handle.execute_update(
            CycleWorkflow.adjust_rating, RatingAdjustmentRequest("HR1", "K01", 9, "exceptional")))
        assert "needs a reason" in await refusal(handle.execute_update(
            CycleWorkflow.adjust_rating, RatingAdjustmentRequest("HR1", "K01", 4, "   ")))
        assert await handle.execute_update(
            CycleWorkflow.adjust_rating, RatingAdjustmentRequest("HR1", "K01", 4, "  strong second half ")) == 1
        await handle.execute_update(CycleWorkflow.finalize_calibration, ActorRequest("HR1"))
        status = await _reaches(handle, "awaiting_approval")
        assert (status.adjustments, status.payout_lines, status.blocked_reason) == (1, LINES, None)
        assert await handle.execute_update(CycleWorkflow.approve_payouts, ActorRequest("PAY1")) == LINES
        result = await handle.result()
        final = await _status(handle)

    assert result == CycleResult(CYCLE, 12, LINES, "PAY1")
    assert (final.phase, final.approved_by) == ("locked", "PAY1")
    [adjustment] = acts.adjustments
    assert (adjustment.cycle_id, adjustment.employee_id, adjustment.to_level, adjustment.reason,
            adjustment.actor_id) == (CYCLE, "K01", 4, "strong second half", "HR1")
    assert [(f.cycle_id, f.actor_id) for f in acts.finalized] == [(CYCLE, "HR1")]
    assert [(lock.cycle_id, lock.actor_id) for lock in acts.locks] == [(CYCLE, "PAY1")]
    assert acts.incentive_attempts == 1 and acts.cancelled == []


async def test_a_rejected_incentive_calculation_blocks_the_cycle_until_hr_retries(ts_env, task_queue):
    acts = StandIns(incentive_refusals=(MISSING_KPI,))
    async with acts.worker(ts_env, task_queue), started(
            ts_env.client, CycleWorkflow.run, CycleInput(CYCLE), task_queue) as handle:
        await _reaches(handle, "calibration")
        assert "nothing to retry" in await refusal(
            handle.execute_update(CycleWorkflow.retry_incentives, ActorRequest("HR1")))
        await handle.execute_update(CycleWorkflow.finalize_calibration, ActorRequest("HR1"))
        status = await _blocked(handle)
        assert (status.phase, status.blocked_reason) == ("incentives", MISSING_KPI)
        await ts_env.sleep(timedelta(hours=1))  # long past any retry backoff
        assert (await _status(handle)).blocked_reason == MISSING_KPI
        assert acts.incentive_attempts == 1  # refused is final: never retried on its own
        assert "cannot approve payouts" in await refusal(
            handle.execute_update(CycleWorkflow.approve_payouts, ActorRequest("PAY1")))

        assert MISSING_KPI in await handle.execute_update(CycleWorkflow.retry_incentives, ActorRequest("HR1"))
        status = await _reaches(handle, "awaiting_approval")

    assert (status.blocked_reason, status.payout_lines) == (None, LINES)
    assert acts.incentive_attempts == 2


async def test_a_cycle_blocked_again_after_a_retry_shows_the_new_reason(ts_env, task_queue):
    second = "target of K03 is missing"
    acts = StandIns(incentive_refusals=(MISSING_KPI, second))
    async with acts.worker(ts_env, task_queue), started(
            ts_env.client, CycleWorkflow.run, CycleInput(CYCLE), task_queue) as handle:
        await _finalize(handle)
        assert (await _blocked(handle)).blocked_reason == MISSING_KPI
        await handle.execute_update(CycleWorkflow.retry_incentives, ActorRequest("HR1"))

        async def blocked_again() -> bool:
            return (await _status(handle)).blocked_reason == second
        await eventually(blocked_again, timeout=10, interval=0.02)
        await handle.execute_update(CycleWorkflow.retry_incentives, ActorRequest("HR1"))
        await _reaches(handle, "awaiting_approval")

    assert acts.incentive_attempts == 3


@pytest.mark.parametrize("where", ["reviews", "calibration", "blocked"])
async def test_cancelling_the_cycle_cancels_its_reviews_and_ends_cancelled(ts_env, task_queue, where):
    acts = StandIns(incentive_refusals=(MISSING_KPI,))
    if where == "reviews":
        acts.reviews_closed.clear()  # the reviews are still open: the cycle waits in an activity
    async with acts.worker(ts_env, task_queue), started(
            ts_env.client, CycleWorkflow.run, CycleInput(CYCLE), task_queue) as handle:
        if where == "reviews":
            await eventually(lambda: _waiting_for_reviews(acts), timeout=10, interval=0.02)
        elif where == "calibration":
            await _reaches(handle, "calibration")
        else:
            await _finalize(handle)
            await _blocked(handle)
        await handle.cancel()
        with pytest.raises(WorkflowFailureError) as caught:
            await handle.result()
        description = await handle.describe()
        status = await _status(handle)

    assert isinstance(caught.value.cause, CancelledError)
    assert description.status == WorkflowExecutionStatus.CANCELED
    assert acts.cancelled == [CYCLE]
    assert status.phase == "cancelled"
    assert acts.locks == []


async def _waiting_for_reviews(acts: StandIns) -> bool:
    return acts.wait_attempts > 0 and len(acts.batches) == 3


# -- IncentiveCorrectionWorkflow ----------------------------------------------------------------


class CorrectionStandIns(StandIns):
    def __init__(self, new_lines: int, refusal: str | None = None) -> None:
        super().__init__(incentive_refusals=(refusal,) if refusal else ())
        self.new_lines = new_lines

    @activity.defn(name="compute_incentives")
    async def compute_incentives(self, cycle_id: str) -> IncentiveSummary:
        self.incentive_attempts += 1
        if self.incentive_refusals:
            raise _rejected(self.incentive_refusals.pop(0))
        return IncentiveSummary(LINES + self.new_lines, {"CNY": "84500.0000"}, new_lines=self.new_lines, revision=2)


async def test_a_correction_with_new_lines_waits_for_approval_then_locks_them(ts_env, task_queue):
    acts = CorrectionStandIns(new_lines=2)
    async with acts.worker(ts_env, task_queue), started(
            ts_env.client, IncentiveCorrectionWorkflow.run, CYCLE, task_queue) as handle:
        async def awaiting() -> bool:
            return await handle.query(IncentiveCorrectionWorkflow.status) == "awaiting_approval"
        await eventually(awaiting, timeout=10, interval=0.02)
        assert acts.locks == []
        assert await handle.execute_update(IncentiveCorrectionWorkflow.approve_payouts, ActorRequest("PAY1")) == LINES
        result = await handle.result()
        phase = await handle.query(IncentiveCorrectionWorkflow.status)

    assert result == CorrectionResult(CYCLE, 2, "PAY1")
    assert phase == "locked"
    assert [(lock.cycle_id, lock.actor_id) for lock in acts.locks] == [(CYCLE, "PAY1")]


async def test_a_correction_that_changes_nothing_ends_with_nothing_to_approve(ts_env, task_queue):
    acts = CorrectionStandIns(new_lines=0)
    async with acts.worker(ts_env, task_queue), started(
            ts_env.client, IncentiveCorrectionWorkflow.run, CYCLE, task_queue) as handle:
        result = await handle.result()
        phase = await handle.query(IncentiveCorrectionWorkflow.status)

    assert result == CorrectionResult(CYCLE, 0, None)
    assert phase == "no_change" and acts.locks == []


async def test_a_refused_correction_fails_with_the_reason_and_is_not_retried(ts_env, task_queue):
    acts = CorrectionStandIns(new_lines=2, refusal="cycle Q3 is not locked; nothing to correct")
    async with acts.worker(ts_env, task_queue), started(
            ts_env.client, IncentiveCorrectionWorkflow.run, CYCLE, task_queue) as handle:
        with pytest.raises(WorkflowFailureError) as caught:
            await handle.result()

    assert isinstance(caught.value.cause, ApplicationError)
    assert "not locked; nothing to correct" in caught.value.cause.message
    assert acts.incentive_attempts == 1 and acts.locks == []



async def test_the_announcement_is_retried_within_seconds_if_its_worker_is_lost(ts_env, task_queue):
    """The announcement must heartbeat: an attempt lost with a SIGKILLed worker is otherwise retried only at its
    ten-minute start-to-close timeout, and the cycle waits that long (tests/test_worker_crash.py failed on it)."""
    acts = StandIns()
    async with acts.worker(ts_env, task_queue), started(
            ts_env.client, CycleWorkflow.run, CycleInput(CYCLE), task_queue) as handle:
        await _reaches(handle, "calibration")
        history = await handle.fetch_history()

    [announce] = [e.activity_task_scheduled_event_attributes for e in history.events
                  if e.HasField("activity_task_scheduled_event_attributes")
                  and e.activity_task_scheduled_event_attributes.activity_type.name == "announce_cycle"]
    assert announce.HasField("heartbeat_timeout")
    assert timedelta(0) < announce.heartbeat_timeout.ToTimedelta() <= timedelta(seconds=30)
