"""Peer feedback (360): the KAM nominates, the reviewer approves, peers answer, everyone reads the aggregate.

The one service layer for the CLI (`kamreview peers ...`) and the pages. Steps go through the review workflow's
Updates (their validators decide the rules without I/O); what needs the database is checked here first: a peer
must be an employee of the company today. Reading goes through :func:`peer_view` only, which shows the answers
in aggregate and only at or above the cycle's ``min_answers`` (docs/peer-feedback.md).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from decimal import Decimal

from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from activities.reviews import peer_aggregate
from domain.cycle import CycleConfig
from domain.phases import PEER_FEEDBACK, link_for
from domain.text import tr
from services.db import Database, as_database
from services.errors import Conflict, Forbidden, NotFound, Rejected, refusal
from services.inbox import TaskRow, tasks_of
from services.people import cycle_config
from workflows.payloads import (
    PEER_APPROVAL,
    PEER_NOMINATION,
    PeerApproval,
    PeerFeedbackSubmission,
    PeerNomination,
    Receipt,
    review_id_for,
    review_workflow_id,
    task_id_for,
)
from workflows.review import ReviewWorkflow


def _digest(*parts: object) -> str:
    return hashlib.sha256(json.dumps(list(parts), sort_keys=True).encode()).hexdigest()[:16]


async def _config_with_peers(db: Database, cycle_id: str) -> CycleConfig:
    async with db.connection() as conn:
        config = await cycle_config(conn, cycle_id)
    if config.peer_feedback is None:
        raise Rejected(tr("cycle %(cycle)s has no peer feedback", cycle=cycle_id))
    return config


async def _update(client: Client, employee_id: str, review_id: str, update: object, arg: object,
                  update_id: str) -> Receipt:
    handle = client.get_workflow_handle(review_workflow_id(review_id))
    try:
        return await handle.execute_update(update, arg, id=update_id)  # type: ignore[call-overload]
    except WorkflowUpdateFailedError as err:
        raise refusal(err) from None
    except RPCError as err:
        if err.status != RPCStatusCode.NOT_FOUND:
            raise
        raise Conflict(tr("the review of %(employee)s is not running (not started yet, or closed)",
                          employee=employee_id)) from None


async def nominate(client: Client, db: Database | str, cycle_id: str, employee_id: str, actor_id: str,
                   peer_ids: list[str]) -> Receipt:
    """The KAM nominates colleagues; each must be an employee of the company today (not a customer, not a leaver)."""
    database = as_database(db)
    await _config_with_peers(database, cycle_id)
    peer_ids = [p.strip() for p in peer_ids if p and p.strip()]
    async with database.connection() as conn:
        rows = await (await conn.execute(
            """SELECT id FROM employee WHERE id = ANY(%s)
                 AND (hire_date IS NULL OR hire_date <= current_date)
                 AND (termination_date IS NULL OR termination_date >= current_date)""", (peer_ids,))).fetchall()
    if unknown := sorted(set(peer_ids) - {r[0] for r in rows}):
        raise Rejected(tr("%(who)s is not a current employee; nominate colleagues from the company",
                          who=", ".join(unknown)))
    review_id = review_id_for(cycle_id, employee_id)
    return await _update(client, employee_id, review_id, ReviewWorkflow.nominate_peers,
                         PeerNomination(actor_id, peer_ids),
                         f"{task_id_for(review_id, PEER_NOMINATION)}:submit:{_digest(actor_id, peer_ids)}")


async def nominated(db: Database | str, cycle_id: str, employee_id: str) -> list[tuple[str, str, bool]]:
    """(id, name, approved) of the colleagues the KAM nominated: for the KAM and the reviewer, never the answers."""
    async with as_database(db).connection() as conn:
        rows = await (await conn.execute(
            """SELECT n.peer_id, e.name, n.approved_at IS NOT NULL FROM peer_nomination n
               JOIN employee e ON e.id = n.peer_id WHERE n.review_id = %s ORDER BY e.name, n.peer_id""",
            (review_id_for(cycle_id, employee_id),))).fetchall()
    return [tuple(r) for r in rows]


async def approve(client: Client, db: Database | str, cycle_id: str, employee_id: str, actor_id: str,
                  peer_ids: list[str] | None = None) -> Receipt:
    """The reviewer approves the nomination: all of it, or the colleagues listed (at least min_answers of them)."""
    database = as_database(db)
    async with database.connection() as conn:
        row = await (await conn.execute("SELECT reviewer_id FROM review WHERE id = %s",
                                        (review_id_for(cycle_id, employee_id),))).fetchone()
    if row is None:
        raise NotFound(tr("no review for %(employee)s in cycle %(cycle)s", employee=employee_id, cycle=cycle_id))
    if row[0] != actor_id:
        raise Forbidden(tr("%(who)s may not approve the peers of %(employee)s; the reviewer is %(reviewer)s",
                           who=actor_id, employee=employee_id, reviewer=row[0] or "-"))
    await _config_with_peers(database, cycle_id)
    if peer_ids is None:
        peer_ids = [p for p, _, _ in await nominated(database, cycle_id, employee_id)]
    review_id = review_id_for(cycle_id, employee_id)
    return await _update(client, employee_id, review_id, ReviewWorkflow.approve_peers,
                         PeerApproval(actor_id, sorted(peer_ids)),
                         f"{task_id_for(review_id, PEER_APPROVAL)}:submit:{_digest(actor_id, sorted(peer_ids))}")


async def answer(client: Client, db: Database | str, cycle_id: str, employee_id: str, peer_id: str,
                 ratings: dict[str, int]) -> Receipt:
    """A peer's answers about a colleague; once (a repeat of the same answers gets the first receipt)."""
    database = as_database(db)
    await _config_with_peers(database, cycle_id)
    review_id = review_id_for(cycle_id, employee_id)
    task_id = task_id_for(review_id, "peer_feedback", peer_id)
    return await _update(client, employee_id, review_id, ReviewWorkflow.submit_peer_feedback,
                         PeerFeedbackSubmission(peer_id, dict(ratings)),
                         f"{task_id}:submit:{_digest(peer_id, ratings)}")


