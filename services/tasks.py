"""People's tasks: list the inbox from PostgreSQL, submit through the review workflow's Updates.

A submission's Update id is derived from its task and its content: a double click, a retry after a
timeout or a replayed request with the same content is applied exactly once and gets the first
receipt; a different submission for a task already done is refused, saying when and by whom the
first one came in. The happy path is one indexed read (the task's version: a task HR reopened takes its next
version under a new Update id) and one Update; PostgreSQL is otherwise read only when the workflow cannot
answer (not started yet, or finished), so every answer stays true after the review has closed too. A task HR
reopened after its review closed (in calibration) is submitted to that review's reopen workflow instead
(workflows/reopened.py), through the Updates of the same names and with the same checks.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from activities.reviews import review_rules
from domain.phases import PHASE_BY_KEY, PhaseDefinition
from domain.text import N_, tr
from services.db import Database, as_database
from services.errors import Conflict, NotFound, Rejected, TryLater, refusal
from services.people import cycle_config
from services.temporal import query_status
from workflows.common import user_text
from workflows.payloads import (
    CUSTOMER_SURVEY,
    MANAGER_SCORING,
    SELF_REVIEW,
    ManagerScoreSubmission,
    ReassignReviewer,
    Receipt,
    ReviewRules,
    ReviewStatus,
    SelfReviewSubmission,
    SurveySubmission,
    TaskSubmission,
    phase_task_id,
    reopened_workflow_id,
    review_id_for,
    review_workflow_id,
    self_review_comments,
    submission_digest,
    survey_comments,
    task_id_for,
)
from workflows.reopened import ReopenedReviewWorkflow
from workflows.review import ReviewWorkflow
from workflows.review_rules import already_submitted, check_submission, check_submitter, phase_text

# A submission while its review workflow has not started yet (a batch still opening, or no worker
# running) waits this long for the start before it says "starting, try again".
START_WAIT_S = 10.0
# How often it looks in the meantime (an Update, a describe and a read of the task). Within 0.1 s of the start: with
# 0.25 s the first submission of a cycle of 500 was taken 0.45-0.72 s after its start, now 0.28-0.57 s
# (bench/README.md, session 28). The poll costs the server two cheap NOT_FOUND answers.
START_POLL_S = 0.1
# A submission whose Update got no answer (the worker restarting) is sent again, under the same id, this long.
UPDATE_WAIT_S = 60.0
# A task reopened after its review closed is resubmitted to the review's reopen workflow (workflows/reopened.py):
# the same Updates, the same checks (a phase defined only in the registry: its submit_task).
REOPENED_UPDATES: dict[str, Any] = {
    SELF_REVIEW: ReopenedReviewWorkflow.submit_self_review,
    MANAGER_SCORING: ReopenedReviewWorkflow.submit_manager_score,
    CUSTOMER_SURVEY: ReopenedReviewWorkflow.submit_survey,
}


# -- what PostgreSQL knows about a task, for the answers the workflow cannot give ---------------------


@dataclass
class _Task:
    review_status: str
    employee_id: str
    reviewer_id: str | None
    rules: ReviewRules
    zone: str
    status: str | None  # None: the task does not exist (yet)
    completed_at: datetime | None
    due_at: datetime | None
    digest: str | None  # of the accepted submission
    submitted_by: str | None

    def local(self, at: datetime) -> datetime:
        """The instant in the cycle's zone: the edge shows it in the reader's, the CLI as it is."""
        return at.astimezone(ZoneInfo(self.zone))


async def _task(db: Database, review_id: str, task_id: str) -> _Task | None:
    async with db.connection() as conn:
        row = await (await conn.execute(
            """SELECT r.status, r.employee_id, r.reviewer_id, r.cycle_id, t.status, t.completed_at, t.due_at,
                      a.after ->> 'digest', a.actor
               FROM review r
               LEFT JOIN task t ON t.id = %(task)s
               LEFT JOIN audit_log a ON a.event_key = 'task.submitted:' || %(task)s
                                        || CASE WHEN t.version > 1 THEN ':v' || t.version ELSE '' END
               WHERE r.id = %(review)s""",
            {"review": review_id, "task": task_id},
        )).fetchone()
        if row is None:
            return None
        config = await cycle_config(conn, row[3])
    return _Task(row[0], row[1], row[2], review_rules(config), config.timezone, *row[4:])


@dataclass
class _Submission:
    """One submission, with what the service needs to answer for it without the workflow."""

    review_id: str
    phase: str
    task_id: str
    actor: str
    digest: str
    update: Any
    arg: Any
    check: Callable[[ReviewRules], None]  # raises ApplicationError for invalid content


async def _answer_from_database(db: Database, s: _Submission, *, started: bool, task: _Task | None = None) -> Receipt:
    """The true answer for a submission the workflow could not take: refused, its first receipt, or 'try later'.

    ``task``: what PostgreSQL says of it, when the caller has just read it.
    """
    task = task or await _task(db, s.review_id, s.task_id)
    name = phase_text(s.phase)
    if task is None:
        raise NotFound(tr("review %(review)s does not exist; nothing can be submitted", review=s.review_id))
    # Who and what first: the wrong person or an impossible value is refused whatever the task's state. The same
    # check as the workflow's; a contact counts as invited when PostgreSQL has their task (or the review is pending).
    invited = task.status is not None or task.review_status == "pending"
    try:
        check_submitter(s.phase, s.actor, employee=task.employee_id, reviewer=task.reviewer_id,
                        contacts=(s.actor,) if invited else (), peers=(s.actor,))
    except ApplicationError as err:
        raise Rejected(user_text(err)) from None
    try:
        s.check(task.rules)
    except ApplicationError as err:
        raise Rejected(user_text(err)) from None
    if task.status == "done":
        if task.digest == s.digest:
            assert task.completed_at is not None
            return Receipt(s.task_id, task.completed_at)
        raise Conflict(user_text(already_submitted(
            s.phase, task.local(task.completed_at) if task.completed_at else None, task.submitted_by)))
    if task.review_status == "cancelled" or task.status == "cancelled":
        raise Conflict(tr("review %(review)s was cancelled with its cycle; nothing can be submitted", review=s.review_id))
    if task.status == "missed" or task.review_status == "closed":
        if task.due_at:
            raise Conflict(tr("the %(phase)s of %(employee)s closed at its deadline %(due)s; nothing can be submitted "
                              "any more", phase=name, employee=task.employee_id, due=task.local(task.due_at)))
        raise Conflict(tr("the %(phase)s of %(employee)s closed; nothing can be submitted any more", phase=name,
                          employee=task.employee_id))
    if started:  # running, yet it refused to take the Update: should not happen; say what we know
        raise TryLater(tr("the %(phase)s of %(employee)s could not be taken just now; please try again", phase=name,
                          employee=task.employee_id))
    raise TryLater(tr("the review of %(employee)s is starting (its workflow has not started yet); "
                      "please try again in a minute", employee=task.employee_id))


async def _submit(client: Client, db: Database | str, s: _Submission) -> Receipt:
    database = as_database(db)
    # A task HR reopened awaits its next version: the same content as the first one is still a new submission.
    async with database.connection() as conn:
        row = await (await conn.execute(
            "SELECT t.version, r.status FROM task t JOIN review r ON r.id = t.review_id WHERE t.id = %s",
            (s.task_id,))).fetchone()
    version = f":v{row[0]}" if row and row[0] > 1 else ""
    handle = client.get_workflow_handle(review_workflow_id(s.review_id))
    if version and row[1] == "closed":  # reopened in calibration: the review's reopen workflow takes it
        handle = client.get_workflow_handle(reopened_workflow_id(s.review_id))
        s = dataclasses.replace(s, update=REOPENED_UPDATES.get(s.phase, ReopenedReviewWorkflow.submit_task))
    loop = asyncio.get_running_loop()
    give_up_at = loop.time() + START_WAIT_S
    while True:
        try:
            return await handle.execute_update(s.update, s.arg, id=f"{s.task_id}{version}:submit:{s.digest}")
        except WorkflowUpdateRPCTimeoutOrCancelledError:
            # No answer yet (a worker restarting): the same Update id again is safe, it applies once.
            if loop.time() >= give_up_at + UPDATE_WAIT_S:
                raise TryLater(tr("the %(phase)s could not be confirmed yet (is a worker running?); "
                                  "submitting the same again is safe", phase=phase_text(s.phase))) from None
            continue
        except WorkflowUpdateFailedError as err:
            refused = refusal(err)
            if isinstance(refused, Conflict):  # once it is stored, say when in the cycle's time zone
                task = await _task(database, s.review_id, s.task_id)
                if task is not None and task.status == "done":
                    return await _answer_from_database(database, s, started=True, task=task)
            raise refused from None
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:
                raise
        try:
            status = (await handle.describe()).status
        except RPCError:
            status = None  # not started (yet)
        if status is not None and status != WorkflowExecutionStatus.RUNNING:
            return await _answer_from_database(database, s, started=True)
        if status is None:
            # Not started yet: what PostgreSQL knows may settle it now (no such review, the wrong person);
            # otherwise wait a bounded time for the start, then say it is starting.
            try:
                return await _answer_from_database(database, s, started=False)
            except TryLater:
                if loop.time() >= give_up_at:
                    raise
        elif loop.time() >= give_up_at:  # running, yet the Update keeps missing it: say so rather than spin
            return await _answer_from_database(database, s, started=True)
        await asyncio.sleep(START_POLL_S)


async def submit_self_review(client: Client, db: Database | str, cycle_id: str, sub: SelfReviewSubmission) -> Receipt:
    review_id = review_id_for(cycle_id, sub.actor_id)
    digest = submission_digest(sub.actor_id, dict(sub.ratings), self_review_comments(sub))
    return await _submit(client, db, _Submission(
        review_id, SELF_REVIEW, task_id_for(review_id, SELF_REVIEW), sub.actor_id, digest,
        ReviewWorkflow.submit_self_review, sub, lambda rules: check_submission(SELF_REVIEW, sub, rules)))


async def submit_manager_score(client: Client, db: Database | str, cycle_id: str, employee_id: str,
                               sub: ManagerScoreSubmission) -> Receipt:
    review_id = review_id_for(cycle_id, employee_id)
    digest = submission_digest(sub.actor_id, dict(sub.ratings), dict(sub.comments), potential=sub.potential)
    return await _submit(client, db, _Submission(
        review_id, MANAGER_SCORING, task_id_for(review_id, MANAGER_SCORING), sub.actor_id, digest,
        ReviewWorkflow.submit_manager_score, sub, lambda rules: check_submission(MANAGER_SCORING, sub, rules)))


async def submit_survey(client: Client, db: Database | str, cycle_id: str, employee_id: str,
                        sub: SurveySubmission) -> Receipt:
    review_id = review_id_for(cycle_id, employee_id)
    digest = submission_digest(sub.contact_id, {}, survey_comments(sub), satisfaction=sub.satisfaction, nps=sub.nps)
    return await _submit(client, db, _Submission(
        review_id, CUSTOMER_SURVEY, task_id_for(review_id, CUSTOMER_SURVEY, sub.contact_id), sub.contact_id, digest,
        ReviewWorkflow.submit_survey, sub, lambda rules: check_submission(CUSTOMER_SURVEY, sub, rules)))


def _generic_phase(phase: str) -> PhaseDefinition:
    """A phase submitted through the generic ``submit_task`` (defined only in the registry), else not found."""
    definition = PHASE_BY_KEY.get(phase)
    if definition is None or definition.update != "submit_task":
        raise NotFound(tr("there is no phase %(phase)s to submit", phase=repr(phase)))
    return definition


async def submit_task(client: Client, db: Database | str, cycle_id: str, employee_id: str,
                      sub: TaskSubmission) -> Receipt:
    """A submission to a phase defined only in the registry (its definition's Update is ``submit_task``), with the
    same receipts, refusals and answers from PostgreSQL as the first phases' submissions."""
    _generic_phase(sub.phase)
    review_id = review_id_for(cycle_id, employee_id)
    task_id = phase_task_id(review_id, sub.phase, sub.actor_id)
    digest = submission_digest(sub.actor_id, dict(sub.ratings), dict(sub.comments))
    return await _submit(client, db, _Submission(
        review_id, sub.phase, task_id, sub.actor_id, digest, ReviewWorkflow.submit_task, sub,
        lambda rules: check_submission(sub.phase, sub, rules)))


@dataclass(frozen=True)
class PhaseForm:
    """What the generic form of a phase shows its reader: the phase, whose review, and the reader's task in it."""

    definition: PhaseDefinition
    cycle_name: str
    employee_name: str
    timezone: str
    status: str | None  # the reader's task: open | done | missed | cancelled; None when they were not asked
    due_at: datetime | None


async def phase_form(db: Database | str, cycle_id: str, phase: str, employee_id: str, viewer: str) -> PhaseForm:
    """The reader's task in a phase defined only in the registry (its definition's generic form), from PostgreSQL."""
    definition = _generic_phase(phase)
    review_id = review_id_for(cycle_id, employee_id)
    task_id = phase_task_id(review_id, phase, viewer)
    async with as_database(db).connection() as conn:
        row = await (await conn.execute(
            """SELECT c.name, e.name, t.status, t.due_at FROM review r
               JOIN review_cycle c ON c.id = r.cycle_id JOIN employee e ON e.id = r.employee_id
               LEFT JOIN task t ON t.id = %s AND t.assignee_id = %s WHERE r.id = %s""",
            (task_id, viewer, review_id))).fetchone()
        if row is None:
            raise NotFound(tr("review %(review)s does not exist; nothing can be submitted", review=review_id))
        zone = (await cycle_config(conn, cycle_id)).timezone
    cycle_name, employee_name, status, due_at = row
    return PhaseForm(definition, cycle_name, employee_name, zone, status, due_at)


ROLE_WORDS = {"kam": N_("a key account manager"), "hr": N_("in HR"), "payroll": N_("in payroll"),
              "other": N_("not a manager")}

# Who can score a review: a manager employed today whose sign-in (if they have one) lets them in as a
# manager. Without that a reassigned review is a dead end: nobody can open it (issue 5).
_SCORER = """e.role = 'manager'
    AND (e.hire_date IS NULL OR e.hire_date <= current_date)
    AND (e.termination_date IS NULL OR e.termination_date >= current_date)
    AND (NOT EXISTS (SELECT 1 FROM web_user w WHERE w.employee_id = e.id)
         OR EXISTS (SELECT 1 FROM web_user w WHERE w.employee_id = e.id AND 'manager' = ANY(w.roles)
                    AND NOT w.disabled))"""


async def scorers(conn: Any) -> list[tuple[str, str]]:
    """(id, name) of everyone a review can be reassigned to, by name: the choices HR is offered."""
    return [tuple(r) for r in await (await conn.execute(
        f"SELECT e.id, e.name FROM employee e WHERE {_SCORER} ORDER BY e.name, e.id")).fetchall()]


async def check_scorer(conn: Any, employee_id: str, new_reviewer_id: str) -> None:
    """Refuse, with a reason HR can act on, anyone who could not score this review."""
    row = await (await conn.execute(
        f"""SELECT e.name, e.role, e.termination_date IS NOT NULL AND e.termination_date < current_date,
                   e.hire_date IS NOT NULL AND e.hire_date > current_date, {_SCORER}
            FROM employee e WHERE e.id = %s""", (new_reviewer_id,))).fetchone()
    if row is None:
        raise Rejected(tr("employee %(who)s does not exist", who=new_reviewer_id))
    name, role, left, not_yet, can_score = row
    if new_reviewer_id == employee_id:
        raise Rejected(tr("%(name)s cannot score their own review; choose another manager", name=name))
    if role != "manager":
        raise Rejected(tr("%(who)s cannot score reviews (%(name)s is %(role)s); choose a manager", who=new_reviewer_id,
                          name=name, role=tr(ROLE_WORDS.get(role, "not a manager"))))
    if left:
        raise Rejected(tr("%(name)s has left the company; choose a current manager", name=name))
    if not_yet:
        raise Rejected(tr("%(name)s has not joined the company yet; choose a current manager", name=name))
    if not can_score:
        raise Rejected(tr("%(name)s cannot sign in as a manager (their sign-in is disabled or lacks the manager "
                          "role), so they could not open the review; choose another manager", name=name))


async def reassign_reviewer(client: Client, db: Database | str, cycle_id: str, employee_id: str,
                            req: ReassignReviewer) -> str:
    """Hand a review's scoring to another manager; only someone who can score it is accepted."""
    review_id = review_id_for(cycle_id, employee_id)
    async with as_database(db).connection() as conn:
        await check_scorer(conn, employee_id, req.new_reviewer_id)
        (earlier,) = await (await conn.execute(
            "SELECT count(*) FROM audit_log WHERE action = 'review.reviewer_reassigned' AND entity_id = %s",
            (review_id,))).fetchone()
    handle = client.get_workflow_handle(review_workflow_id(review_id))
    try:
        # Named by how many reassignments came before: a retry of this one applies once, a later one is new.
        return await handle.execute_update(ReviewWorkflow.reassign_reviewer, req,
                                           id=f"reassign:{review_id}:{earlier}:{req.new_reviewer_id}")
    except WorkflowUpdateFailedError as err:
        raise refusal(err) from None


async def review_status(client: Client, cycle_id: str, employee_id: str) -> ReviewStatus:
    handle = client.get_workflow_handle(review_workflow_id(review_id_for(cycle_id, employee_id)))
    try:
        return await query_status(handle, ReviewWorkflow.status)
    except RPCError as err:
        raise NotFound(tr("no running review for %(employee)s in cycle %(cycle)s", employee=employee_id,
                          cycle=cycle_id)) from err
