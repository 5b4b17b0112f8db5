"""Opens one batch of reviews and waits for them to close.

Batches keep every workflow far below Temporal's limits: a cycle of 10,000 participants is 20
batches of 500 children each, so no workflow has more than ``batch_size`` pending children and
every history stays a few thousand events long.
"""

from __future__ import annotations

import asyncio

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.common import BULK
    from workflows.payloads import (
        BatchResult,
        OpenBatchInput,
        ReviewBatchInput,
        ReviewInput,
        ReviewSeed,
        review_workflow_id,
    )
    from workflows.review import ReviewWorkflow


@workflow.defn
class ReviewBatchWorkflow:
    @workflow.run
    async def run(self, inp: ReviewBatchInput) -> BatchResult:
        seeds: list[ReviewSeed] = await workflow.execute_activity(
            "open_review_batch",
            OpenBatchInput(inp.cycle_id, inp.seq_from, inp.seq_to, inp.phases, workflow.now()),
            result_type=list[ReviewSeed],
            **BULK,
        )
        handles = await asyncio.gather(
            *(
                workflow.start_child_workflow(
                    ReviewWorkflow.run,
                    ReviewInput(
                        inp.cycle_id, seed.review_id, seed.employee_id, seed.reviewer_id,
                        seed.contacts, inp.rules, inp.phases,
                    ),
                    id=review_workflow_id(seed.review_id),
                )
                for seed in seeds
            )
        )
        results = await asyncio.gather(*handles)
        return BatchResult(
            batch_no=inp.batch_no,
            reviews=len(results),
            scored=sum(1 for r in results if r.score is not None),
            with_missing=sum(1 for r in results if r.missing),
        )
