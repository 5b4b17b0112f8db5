"""The KAM's side: my tasks, my self-review, my results once HR releases them.

Every route is scoped to the signed-in employee: there is no employee id in these URLs, so nobody
can ask for someone else's review. The manager's scores appear only in the released results.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import ValidationError

from domain.scorecard import CompetencyItem
from domain.text import Text, tr
from services import peers
from services.drafts import Draft, discard_draft, get_draft, no_draft, save_draft
from services.errors import UserError
from services.inbox import form_tasks as open_form_tasks
from services.people import Item, ReviewContext, cycle_config, review_context, review_results, reviews_of, tasks_of
from services.signoff import sign_off
from services.users import SessionUser
from webapp import actions
from webapp.auth import api_user, page_user
from webapp.context import AppContext, get_ctx
from webapp.errors import WebError, from_user_error
from webapp.forms import draft_values, ordered, rating_errors, self_review_spec, validation_errors
from webapp.pages import form_group, form_text, reader, redirect, render, say
from webapp.schemas import (
    CompetencyLevelOut,
    CompetencyOut,
    CycleIdPath,
    ErrorOut,
    Message,
    MyReviewOut,
    Receipt,
    ResultsOut,
    ReviewOut,
    SelfReviewDraftOut,
    SelfReviewIn,
    SelfReviewOut,
    TaskOut,
)
from webapp.views import results_out, task_out
from workflows.payloads import SELF_REVIEW

api = APIRouter(prefix="/api/me", tags=["employee"], responses={401: {"model": ErrorOut}, 403: {"model": ErrorOut}})
pages = APIRouter(include_in_schema=False)


def review_out(ctx: ReviewContext) -> ReviewOut:
    return ReviewOut(
        cycle_id=ctx.cycle_id, cycle_name=ctx.cycle_name, period=ctx.period, employee_id=ctx.employee_id,
        employee_name=ctx.employee_name, review_status=ctx.review_status,
        competencies=[competency_out(c, i) for c, i in zip(ctx.competencies, ctx.competency_items, strict=False)],
        scale_min=ctx.scale_min, scale_max=ctx.scale_max,
        kpis=[{"id": k.id, "label": k.label, "value": k.value} for k in ctx.kpis],
        self_review=SelfReviewOut(status=ctx.self_review_status, due_at=ctx.self_review_due,
                                  submitted_at=ctx.self_submitted_at, ratings=ctx.self_ratings,
                                  evidence=ctx.self_evidence, kpi_comments=ctx.self_kpi_comments),
        results_released=ctx.results_released,
    )


def competency_out(c: Item, item: CompetencyItem) -> CompetencyOut:
    return CompetencyOut(id=c.id, label=c.label, label_en=item.label_en, label_zh=item.label_zh, group=item.group,
                         levels=[CompetencyLevelOut(level=lv, description_en=d.en, description_zh=d.zh)
                                 for lv, d in sorted(item.levels.items())])


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
            raise WebError(404, tr("you have no review in cycle %(cycle)s", cycle=cycle_id)) from None


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


def _self_draft_out(draft: Draft) -> SelfReviewDraftOut:
    return SelfReviewDraftOut(saved_at=draft.saved_at, draft=SelfReviewIn.model_validate(draft.body))


@api.put("/reviews/{cycle_id}/self-review/draft", response_model=SelfReviewDraftOut,
         summary="Save my self-review as a draft (not submitted; only I can read it)",
         responses={404: {"model": ErrorOut}, 409: {"model": ErrorOut}, 422: {"model": ErrorOut}})
async def put_self_review_draft(body: SelfReviewIn, cycle_id: CycleIdPath,
                                user: SessionUser = Depends(api_user("employee", write=True)),
                                ctx: AppContext = Depends(get_ctx)) -> SelfReviewDraftOut:
    review = await _my_review(ctx, user, cycle_id)
    async with ctx.pool.connection() as conn:
        draft = await save_draft(conn, review.review_id, SELF_REVIEW, user.employee_id or "", body.model_dump())
    return _self_draft_out(draft)


@api.get("/reviews/{cycle_id}/self-review/draft", response_model=SelfReviewDraftOut,
         summary="My saved self-review draft", responses={404: {"model": ErrorOut}})
async def get_self_review_draft(cycle_id: CycleIdPath, user: SessionUser = Depends(api_user("employee")),
                                ctx: AppContext = Depends(get_ctx)) -> SelfReviewDraftOut:
    review = await _my_review(ctx, user, cycle_id)
    async with ctx.pool.connection() as conn:
        draft = await get_draft(conn, review.review_id, SELF_REVIEW, user.employee_id or "")
    if draft is None:
        raise no_draft()
    return _self_draft_out(draft)


@api.delete("/reviews/{cycle_id}/self-review/draft", response_model=Message,
            summary="Discard my self-review draft", responses={404: {"model": ErrorOut}})
async def delete_self_review_draft(cycle_id: CycleIdPath, user: SessionUser = Depends(api_user("employee", write=True)),
                                   ctx: AppContext = Depends(get_ctx)) -> Message:
    review = await _my_review(ctx, user, cycle_id)
    async with ctx.pool.connection() as conn:
        if not await discard_draft(conn, review.review_id, SELF_REVIEW, user.employee_id or ""):
            raise no_draft()
    return Message(detail="draft discarded")


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
        peer_tasks = await peers.peer_tasks(conn, user.employee_id or "")
        form_tasks = await open_form_tasks(conn, user.employee_id or "")
    return render(request, "me.html", user, tz=tz, tasks=tasks, reviews=reviews, peer_tasks=peer_tasks,
                  form_tasks=form_tasks)


def _self_review_page(request: Request, user: SessionUser, review: ReviewContext, status: int = 200,
                      error: Text | str | None = None, values: dict | None = None,
                      errors: dict[str, Text] | None = None, draft: Draft | None = None) -> Response:
    fmt = reader(request, user, tz=review.timezone)
    return render(request, "self_review.html", user, status, tz=review.timezone, review=review,
                  error=fmt.text(error) if error else None, values=values or {}, errors=errors or {},
                  draft=draft, spec=self_review_spec(review, fmt))


@pages.get("/me/reviews/{cycle_id}")
async def self_review_page(request: Request, cycle_id: CycleIdPath, user: SessionUser = Depends(page_user("employee")),
                           ctx: AppContext = Depends(get_ctx)) -> Response:
    review = await _my_review(ctx, user, cycle_id)
    draft = None
    if review.self_review_status == "open":
        async with ctx.pool.connection() as conn:
            draft = await get_draft(conn, review.review_id, SELF_REVIEW, user.employee_id or "")
    values = draft_values(draft.body, "evidence", "evidence.") if draft else {}
    return _self_review_page(request, user, review, values=values, draft=draft)


@pages.post("/me/reviews/{cycle_id}")
async def self_review_submit(request: Request, cycle_id: CycleIdPath,
                             user: SessionUser = Depends(page_user("employee")),
                             ctx: AppContext = Depends(get_ctx)) -> Response:
    """Submit (the default), save as a draft (``intent=draft``) or discard the draft (``intent=discard``)."""
    form = await request.form()
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    intent = form_text(form, "intent") or "submit"
    review = await _my_review(ctx, user, cycle_id)
    url, emp = f"/me/reviews/{cycle_id}", user.employee_id or ""
    spec = self_review_spec(review, reader(request, user, tz=review.timezone))
    if intent == "discard":
        async with ctx.pool.connection() as conn:
            await discard_draft(conn, review.review_id, SELF_REVIEW, emp)
        return redirect(url, say(request, user, tr("your draft was discarded")))
    try:
        body = SelfReviewIn(ratings=form_group(form, "rating.", numbers=True), evidence=form_group(form, "evidence."),
                            kpi_comments=form_group(form, "kpi."))
    except ValidationError as err:
        errors = validation_errors(err, spec)
        if intent == "submit":  # and what the submit would refuse besides, so one round trip shows every problem
            ratings = form_group(form, "rating.", numbers=True)
            errors = ordered(rating_errors(ratings, review.competency_items, review.scale_min, review.scale_max, spec)
                             | errors, spec.labels)
        return _self_review_page(request, user, review, 422, values=values, errors=errors)
    try:
        if intent == "draft":
            async with ctx.pool.connection() as conn:
                draft = await save_draft(conn, review.review_id, SELF_REVIEW, emp, body.model_dump())
            return redirect(url, say(request, user, tr("draft saved at %(at)s; it is not submitted yet",
                                                       at=draft.saved_at)))
        errors = rating_errors(body.ratings, review.competency_items, review.scale_min, review.scale_max, spec)
        if errors:
            return _self_review_page(request, user, review, 422, values=values, errors=errors)
        await actions.submit_self_review(ctx, user, cycle_id, body)
    except WebError as err:
        return _self_review_page(request, user, review, err.status, err.message, values)
    except UserError as err:
        web = from_user_error(err)
        return _self_review_page(request, user, review, web.status, web.message, values)
    return redirect("/me", say(request, user, tr("your self-review for %(cycle)s was submitted",
                                                 cycle=review.cycle_name)))


@pages.get("/me/results/{cycle_id}")
async def results_page(request: Request, cycle_id: CycleIdPath, user: SessionUser = Depends(page_user("employee")),
                       ctx: AppContext = Depends(get_ctx)) -> Response:
    return await render_results(request, user, ctx, cycle_id)


async def render_results(request: Request, user: SessionUser, ctx: AppContext, cycle_id: str, status: int = 200,
                         error: str | None = None) -> Response:
    """The results page, with the sign-off (results conversation, acknowledgment) under it."""
    async with ctx.pool.connection() as conn:
        results = await review_results(conn, cycle_id, user.employee_id or "")
        sign = await sign_off(conn, cycle_id, user.employee_id or "")
    peer = await peers.peer_view(ctx.pool, cycle_id, user.employee_id or "", user.employee_id or "", hr=False,
                                 locale=reader(request, user).locale)
    return render(request, "results.html", user, status, tz=results.timezone, results=results, sign=sign, error=error,
                  peer=peer)
