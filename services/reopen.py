"""HR reopens a submitted self-review, manager score or survey answer, with a reason and its own deadline.

While the review runs, the reopen is an Update on the review's workflow (``ReviewWorkflow.reopen_task``): the workflow
awaits the task again, the person is told, and the resubmission becomes the next version while the earlier one is kept
in ``submission_version`` (docs/reopen-and-sign-off.md). Once the review has closed and the cycle is in calibration,
it is an Update on the review's reopen workflow (``ReopenedReviewWorkflow``, started for it), which rescores the
review and its calibration row when the task settles. Once calibration is finalized, nothing is reopened. The Update
id is the task and the version it opens, so a retry (or a second HR member at the same moment) applies once and the
next reopen (after a resubmission) is a new one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from temporalio.client import Client, WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.service import RPCError, RPCStatusCode

from activities.reviews import review_rules
from domain.cycle import parse_duration
from domain.errors import DomainError
from domain.phases import PHASE_BY_KEY
from domain.text import tr
from services.db import Database, as_database
from services.errors import Conflict, NotFound, Rejected, TryLater, refusal
from services.people import cycle_config
from workflows.payloads import (
    CUSTOMER_SURVEY,
    ReopenedReviewInput,
    ReopenTask,
    cycle_workflow_id,
    phase_task_id,
    reopened_workflow_id,
    review_id_for,
    review_workflow_id,
    task_key,
)
from workflows.reopened import ReopenedReviewWorkflow
from workflows.review import ReviewWorkflow
from workflows.review_rules import no_task_to_reopen, phase_text

DEFAULT_DUE = "3d"  # how long the person has to submit again, unless HR says otherwise
MAX_REASON = 2000
START_ATTEMPTS = 3  # a reopen workflow that ended between its start and the Update is started again this often


def due_from(due: str | timedelta | None, now: datetime) -> datetime:
    """The reopened task's deadline: a duration from now ("3d", "12h"), the default when none is given."""
    try:
        span = parse_duration(DEFAULT_DUE if due in (None, "") else due)
    except DomainError as err:
        raise Rejected(err.as_text()) from None
    if span <= timedelta(0):
        raise Rejected(tr("the new deadline must be later than now; give a duration such as 3d"))
    return now + span


async def reopen_task(client: Client, db: Database | str, cycle_id: str, employee_id: str, phase: str, *,
                      actor_id: str, reason: str, due: str | timedelta | None = None,
                      contact_id: str | None = None, now: datetime | None = None) -> int:
    """Reopen one submitted task; returns the version the resubmission will be (2 for the first reopen)."""
    definition = PHASE_BY_KEY.get(phase)
    # Any phase whose answers a resubmission can replace (its Storage says which rows); not peer feedback.
    if definition is None or definition.storage is None or definition.storage.replaced_by is None:
        raise Rejected(no_task_to_reopen(phase))
    reason = (reason or "").strip()
    if not reason:
        raise Rejected(tr("reopening a task needs a reason"))
    if len(reason) > MAX_REASON:
        raise Rejected(tr("the reason is longer than %(limit)s characters", limit=MAX_REASON))
    if definition.assignees == "contacts" and not contact_id:
        raise Rejected(tr("reopening a survey answer needs the contact whose answer it is"))
    review_id = review_id_for(cycle_id, employee_id)
    task_id = phase_task_id(review_id, phase, contact_id)
    async with as_database(db).connection() as conn:
        row = await (await conn.execute(
            """SELECT r.status, c.status, EXISTS (SELECT FROM calibrated_rating k WHERE k.cycle_id = c.id AND k.finalized),
                      t.status, t.version, now()
               FROM review r JOIN review_cycle c ON c.id = r.cycle_id LEFT JOIN task t ON t.id = %s
               WHERE r.id = %s""", (task_id, review_id))).fetchone()
    if row is None:
        raise NotFound(tr("no review for %(employee)s in cycle %(cycle)s", employee=employee_id, cycle=cycle_id))
    review_status, cycle_status, finalized, task_status, version, db_now = row
    name = phase_text(phase)
    if finalized or cycle_status in ("incentives", "awaiting_approval", "locked"):
        raise Conflict(tr("calibration of cycle %(cycle)s is finalized; submissions can no longer be reopened",
                          cycle=cycle_id))
    if task_status is None:
        raise NotFound(tr("there is no %(phase)s of %(employee)s to reopen", phase=name, employee=employee_id))
    if task_status == "open" and (version or 1) > 1:
        raise Conflict(tr("the %(phase)s is already reopened and awaits a new submission", phase=name))
    if task_status != "done":
        raise Conflict(tr("the %(phase)s has not been submitted yet, so there is nothing to reopen", phase=name))
    req = ReopenTask(actor_id, phase, reason, due_from(due, now or db_now), contact_id)
    update_id = f"reopen:{task_id}:{(version or 1) + 1}"
    if review_status == "closed" and cycle_status == "calibration":
        return await _reopen_closed(client, db, cycle_id, review_id, req, update_id)
    if review_status == "closed":
        raise Conflict(tr("the review of %(employee)s has closed and cycle %(cycle)s has not opened calibration yet; "
                          "reopen it once calibration is open", employee=employee_id, cycle=cycle_id))
    if review_status != "open":
        raise Conflict(tr("the review of %(employee)s has already closed; its score is with calibration, so its "
                          "submissions can no longer be reopened", employee=employee_id))
    handle = client.get_workflow_handle(review_workflow_id(review_id))
    try:
        return await handle.execute_update(ReviewWorkflow.reopen_task, req, id=update_id)
    except WorkflowUpdateFailedError as err:
        raise refusal(err) from None
    except RPCError as err:
        if err.status != RPCStatusCode.NOT_FOUND:
            raise
        raise Conflict(tr("the review of %(employee)s has already closed; its score is with calibration, so its "
                          "submissions can no longer be reopened", employee=employee_id)) from None


