"""The manager's side: an inbox of scoring tasks, and the scoring form for one direct report.

A manager may open and score a review only while ``review.reviewer_id`` is their employee id: the
direct line manager at cycle creation, or whoever HR reassigned the review to.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import ValidationError

from domain.text import Text, tr
from services import peers
from services.drafts import Draft, discard_draft, get_draft, no_draft, save_draft
from services.errors import UserError
from services.inbox import form_tasks as open_form_tasks
from services.participant import committee_participants
from services.people import ManagerScore, ReviewContext, cycle_config, manager_score, review_context, tasks_of
from services.signoff import conversations_due
from services.users import SessionUser
from webapp import actions
from webapp.auth import api_user, page_user
from webapp.context import AppContext, get_ctx
from webapp.errors import WebError, from_user_error
from webapp.forms import draft_values, ordered, rating_errors, score_spec, validation_errors
from webapp.pages import as_number, form_group, form_text, reader, redirect, render, say
from webapp.routers.employee import review_out
from webapp.schemas import (
    CycleIdPath,
    EmployeeIdPath,
    ErrorOut,
    ManagerScoreIn,
    Message,
    Receipt,
    ScoreDraftOut,
    ScoringOut,
    TaskOut,
)
from webapp.views import manager_score_out, task_out
from workflows.payloads import MANAGER_SCORING

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


def _score_draft_out(draft: Draft) -> ScoreDraftOut:
    return ScoreDraftOut(saved_at=draft.saved_at, draft=ManagerScoreIn.model_validate(draft.body))


async def _review_id(ctx: AppContext, user: SessionUser, cycle_id: str, employee_id: str) -> str:
    """The review this manager may score (403 for anyone else's), for its draft."""
    review, _ = await _scoring(ctx, user, cycle_id, employee_id)
    return review.review_id


@api.put("/reviews/{cycle_id}/{employee_id}/score/draft", response_model=ScoreDraftOut,
         summary="Save my score as a draft (not submitted; only I can read it)",
         responses={404: {"model": ErrorOut}, 409: {"model": ErrorOut}, 422: {"model": ErrorOut}})
async def put_score_draft(body: ManagerScoreIn, cycle_id: CycleIdPath, employee_id: EmployeeIdPath,
                          user: SessionUser = Depends(api_user("manager", write=True)),
                          ctx: AppContext = Depends(get_ctx)) -> ScoreDraftOut:
    review_id = await _review_id(ctx, user, cycle_id, employee_id)
    async with ctx.pool.connection() as conn:
        return _score_draft_out(await save_draft(conn, review_id, MANAGER_SCORING, user.employee_id or "",
                                                 body.model_dump()))


@api.get("/reviews/{cycle_id}/{employee_id}/score/draft", response_model=ScoreDraftOut,
         summary="My saved score draft", responses={404: {"model": ErrorOut}})
async def get_score_draft(cycle_id: CycleIdPath, employee_id: EmployeeIdPath,
                          user: SessionUser = Depends(api_user("manager")),
                          ctx: AppContext = Depends(get_ctx)) -> ScoreDraftOut:
    review_id = await _review_id(ctx, user, cycle_id, employee_id)
    async with ctx.pool.connection() as conn:
        draft = await get_draft(conn, review_id, MANAGER_SCORING, user.employee_id or "")
    if draft is None:
        raise no_draft()
    return _score_draft_out(draft)


@api.delete("/reviews/{cycle_id}/{employee_id}/score/draft", response_model=Message,
            summary="Discard my score draft", responses={404: {"model": ErrorOut}})
async def delete_score_draft(cycle_id: CycleIdPath, employee_id: EmployeeIdPath,
                             user: SessionUser = Depends(api_user("manager", write=True)),
                             ctx: AppContext = Depends(get_ctx)) -> Message:
    review_id = await _review_id(ctx, user, cycle_id, employee_id)
    async with ctx.pool.connection() as conn:
        if not await discard_draft(conn, review_id, MANAGER_SCORING, user.employee_id or ""):
            raise no_draft()
    return Message(detail="draft discarded")


# -- pages -----------------------------------------------------------------------------------------


@pages.get("/manager")
async def inbox_page(request: Request, user: SessionUser = Depends(page_user("manager")),
                     ctx: AppContext = Depends(get_ctx)) -> Response:
    async with ctx.pool.connection() as conn:
        tasks = await tasks_of(conn, user.employee_id or "", "manager_scoring")
        done = [t for t in await tasks_of(conn, user.employee_id or "", "manager_scoring", True) if t.status != "open"]
        latest = (tasks or done)[0].cycle_id if tasks or done else None
        tz = (await cycle_config(conn, latest)).timezone if latest else None  # readers without a zone of their own
        committee = await committee_participants(conn, user)
        conversations = await conversations_due(conn, user.employee_id or "")
        peer_tasks = await peers.peer_tasks(conn, user.employee_id or "")
        form_tasks = await open_form_tasks(conn, user.employee_id or "")
    return render(request, "inbox.html", user, tz=tz, tasks=tasks, done=done[:50], committee=committee,
                  conversations=conversations, peer_tasks=peer_tasks,
                  form_tasks=form_tasks)


def _score_page(request: Request, user: SessionUser, review: ReviewContext, score: ManagerScore | None,
                status: int = 200, error: Text | str | None = None, values: dict | None = None,
                errors: dict[str, Text] | None = None, draft: Draft | None = None) -> Response:
    fmt = reader(request, user, tz=review.timezone)
    return render(request, "score.html", user, status, tz=review.timezone, review=review, score=score,
                  error=fmt.text(error) if error else None, values=values or {}, errors=errors or {}, draft=draft,
                  spec=score_spec(review, fmt))


@pages.get("/manager/reviews/{cycle_id}/{employee_id}")
async def scoring_page(request: Request, cycle_id: CycleIdPath, employee_id: EmployeeIdPath,
                       user: SessionUser = Depends(page_user("manager")), ctx: AppContext = Depends(get_ctx)) -> Response:
    review, score = await _scoring(ctx, user, cycle_id, employee_id)
    draft = None
    if review.scoring_status == "open":
        async with ctx.pool.connection() as conn:
            draft = await get_draft(conn, review.review_id, MANAGER_SCORING, user.employee_id or "")
    values = draft_values(draft.body, "comments", "comment.") if draft else {}
    return _score_page(request, user, review, score, values=values, draft=draft)


@pages.post("/manager/reviews/{cycle_id}/{employee_id}")
async def scoring_submit(request: Request, cycle_id: CycleIdPath, employee_id: EmployeeIdPath,
                         user: SessionUser = Depends(page_user("manager")), ctx: AppContext = Depends(get_ctx)) -> Response:
    """Submit (the default), save as a draft (``intent=draft``) or discard the draft (``intent=discard``)."""
    form = await request.form()
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    intent = form_text(form, "intent") or "submit"
    review, score = await _scoring(ctx, user, cycle_id, employee_id)
    url, me = f"/manager/reviews/{cycle_id}/{employee_id}", user.employee_id or ""
    spec = score_spec(review, reader(request, user, tz=review.timezone))

    def again(status: int, message: Text | str | None = None, errors: dict[str, Text] | None = None) -> Response:
        return _score_page(request, user, review, score, status, message, values, errors)

    if intent == "discard":
        async with ctx.pool.connection() as conn:
            await discard_draft(conn, review.review_id, MANAGER_SCORING, me)
        return redirect(url, say(request, user, tr("your draft was discarded")))
    potential = (form_text(form, "potential") or "").strip()
    try:
        body = ManagerScoreIn(ratings=form_group(form, "rating.", numbers=True), comments=form_group(form, "comment."),
                              potential=as_number(potential) if potential else None)
    except ValidationError as err:
        errors = validation_errors(err, spec)
        if intent == "submit":  # and what the submit would refuse besides, so one round trip shows every problem
            ratings = form_group(form, "rating.", numbers=True)
            errors = ordered(rating_errors(ratings, review.competency_items, review.scale_min, review.scale_max, spec)
                             | errors, spec.labels)
        return again(422, errors=errors)
    try:
        if intent == "draft":
            async with ctx.pool.connection() as conn:
                draft = await save_draft(conn, review.review_id, MANAGER_SCORING, me, body.model_dump())
            return redirect(url, say(request, user, tr("draft saved at %(at)s; it is not submitted yet",
                                                       at=draft.saved_at)))
        errors = rating_errors(body.ratings, review.competency_items, review.scale_min, review.scale_max, spec)
        low, high = review.potential_min, review.potential_max
        if body.potential is not None and not low <= body.potential <= high:
            errors["potential"] = tr("%(label)s: choose a level from %(min)s to %(max)s", label=spec.label("potential"),
                                     min=low, max=high)
        if errors:
            return again(422, errors=errors)
        await actions.submit_score(ctx, user, cycle_id, employee_id, body)
    except WebError as err:
        return again(err.status, err.message)
    except UserError as err:
        web = from_user_error(err)
        return again(web.status, web.message)
    return redirect("/manager", say(request, user, tr("your score for %(name)s (%(id)s) was submitted",
                                                      name=review.employee_name, id=employee_id)))