@dataclass
class PeerView:
    """What a reader may see of a review's peer feedback.

    ``shown`` False: nothing about the answers (not their number) except ``answered`` for HR, who chases them.
    """

    cycle_id: str
    employee_id: str
    min_answers: int
    shown: bool
    enabled: bool = True  # False: the cycle has no peer feedback (nothing else is set)
    questions: list[tuple[str, str]] = field(default_factory=list)  # (id, text in the reader's language)
    averages: dict[str, Decimal] = field(default_factory=dict)
    overall: Decimal | None = None
    answers: int | None = None  # shown: how many answered (it is at least min_answers)
    answered: int | None = None  # HR only: how many answered so far, whatever the threshold
    asked: int | None = None  # HR only: how many peers were approved
    explanation: str = ""


async def peer_view(db: Database | str, cycle_id: str, employee_id: str, viewer_id: str, *, hr: bool | None = None,
                    locale: str = "en") -> PeerView:
    """The aggregate for the KAM themselves, their reviewer or HR; anyone else is refused.

    ``hr``: the web passes the signed-in user's role; None (the CLI) reads the viewer's role from the org."""
    database = as_database(db)
    async with database.connection() as conn:
        config = await cycle_config(conn, cycle_id)
    peers = config.peer_feedback
    review_id = review_id_for(cycle_id, employee_id)
    async with database.connection() as conn:
        row = await (await conn.execute("SELECT reviewer_id FROM review WHERE id = %s", (review_id,))).fetchone()
        if row is None:
            raise NotFound(tr("no review for %(employee)s in cycle %(cycle)s", employee=employee_id, cycle=cycle_id))
        if hr is None:
            role = await (await conn.execute("SELECT role FROM employee WHERE id = %s", (viewer_id,))).fetchone()
            hr = role is not None and role[0] == "hr"
        if not hr and viewer_id not in (employee_id, row[0]):
            raise Forbidden(tr("only %(employee)s, their reviewer and HR can see this peer feedback",
                               employee=employee_id))
        if peers is None:  # after the viewer check: whether a cycle has peer feedback is no secret, whose review is
            return PeerView(cycle_id, employee_id, 0, False, enabled=False)
        agg = await peer_aggregate(conn, config, review_id)
        counts = None
        if hr:
            counts = await (await conn.execute(
                """SELECT count(*) FILTER (WHERE status = 'done'), count(*) FROM task
                   WHERE review_id = %s AND kind = 'peer_feedback'""", (review_id,))).fetchone()
    assert agg is not None
    scored = bool(config.scorecard.component_weights.peer_feedback)
    view = PeerView(cycle_id, employee_id, peers.min_answers, agg.shown,
                    questions=[(q.id, q.text(locale)) for q in peers.questions], explanation=agg.explanation(scored))
    if agg.shown:
        view.averages, view.overall, view.answers = dict(agg.averages), agg.overall, agg.answers
    if counts is not None:
        view.answered, view.asked = counts
    return view


