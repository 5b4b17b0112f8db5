"""What the workflows share (pure: importable inside the sandbox): activity options and the refusal."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from domain.text import Text

# The one refusal, in two kinds. REJECTED: the request is invalid (an unknown employee, a value off
# the scale) and a different one could pass. CONFLICT: the request is valid but the state forbids it
# now (already submitted, closed, already approved). Never retried; the services turn them into
# their Rejected and Conflict errors, the web app into 422 and 409.
REJECTED = "Rejected"
CONFLICT = "Conflict"


def refuse(message: Text | str, conflict: bool = False) -> ApplicationError:
    """The refusal as Temporal carries it: the English words as its message, a Text's id and parameters as its
    details, so the edge can say it in the reader's language."""
    details = (message.as_details(),) if isinstance(message, Text) else ()
    return ApplicationError(str(message), *details, type=CONFLICT if conflict else REJECTED, non_retryable=True)


def reject(message: Text | str) -> ApplicationError:
    """An invalid request: a changed one could pass."""
    return refuse(message)


def conflict(message: Text | str) -> ApplicationError:
    """A state conflict (already submitted, closed, already approved): no request can pass now."""
    return refuse(message, conflict=True)


def user_message(err: BaseException) -> str:
    """The message a person can read: the first refusal in the error's chain of causes."""
    cause: BaseException | None = err
    while cause is not None:
        if isinstance(cause, ApplicationError):
            return cause.message
        cause = cause.__cause__ or getattr(cause, "cause", None)
    return str(err)


def user_text(err: BaseException) -> Text | str:
    """The first refusal in the error's chain as its Text when it carried one, else its words."""
    cause: BaseException | None = err
    while cause is not None:
        if isinstance(cause, ApplicationError):
            details = cause.details
            text = Text.from_details(details[0]) if details else None
            return text if text is not None else cause.message
        cause = cause.__cause__ or getattr(cause, "cause", None)
    return str(err)


def refusal_kind(err: BaseException) -> str:
    """REJECTED or CONFLICT: the kind of the first refusal in the error's chain (REJECTED when none says)."""
    cause: BaseException | None = err
    while cause is not None:
        if isinstance(cause, ApplicationError):
            return CONFLICT if cause.type == CONFLICT else REJECTED
        cause = cause.__cause__ or getattr(cause, "cause", None)
    return REJECTED

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
