"""The KAM's side: my tasks, my self-review, my results once HR releases them.

Every route is scoped to the signed-in employee: there is no employee id in these URLs, so nobody
can ask for someone else's review. The manager's scores appear only in the released results.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import ValidationError

from services.errors import UserError
from services.people import ReviewContext, cycle_config, review_context, review_results, reviews_of, tasks_of
from services.users import SessionUser
from webapp import actions
from webapp.auth import api_user, page_user
from webapp.context import AppContext, get_ctx
from webapp.errors import WebError, from_user_error
from webapp.pages import form_group, pydantic_message, reader, redirect, render
from webapp.schemas import (
    CycleIdPath,
    ErrorOut,
    MyReviewOut,
    Receipt,
    ResultsOut,
    ReviewOut,
    SelfReviewIn,
    SelfReviewOut,
    TaskOut,
)
from webapp.views import results_out, task_out

api = APIRouter(prefix="/api/me", tags=["employee"], responses={401: {"model": ErrorOut}, 403: {"model": ErrorOut}})
pages = APIRouter(include_in_schema=False)


def review_out(ctx: ReviewContext) -> ReviewOut:
    return ReviewOut(
        cycle_id=ctx.cycle_id, cycle_name=ctx.cycle_name, period=ctx.period, employee_id=ctx.employee_id,
        employee_name=ctx.employee_name, review_status=ctx.review_status,
        competencies=[{"id": c.id, "label": c.label} for c in ctx.competencies],
        scale_min=ctx.scale_min, scale_max=ctx.scale_max,
        kpis=[{"id": k.id, "label": k.label, "value": k.value} for k in ctx.kpis],
        self_review=SelfReviewOut(status=ctx.self_review_status, due_at=ctx.self_review_due,
                                  submitted_at=ctx.self_submitted_at, ratings=ctx.self_ratings,
                                  evidence=ctx.self_evidence, kpi_comments=ctx.self_kpi_comments),
        results_released=ctx.results_released,
    )


@api.get("/tasks", response_model=list[TaskOut], summary="My self-review tasks")
async def my_tasks(include_done: bool = False, user: SessionUser = Depends(api_user("employee")),
                   ctx: AppContext = Depends(get_ctx)) -> list[TaskOut]:
    async with ctx.pool.connection() as conn:
        return [task_out(t) for t in await tasks_of(conn, user.employee_id or "", "self_review", include_done)]


@api.get("/reviews", response_model=list[MyReviewOut], summary="My reviews, one per cycle")
async def my_reviews(user: SessionUser = Depends(api_user("employee")),
                     ctx: AppContext = Depends(get_ctx)) -> list[MyReviewOut]:
    async with ctx.pool.connection() as conn:
        return [MyReviewOut(**vars(r)) for r in await reviews_of(conn, user.employee_id or "")]


async def _my_review(ctx: AppContext, user: SessionUser, cycle_id: str) -> ReviewContext:
    async with ctx.pool.connection() as conn:
        try:
            return await review_context(conn, cycle_id, user.employee_id or "")
        except UserError:
            raise WebError(404, f"you have no review in cycle {cycle_id}") from None


@api.get("/reviews/{cycle_id}", response_model=ReviewOut, summary="My review: rules, KPI actuals, my self-review",
         responses={404: {"model": ErrorOut}})
async def my_review(cycle_id: CycleIdPath, user: SessionUser = Depends(api_user("employee")),
                    ctx: AppContext = Depends(get_ctx)) -> ReviewOut:
    return review_out(await _my_review(ctx, user, cycle_id))


@api.post("/reviews/{cycle_id}/self-review", response_model=Receipt, summary="Submit my self-review",
          responses={404: {"model": ErrorOut}, 409: {"model": ErrorOut}, 422: {"model": ErrorOut}})
async def submit_self_review(body: SelfReviewIn, cycle_id: CycleIdPath,
                             user: SessionUser = Depends(api_user("employee", write=True)),
                             ctx: AppContext = Depends(get_ctx)) -> Receipt:
    receipt = await actions.submit_self_review(ctx, user, cycle_id, body)
    return Receipt(task_id=receipt.task_id, accepted_at=receipt.accepted_at)


@api.get("/results/{cycle_id}", response_model=ResultsOut, summary="My results (after HR releases them)",
         responses={404: {"model": ErrorOut}})
async def my_results(request: Request, cycle_id: CycleIdPath, user: SessionUser = Depends(api_user("employee")),
                     ctx: AppContext = Depends(get_ctx)) -> ResultsOut:
    """The exact figures of every line, with the same line as a sentence in the reader's language."""
    async with ctx.pool.connection() as conn:
        results = await review_results(conn, cycle_id, user.employee_id or "")
    return results_out(results, reader(request, user, tz=results.timezone))


# -- pages -----------------------------------------------------------------------------------------


@pages.get("/me")
async def me_page(request: Request, user: SessionUser = Depends(page_user("employee")),
                  ctx: AppContext = Depends(get_ctx)) -> Response:
    async with ctx.pool.connection() as conn:
        tasks = await tasks_of(conn, user.employee_id or "", "self_review")
        reviews = await reviews_of(conn, user.employee_id or "")
        latest = tasks[0].cycle_id if tasks else reviews[0].cycle_id if reviews else None
        tz = (await cycle_config(conn, latest)).timezone if latest else None
    return render(request, "me.html", user, tz=tz, tasks=tasks, reviews=reviews)


def _self_review_page(request: Request, user: SessionUser, review: ReviewContext, status: int = 200,
                      error: str | None = None, values: dict | None = None) -> Response:
    return render(request, "self_review.html", user, status, review=review, error=error, values=values or {})


@pages.get("/me/reviews/{cycle_id}")
async def self_review_page(request: Request, cycle_id: CycleIdPath, user: SessionUser = Depends(page_user("employee")),
                           ctx: AppContext = Depends(get_ctx)) -> Response:
    return _self_review_page(request, user, await _my_review(ctx, user, cycle_id))


@pages.post("/me/reviews/{cycle_id}")
async def self_review_submit(request: Request, cycle_id: CycleIdPath,
                             user: SessionUser = Depends(page_user("employee")),
                             ctx: AppContext = Depends(get_ctx)) -> Response:
    form = await request.form()
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    review = await _my_review(ctx, user, cycle_id)
    try:
        body = SelfReviewIn(ratings=form_group(form, "rating.", numbers=True), evidence=form_group(form, "evidence."),
                            kpi_comments=form_group(form, "kpi."))
    except ValidationError as err:
        return _self_review_page(request, user, review, 422, pydantic_message(err), values)
    try:
        await actions.submit_self_review(ctx, user, cycle_id, body)
    except WebError as err:
        return _self_review_page(request, user, review, err.status, err.message, values)
    except UserError as err:
        web = from_user_error(err)
        return _self_review_page(request, user, review, web.status, web.message, values)
    return redirect("/me", f"your self-review for {review.cycle_name} was submitted")


@pages.get("/me/results/{cycle_id}")
async def results_page(request: Request, cycle_id: CycleIdPath, user: SessionUser = Depends(page_user("employee")),
                       ctx: AppContext = Depends(get_ctx)) -> Response:
    async with ctx.pool.connection() as conn:
        results = await review_results(conn, cycle_id, user.employee_id or "")
    return render(request, "results.html", user, tz=results.timezone, results=results)