async def _reopen_closed(client: Client, db: Database | str, cycle_id: str, review_id: str, req: ReopenTask,
                         update_id: str) -> int:
    """A closed review's task in calibration: an Update on the review's reopen workflow, started when none runs.

    Two HR members reopening the same task at once send the same Update id to the same run, so it applies once and
    both get its version. A run that ended between its start and the Update (its last reopened task just settled)
    is started anew.
    """
    async with as_database(db).connection() as conn:
        config = await cycle_config(conn, cycle_id)
        rows = await (await conn.execute(
            """SELECT r.employee_id, r.reviewer_id, t.kind, t.assignee_id, t.version, t.status
               FROM review r JOIN task t ON t.review_id = r.id WHERE r.id = %s ORDER BY t.id""",
            (review_id,))).fetchall()
    employee_id, reviewer_id = rows[0][0], rows[0][1]
    contacts = [who for _, _, kind, who, _, _ in rows if kind == CUSTOMER_SURVEY]
    # Each task's version by its key in the reopen workflow: the person in a per-person phase, else the phase.
    versions = {task_key(kind, who): v for _, _, kind, who, v, _ in rows}
    inp = ReopenedReviewInput(cycle_id, review_id, employee_id, reviewer_id, contacts, review_rules(config), versions)
    try:  # the cycle's workflow runs through calibration: its task queue is the one the workers serve
        task_queue = (await client.get_workflow_handle(cycle_workflow_id(cycle_id)).describe()).task_queue
    except RPCError as err:
        if err.status != RPCStatusCode.NOT_FOUND:
            raise
        raise Conflict(tr("calibration of cycle %(cycle)s is finalized; submissions can no longer be reopened",
                          cycle=cycle_id)) from None
    for _ in range(START_ATTEMPTS):
        handle = await client.start_workflow(
            ReopenedReviewWorkflow.run, inp, id=reopened_workflow_id(review_id), task_queue=task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE)
        try:
            return await handle.execute_update(ReopenedReviewWorkflow.reopen_task, req, id=update_id)
        except WorkflowUpdateFailedError as err:
            raise refusal(err) from None
        except WorkflowUpdateRPCTimeoutOrCancelledError:
            break  # no answer yet (no worker?): the same reopen again is safe, it applies once
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:
                raise
    raise TryLater(tr("the reopen could not be confirmed yet (is a worker running?); reopening the same again is safe"))


@dataclass
class SubmissionVersionRow:
    """One earlier version of a reopened submission, as HR sees it."""

    task_id: str
    phase: str
    version: int
    submitted_by: str | None
    submitted_at: datetime | None
    content: Any
    reopened_by: str
    reopened_at: datetime
    reason: str
    due_at: datetime
    superseded_at: datetime | None


async def submission_versions(db: Database | str, cycle_id: str, employee_id: str) -> list[SubmissionVersionRow]:
    """Every kept earlier version of this review's submissions, oldest first."""
    async with as_database(db).connection() as conn:
        rows = await (await conn.execute(
            """SELECT task_id, phase, version, submitted_by, submitted_at, content, reopened_by, reopened_at, reason,
                      due_at, superseded_at
               FROM submission_version WHERE review_id = %s ORDER BY reopened_at, task_id, version""",
            (review_id_for(cycle_id, employee_id),))).fetchall()
    return [SubmissionVersionRow(*r) for r in rows]
