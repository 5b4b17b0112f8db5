"""A cycle schedule's run: create and start the cycle of the period the run was scheduled for.

The Temporal Schedule (services/schedules.py) starts this workflow at each period's start. The period comes
from the time the run was *scheduled* for (``TemporalScheduledStartTime``), not from when it ran, so a run
caught up after an outage opens the period it was due for. The cycle's id comes from that period, and
creating and starting are both idempotent: a catch-up, a retried run or HR's "run now" in the same period
never makes a second cycle.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import SearchAttributeKey

with workflow.unsafe.imports_passed_through():
    from workflows.common import RETRY
    from workflows.payloads import OpenScheduledCycle, ScheduledCycleInput, ScheduledCycleResult

SCHEDULED_START = SearchAttributeKey.for_datetime("TemporalScheduledStartTime")
OPEN_SCHEDULED_CYCLE = "open_scheduled_cycle"  # by name: the activity lives in the service layer


@workflow.defn
class ScheduledCycleWorkflow:
    @workflow.run
    async def run(self, inp: ScheduledCycleInput) -> ScheduledCycleResult:
        scheduled: datetime = workflow.info().typed_search_attributes.get(SCHEDULED_START) or workflow.now()
        return await workflow.execute_activity(
            OPEN_SCHEDULED_CYCLE, OpenScheduledCycle(inp, scheduled.isoformat()), result_type=ScheduledCycleResult,
            start_to_close_timeout=timedelta(minutes=10), retry_policy=RETRY)
