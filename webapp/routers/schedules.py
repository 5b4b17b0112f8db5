"""HR's recurring cycles: the Temporal Schedules that open each period's cycle (services/schedules.py)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request
from fastapi import Path as PathParam
from fastapi.responses import Response
from pydantic import AfterValidator, BaseModel, Field, StringConstraints, ValidationError

from domain.inputs import ID_PATTERN, clean_text
from domain.text import Text, tr
from services.errors import UserError
from services.schedules import (
    CycleSchedule,
    create_cycle_schedule,
    delete_cycle_schedule,
    list_cycle_schedules,
    pause_cycle_schedule,
    resume_cycle_schedule,
    run_cycle_schedule_now,
)
from services.users import SessionUser
from webapp.auth import api_user, page_user
from webapp.context import AppContext, get_ctx
from webapp.errors import from_user_error
from webapp.pages import form_text, pydantic_message, redirect, render, say
from webapp.schemas import MAX_YAML, ErrorOut, MessageOut, _In

api = APIRouter(prefix="/api/hr/schedules", tags=["hr"], responses={
    401: {"model": ErrorOut}, 403: {"model": ErrorOut}, 404: {"model": ErrorOut}, 409: {"model": ErrorOut},
    422: {"model": ErrorOut}})
pages = APIRouter(include_in_schema=False)
HR = api_user("hr")
HR_WRITE = api_user("hr", write=True)
HR_PAGE = page_user("hr")
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "cycle-template.yaml"
Cadence = Literal["quarterly", "half_yearly", "annual"]
Action = Literal["pause", "resume", "run", "delete"]
ScheduleNamePath = Annotated[str, PathParam(pattern=ID_PATTERN, description="the schedule's name", examples=["kam"])]


class ScheduleCreateIn(_In):
    template_yaml: Annotated[str, StringConstraints(min_length=1, max_length=MAX_YAML), AfterValidator(clean_text)] = Field(
        description="a cycle configuration whose id and name may say {period} (see examples/cycle-template.yaml)")
    cadence: Cadence
    first: date = Field(description="the first period's start (day 1-28)")
    name: Annotated[str, StringConstraints(pattern=ID_PATTERN)] | None = None


class ScheduleOut(BaseModel):
    name: str
    cadence: str
    first: date
    timezone: str
    paused: bool
    note: str
    next_runs: list[str]
    next_cycle: str


def _out(s: CycleSchedule) -> ScheduleOut:
    return ScheduleOut(name=s.name, cadence=s.cadence, first=s.first, timezone=s.timezone, paused=s.paused, note=s.note,
                       next_runs=[t.isoformat() for t in s.next_runs], next_cycle=s.next_cycle)


async def _act(ctx: AppContext, user: SessionUser, name: str, action: str) -> Text:
    who = user.username
    if action == "pause":
        await pause_cycle_schedule(ctx.client, ctx.pool, name, who)
        return tr("schedule %(name)s paused: no cycle opens until it is resumed", name=name)
    if action == "resume":
        await resume_cycle_schedule(ctx.client, ctx.pool, name, who)
        return tr("schedule %(name)s resumed", name=name)
    if action == "run":
        await run_cycle_schedule_now(ctx.client, ctx.pool, name, who)
        return tr("schedule %(name)s is running now: it opens the current period's cycle unless it exists", name=name)
    await delete_cycle_schedule(ctx.client, ctx.pool, name, who)
    return tr("schedule %(name)s deleted; the cycles it created stay", name=name)


@api.get("", response_model=list[ScheduleOut], summary="Recurring cycles: each schedule with its next runs")
async def list_schedules(user: SessionUser = Depends(HR), ctx: AppContext = Depends(get_ctx)) -> list[ScheduleOut]:
    return [_out(s) for s in await list_cycle_schedules(ctx.client)]


@api.post("", response_model=ScheduleOut, status_code=201, summary="Make a schedule that opens every period's cycle")
async def create(body: ScheduleCreateIn, user: SessionUser = Depends(HR_WRITE),
                 ctx: AppContext = Depends(get_ctx)) -> ScheduleOut:
    made = await create_cycle_schedule(ctx.client, ctx.pool, body.template_yaml, body.cadence, body.first,
                                       user.username, ctx.task_queue, name=body.name)
    return _out(made)


@api.post("/{name}/{action}", response_model=MessageOut, summary="Pause, resume, run now or delete a schedule")
async def act(name: ScheduleNamePath, action: Action, user: SessionUser = Depends(HR_WRITE),
              ctx: AppContext = Depends(get_ctx)) -> MessageOut:
    return MessageOut(message=str(await _act(ctx, user, name, action)))


async def _page(request: Request, user: SessionUser, ctx: AppContext, status: int = 200,
                error: Text | str | None = None, form: dict[str, str] | None = None) -> Response:
    rows = await list_cycle_schedules(ctx.client)
    values = form or {"template_yaml": EXAMPLE.read_text(encoding="utf-8"), "cadence": "quarterly", "first": "", "name": ""}
    return render(request, "hr_schedules.html", user, status, schedules=rows, form=values,
                  error=say(request, user, error) if error else None)


@pages.get("/hr/schedules")
async def schedules_page(request: Request, user: SessionUser = Depends(HR_PAGE),
                         ctx: AppContext = Depends(get_ctx)) -> Response:
    return await _page(request, user, ctx)


@pages.post("/hr/schedules")
async def create_page(request: Request, user: SessionUser = Depends(HR_PAGE),
                      ctx: AppContext = Depends(get_ctx)) -> Response:
    form = await request.form()
    values = {k: (form_text(form, k) or "") for k in ("template_yaml", "cadence", "first", "name")}
    try:
        body = ScheduleCreateIn(template_yaml=values["template_yaml"], cadence=values["cadence"],  # type: ignore[arg-type]
                                first=values["first"], name=values["name"] or None)  # type: ignore[arg-type]
        made = await create_cycle_schedule(ctx.client, ctx.pool, body.template_yaml, body.cadence, body.first,
                                           user.username, ctx.task_queue, name=body.name)
    except ValidationError as err:
        return await _page(request, user, ctx, 422, pydantic_message(err), values)
    except UserError as err:
        web = from_user_error(err)
        return await _page(request, user, ctx, web.status, web.message, values)
    said = tr("schedule %(name)s made: the first cycle, %(cycle)s, opens at midnight of %(first)s (%(zone)s)",
              name=made.name, cycle=made.next_cycle or "-", first=made.first, zone=made.timezone)
    return redirect("/hr/schedules", say(request, user, said))


@pages.post("/hr/schedules/{name}/{action}")
async def act_page(request: Request, name: ScheduleNamePath, action: Action, user: SessionUser = Depends(HR_PAGE),
                   ctx: AppContext = Depends(get_ctx)) -> Response:
    try:
        said = await _act(ctx, user, name, action)
    except UserError as err:
        web = from_user_error(err)
        return await _page(request, user, ctx, web.status, web.message)
    return redirect("/hr/schedules", say(request, user, said))
