"""Reopen and sign-off: HR reopens a submitted task; after release the results conversation and acknowledgment.

The reopen goes through ``services.reopen`` (an Update on the review workflow); the sign-off through
``services.signoff`` (audited rows after release). Who may do what: HR reopens; the reviewer records the
conversation (another manager is refused); the KAM answers for their own results only (docs/reopen-and-sign-off.md).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field, StringConstraints, ValidationError
from pydantic.functional_validators import AfterValidator

from domain.inputs import clean_text
from domain.text import tr
from services import reopen, signoff
from services.errors import UserError
from services.participant import participant
from services.users import SessionUser
from webapp.auth import api_user, page_user
from webapp.context import AppContext, get_ctx
from webapp.errors import WebError, from_user_error
from webapp.pages import form_text, pydantic_message, redirect, render, say
from webapp.routers.employee import render_results
from webapp.routers.participant import peer_for
from webapp.schemas import CycleIdPath, EmployeeId, EmployeeIdPath, ErrorOut, Reason, _In

api = APIRouter(tags=["sign-off"], responses={
    401: {"model": ErrorOut}, 403: {"model": ErrorOut}, 404: {"model": ErrorOut}, 409: {"model": ErrorOut},
    422: {"model": ErrorOut}})
pages = APIRouter(include_in_schema=False)
Comment = Annotated[str, StringConstraints(max_length=signoff.MAX_COMMENT), AfterValidator(clean_text)]
Due = Annotated[str, StringConstraints(min_length=1, max_length=16, pattern=r"^\s*\d+(\.\d+)?\s*[smhdw]\s*$")]


# -- bodies ----------------------------------------------------------------------------------------------


class ReopenIn(_In):
    # Any phase whose Storage says what a resubmission replaces (services.reopen refuses the others).
    task: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")] = Field(
        description="the phase: self_review, manager_scoring, customer_survey or a phase defined in the registry",
        examples=["manager_scoring"])
    reason: Reason
    due: Due = Field(default=reopen.DEFAULT_DUE, description="time to submit again: 3d, 12h, 2w")
    contact_id: EmployeeId | None = Field(default=None, description="the contact whose survey answer is reopened")


class ReopenedOut(BaseModel):
    employee_id: str
    task: str
    version: int = Field(description="the version the resubmission will be (2 after the first reopen)")


class ConversationIn(_In):
    held_on: date


class ResponseIn(_In):
    response: Literal["acknowledged", "disagreed"]
    comment: Comment | None = None


class SignOffOut(BaseModel):
    cycle_id: str
    employee_id: str
    employee_name: str
    reviewer_id: str | None
    conversation_on: date | None
    response: str | None
    comment: str | None
    responded_at: str | None

    @classmethod
    def of(cls, s: signoff.SignOff) -> SignOffOut:
        return cls(cycle_id=s.cycle_id, employee_id=s.employee_id, employee_name=s.employee_name,
                   reviewer_id=s.reviewer_id, conversation_on=s.conversation_on, response=s.response,
                   comment=s.comment, responded_at=s.responded_at.isoformat() if s.responded_at else None)


class SignOffProgressOut(BaseModel):
    cycle_id: str
    total: int
    conversation_held: int
    acknowledged: int
    disagreed: int
    pending: int
    disagreements: list[SignOffOut]


# -- reopen (HR) -----------------------------------------------------------------------------------------


async def _reopen(ctx: AppContext, user: SessionUser, cycle_id: str, employee_id: str, body: ReopenIn) -> int:
    return await reopen.reopen_task(ctx.client, ctx.pool, cycle_id, employee_id, body.task, actor_id=user.username,
                                    reason=body.reason, due=body.due, contact_id=body.contact_id)


@api.post("/api/hr/cycles/{cycle_id}/participants/{employee_id}/reopen", response_model=ReopenedOut,
          summary="Reopen a submitted self-review, manager score or survey answer (before calibration is final)")
async def reopen_api(cycle_id: CycleIdPath, employee_id: EmployeeIdPath, body: ReopenIn,
                     user: SessionUser = Depends(api_user("hr", write=True)),
                     ctx: AppContext = Depends(get_ctx)) -> ReopenedOut:
    return ReopenedOut(employee_id=employee_id, task=body.task,
                       version=await _reopen(ctx, user, cycle_id, employee_id, body))


@pages.post("/hr/cycles/{cycle_id}/participants/{employee_id}/reopen")
async def reopen_page(request: Request, cycle_id: CycleIdPath, employee_id: EmployeeIdPath,
                      user: SessionUser = Depends(page_user("hr")), ctx: AppContext = Depends(get_ctx)) -> Response:
    form = await request.form()
    task, contact = form_text(form, "task") or "", None
    if task.startswith("customer_survey:"):
        task, contact = "customer_survey", task.split(":", 1)[1]
    try:
        body = ReopenIn(task=task, reason=form_text(form, "reason") or "", due=(form_text(form, "due") or "3d").strip(),
                        contact_id=contact)
        await _reopen(ctx, user, cycle_id, employee_id, body)
    except ValidationError as err:
        return await _participant_page(request, user, ctx, cycle_id, employee_id, 422, pydantic_message(err))
    except (WebError, UserError) as err:
        web = err if isinstance(err, WebError) else from_user_error(err)
        return await _participant_page(request, user, ctx, cycle_id, employee_id, web.status, web.message)
    return redirect(f"/hr/cycles/{cycle_id}/participants/{employee_id}",
                    say(request, user, tr("reopened; the person has been told and asked to submit again")))


async def _participant_page(request: Request, user: SessionUser, ctx: AppContext, cycle_id: str, employee_id: str,
                            status: int, error) -> Response:
    async with ctx.pool.connection() as conn:
        view = await participant(conn, cycle_id, employee_id, user)
    return render(request, "hr_participant.html", user, status, tz=view.timezone, p=view, is_hr=True,
                  versions=await reopen.submission_versions(ctx.pool, cycle_id, employee_id),
                  error=say(request, user, error), peer=await peer_for(request, ctx, user, cycle_id, employee_id))


# -- sign-off: HR's progress -----------------------------------------------------------------------------


@api.get("/api/hr/cycles/{cycle_id}/sign-off", response_model=SignOffProgressOut,
         summary="Results conversations and acknowledgments: counts, and every disagreement")
async def progress_api(cycle_id: CycleIdPath, user: SessionUser = Depends(api_user("hr")),
                       ctx: AppContext = Depends(get_ctx)) -> SignOffProgressOut:
    async with ctx.pool.connection() as conn:
        p = await signoff.progress(conn, cycle_id)
    return SignOffProgressOut(cycle_id=p.cycle_id, total=p.total, conversation_held=p.conversation_held,
                              acknowledged=p.acknowledged, disagreed=p.disagreed, pending=p.pending,
                              disagreements=[SignOffOut.of(s) for s in p.disagreements])


@pages.get("/hr/cycles/{cycle_id}/sign-off")
async def progress_page(request: Request, cycle_id: CycleIdPath, user: SessionUser = Depends(page_user("hr")),
                        ctx: AppContext = Depends(get_ctx)) -> Response:
    async with ctx.pool.connection() as conn:
        p = await signoff.progress(conn, cycle_id)
        (zone,) = await (await conn.execute("SELECT timezone FROM review_cycle WHERE id = %s", (cycle_id,))).fetchone()
    return render(request, "hr_sign_off.html", user, tz=zone, p=p)


# -- sign-off: the reviewer's results conversations ------------------------------------------------------


@api.post("/api/manager/results/{cycle_id}/{employee_id}/conversation", response_model=SignOffOut,
          summary="Record that the results conversation with this report was held")
async def conversation_api(cycle_id: CycleIdPath, employee_id: EmployeeIdPath, body: ConversationIn,
                           user: SessionUser = Depends(api_user("manager", write=True)),
                           ctx: AppContext = Depends(get_ctx)) -> SignOffOut:
    async with ctx.pool.connection() as conn:
        return SignOffOut.of(await signoff.mark_conversation(conn, cycle_id, employee_id, user.employee_id or "",
                                                             body.held_on))


@pages.get("/manager/results/{cycle_id}")
async def team_page(request: Request, cycle_id: CycleIdPath, user: SessionUser = Depends(page_user("manager")),
                    ctx: AppContext = Depends(get_ctx)) -> Response:
    return await _team_page(request, user, ctx, cycle_id)


async def _team_page(request: Request, user: SessionUser, ctx: AppContext, cycle_id: str, status: int = 200,
                     error: str | None = None) -> Response:
    async with ctx.pool.connection() as conn:
        row = await (await conn.execute("SELECT name, timezone, results_released_at FROM review_cycle WHERE id = %s",
                                        (cycle_id,))).fetchone()
        if row is None:
            raise WebError(404, tr("cycle %(cycle)s does not exist", cycle=cycle_id))
        team = await signoff.team_sign_offs(conn, cycle_id, user.employee_id or "")
    today = datetime.now(ZoneInfo(user.timezone or row[1])).date()
    return render(request, "manager_results.html", user, status, tz=row[1], cycle_id=cycle_id, cycle_name=row[0],
                  released_at=row[2], team=team, error=error, today=today)


@pages.post("/manager/results/{cycle_id}/{employee_id}/conversation")
async def conversation_page(request: Request, cycle_id: CycleIdPath, employee_id: EmployeeIdPath,
                            user: SessionUser = Depends(page_user("manager")),
                            ctx: AppContext = Depends(get_ctx)) -> Response:
    form = await request.form()
    try:
        body = ConversationIn(held_on=(form_text(form, "held_on") or "").strip())
        async with ctx.pool.connection() as conn:
            s = await signoff.mark_conversation(conn, cycle_id, employee_id, user.employee_id or "", body.held_on)
    except ValidationError as err:
        return await _team_page(request, user, ctx, cycle_id, 422, say(request, user, pydantic_message(err)))
    except UserError as err:
        web = from_user_error(err)
        if web.status == 403:
            raise web from None
        return await _team_page(request, user, ctx, cycle_id, web.status, say(request, user, web.message))
    return redirect(f"/manager/results/{cycle_id}", say(request, user, tr(
        "the results conversation with %(employee)s is recorded", employee=s.employee_name)))


# -- sign-off: the KAM's answer --------------------------------------------------------------------------


@api.get("/api/me/results/{cycle_id}/sign-off", response_model=SignOffOut,
         summary="My results conversation and my acknowledgment")
async def my_sign_off_api(cycle_id: CycleIdPath, user: SessionUser = Depends(api_user("employee")),
                          ctx: AppContext = Depends(get_ctx)) -> SignOffOut:
    async with ctx.pool.connection() as conn:
        return SignOffOut.of(await signoff.sign_off(conn, cycle_id, user.employee_id or ""))


@api.post("/api/me/results/{cycle_id}/sign-off", response_model=SignOffOut,
          summary="Acknowledge my results (optional comment) or record a disagreement (comment needed)")
async def respond_api(cycle_id: CycleIdPath, body: ResponseIn, user: SessionUser = Depends(api_user("employee", write=True)),
                      ctx: AppContext = Depends(get_ctx)) -> SignOffOut:
    async with ctx.pool.connection() as conn:
        return SignOffOut.of(await signoff.respond(conn, cycle_id, user.employee_id or "", body.response, body.comment))


@pages.post("/me/results/{cycle_id}/sign-off")
async def respond_page(request: Request, cycle_id: CycleIdPath, user: SessionUser = Depends(page_user("employee")),
                       ctx: AppContext = Depends(get_ctx)) -> Response:
    form = await request.form()
    try:
        body = ResponseIn(response=form_text(form, "response") or "", comment=form_text(form, "comment"))
        async with ctx.pool.connection() as conn:
            await signoff.respond(conn, cycle_id, user.employee_id or "", body.response, body.comment)
    except ValidationError as err:
        return await render_results(request, user, ctx, cycle_id, 422, say(request, user, pydantic_message(err)))
    except UserError as err:
        web = from_user_error(err)
        return await render_results(request, user, ctx, cycle_id, web.status, say(request, user, web.message))
    said = (tr("thank you: your acknowledgment is recorded") if body.response == "acknowledged"
            else tr("your disagreement is recorded; HR will follow it up"))
    return redirect(f"/me/results/{cycle_id}", say(request, user, said))
