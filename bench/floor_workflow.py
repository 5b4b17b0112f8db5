"""The floor's workflow: one workflow per participant, three Updates, four one-row writes.

Written the fast way (temporal-notes, "Speed"): this module imports only temporalio, and its
payloads come through ``imports_passed_through`` (as kamreview's workflows import
workflows.payloads), so the sandbox's per-run re-import of it costs next to nothing.
Activities are referred to by name.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from bench.floor_payloads import KINDS, FloorInput, FloorRow, FloorSubmission

ONE_ROW = {
    "start_to_close_timeout": timedelta(seconds=15),
    "retry_policy": RetryPolicy(initial_interval=timedelta(milliseconds=500), maximum_interval=timedelta(seconds=10)),
}


@workflow.defn
class FloorWorkflow:
    @workflow.init
    def __init__(self, inp: FloorInput) -> None:
        self._inp = inp
        self._accepted: set[str] = set()

    @workflow.run
    async def run(self, inp: FloorInput) -> int:
        await workflow.wait_condition(lambda: len(self._accepted) == len(KINDS))
        await workflow.wait_condition(workflow.all_handlers_finished)
        await workflow.execute_activity(
            "floor_write_row",
            FloorRow(f"{inp.run_id}:{inp.participant}:closed", inp.run_id, inp.participant, "closed", "system", 0,
                     workflow.now()),
            **ONE_ROW,
        )
        return len(self._accepted) + 1

    @workflow.update
    async def submit(self, sub: FloorSubmission) -> str:
        self._accepted.add(sub.kind)
        inp = self._inp
        key = f"{inp.run_id}:{inp.participant}:{sub.kind}"
        await workflow.execute_activity(
            "floor_write_row",
            FloorRow(key, inp.run_id, inp.participant, sub.kind, sub.actor_id, sub.value, workflow.now()),
            **ONE_ROW,
        )
        return key

    @submit.validator
    def _validate(self, sub: FloorSubmission) -> None:
        if sub.kind not in KINDS:
            raise ApplicationError(f"unknown kind {sub.kind!r}", non_retryable=True)
        if sub.kind in self._accepted:
            raise ApplicationError(f"{sub.kind} was already submitted", non_retryable=True)
