"""Activity options shared by the workflows (pure: importable inside the sandbox)."""

from __future__ import annotations

from datetime import timedelta

from temporalio.common import RetryPolicy

# An activity error of this type is the user's mistake (unknown employee, finalize refused): it is
# reported, never retried.
REJECTED = "Rejected"

RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=500),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=10),
    non_retryable_error_types=[REJECTED],
)
ONE_ROW = {"start_to_close_timeout": timedelta(seconds=15), "retry_policy": RETRY}
BULK = {
    "start_to_close_timeout": timedelta(minutes=10),
    "heartbeat_timeout": timedelta(seconds=30),
    "retry_policy": RETRY,
}
