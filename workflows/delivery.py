"""Delivering one batch of queued messages: send what can be sent, retry the rest later, give up visibly.

The outbox rows are the source of truth; this workflow only drives the attempts. Each round is one
activity that claims, sends and marks the batch's messages; transient failures (a server down, a rate
limit) wait in the outbox with their next attempt time, and the workflow sleeps durably until then. A
message's retry budget is counted per message in the outbox; past it the message is ``failed`` and HR
sees it. Nothing here can block or fail a cycle: cycles only start this workflow.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.delivery import DeliveryActivities
    from workflows.common import RETRY
    from workflows.payloads import DeliveryInput, DeliveryRound

DELIVERY = {
    "start_to_close_timeout": timedelta(minutes=30),
    "heartbeat_timeout": timedelta(seconds=10),  # a killed worker's round is taken over within seconds
    "retry_policy": RETRY,
}


@workflow.defn
class DeliveryWorkflow:
    @workflow.run
    async def run(self, inp: DeliveryInput) -> DeliveryRound:
        total = DeliveryRound(0, 0, 0, 0)
        while True:
            rnd: DeliveryRound = await workflow.execute_activity_method(
                DeliveryActivities.deliver_batch, inp.batch, **DELIVERY)
            total = DeliveryRound(total.sent + rnd.sent, total.failed + rnd.failed, total.uncertain + rnd.uncertain,
                                  rnd.waiting, rnd.next_attempt_in_s)
            if rnd.waiting == 0:
                return total
            await workflow.sleep(max(1.0, rnd.next_attempt_in_s or 1.0))
