"""A review cycle: reviews opened in batches, then calibration, incentives, payroll approval and lock.

The workflow is the source of truth for where the cycle is; PostgreSQL holds every result. HR's
actions are Updates; the calibration and approval waits continue-as-new when the history grows, so
any number of adjustments fits.

The review workflows are started by an activity, one batch at a time, not as child workflows:
the cycle's history then grows with the number of batches, never with the number of participants,
no pending-children limit applies, and the server keeps no parent bookkeeping per review (the
largest cost of the child design, measured in bench/). PostgreSQL, where every review records its
close, says when the last one has closed. Cancelling the cycle cancels its open reviews.
"""

from __future__ import annotations

import asyncio

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError

with workflow.unsafe.imports_passed_through():
    from activities.cycle import CycleActivities
    from activities.reviews import ReviewActivities
    from domain.text import Text, tr
    from workflows.common import (
        BULK,
        CONFLICT,
        ONE_ROW,
        REVIEWS_WAIT,
        conflict,
        refusal_kind,
        refuse,
        reject,
        user_message,
        user_text,
    )
    from workflows.payloads import (
        ORG_CHANGES_PATCH,
        ActorRequest,
        AddParticipant,
        AddReviewInput,
        AdjustmentRecord,
        BeginCycleInput,
        CalibrationSummary,
        CycleActionInput,
        CycleInput,
        CycleResult,
        CycleState,
        CycleStatus,
        IncentiveSummary,
        RatingAdjustmentRequest,
        ReviewsClosed,
        StartBatchInput,
    )
    from workflows.search_attributes import PATCH, PHASE, Carried

CALIBRATION = "calibration"
AWAITING_APPROVAL = "awaiting_approval"


def _cancelled(err: BaseException) -> bool:
    """The workflow's cancellation, as it surfaces at an await: directly or through an activity."""
    return isinstance(err, asyncio.CancelledError) or (
        isinstance(err, ActivityError) and isinstance(err.cause, CancelledError)
    )


def _refused(err: ActivityError) -> ApplicationError:
    """An activity's refusal passed on to the person, keeping its kind."""
    return refuse(user_text(err), conflict=refusal_kind(err) == CONFLICT)


