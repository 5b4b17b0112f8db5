"""HR's irreversible actions, each behind a confirmation page: releasing results and cancelling a cycle.

The page says what will happen, to how many people, and that it cannot be undone, with a confirm
button (CSRF as every form) and a way back. A POST that did not come from that page (no ``confirm``)
only shows it; when the action cannot be done now, the page says why instead of offering it.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import ValidationError

from domain.text import Text, tr
from services.cycles import cancel_cycle, cancel_summary
from services.errors import UserError
from services.hr_views import release_results, release_summary
from services.users import SessionUser
from webapp.auth import api_user, page_user
from webapp.context import AppContext, get_ctx
from webapp.errors import from_user_error
from webapp.pages import form_text, pydantic_message, redirect, render, say
from webapp.routers.hr import _dashboard_action, _dashboard_page
from webapp.schemas import CancelIn, CancelledOut, CycleIdPath, ErrorOut

api = APIRouter(prefix="/api/hr", tags=["hr"], responses={
    401: {"model": ErrorOut}, 403: {"model": ErrorOut}, 404: {"model": ErrorOut}, 409: {"model": ErrorOut},
    422: {"model": ErrorOut}})
pages = APIRouter(include_in_schema=False)
HR_WRITE = api_user("hr", write=True)
HR_PAGE = page_user("hr")


@api.post("/cycles/{cycle_id}/cancel", response_model=CancelledOut,
          summary="Cancel a cycle before its payouts are approved (cannot be undone)")
async def cancel(cycle_id: CycleIdPath, body: CancelIn, user: SessionUser = Depends(HR_WRITE),
                 ctx: AppContext = Depends(get_ctx)) -> CancelledOut:
    return CancelledOut(status=await cancel_cycle(ctx.client, ctx.pool, cycle_id, user.username, body.reason))


# -- pages -----------------------------------------------------------------------------------------


async def _release_confirm(request: Request, user: SessionUser, ctx: AppContext, cycle_id: str) -> Response:
    async with ctx.pool.connection() as conn:
        summary = await release_summary(conn, cycle_id)
    return render(request, "hr_confirm.html", user, tz=summary.timezone, action="release", cycle_id=cycle_id,
                  cycle_name=summary.cycle_name, release=summary,
                  blocked=summary.blocked)


@pages.get("/hr/cycles/{cycle_id}/results/release")
async def release_confirm_page(request: Request, cycle_id: CycleIdPath, user: SessionUser = Depends(HR_PAGE),
                               ctx: AppContext = Depends(get_ctx)) -> Response:
    """What releasing will do, to how many people, that it cannot be undone: then a confirm button."""
    return await _release_confirm(request, user, ctx, cycle_id)


@pages.post("/hr/cycles/{cycle_id}/results/release")
async def release_page(request: Request, cycle_id: CycleIdPath, user: SessionUser = Depends(HR_PAGE),
                       ctx: AppContext = Depends(get_ctx)) -> Response:
    if form_text(await request.form(), "confirm") != "yes":  # not from the confirmation page: show it first
        async with ctx.pool.connection() as conn:
            summary = await release_summary(conn, cycle_id)
        if summary.blocked:
            return await _dashboard_page(request, user, ctx, cycle_id, 409, summary.blocked)
        return await _release_confirm(request, user, ctx, cycle_id)

    async def release_now() -> datetime:
        async with ctx.pool.connection() as conn:
            return await release_results(conn, cycle_id, user.username, ctx.client, ctx.task_queue)

    return await _dashboard_action(request, user, ctx, cycle_id, release_now,
                                   tr("results released: employees can now see their ratings and scores"))


async def _cancel_confirm(request: Request, user: SessionUser, ctx: AppContext, cycle_id: str, status: int = 200,
                          error: Text | str | None = None, reason: str = "") -> Response:
    summary = await cancel_summary(ctx.pool, cycle_id)
    return render(request, "hr_confirm.html", user, status, tz=summary.timezone, action="cancel", cycle_id=cycle_id,
                  cycle_name=summary.cycle_name, cancel=summary,
                  blocked=summary.blocked, reason=reason, error=say(request, user, error) if error else None)


@pages.get("/hr/cycles/{cycle_id}/cancel")
async def cancel_confirm_page(request: Request, cycle_id: CycleIdPath, user: SessionUser = Depends(HR_PAGE),
                              ctx: AppContext = Depends(get_ctx)) -> Response:
    return await _cancel_confirm(request, user, ctx, cycle_id)


@pages.post("/hr/cycles/{cycle_id}/cancel")
async def cancel_page(request: Request, cycle_id: CycleIdPath, user: SessionUser = Depends(HR_PAGE),
                      ctx: AppContext = Depends(get_ctx)) -> Response:
    form = await request.form()
    reason = form_text(form, "reason") or ""
    if form_text(form, "confirm") != "yes":
        return await _cancel_confirm(request, user, ctx, cycle_id, reason=reason)
    try:
        body = CancelIn(reason=reason)
        await cancel_cycle(ctx.client, ctx.pool, cycle_id, user.username, body.reason)
    except ValidationError as err:
        return await _cancel_confirm(request, user, ctx, cycle_id, 422, pydantic_message(err), reason[:2000])
    except UserError as err:
        web = from_user_error(err)
        return await _cancel_confirm(request, user, ctx, cycle_id, web.status, web.message, reason[:2000])
    return redirect(f"/hr/cycles/{cycle_id}", say(request, user, tr("cycle %(cycle)s is cancelled", cycle=cycle_id)))

