"""Peer feedback (360): the KAM's nomination, the reviewer's approval, a peer's short form, and the aggregate.

Everything goes through ``services.peers``: the steps are Updates on the review workflow, the aggregate is shown only
at or above the cycle's ``min_answers`` (HR also sees how many answered). Who may see the aggregate: the KAM, their
reviewer, HR (the service refuses anyone else). docs/peer-feedback.md.
"""

from __future__ import annotations

from decimal import Decimal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from domain.text import Text, tr
from services import peers as svc
from services.errors import UserError
from services.users import SessionUser
from webapp.auth import api_user, page_user
from webapp.context import AppContext, get_ctx
from webapp.errors import from_user_error
from webapp.pages import reader, redirect, render, say
from webapp.schemas import CycleIdPath, EmployeeIdPath, ErrorOut

api = APIRouter(tags=["peer feedback"], responses={401: {"model": ErrorOut}, 403: {"model": ErrorOut},
                                                   404: {"model": ErrorOut}})
pages = APIRouter(include_in_schema=False)
PEERS = ("employee", "manager", "hr")  # a peer is any colleague with a sign-in


class PeerFeedbackOut(BaseModel):
    cycle_id: str
    employee_id: str
    enabled: bool = Field(description="false: the cycle has no peer feedback")
    shown: bool = Field(description="false: fewer answered than min_answers; nothing about the answers is given")
    min_answers: int
    answers: int | None = Field(description="how many answered, only when shown")
    averages: dict[str, Decimal] = Field(description="question id -> average, only when shown")
    overall: Decimal | None
    answered: int | None = Field(description="HR only: how many answered so far")
    asked: int | None = Field(description="HR only: how many peers were approved")
    explanation: str


@api.get("/api/peers/{cycle_id}/{employee_id}", response_model=PeerFeedbackOut,
         summary="A KAM's peer feedback in aggregate (the KAM, their reviewer, HR)")
async def peer_feedback_api(cycle_id: CycleIdPath, employee_id: EmployeeIdPath,
                            user: SessionUser = Depends(api_user("hr", "manager", "employee")),
                            ctx: AppContext = Depends(get_ctx)) -> PeerFeedbackOut:
    v = await svc.peer_view(ctx.pool, cycle_id, employee_id, user.employee_id or user.username, hr="hr" in user.roles)
    return PeerFeedbackOut(cycle_id=cycle_id, employee_id=employee_id, enabled=v.enabled, shown=v.shown,
                           min_answers=v.min_answers, answers=v.answers, averages=v.averages, overall=v.overall,
                           answered=v.answered, asked=v.asked, explanation=v.explanation)


def _ids(values: list) -> list[str]:
    out: list[str] = []
    for v in values:
        if isinstance(v, str):
            out += [p.strip() for p in v.replace("，", ",").split(",") if p.strip()]
    return out


async def _page(request: Request, user: SessionUser, ctx: AppContext, cycle_id: str, employee_id: str, mode: str,
                status: int = 200, error: Text | str | None = None, chosen: tuple[str, ...] = ()) -> Response:
    locale = reader(request, user).locale
    viewer = user.employee_id or user.username
    steps = await svc.peer_steps(ctx.pool, cycle_id, employee_id, locale)
    view = None
    if mode in ("kam", "manager"):
        view = await svc.peer_view(ctx.pool, cycle_id, employee_id, viewer, hr=False, locale=locale)
    task = await svc.my_peer_task(ctx.pool, cycle_id, employee_id, viewer) if mode == "peer" else None
    return render(request, "peers.html", user, status, mode=mode, cycle_id=cycle_id, employee_id=employee_id,
                  steps=steps, view=view, task=task, error=say(request, user, error) if error else None,
                  chosen=set(chosen))


async def _act(request: Request, user: SessionUser, ctx: AppContext, cycle_id: str, employee_id: str, mode: str,
               done_url: str, done: Text, action, chosen: tuple[str, ...] = ()) -> Response:
    try:
        await action()
    except UserError as err:
        web = from_user_error(err)
        if web.status in (403, 404):
            raise web from None
        return await _page(request, user, ctx, cycle_id, employee_id, mode, web.status, web.message, chosen)
    return redirect(done_url, say(request, user, done))


@pages.get("/me/peers/{cycle_id}")
async def nomination_page(request: Request, cycle_id: CycleIdPath, user: SessionUser = Depends(page_user("employee")),
                          ctx: AppContext = Depends(get_ctx)) -> Response:
    return await _page(request, user, ctx, cycle_id, user.employee_id or "", "kam")


@pages.post("/me/peers/{cycle_id}")
async def nominate_page(request: Request, cycle_id: CycleIdPath, user: SessionUser = Depends(page_user("employee")),
                        ctx: AppContext = Depends(get_ctx)) -> Response:
    form = await request.form()
    me = user.employee_id or ""
    chosen = _ids(form.getlist("peer"))
    return await _act(request, user, ctx, cycle_id, me, "kam", f"/me/peers/{cycle_id}",
                      tr("your nomination is sent to your manager for approval"),
                      lambda: svc.nominate(ctx.client, ctx.pool, cycle_id, me, me, chosen), tuple(chosen))


@pages.get("/manager/peers/{cycle_id}/{employee_id}")
async def approval_page(request: Request, cycle_id: CycleIdPath, employee_id: EmployeeIdPath,
                        user: SessionUser = Depends(page_user("manager")),
                        ctx: AppContext = Depends(get_ctx)) -> Response:
    return await _page(request, user, ctx, cycle_id, employee_id, "manager")


@pages.post("/manager/peers/{cycle_id}/{employee_id}")
async def approve_page(request: Request, cycle_id: CycleIdPath, employee_id: EmployeeIdPath,
                       user: SessionUser = Depends(page_user("manager")),
                       ctx: AppContext = Depends(get_ctx)) -> Response:
    form = await request.form()
    return await _act(request, user, ctx, cycle_id, employee_id, "manager", f"/manager/peers/{cycle_id}/{employee_id}",
                      tr("approved: each colleague has been asked for their feedback"),
                      lambda: svc.approve(ctx.client, ctx.pool, cycle_id, employee_id, user.employee_id or "",
                                          _ids(form.getlist("peer"))))


@pages.get("/me/peer-feedback/{cycle_id}/{employee_id}")
async def peer_form_page(request: Request, cycle_id: CycleIdPath, employee_id: EmployeeIdPath,
                         user: SessionUser = Depends(page_user(*PEERS)),
                         ctx: AppContext = Depends(get_ctx)) -> Response:
    return await _page(request, user, ctx, cycle_id, employee_id, "peer")


@pages.post("/me/peer-feedback/{cycle_id}/{employee_id}")
async def peer_answer_page(request: Request, cycle_id: CycleIdPath, employee_id: EmployeeIdPath,
                           user: SessionUser = Depends(page_user(*PEERS)),
                           ctx: AppContext = Depends(get_ctx)) -> Response:
    form = await request.form()
    ratings: dict[str, int] = {}
    for key, value in form.multi_items():
        if key.startswith("q:") and isinstance(value, str) and value.strip().isdigit():
            ratings[key[2:]] = int(value.strip())
    me = user.employee_id or user.username
    return await _act(request, user, ctx, cycle_id, employee_id, "peer", f"/me/peer-feedback/{cycle_id}/{employee_id}",
                      tr("thank you: your answers are counted anonymously"),
                      lambda: svc.answer(ctx.client, ctx.pool, cycle_id, employee_id, me, ratings))