@workflow.defn
class CycleWorkflow:
    @workflow.init
    def __init__(self, inp: CycleInput) -> None:
        self._st = inp.state or CycleState(cycle_id=inp.cycle_id)
        # Who is finalizing / approving right now: set before the handler's first await, so a concurrent
        # second request (another person, another Update id) is refused instead of applied twice.
        self._finalizing: str | None = None
        self._approving: str | None = None
        self._search = Carried()

    @workflow.run
    async def run(self, inp: CycleInput) -> CycleResult:
        try:
            return await self._run(inp)
        except (asyncio.CancelledError, ActivityError) as err:
            if not _cancelled(err):
                raise
            # HR cancelled the cycle. Its reviews are not children (they would have been cancelled
            # with their parent), so cancel the open ones, and mark the cycle cancelled.
            self._enter("cancelled")
            await workflow.execute_activity_method(ReviewActivities.cancel_cycle, self._st.cycle_id, **BULK)
            raise

    async def _run(self, inp: CycleInput) -> CycleResult:
        st = self._st
        if st.phase == "starting":
            st.plan = await workflow.execute_activity_method(
                ReviewActivities.begin_cycle, BeginCycleInput(st.cycle_id, workflow.now()), **ONE_ROW
            )
            self._enter("reviews")
        if st.phase == "reviews":
            await self._run_reviews()
            summary: CalibrationSummary = await workflow.execute_activity_method(
                CycleActivities.open_calibration, st.cycle_id, **BULK
            )
            workflow.logger.info("calibration opened: %s ratings", summary.ratings)
            self._enter(CALIBRATION)
        if st.phase == CALIBRATION:
            await self._wait_or_continue(lambda: st.calibration_finalized, inp)
            self._enter("incentives")
        while st.phase == "incentives":
            try:
                incentives: IncentiveSummary = await workflow.execute_activity_method(
                    CycleActivities.compute_incentives, st.cycle_id, **BULK
                )
            except ActivityError as err:
                if _cancelled(err):
                    raise
                # Missing data (a KPI figure, a target): wait for HR to fix it and ask for a retry.
                st.blocked_reason = user_message(err)
                st.blocks += 1
                await self._wait_or_continue(lambda: st.blocked_reason is None, inp)
                continue
            st.payout_lines = incentives.lines
            self._enter(AWAITING_APPROVAL)
        if st.phase == AWAITING_APPROVAL:
            await self._wait_or_continue(lambda: st.approved_by is not None, inp)
            self._enter("locked")
        await workflow.wait_condition(workflow.all_handlers_finished)
        return CycleResult(st.cycle_id, st.reviews_closed, st.payout_lines, st.approved_by)

    def _enter(self, phase: str) -> None:
        """The cycle's next phase, in its state and in its Phase search attribute."""
        self._st.phase = phase
        self._search.set(PHASE, phase)

    async def _run_reviews(self) -> None:
        st = self._st
        plan = st.plan
        assert plan is not None
        starts = list(range(0, plan.participant_count, plan.batch_size))
        st.batches_total = len(starts)
        # The reviews carry the search attributes when the cycle does (the server has them registered).
        with_search = self._search.on and workflow.patched(PATCH)
        for batch_no in range(st.batches_done, len(starts)):
            seq_from = starts[batch_no]
            await workflow.execute_activity_method(
                ReviewActivities.start_review_batch,
                StartBatchInput(
                    st.cycle_id, batch_no, seq_from, min(seq_from + plan.batch_size, plan.participant_count),
                    plan.rules, plan.phases, workflow.now(), search_attributes=with_search,
                ),
                **BULK,
            )
            st.batches_done += 1
        if workflow.patched("announce-cycle"):  # cycles started before messages were sent skip it on replay
            await workflow.execute_activity_method(ReviewActivities.announce_cycle, st.cycle_id, **BULK)
        closed: ReviewsClosed = await workflow.execute_activity_method(
            ReviewActivities.await_reviews_closed, st.cycle_id, **REVIEWS_WAIT
        )
        st.reviews_closed = closed.reviews
        st.reviews_scored = closed.scored
        st.reviews_with_missing = closed.with_missing

    async def _wait_or_continue(self, done, inp: CycleInput) -> None:
        """Wait for HR; continue-as-new first if many Updates have grown the history."""
        await workflow.wait_condition(lambda: done() or workflow.info().is_continue_as_new_suggested())
        if not done():
            await workflow.wait_condition(workflow.all_handlers_finished)
            self._st.runs += 1
            workflow.continue_as_new(CycleInput(self._st.cycle_id, self._st))

    # -- HR actions (Updates) ---------------------------------------------------------------------

    @workflow.update
    async def adjust_rating(self, req: RatingAdjustmentRequest) -> int:
        info = workflow.info()
        record = AdjustmentRecord(
            adjustment_id=f"{info.workflow_id}:adjust:{workflow.current_update_info().id}",
            cycle_id=self._st.cycle_id, employee_id=req.employee_id, to_level=req.to_level,
            reason=req.reason.strip(), actor_id=req.actor_id, adjusted_at=workflow.now(),
        )
        try:
            await workflow.execute_activity_method(CycleActivities.adjust_rating, record, **ONE_ROW)
        except ActivityError as err:
            raise _refused(err) from None
        self._st.adjustments += 1
        return self._st.adjustments

    @adjust_rating.validator
    def _validate_adjust(self, req: RatingAdjustmentRequest) -> None:
        self._require_phase(CALIBRATION, tr("adjust ratings"))
        if self._st.calibration_finalized:
            raise conflict(tr("calibration is already finalized; ratings can no longer change"))
        if not req.reason or not req.reason.strip():
            raise reject(tr("an adjustment needs a reason"))
        if len(req.reason) > 2000:
            raise reject(tr("the reason is longer than %(limit)s characters", limit=2000))
        levels = self._st.plan.rating_levels if self._st.plan else []
        if req.to_level not in levels:
            raise reject(tr("rating level %(level)s does not exist; levels are %(levels)s", level=repr(req.to_level),
                            levels=", ".join(map(str, levels))))

    @workflow.update
    async def finalize_calibration(self, req: ActorRequest) -> CalibrationSummary:
        self._finalizing = req.actor_id
        try:
            summary: CalibrationSummary = await workflow.execute_activity_method(
                CycleActivities.finalize_calibration,
                CycleActionInput(self._st.cycle_id, req.actor_id, workflow.now()),
                **BULK,
            )
        except ActivityError as err:
            self._finalizing = None
            raise _refused(err) from None
        self._st.calibration_finalized = True
        return summary

    @finalize_calibration.validator
    def _validate_finalize(self, req: ActorRequest) -> None:
        self._require_phase(CALIBRATION, tr("finalize calibration"))
        if self._st.calibration_finalized:
            raise conflict(tr("calibration is already finalized"))
        if self._finalizing is not None:
            raise conflict(tr("calibration is being finalized by %(who)s", who=self._finalizing))

    @workflow.update
    def retry_incentives(self, req: ActorRequest) -> str:
        reason, self._st.blocked_reason = self._st.blocked_reason, None
        return f"retrying after: {reason}"

    @retry_incentives.validator
    def _validate_retry(self, req: ActorRequest) -> None:
        if self._st.blocked_reason is None:
            raise conflict(tr("nothing to retry: the cycle is in phase '%(phase)s' and not blocked", phase=self._st.phase))

    @workflow.update
    async def approve_payouts(self, req: ActorRequest) -> int:
        self._approving = req.actor_id
        try:
            locked: int = await workflow.execute_activity_method(
                CycleActivities.lock_payouts, CycleActionInput(self._st.cycle_id, req.actor_id, workflow.now()),
                **BULK,
            )
        except BaseException:
            self._approving = None
            raise
        self._st.approved_by = req.actor_id
        return locked

    @approve_payouts.validator
    def _validate_approve(self, req: ActorRequest) -> None:
        self._require_phase(AWAITING_APPROVAL, tr("approve payouts"))
        if self._st.approved_by is not None:
            raise conflict(tr("payouts were already approved by %(who)s", who=self._st.approved_by))
        if self._approving is not None:
            raise conflict(tr("payouts are being approved by %(who)s", who=self._approving))

    @workflow.update
    async def add_participant(self, req: AddParticipant) -> bool:
        """A joiner in the population while the reviews run: their review opens with the cycle's deadlines.
        True when it was opened now, False when it was open already (a retry or a second import)."""
        workflow.patched(ORG_CHANGES_PATCH)
        plan = self._st.plan
        assert plan is not None  # the validator refuses before the plan exists
        try:
            added: bool = await workflow.execute_activity_method(
                ReviewActivities.add_review,
                AddReviewInput(self._st.cycle_id, req.employee_id, req.reviewer_id, req.actor_id, plan.rules,
                               plan.phases, workflow.now(), search_attributes=self._search.on),
                **ONE_ROW,
            )
        except ActivityError as err:
            raise _refused(err) from None
        if added:
            self._st.joiners += 1
        return added

    @add_participant.validator
    def _validate_add(self, req: AddParticipant) -> None:
        if self._st.phase != "reviews" or self._st.plan is None:
            raise conflict(tr("cannot add %(employee)s to cycle %(cycle)s: its reviews are no longer open "
                              "(phase '%(phase)s')", employee=req.employee_id, cycle=self._st.cycle_id,
                              phase=self._st.phase))
        if req.reviewer_id == req.employee_id:
            raise reject(tr("an employee cannot be their own reviewer"))

    def _require_phase(self, phase: str, action: Text) -> None:
        if self._st.phase != phase:
            raise conflict(tr("cannot %(action)s: the cycle is in phase '%(phase)s', not '%(wanted)s'", action=action,
                              phase=self._st.phase, wanted=phase))

    @workflow.query
    def status(self) -> CycleStatus:
        st = self._st
        return CycleStatus(
            cycle_id=st.cycle_id, phase=st.phase,
            participants=st.plan.participant_count if st.plan else 0,
            batches_total=st.batches_total, batches_done=st.batches_done,
            reviews_closed=st.reviews_closed, reviews_with_missing=st.reviews_with_missing,
            adjustments=st.adjustments, payout_lines=st.payout_lines, approved_by=st.approved_by,
            blocked_reason=st.blocked_reason, blocks=st.blocks,
        )
