"""Goals (OKRs): the KAM drafts objectives and key results and checks in; the manager sees the team at a glance,
drafts with them, approves or returns with a comment. Pages and a JSON API over the same services.

Who may see or change whose goals is decided in ``services.goals`` (the KAM and their direct manager); anyone else
is told the goals do not exist, so neither a page nor the API leaks whose goals there are.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field, ValidationError

from domain.errors import DomainError
from domain.goals import CheckInIn, KeyResultIn, ObjectiveIn, ReturnIn
from domain.scorecard import KPI_LABELS
from domain.text import Text, tr
from domain.validation import error_text
from services import goals as svc
from services.errors import UserError, message_of
from services.users import SessionUser
from webapp.auth import api_user, page_user
from webapp.context import AppContext, get_ctx
from webapp.errors import from_user_error
from webapp.pages import form_text, reader, redirect, render, say
from webapp.schemas import EmployeeIdPath, ErrorOut

api = APIRouter(prefix="/api", tags=["goals"], responses={401: {"model": ErrorOut}, 403: {"model": ErrorOut},
                                                          404: {"model": ErrorOut}})
pages = APIRouter(include_in_schema=False)

PeriodQuery = Annotated[str | None, Query(max_length=40, description="period label, e.g. 2026-Q3; default: this quarter")]
ObjectiveIdPath = Annotated[int, Path(ge=1, le=2**62, description="objective id")]
KeyResultIdPath = Annotated[int, Path(ge=1, le=2**62, description="key result id")]
KR_FIELDS = ("metric", "unit", "start_value", "target_value", "due_date", "owner_id", "weight", "kpi_id")


# -- schemas ---------------------------------------------------------------------------------------


class PeriodIn(BaseModel):
    period: str = Field(min_length=1, max_length=40, examples=["2026-Q3"])


class NewObjectiveIn(ObjectiveIn):
    period: str = Field(min_length=1, max_length=40, examples=["2026-Q3"])


class ReturnGoalsIn(ReturnIn):
    period: str = Field(min_length=1, max_length=40, examples=["2026-Q3"])


class CreatedOut(BaseModel):
    id: int


class CheckInOut(BaseModel):
    value: Decimal
    comment: str | None
    author_id: str
    at: datetime


class KeyResultOut(BaseModel):
    id: int
    metric: str
    unit: str
    start_value: Decimal
    target_value: Decimal
    due_date: date
    owner_id: str
    weight: Decimal
    kpi_id: str | None
    current: Decimal | None = Field(description="the linked KPI actual, else the latest check-in")
    source: str = Field(description="kpi, check-in or no progress yet")
    attainment: Decimal | None = Field(description="(current − start) / (target − start), capped to [0, 1]")
    check_ins: list[CheckInOut] = Field(description="newest first; never overwritten")


class ObjectiveOut(BaseModel):
    id: int
    title: str
    weight: Decimal
    attainment: Decimal | None
    key_results: list[KeyResultOut]


class GoalPlanOut(BaseModel):
    employee_id: str
    employee_name: str
    period: str
    status: str = Field(description="draft, submitted, approved or returned (nothing drafted yet: draft)")
    comment: str | None = Field(description="the manager's words when returning the goals")
    submitted_at: datetime | None
    decided_by: str | None
    decided_at: datetime | None
    attainment: Decimal | None = Field(description="weighted mean of the objectives' attainments")
    explanation: str | None
    objectives: list[ObjectiveOut]


class TeamRowOut(BaseModel):
    employee_id: str
    employee_name: str
    status: str | None = Field(description="None: nothing drafted yet")
    objectives: int
    key_results: int
    attainment: Decimal | None
    last_check_in: datetime | None


def plan_out(plan: svc.GoalPlan) -> GoalPlanOut:
    return GoalPlanOut(
        employee_id=plan.employee_id, employee_name=plan.employee_name, period=plan.period, status=plan.status,
        comment=plan.comment, submitted_at=plan.submitted_at, decided_by=plan.decided_by, decided_at=plan.decided_at,
        attainment=plan.attainment, explanation=plan.explanation,
        objectives=[ObjectiveOut(id=o.id, title=o.title, weight=o.weight, attainment=o.attainment, key_results=[
            KeyResultOut(id=k.id, metric=k.metric, unit=k.unit, start_value=k.start_value, target_value=k.target_value,
                         due_date=k.due_date, owner_id=k.owner_id, weight=k.weight, kpi_id=k.kpi_id, current=k.current,
                         source=k.source, attainment=k.attainment,
                         check_ins=[CheckInOut(value=c.value, comment=c.comment, author_id=c.author_id, at=c.at)
                                    for c in k.check_ins])
            for k in o.key_results]) for o in plan.objectives])


def _me(user: SessionUser) -> str:
    return user.employee_id or ""


async def _run(ctx: AppContext, fn: Any, *args: Any) -> Any:
    async with ctx.pool.connection() as conn:
        try:
            return await fn(conn, *args)
        except UserError as err:
            raise from_user_error(err) from None


# -- API ---------------------------------------------------------------------------------------------

GOAL_READERS = ("employee", "manager")


@api.get("/goals/{employee_id}", response_model=GoalPlanOut, summary="A KAM's goals for a period (my own, or my report's)")
async def get_goals(employee_id: EmployeeIdPath, period: PeriodQuery = None,
                    user: SessionUser = Depends(api_user(*GOAL_READERS)), ctx: AppContext = Depends(get_ctx)) -> GoalPlanOut:
    return plan_out(await _run(ctx, svc.goal_plan, _me(user), employee_id, period or svc.current_period()))


@api.get("/manager/goals", response_model=list[TeamRowOut], summary="My team's goals for a period at a glance")
async def get_team_goals(period: PeriodQuery = None, user: SessionUser = Depends(api_user("manager")),
                         ctx: AppContext = Depends(get_ctx)) -> list[TeamRowOut]:
    rows = await _run(ctx, svc.team_goals, _me(user), period or svc.current_period())
    return [TeamRowOut(**vars(r)) for r in rows]


@api.post("/goals/{employee_id}/objectives", response_model=CreatedOut, summary="Draft an objective",
          responses={409: {"model": ErrorOut}, 422: {"model": ErrorOut}})
async def post_objective(body: NewObjectiveIn, employee_id: EmployeeIdPath,
                         user: SessionUser = Depends(api_user(*GOAL_READERS, write=True)),
                         ctx: AppContext = Depends(get_ctx)) -> CreatedOut:
    objective = ObjectiveIn(title=body.title, weight=body.weight)
    return CreatedOut(id=await _run(ctx, svc.add_objective, _me(user), employee_id, body.period, objective))


@api.delete("/goals/objectives/{objective_id}", response_model=CreatedOut, summary="Remove a draft objective",
            responses={409: {"model": ErrorOut}})
async def delete_objective(objective_id: ObjectiveIdPath, user: SessionUser = Depends(api_user(*GOAL_READERS, write=True)),
                           ctx: AppContext = Depends(get_ctx)) -> CreatedOut:
    await _run(ctx, svc.remove_objective, _me(user), objective_id)
    return CreatedOut(id=objective_id)


@api.post("/goals/objectives/{objective_id}/key-results", response_model=CreatedOut,
          summary="Add a SMART key result to a draft objective", responses={409: {"model": ErrorOut}, 422: {"model": ErrorOut}})
async def post_key_result(body: KeyResultIn, objective_id: ObjectiveIdPath,
                          user: SessionUser = Depends(api_user(*GOAL_READERS, write=True)),
                          ctx: AppContext = Depends(get_ctx)) -> CreatedOut:
    return CreatedOut(id=await _run(ctx, svc.add_key_result, _me(user), objective_id, body))


@api.delete("/goals/key-results/{key_result_id}", response_model=CreatedOut, summary="Remove a draft key result",
            responses={409: {"model": ErrorOut}})
async def delete_key_result(key_result_id: KeyResultIdPath,
                            user: SessionUser = Depends(api_user(*GOAL_READERS, write=True)),
                            ctx: AppContext = Depends(get_ctx)) -> CreatedOut:
    await _run(ctx, svc.remove_key_result, _me(user), key_result_id)
    return CreatedOut(id=key_result_id)


@api.post("/goals/key-results/{key_result_id}/check-ins", response_model=GoalPlanOut,
          summary="Check in: progress now and a comment (kept beside the earlier check-ins)",
          responses={409: {"model": ErrorOut}, 422: {"model": ErrorOut}})
async def post_check_in(body: CheckInIn, key_result_id: KeyResultIdPath,
                        user: SessionUser = Depends(api_user(*GOAL_READERS, write=True)),
                        ctx: AppContext = Depends(get_ctx)) -> GoalPlanOut:
    return plan_out(await _run(ctx, svc.check_in, _me(user), key_result_id, body))


@api.post("/goals/{employee_id}/submit", response_model=GoalPlanOut, summary="Submit the goals for approval",
          responses={409: {"model": ErrorOut}, 422: {"model": ErrorOut}})
async def post_submit(body: PeriodIn, employee_id: EmployeeIdPath,
                      user: SessionUser = Depends(api_user(*GOAL_READERS, write=True)),
                      ctx: AppContext = Depends(get_ctx)) -> GoalPlanOut:
    return plan_out(await _run(ctx, svc.submit_goals, _me(user), employee_id, body.period))


@api.post("/manager/goals/{employee_id}/approve", response_model=GoalPlanOut, summary="Approve my report's goals",
          responses={409: {"model": ErrorOut}})
async def post_approve(body: PeriodIn, employee_id: EmployeeIdPath,
                       user: SessionUser = Depends(api_user("manager", write=True)),
                       ctx: AppContext = Depends(get_ctx)) -> GoalPlanOut:
    return plan_out(await _run(ctx, svc.approve_goals, _me(user), employee_id, body.period))


@api.post("/manager/goals/{employee_id}/return", response_model=GoalPlanOut,
          summary="Return my report's goals for changes, saying why", responses={409: {"model": ErrorOut}, 422: {"model": ErrorOut}})
async def post_return(body: ReturnGoalsIn, employee_id: EmployeeIdPath,
                      user: SessionUser = Depends(api_user("manager", write=True)),
                      ctx: AppContext = Depends(get_ctx)) -> GoalPlanOut:
    return plan_out(await _run(ctx, svc.return_goals, _me(user), employee_id, body.period, body.comment))


# -- pages -------------------------------------------------------------------------------------------


def _page_url(user: SessionUser, employee_id: str, period: str) -> str:
    base = "/me/goals" if employee_id == user.employee_id else f"/manager/goals/{employee_id}"
    return f"{base}?period={period}"


async def _goals_page(request: Request, user: SessionUser, ctx: AppContext, employee_id: str, period: str,
                      status: int = 200, error: Text | str | None = None, form: str | None = None,
                      values: dict[str, str] | None = None, errors: dict[str, str] | None = None) -> Response:
    async with ctx.pool.connection() as conn:
        plan = await svc.goal_plan(conn, _me(user), employee_id, period)
    fmt = reader(request, user)
    return render(request, "goals.html", user, status, plan=plan, own=employee_id == user.employee_id,
                  is_manager=plan.manager_id == user.employee_id, kpis=KPI_LABELS, form=form, values=values or {},
                  errors=errors or {}, error=fmt.text(error) if error else None, periods=_periods(period))


def _periods(current: str) -> list[str]:
    """This quarter, the two before and the next, and the one shown."""
    today = svc.current_period()
    year, q = int(today[:4]), int(today[-1])
    out = []
    for shift in (-2, -1, 0, 1):
        y, n = year + (q - 1 + shift) // 4, (q - 1 + shift) % 4 + 1
        out.append(f"{y}-Q{n}")
    return out if current in out else [*out, current]


async def _period_of(request: Request) -> str:
    form = await request.form()
    return (form_text(form, "period") or "").strip() or svc.current_period()


def _field_errors(err: ValidationError, fmt: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    for e in err.errors():
        loc = [str(p) for p in e.get("loc", ())]
        cause = (e.get("ctx") or {}).get("error")
        name = loc[0] if loc else (cause.path if isinstance(cause, DomainError) and cause.path else "form")
        out.setdefault(name, fmt.text(cause.text or cause.message if isinstance(cause, DomainError) else error_text(e)))
    return out


async def _on_error(request: Request, user: SessionUser, ctx: AppContext, employee_id: str, period: str,
                    form_name: str, err: Exception, values: dict[str, str]) -> Response:
    fmt = reader(request, user)
    if isinstance(err, ValidationError):
        errors = _field_errors(err, fmt)
        return await _goals_page(request, user, ctx, employee_id, period, 422,
                                 tr("please correct the marked fields"), form_name, values, errors)
    assert isinstance(err, UserError)
    web = from_user_error(err)
    if web.status == 404:
        raise web
    return await _goals_page(request, user, ctx, employee_id, period, web.status, message_of(err), form_name, values)


@pages.get("/me/goals")
async def my_goals_page(request: Request, period: PeriodQuery = None, user: SessionUser = Depends(page_user("employee")),
                        ctx: AppContext = Depends(get_ctx)) -> Response:
    try:
        return await _goals_page(request, user, ctx, _me(user), svc.check_period(period or svc.current_period()))
    except UserError as err:
        raise from_user_error(err) from None


@pages.get("/manager/goals")
async def team_goals_page(request: Request, period: PeriodQuery = None, user: SessionUser = Depends(page_user("manager")),
                          ctx: AppContext = Depends(get_ctx)) -> Response:
    period = period or svc.current_period()
    async with ctx.pool.connection() as conn:
        try:
            rows = await svc.team_goals(conn, _me(user), period)
        except UserError as err:
            raise from_user_error(err) from None
    return render(request, "team_goals.html", user, rows=rows, period=period, periods=_periods(period))


@pages.get("/manager/goals/{employee_id}")
async def report_goals_page(request: Request, employee_id: EmployeeIdPath, period: PeriodQuery = None,
                            user: SessionUser = Depends(page_user("manager")), ctx: AppContext = Depends(get_ctx)) -> Response:
    try:
        return await _goals_page(request, user, ctx, employee_id, svc.check_period(period or svc.current_period()))
    except UserError as err:
        raise from_user_error(err) from None


@pages.post("/goals/{employee_id}/objectives")
async def add_objective_form(request: Request, employee_id: EmployeeIdPath,
                             user: SessionUser = Depends(page_user(*GOAL_READERS)), ctx: AppContext = Depends(get_ctx)) -> Response:
    form = await request.form()
    period = await _period_of(request)
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    try:
        body = ObjectiveIn(title=(form_text(form, "title") or "").strip(), weight=(form_text(form, "weight") or "1").strip())
        async with ctx.pool.connection() as conn:
            await svc.add_objective(conn, _me(user), employee_id, period, body)
    except (ValidationError, UserError) as err:
        return await _on_error(request, user, ctx, employee_id, period, "objective", err, values)
    return redirect(_page_url(user, employee_id, period), say(request, user, tr("objective added")))


async def _owner_of_objective(ctx: AppContext, user: SessionUser, objective_id: int) -> tuple[str, str]:
    async with ctx.pool.connection() as conn:
        row = await (await conn.execute(
            "SELECT p.employee_id, p.period FROM goal_objective o JOIN goal_plan p ON p.id = o.plan_id WHERE o.id = %s",
            (objective_id,))).fetchone()
    if row is None:
        raise from_user_error(svc.NotFound(tr("there is no objective %(id)s", id=objective_id)))
    return row


async def _owner_of_key_result(ctx: AppContext, key_result_id: int) -> tuple[str, str]:
    async with ctx.pool.connection() as conn:
        row = await (await conn.execute(
            """SELECT p.employee_id, p.period FROM goal_key_result k JOIN goal_objective o ON o.id = k.objective_id
               JOIN goal_plan p ON p.id = o.plan_id WHERE k.id = %s""", (key_result_id,))).fetchone()
    if row is None:
        raise from_user_error(svc.NotFound(tr("there is no key result %(id)s", id=key_result_id)))
    return row


@pages.post("/goals/objectives/{objective_id}/key-results")
async def add_key_result_form(request: Request, objective_id: ObjectiveIdPath,
                              user: SessionUser = Depends(page_user(*GOAL_READERS)), ctx: AppContext = Depends(get_ctx)) -> Response:
    form = await request.form()
    employee_id, period = await _owner_of_objective(ctx, user, objective_id)
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    data = {f: (form_text(form, f) or "").strip() for f in KR_FIELDS}
    data = {k: v for k, v in data.items() if v}
    try:
        body = KeyResultIn.model_validate(data)
        async with ctx.pool.connection() as conn:
            await svc.add_key_result(conn, _me(user), objective_id, body)
    except (ValidationError, UserError) as err:
        return await _on_error(request, user, ctx, employee_id, period, f"kr-{objective_id}", err, values)
    return redirect(_page_url(user, employee_id, period), say(request, user, tr("key result added")))


@pages.post("/goals/objectives/{objective_id}/delete")
async def remove_objective_form(request: Request, objective_id: ObjectiveIdPath,
                                user: SessionUser = Depends(page_user(*GOAL_READERS)), ctx: AppContext = Depends(get_ctx)) -> Response:
    employee_id, period = await _owner_of_objective(ctx, user, objective_id)
    try:
        async with ctx.pool.connection() as conn:
            await svc.remove_objective(conn, _me(user), objective_id)
    except UserError as err:
        return await _on_error(request, user, ctx, employee_id, period, "objective", err, {})
    return redirect(_page_url(user, employee_id, period), say(request, user, tr("objective removed")))


@pages.post("/goals/key-results/{key_result_id}/delete")
async def remove_key_result_form(request: Request, key_result_id: KeyResultIdPath,
                                 user: SessionUser = Depends(page_user(*GOAL_READERS)), ctx: AppContext = Depends(get_ctx)) -> Response:
    employee_id, period = await _owner_of_key_result(ctx, key_result_id)
    try:
        async with ctx.pool.connection() as conn:
            await svc.remove_key_result(conn, _me(user), key_result_id)
    except UserError as err:
        return await _on_error(request, user, ctx, employee_id, period, "objective", err, {})
    return redirect(_page_url(user, employee_id, period), say(request, user, tr("key result removed")))


@pages.post("/goals/key-results/{key_result_id}/check-ins")
async def check_in_form(request: Request, key_result_id: KeyResultIdPath,
                        user: SessionUser = Depends(page_user(*GOAL_READERS)), ctx: AppContext = Depends(get_ctx)) -> Response:
    form = await request.form()
    employee_id, period = await _owner_of_key_result(ctx, key_result_id)
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    try:
        body = CheckInIn(value=(form_text(form, "value") or "").strip(), comment=(form_text(form, "comment") or "").strip() or None)
        async with ctx.pool.connection() as conn:
            await svc.check_in(conn, _me(user), key_result_id, body)
    except (ValidationError, UserError) as err:
        return await _on_error(request, user, ctx, employee_id, period, f"ci-{key_result_id}", err, values)
    return redirect(_page_url(user, employee_id, period), say(request, user, tr("progress saved")))


@pages.post("/goals/{employee_id}/submit")
async def submit_form(request: Request, employee_id: EmployeeIdPath,
                      user: SessionUser = Depends(page_user(*GOAL_READERS)), ctx: AppContext = Depends(get_ctx)) -> Response:
    period = await _period_of(request)
    try:
        async with ctx.pool.connection() as conn:
            await svc.submit_goals(conn, _me(user), employee_id, period)
    except UserError as err:
        return await _on_error(request, user, ctx, employee_id, period, "decision", err, {})
    return redirect(_page_url(user, employee_id, period), say(request, user, tr("goals submitted for approval")))


@pages.post("/manager/goals/{employee_id}/approve")
async def approve_form(request: Request, employee_id: EmployeeIdPath,
                       user: SessionUser = Depends(page_user("manager")), ctx: AppContext = Depends(get_ctx)) -> Response:
    period = await _period_of(request)
    try:
        async with ctx.pool.connection() as conn:
            await svc.approve_goals(conn, _me(user), employee_id, period)
    except UserError as err:
        return await _on_error(request, user, ctx, employee_id, period, "decision", err, {})
    return redirect(f"/manager/goals?period={period}", say(request, user, tr("goals approved")))


@pages.post("/manager/goals/{employee_id}/return")
async def return_form(request: Request, employee_id: EmployeeIdPath,
                      user: SessionUser = Depends(page_user("manager")), ctx: AppContext = Depends(get_ctx)) -> Response:
    form = await request.form()
    period = await _period_of(request)
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    try:
        async with ctx.pool.connection() as conn:
            await svc.return_goals(conn, _me(user), employee_id, period, form_text(form, "comment") or "")
    except UserError as err:
        return await _on_error(request, user, ctx, employee_id, period, "decision", err, values)
    return redirect(f"/manager/goals?period={period}", say(request, user, tr("goals returned with your comment")))
