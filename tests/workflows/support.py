"""What the workflow tests share: workflows that never outlive their test, refusals of Updates, and
a guard that time was skipped, not waited for."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Iterator
from typing import Any

import pytest
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

# A run that covers months of workflow time must take at most this much of the wall clock.
SKIPPED_RUN_S = 3.0


async def refusal(update: Awaitable[object]) -> str:
    """The message an Update was refused with (its validator or handler raised ApplicationError)."""
    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await update
    cause = caught.value.cause
    assert isinstance(cause, ApplicationError), cause
    return cause.message


@contextlib.contextmanager
def time_skipped() -> Iterator[None]:
    """Fail when the block waited in real time for what the test server should have skipped."""
    started = time.monotonic()
    yield
    elapsed = time.monotonic() - started
    assert elapsed < SKIPPED_RUN_S, f"took {elapsed:.2f} s of wall time"


@contextlib.asynccontextmanager
async def started(client: Client, run: Any, arg: Any, task_queue: str) -> AsyncIterator[WorkflowHandle[Any, Any]]:
    """Start a workflow and terminate it if the test left it running.

    The test server has one clock: a leftover workflow's timer would ring in a later test, with no
    worker on its task queue, and hold that clock still for ever.
    """
    handle = await client.start_workflow(run, arg, id=f"wf-test-{uuid.uuid4().hex[:12]}", task_queue=task_queue)
    try:
        yield handle
    finally:
        with contextlib.suppress(RPCError):  # it has ended already
            await handle.terminate("the test is over")
