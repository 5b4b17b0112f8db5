"""What the API and the pages both do: permission checks against PostgreSQL, then the engine's services.

Submissions go through ``services.tasks`` (the review workflow's Updates, with stable ids) and HR's
actions through ``services.cycles``; nothing here writes a review result itself. Here: who may act on
what (the reviewer of a review, the employee of their own); the services decide everything else, and
their refusals reach the person unchanged (409 for a state conflict, 422 for an invalid request).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from temporalio.service import RPCError, RPCStatusCode

from domain.text import tr
from services import cycles, tasks
from services.cycles import (
    CreatedCycle,
    ParticipantPreview,
    adjust_rating,
    approve_payouts,
    create_cycle,
    finalize_calibration,
    parse_cycle_config,
    preview_participants,
    start_cycle,
)
from services.errors import Conflict, NotFound, message_of
from services.survey_links import SurveyView, claim_link, release_link
from services.users import SessionUser
from webapp.context import AppContext
from webapp.errors import WebError
from webapp.schemas import AdjustIn, ManagerScoreIn, ReassignIn, SelfReviewIn, SurveyAnswerIn
from workflows.payloads import (
    CalibrationSummary,
    ManagerScoreSubmission,
    ReassignReviewer,
    Receipt,
    SelfReviewSubmission,
    SurveySubmission,
)

T = TypeVar("T")


async def _review_task(ctx: AppContext, cycle_id: str, employee_id: str, kind: str) -> tuple | None:
    """(reviewer, task status, completed at, due at) of one task of a review; None when there is no review."""
    async with ctx.pool.connection() as conn:
        return await (await conn.execute(
            """SELECT r.reviewer_id, t.status, t.completed_at, t.due_at FROM review r
               LEFT JOIN task t ON t.review_id = r.id AND t.kind = %s
               WHERE r.cycle_id = %s AND r.employee_id = %s""",
            (kind, cycle_id, employee_id),
        )).fetchone()


async def submit_self_review(ctx: AppContext, user: SessionUser, cycle_id: str, body: SelfReviewIn) -> Receipt:
    emp = user.employee_id or ""
    if await _review_task(ctx, cycle_id, emp, "self_review") is None:
        raise WebError(404, tr("you have no review in cycle %(cycle)s", cycle=cycle_id))
    return await tasks.submit_self_review(
        ctx.client, ctx.pool, cycle_id,
        SelfReviewSubmission(emp, dict(body.ratings), dict(body.evidence), dict(body.kpi_comments)))


async def reviewer_check(ctx: AppContext, user: SessionUser, cycle_id: str, employee_id: str) -> tuple[str | None, ...]:
    """The scoring task of a review this manager is the reviewer of; 403 for anyone else's review."""
    row = await _review_task(ctx, cycle_id, employee_id, "manager_scoring")
    if row is None or row[0] is None or row[0] != user.employee_id:
        raise WebError(403, tr("you are not the reviewer of %(employee)s in cycle %(cycle)s", employee=employee_id,
                                 cycle=cycle_id))
    return row


async def submit_score(ctx: AppContext, user: SessionUser, cycle_id: str, employee_id: str,
                       body: ManagerScoreIn) -> Receipt:
    await reviewer_check(ctx, user, cycle_id, employee_id)
    return await tasks.submit_manager_score(
        ctx.client, ctx.pool, cycle_id, employee_id,
        ManagerScoreSubmission(user.employee_id or "", dict(body.ratings), dict(body.comments), body.potential))


async def answer_survey(ctx: AppContext, body: SurveyAnswerIn) -> tuple[SurveyView, Receipt]:
    """Claim the link, submit through the workflow; give the link back if the answer is refused."""
    async with ctx.pool.connection() as conn:
        view = await claim_link(conn, body.token)
    try:
        receipt = await tasks.submit_survey(
            ctx.client, ctx.pool, view.cycle_id, view.employee_id,
            SurveySubmission(view.contact_id, body.satisfaction, body.nps, body.comment))
    except Conflict as err:
        async with ctx.pool.connection() as conn:
            await release_link(conn, body.token)
        if "already answered" in str(err):
            raise
        raise WebError(410, tr("this survey is closed; answers are no longer accepted")) from None
    except Exception:  # refused by the workflow, or Temporal unreachable: the customer may try again
        async with ctx.pool.connection() as conn:
            await release_link(conn, body.token)
        raise
    return view, receipt


