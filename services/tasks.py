"""People's tasks: list the inbox from PostgreSQL, submit through the review workflow's Updates.

Every submission carries a stable Update id derived from the task, so a double click, a retry after
a timeout or a replayed request is applied exactly once and returns the first receipt.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime

import psycopg
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from services.cycles import _message
from services.db import libpq_url
from services.errors import NotFound, Rejected
from workflows.payloads import (
    CUSTOMER_SURVEY,
    MANAGER_SCORING,
    SELF_REVIEW,
    ManagerScoreSubmission,
    ReassignReviewer,
    Receipt,
    ReviewStatus,
    SelfReviewSubmission,
    SurveySubmission,
    review_id_for,
    review_workflow_id,
    task_id_for,
)
from workflows.review import ReviewWorkflow


@dataclass
class InboxTask:
    task_id: str
    cycle_id: str
    kind: str
    subject_employee_id: str
    subject_name: str
    due_at: datetime
    status: str
    overdue: bool


def inbox(database_url: str, assignee_id: str, include_done: bool = False) -> list[InboxTask]:
    with psycopg.connect(libpq_url(database_url)) as conn:
        rows = conn.execute(
            """SELECT t.id, t.cycle_id, t.kind, t.subject_employee_id, e.name, t.due_at, t.status,
                      t.status = 'open' AND t.due_at < now()
               FROM task t JOIN employee e ON e.id = t.subject_employee_id
               WHERE t.assignee_id = %s AND (%s OR t.status = 'open')
               ORDER BY t.due_at, t.id""",
            (assignee_id, include_done),
        ).fetchall()
    return [InboxTask(*r) for r in rows]


async def _update(client: Client, review_id: str, update, arg, task_id: str) -> Receipt:
    handle = client.get_workflow_handle(review_workflow_id(review_id))
    # A task becomes visible in the inbox a moment before its review workflow has started; a
    # submission in that window waits for the start instead of failing.
    for attempt in range(20):
        try:
            return await handle.execute_update(update, arg, id=f"{task_id}:submit")
        except WorkflowUpdateFailedError as err:
            raise Rejected(_message(err)) from None
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:
                raise
            try:
                status = (await handle.describe()).status
            except RPCError:
                status = None  # not started (yet)
            if status == WorkflowExecutionStatus.CANCELED:
                raise NotFound(f"review {review_id} was cancelled with its cycle; nothing can be submitted") from None
            running = None if status is None else status == WorkflowExecutionStatus.RUNNING
            if running is False:
                raise NotFound(f"review {review_id} is closed; nothing can be submitted any more") from None
            if attempt < 19:  # not started yet, or started since the Update was refused: try again
                await asyncio.sleep(0.25)
                continue
            raise NotFound(f"review {review_id} does not exist; nothing can be submitted") from None
    raise AssertionError("unreachable")


async def submit_self_review(client: Client, cycle_id: str, sub: SelfReviewSubmission) -> Receipt:
    review_id = review_id_for(cycle_id, sub.actor_id)
    return await _update(client, review_id, ReviewWorkflow.submit_self_review, sub,
                         task_id_for(review_id, SELF_REVIEW))


async def submit_manager_score(client: Client, cycle_id: str, employee_id: str,
                               sub: ManagerScoreSubmission) -> Receipt:
    review_id = review_id_for(cycle_id, employee_id)
    return await _update(client, review_id, ReviewWorkflow.submit_manager_score, sub,
                         task_id_for(review_id, MANAGER_SCORING))


async def submit_survey(client: Client, cycle_id: str, employee_id: str, sub: SurveySubmission) -> Receipt:
    review_id = review_id_for(cycle_id, employee_id)
    return await _update(client, review_id, ReviewWorkflow.submit_survey, sub,
                         task_id_for(review_id, CUSTOMER_SURVEY, sub.contact_id))


async def reassign_reviewer(client: Client, cycle_id: str, employee_id: str, req: ReassignReviewer) -> str:
    review_id = review_id_for(cycle_id, employee_id)
    handle = client.get_workflow_handle(review_workflow_id(review_id))
    try:
        return await handle.execute_update(ReviewWorkflow.reassign_reviewer, req)
    except WorkflowUpdateFailedError as err:
        raise Rejected(_message(err)) from None


async def review_status(client: Client, cycle_id: str, employee_id: str) -> ReviewStatus:
    handle = client.get_workflow_handle(review_workflow_id(review_id_for(cycle_id, employee_id)))
    try:
        return await handle.query(ReviewWorkflow.status)
    except RPCError as err:
        raise NotFound(f"no running review for {employee_id} in cycle {cycle_id}") from err
