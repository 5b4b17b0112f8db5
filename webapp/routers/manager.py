"""The manager's side: an inbox of scoring tasks, and the scoring form for one direct report.

A manager may open and score a review only while ``review.reviewer_id`` is their employee id: the
direct line manager at cycle creation, or whoever HR reassigned the review to.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import ValidationError

from services.errors import UserError
from services.people import ReviewContext, cycle_config, manager_score, review_context, tasks_of
from services.users import SessionUser
from webapp import actions
from webapp.auth import api_user, page_user
from webapp.context import AppContext, get_ctx
from webapp.errors import WebError, from_user_error
from webapp.pages import as_number, form_group, form_text, pydantic_message, redirect, render
from webapp.routers.employee import review_out
from webapp.schemas import (
    CycleIdPath,
    EmployeeIdPath,
    ErrorOut,
    ManagerScoreIn,
    Receipt,
    ScoringOut,
    TaskOut,
)
from webapp.views import manager_score_out, task_out

api = APIRouter(prefix="/api/manager", tags=["manager"],
                responses={401: {"model": ErrorOut}, 403: {"model": ErrorOut}})
pages = APIRouter(include_in_schema=False)


@api.get("/inbox", response_model=list[TaskOut], summary="My pending scoring tasks, soonest due first")
async def inbox(include_done: bool = False, user: SessionUser = Depends(api_user("manager")),
                ctx: AppContext = Depends(get_ctx)) -> list[TaskOut]:
    async with ctx.pool.connection() as conn:
        return [task_out(t) for t in await tasks_of(conn, user.employee_id or "", "manager_scoring", include_done)]


async def _scoring(ctx: AppContext, user: SessionUser, cycle_id: str, employee_id: str):
    await actions.reviewer_check(ctx, user, cycle_id, employee_id)
    async with ctx.pool.connection() as conn:
        review = await review_context(conn, cycle_id, employee_id)
        score = await manager_score(conn, review.review_id)
    return review, score


def scoring_out(review: ReviewContext, score) -> ScoringOut:
    return ScoringOut(**review_out(review).model_dump(), scoring_status=review.scoring_status,
                      scoring_due=review.scoring_due, potential_min=review.potential_min,
                      potential_max=review.potential_max, manager_score=manager_score_out(score))


@api.get("/reviews/{cycle_id}/{employee_id}", response_model=ScoringOut,
         summary="One direct report's review: KPI actuals, self-review, my score if given")
async def scoring(cycle_id: CycleIdPath, employee_id: EmployeeIdPath, user: SessionUser = Depends(api_user("manager")),
                  ctx: AppContext = Depends(get_ctx)) -> ScoringOut:
    return scoring_out(*await _scoring(ctx, user, cycle_id, employee_id))


@api.post("/reviews/{cycle_id}/{employee_id}/score", response_model=Receipt, summary="Submit my score",
          responses={409: {"model": ErrorOut}, 422: {"model": ErrorOut}})
async def submit_score(body: ManagerScoreIn, cycle_id: CycleIdPath, employee_id: EmployeeIdPath,
                       user: SessionUser = Depends(api_user("manager", write=True)),
                       ctx: AppContext = Depends(get_ctx)) -> Receipt:
    receipt = await actions.submit_score(ctx, user, cycle_id, employee_id, body)
    return Receipt(task_id=receipt.task_id, accepted_at=receipt.accepted_at)


# -- pages -----------------------------------------------------------------------------------------


@pages.get("/manager")
async def inbox_page(request: Request, user: SessionUser = Depends(page_user("manager")),
                     ctx: AppContext = Depends(get_ctx)) -> Response:
    async with ctx.pool.connection() as conn:
        tasks = await tasks_of(conn, user.employee_id or "", "manager_scoring")
        done = [t for t in await tasks_of(conn, user.employee_id or "", "manager_scoring", True) if t.status != "open"]
        latest = (tasks or done)[0].cycle_id if tasks or done else None
        tz = (await cycle_config(conn, latest)).timezone if latest else None  # readers without a zone of their own
    return render(request, "inbox.html", user, tz=tz, tasks=tasks, done=done[:50])


@pages.get("/manager/reviews/{cycle_id}/{employee_id}")
async def scoring_page(request: Request, cycle_id: CycleIdPath, employee_id: EmployeeIdPath,
                       user: SessionUser = Depends(page_user("manager")), ctx: AppContext = Depends(get_ctx)) -> Response:
    review, score = await _scoring(ctx, user, cycle_id, employee_id)
    return render(request, "score.html", user, review=review, score=score, values={})


@pages.post("/manager/reviews/{cycle_id}/{employee_id}")
async def scoring_submit(request: Request, cycle_id: CycleIdPath, employee_id: EmployeeIdPath,
                         user: SessionUser = Depends(page_user("manager")), ctx: AppContext = Depends(get_ctx)) -> Response:
    form = await request.form()
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    review, score = await _scoring(ctx, user, cycle_id, employee_id)

    def again(status: int, message: str) -> Response:
        return render(request, "score.html", user, status, review=review, score=score, values=values, error=message)

    potential = (form_text(form, "potential") or "").strip()
    try:
        body = ManagerScoreIn(ratings=form_group(form, "rating.", numbers=True), comments=form_group(form, "comment."),
                              potential=as_number(potential) if potential else None)
    except ValidationError as err:
        return again(422, pydantic_message(err))
    try:
        await actions.submit_score(ctx, user, cycle_id, employee_id, body)
    except WebError as err:
        return again(err.status, err.message)
    except UserError as err:
        web = from_user_error(err)
        return again(web.status, web.message)
    return redirect("/manager", f"your score for {review.employee_name} ({employee_id}) was submitted")