# -- HR --------------------------------------------------------------------------------------------


async def create_cycle_from_yaml(ctx: AppContext, user: SessionUser, text: str) -> CreatedCycle:
    config = parse_cycle_config(text, tr("configuration"))  # what HR pasted, named in their language
    return await create_cycle(ctx.pool, config, user.username)


async def preview_cycle_from_yaml(ctx: AppContext, text: str) -> ParticipantPreview:
    """Who the pasted configuration would review; nothing is created."""
    return await preview_participants(ctx.pool, parse_cycle_config(text, tr("configuration")))


async def _cycle_exists(ctx: AppContext, cycle_id: str) -> None:
    async with ctx.pool.connection() as conn:
        if await (await conn.execute("SELECT 1 FROM review_cycle WHERE id = %s", (cycle_id,))).fetchone() is None:
            raise WebError(404, tr("cycle %(cycle)s does not exist", cycle=cycle_id))


async def start(ctx: AppContext, cycle_id: str) -> str:
    await _cycle_exists(ctx, cycle_id)
    return await start_cycle(ctx.client, ctx.database_url, cycle_id, ctx.task_queue)


async def _cycle_action(ctx: AppContext, cycle_id: str, call: Callable[[], Awaitable[T]]) -> T:
    await _cycle_exists(ctx, cycle_id)
    try:
        return await call()
    except NotFound as err:  # the cycle workflow is not running: a state conflict, not a missing thing
        raise WebError(409, message_of(err)) from None


async def adjust(ctx: AppContext, user: SessionUser, cycle_id: str, body: AdjustIn) -> int:
    return await _cycle_action(ctx, cycle_id, lambda: adjust_rating(
        ctx.client, ctx.pool, cycle_id, body.employee_id, body.level, body.reason, user.username, body.request_id))


async def finalize(ctx: AppContext, user: SessionUser, cycle_id: str) -> CalibrationSummary:
    return await _cycle_action(ctx, cycle_id, lambda: finalize_calibration(ctx.client, ctx.pool, cycle_id, user.username))


async def approve(ctx: AppContext, user: SessionUser, cycle_id: str) -> int:
    # After lock, an approval approves a pending correction's delta lines. Who may approve is the service's
    # rule (payroll; HR only where the setting allows), applied to the signed-in user's roles.
    return await _cycle_action(ctx, cycle_id,
                               lambda: approve_payouts(ctx.client, ctx.pool, cycle_id, user.username, user.roles))


async def retry_incentives(ctx: AppContext, user: SessionUser, cycle_id: str) -> str:
    return await _cycle_action(ctx, cycle_id, lambda: cycles.retry_incentives(ctx.client, cycle_id, user.username))


async def reassign(ctx: AppContext, user: SessionUser, cycle_id: str, body: ReassignIn) -> str:
    """Only to someone who can score (the service decides and says why not), only while scoring is open."""
    await _cycle_exists(ctx, cycle_id)
    async with ctx.pool.connection() as conn:
        row = await (await conn.execute(
            """SELECT r.status, t.status FROM review r
               LEFT JOIN task t ON t.review_id = r.id AND t.kind = 'manager_scoring'
               WHERE r.cycle_id = %s AND r.employee_id = %s""",
            (cycle_id, body.employee_id),
        )).fetchone()
    if row is None:
        raise WebError(404, tr("%(employee)s has no review in cycle %(cycle)s", employee=body.employee_id,
                               cycle=cycle_id))
    if row[0] != "open" or row[1] != "open":
        raise WebError(409, tr("the scoring of %(employee)s is not open, so its reviewer cannot change",
                               employee=body.employee_id))
    try:
        return await tasks.reassign_reviewer(
            ctx.client, ctx.pool, cycle_id, body.employee_id, ReassignReviewer(user.username, body.new_reviewer_id, body.reason))
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise WebError(409, tr("the review of %(employee)s has closed; its reviewer cannot change",
                                   employee=body.employee_id)) from None
        raise