@dataclass
class PeerSteps:
    """Where a review's peer feedback stands, for the KAM's and the reviewer's pages (never who answered)."""

    enabled: bool
    nomination: str | None = None  # the nomination task's status: open | done | missed | cancelled
    approval: str | None = None
    nominated: list[tuple[str, str, bool]] = field(default_factory=list)  # (id, name, approved)
    questions: list[tuple[str, str]] = field(default_factory=list)
    min_answers: int = 0
    max_peers: int = 0
    scale: tuple[int, int] = (1, 5)
    # who can be nominated: (id, name, teammate), the KAM's teammates (same manager) first, then by name
    colleagues: list[tuple[str, str, bool]] = field(default_factory=list)
    cycle_name: str = ""  # what the page's heading says: the cycle's and the KAM's names, not their ids
    employee_name: str = ""
    more_colleagues: bool = False  # more than COLLEAGUES_LISTED could be nominated: the page also takes typed ids


COLLEAGUES_LISTED = 500  # ticked by name on the nomination page; beyond, a colleague's id is typed


async def peer_steps(db: Database | str, cycle_id: str, employee_id: str, locale: str = "en") -> PeerSteps:
    database = as_database(db)
    review_id = review_id_for(cycle_id, employee_id)
    async with database.connection() as conn:
        config = await cycle_config(conn, cycle_id)
        peers = config.peer_feedback
        names = await (await conn.execute(
            "SELECT (SELECT name FROM review_cycle WHERE id = %s), (SELECT name FROM employee WHERE id = %s)",
            (cycle_id, employee_id))).fetchone()
        cycle_name, employee_name = names[0] or cycle_id, names[1] or employee_id
        if peers is None:
            return PeerSteps(enabled=False, cycle_name=cycle_name, employee_name=employee_name)
        tasks = dict(await (await conn.execute(
            "SELECT kind, status FROM task WHERE id = ANY(%s)",
            ([task_id_for(review_id, PEER_NOMINATION), task_id_for(review_id, PEER_APPROVAL)],))).fetchall())
        colleagues = await (await conn.execute(
            """SELECT e.id, e.name, e.manager_id IS NOT NULL AND e.manager_id = k.manager_id AS teammate
               FROM employee e, (SELECT manager_id FROM employee WHERE id = %(kam)s) k
               WHERE e.id <> %(kam)s
                 AND e.id IS DISTINCT FROM (SELECT reviewer_id FROM review WHERE id = %(review)s)
                 AND (e.hire_date IS NULL OR e.hire_date <= current_date)
                 AND (e.termination_date IS NULL OR e.termination_date >= current_date)
               ORDER BY teammate DESC, e.name, e.id LIMIT %(limit)s""",
            {"kam": employee_id, "review": review_id, "limit": COLLEAGUES_LISTED + 1})).fetchall()
    return PeerSteps(True, tasks.get(PEER_NOMINATION), tasks.get(PEER_APPROVAL),
                     await nominated(database, cycle_id, employee_id),
                     [(q.id, q.text(locale)) for q in peers.questions], peers.min_answers, peers.max_peers,
                     (peers.scale_min, peers.scale_max), [tuple(c) for c in colleagues[:COLLEAGUES_LISTED]],
                     cycle_name, employee_name, len(colleagues) > COLLEAGUES_LISTED)


async def my_peer_task(db: Database | str, cycle_id: str, employee_id: str, peer_id: str) -> str | None:
    """The status of this peer's form about ``employee_id`` (open | done | missed ...), None when not asked."""
    async with as_database(db).connection() as conn:
        row = await (await conn.execute(
            "SELECT status FROM task WHERE id = %s AND assignee_id = %s",
            (task_id_for(review_id_for(cycle_id, employee_id), "peer_feedback", peer_id), peer_id))).fetchone()
    return row[0] if row else None


PEER_TASK_KINDS = (PEER_NOMINATION, PEER_APPROVAL, PEER_FEEDBACK)


async def peer_tasks(conn: object, assignee_id: str) -> list[tuple[TaskRow, str]]:
    """A person's open peer feedback tasks (nominate, approve, answer), each with the page where it is done."""
    rows = [t for kind in PEER_TASK_KINDS for t in await tasks_of(conn, assignee_id, kind)]  # type: ignore[arg-type]
    rows.sort(key=lambda t: (t.due_at, t.task_id))
    return [(t, link_for(t.kind, t.cycle_id, t.subject_employee_id)) for t in rows]
