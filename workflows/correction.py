"""A correction after lock: recompute a locked cycle's incentives and pay only the difference.

Locked lines are never edited. A late KPI figure or a changed rating yields delta lines with a new
revision; unchanged inputs yield none, and the workflow ends at once with nothing to approve.
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.cycle import CycleActivities
    from domain.text import tr
    from workflows.common import BULK, refuse, user_text
    from workflows.payloads import ActorRequest, CorrectionResult, CycleActionInput, IncentiveSummary


@workflow.defn
class IncentiveCorrectionWorkflow:
    @workflow.init
    def __init__(self, cycle_id: str) -> None:
        self._cycle_id = cycle_id
        self._phase = "computing"
        self._approved_by: str | None = None
        self._new_lines = 0

    @workflow.run
    async def run(self, cycle_id: str) -> CorrectionResult:
        try:
            summary: IncentiveSummary = await workflow.execute_activity_method(
                CycleActivities.compute_incentives, cycle_id, **BULK
            )
        except ActivityError as err:
            raise refuse(user_text(err)) from None
        self._new_lines = summary.new_lines
        if summary.new_lines == 0:
            self._phase = "no_change"
            return CorrectionResult(cycle_id, 0, None)
        self._phase = "awaiting_approval"
        await workflow.wait_condition(lambda: self._approved_by is not None)
        await workflow.wait_condition(workflow.all_handlers_finished)
        self._phase = "locked"
        return CorrectionResult(cycle_id, summary.new_lines, self._approved_by)

    @workflow.update
    async def approve_payouts(self, req: ActorRequest) -> int:
        locked: int = await workflow.execute_activity_method(
            CycleActivities.lock_payouts, CycleActionInput(self._cycle_id, req.actor_id, workflow.now()), **BULK,
        )
        self._approved_by = req.actor_id
        return locked

    @approve_payouts.validator
    def _validate_approve(self, req: ActorRequest) -> None:
        if self._phase != "awaiting_approval":
            raise refuse(tr("nothing to approve: the correction is '%(status)s'", status=self._phase), conflict=True)

    @workflow.query
    def status(self) -> str:
        return self._phase
