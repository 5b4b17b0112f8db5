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

# Waiting for a cycle's reviews to close is one polling activity. It heartbeats while it polls and,
# after WAIT_ROUND of polling, fails with REVIEWS_STILL_OPEN to be retried: retries add nothing to
# the workflow's history, so a cycle whose reviews take a quarter keeps a history of a few events.
REVIEWS_STILL_OPEN = "ReviewsStillOpen"
WAIT_ROUND = timedelta(minutes=50)
REVIEWS_WAIT = {
    "start_to_close_timeout": WAIT_ROUND + timedelta(minutes=5),
    "heartbeat_timeout": timedelta(seconds=10),
    "retry_policy": RetryPolicy(
        initial_interval=timedelta(seconds=1),
        backoff_coefficient=1.0,
        non_retryable_error_types=[REJECTED],
    ),
}
