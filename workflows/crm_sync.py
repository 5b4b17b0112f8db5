"""The daily CRM sync's run: pull the CRM through its API and apply what changed (services/crm_sync.py).

One activity does the pull and the write (one transaction, as `kamreview crm pull`): an outage is retried a few
times with backoff and then the run fails visibly in the Temporal Web UI; the next day's run starts afresh. A
rejected pull (credentials, a mapping the CRM does not know) is not retried.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from workflows.common import REJECTED
    from workflows.payloads import CrmSyncInput, CrmSyncResult

SYNC_CRM = "sync_crm"  # by name: the activity is a shell over the service layer
SYNC_RETRY = RetryPolicy(initial_interval=timedelta(seconds=30), backoff_coefficient=2.0,
                         maximum_interval=timedelta(minutes=10), maximum_attempts=4,
                         non_retryable_error_types=[REJECTED])


@workflow.defn
class CrmSyncWorkflow:
    @workflow.run
    async def run(self, inp: CrmSyncInput) -> CrmSyncResult:
        return await workflow.execute_activity(SYNC_CRM, inp, result_type=CrmSyncResult,
                                               start_to_close_timeout=timedelta(hours=1), retry_policy=SYNC_RETRY)
