"""What the workflows share (pure: importable inside the sandbox): activity options and the refusal."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.exceptions import TimeoutError as ActivityTimeout

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

# A short write keyed by its business ids runs as a *local* activity (in the worker running the workflow task): the
# server records one marker event instead of scheduled/started/completed, dispatches no activity task, and needs no
# second workflow task (bench/README.md, seventh session). Only the workflow's own writes (phase events, the close)
# go local: a write inside an Update would run before the Update's acceptance is in history (workflows/review.py,
# _persist). A local activity is run again when its workflow task is retried (a worker
# killed before the task completed), with a new workflow.now(): only writes whose keys do not contain the time may
# run locally (the first write wins, a repeat changes nothing). While it retries, the workflow task stays open and
# is heartbeaten every 8 s, each heartbeat a few history events: after LOCAL_ATTEMPTS the write moves to an ordinary
# activity, which retries at the server for as long as it takes without growing the history.
LOCAL_WRITES_PATCH = "local-writes"
LOCAL_ATTEMPTS = 3
ONE_ROW_LOCAL = {
    "start_to_close_timeout": timedelta(seconds=5),
    "retry_policy": RetryPolicy(initial_interval=timedelta(milliseconds=500), backoff_coefficient=2.0,
                                maximum_attempts=LOCAL_ATTEMPTS, non_retryable_error_types=[REJECTED]),
}

A = TypeVar("A")
R = TypeVar("R")


def _refused(err: BaseException) -> bool:
    """Whether a failed write was refused (non-retryable): running it elsewhere would be refused again."""
    cause = err.cause if isinstance(err, ActivityError) else err
    return isinstance(cause, ApplicationError) and (cause.non_retryable or cause.type == REJECTED)


async def write_one_row(activity: Callable[[Any, A], Awaitable[R]], arg: A, *, local: bool = False) -> R:
    """Run a short, idempotent write: locally in workflows that run the LOCAL_WRITES_PATCH code, else (histories from
    before it) as the ordinary activity it was. A local write still failing after its attempts is handed to the
    ordinary activity (both write once, keyed the same); a refusal is raised as before.

    ``local=True``: the caller knows from a patch of its own that this run writes locally, so no second marker is
    recorded (each patch marker also costs the run an upsert of TemporalChangeVersion, a visibility write)."""
    if not (local or workflow.patched(LOCAL_WRITES_PATCH)):
        return await workflow.execute_activity_method(activity, arg, **ONE_ROW)
    try:
        return await workflow.execute_local_activity_method(activity, arg, **ONE_ROW_LOCAL)
    except (ActivityError, ApplicationError, ActivityTimeout) as err:
        # A local activity's failure reaches the workflow as the activity's own error, not wrapped in ActivityError
        # (temporalio 1.35); an ordinary one's as ActivityError. Both are handled.
        if _refused(err):
            raise
    return await workflow.execute_activity_method(activity, arg, **ONE_ROW)


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
