"""HR's side: cycles, a dashboard per cycle, survey links, reassignment, calibration, approval, release.

Every state change goes through the engine: cycle creation through ``services.cycles`` (validated
and frozen), the rest as Updates on the cycle or review workflows, whose refusal messages are shown.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import yaml
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import ValidationError

from domain.text import Text, tr
from services.csv_text import csv_bytes
from services.cycles import CycleReport, cycle_report
from services.errors import UserError
from services.hr_views import (
    calibration_view,
    cycles,
    late_work,
    release_results,
    reviewers,
    send_reminders_now,
)
from services.notifications import Delivery, deliveries, delivery_counts, resend
from services.participant import display_names
from services.signoff import progress as signoff_progress
from services.survey_links import issue_links
from services.tasks import scorers
from services.users import SessionUser
from webapp import actions
from webapp.auth import api_user, page_user
from webapp.context import AppContext, get_ctx
from webapp.errors import WebError, from_user_error
from webapp.pages import as_number, form_text, pydantic_message, redirect, render, say
from webapp.schemas import (
    AdjustedOut,
    AdjustIn,
    CalibrationOut,
    CountOut,
    CycleCreatedOut,
    CycleCreateIn,
    CycleIdPath,
    CycleOut,
    DashboardOut,
    ErrorOut,
    FinalizedOut,
    LateTaskOut,
    ManagerLateOut,
    MessageOut,
    NotificationIdPath,
    ParticipantPreviewOut,
    ReassignedOut,
    ReassignIn,
    ReleasedOut,
    RemindersIn,
    StartedOut,
    SurveyLinkOut,
    SurveyLinksIn,
)
from webapp.views import calibration_out
from webapp.words import WORDS

api = APIRouter(prefix="/api/hr", tags=["hr"], responses={
    401: {"model": ErrorOut}, 403: {"model": ErrorOut}, 404: {"model": ErrorOut}, 409: {"model": ErrorOut},
    422: {"model": ErrorOut}})
pages = APIRouter(include_in_schema=False)
HR = api_user("hr")
DeliveryStatus = Literal["queued", "claimed", "sending", "sent", "retry", "failed", "uncertain"]
HR_WRITE = api_user("hr", write=True)
DEMO_CONFIG = Path(__file__).resolve().parents[2] / "demo" / "cycle.yaml"


def template_config() -> str:
    """A starting point for the create form: the demo configuration with deadlines of days, not seconds."""
    data = yaml.safe_load(DEMO_CONFIG.read_text(encoding="utf-8"))
    data["id"] = f"{data['period']['label']}-web-{datetime.now(UTC):%m%d%H%M}"
    data["phases"] = {
        "self_review": {"due_after": "7d", "reminders_before": ["2d"], "on_deadline": {"action": "close"}},
        "manager_scoring": {"due_after": "10d", "reminders_before": ["3d", "1d"],
                            "on_deadline": {"action": "extend", "extend_by": "2d", "max_extensions": 1}},
        "customer_survey": {"due_after": "10d", "reminders_before": ["3d"], "on_deadline": {"action": "close"}},
    }
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=120)


async def _dashboard(ctx: AppContext, cycle_id: str) -> DashboardOut:
    return (await _board(ctx, cycle_id))[0]


async def _board(ctx: AppContext, cycle_id: str) -> tuple[DashboardOut, CycleReport]:
    """The dashboard, and the report it was made from (whose blockers are Texts, for the page)."""
    async with ctx.pool.connection() as conn:
        row = await (await conn.execute(
            "SELECT status, results_released_at FROM review_cycle WHERE id = %s", (cycle_id,))).fetchone()
        if row is None:
            raise WebError(404, tr("cycle %(cycle)s does not exist", cycle=cycle_id))
        late = await late_work(conn, cycle_id)
    status, released = row
    # A locked cycle's workflow has finished; querying it would replay its whole history for nothing.
    report = await cycle_report(None if status in ("locked", "cancelled") else ctx.client, ctx.pool, cycle_id)
    return DashboardOut(
        cycle_id=report.cycle_id, name=report.name, status=report.status,
        phase=report.workflow.phase if report.workflow else report.status, period=report.period,
        participants=report.participants, progress=report.tasks,
        late=[LateTaskOut(**{k: v for k, v in vars(t).items() if k != "overdue_by"},
                          overdue_seconds=int(t.overdue_by.total_seconds())) for t in late.tasks],
        late_total=late.total, late_by_phase=late.by_phase,
        late_by_manager=[ManagerLateOut(**vars(m)) for m in late.by_manager], phase_due=late.phase_due,
        blocking=report.blocking, reviews=report.reviews, results_released_at=released,
        blocked_reason=report.workflow.blocked_reason if report.workflow else None,
    ), report


@api.get("/cycles", response_model=list[CycleOut], summary="All review cycles, newest first")
async def list_cycles(user: SessionUser = Depends(HR), ctx: AppContext = Depends(get_ctx)) -> list[CycleOut]:
    async with ctx.pool.connection() as conn:
        return [CycleOut(**vars(c)) for c in await cycles(conn)]


@api.post("/cycles", response_model=CycleCreatedOut, status_code=201, summary="Create a cycle from its configuration")
async def create(body: CycleCreateIn, user: SessionUser = Depends(HR_WRITE),
                 ctx: AppContext = Depends(get_ctx)) -> CycleCreatedOut:
    created = await actions.create_cycle_from_yaml(ctx, user, body.config_yaml)
    return CycleCreatedOut(cycle_id=created.cycle_id, participants=created.participants, created=created.created,
                           excluded=created.excluded)


@api.post("/cycles/preview", response_model=ParticipantPreviewOut,
          summary="Who a configuration would review (how many match its participant filters); creates nothing")
async def preview(body: CycleCreateIn, user: SessionUser = Depends(HR_WRITE),
                  ctx: AppContext = Depends(get_ctx)) -> ParticipantPreviewOut:
    return ParticipantPreviewOut(**vars(await actions.preview_cycle_from_yaml(ctx, body.config_yaml)))


@api.get("/cycles/{cycle_id}", response_model=DashboardOut, summary="Cycle dashboard: progress per phase, who is late")
async def dashboard(request: Request, cycle_id: CycleIdPath, user: SessionUser = Depends(HR),
                    ctx: AppContext = Depends(get_ctx)) -> DashboardOut:
    board, report = await _board(ctx, cycle_id)
    board.blocking = [say(request, user, b.message) for b in report.blockers]  # in the reader's language
    return board


@api.post("/cycles/{cycle_id}/start", response_model=StartedOut, summary="Start a created cycle")
async def start(cycle_id: CycleIdPath, user: SessionUser = Depends(HR_WRITE), ctx: AppContext = Depends(get_ctx)) -> StartedOut:
    return StartedOut(workflow_id=await actions.start(ctx, cycle_id))


@api.post("/cycles/{cycle_id}/reminders", response_model=CountOut, summary="Send reminders for open tasks now")
async def reminders(cycle_id: CycleIdPath, body: RemindersIn, user: SessionUser = Depends(HR_WRITE),
                    ctx: AppContext = Depends(get_ctx)) -> CountOut:
    async with ctx.pool.connection() as conn:
        return CountOut(count=await send_reminders_now(conn, cycle_id, user.username, body.only_overdue, ctx.client, ctx.task_queue))


@api.post("/cycles/{cycle_id}/survey-links", response_model=list[SurveyLinkOut],
          summary="Issue signed survey links (each shown once)")
async def survey_links(cycle_id: CycleIdPath, body: SurveyLinksIn, user: SessionUser = Depends(HR_WRITE),
                       ctx: AppContext = Depends(get_ctx)) -> list[SurveyLinkOut]:
    async with ctx.pool.connection() as conn:
        links = await issue_links(conn, cycle_id, user.username, ctx.settings.base_url(), body.reissue)
    return [SurveyLinkOut(**vars(link)) for link in links]


@api.post("/cycles/{cycle_id}/reassign", response_model=ReassignedOut, summary="Reassign a review to another reviewer")
async def reassign(cycle_id: CycleIdPath, body: ReassignIn, user: SessionUser = Depends(HR_WRITE),
                   ctx: AppContext = Depends(get_ctx)) -> ReassignedOut:
    return ReassignedOut(employee_id=body.employee_id, reviewer_id=await actions.reassign(ctx, user, cycle_id, body))


@api.get("/cycles/{cycle_id}/calibration", response_model=CalibrationOut,
         summary="Calibration: distribution vs guideline, per manager, 9-box, ratings")
async def calibration(cycle_id: CycleIdPath, user: SessionUser = Depends(HR), ctx: AppContext = Depends(get_ctx)) -> CalibrationOut:
    async with ctx.pool.connection() as conn:
        return calibration_out(await calibration_view(conn, cycle_id))


@api.post("/cycles/{cycle_id}/calibration/adjustments", response_model=AdjustedOut,
          summary="Adjust a rating, with a reason")
async def adjust(cycle_id: CycleIdPath, body: AdjustIn, user: SessionUser = Depends(HR_WRITE),
                 ctx: AppContext = Depends(get_ctx)) -> AdjustedOut:
    return AdjustedOut(adjustments=await actions.adjust(ctx, user, cycle_id, body))


@api.post("/cycles/{cycle_id}/calibration/finalize", response_model=FinalizedOut, summary="Finalize calibration")
async def finalize(cycle_id: CycleIdPath, user: SessionUser = Depends(HR_WRITE),
                   ctx: AppContext = Depends(get_ctx)) -> FinalizedOut:
    summary = await actions.finalize(ctx, user, cycle_id)
    return FinalizedOut(ratings=summary.ratings, within_guideline=summary.within_guideline, violations=summary.violations)


@api.post("/cycles/{cycle_id}/incentives/retry", response_model=MessageOut,
          summary="Compute blocked incentives again, after fixing what blocked them")
async def retry(cycle_id: CycleIdPath, user: SessionUser = Depends(HR_WRITE), ctx: AppContext = Depends(get_ctx)) -> MessageOut:
    return MessageOut(message=await actions.retry_incentives(ctx, user, cycle_id))


@api.get("/cycles/{cycle_id}/notifications", response_model=list[Delivery],
         summary="The cycle's messages: to whom, on which channel, delivered or not")
async def notifications(cycle_id: CycleIdPath, status: DeliveryStatus | None = None, user: SessionUser = Depends(HR),
                        ctx: AppContext = Depends(get_ctx)) -> list[Delivery]:
    return await deliveries(ctx.pool, cycle_id, status)


@api.post("/notifications/{notification_id}/resend", response_model=MessageOut, summary="Send one message again")
async def resend_notification(notification_id: NotificationIdPath, user: SessionUser = Depends(HR_WRITE),
                              ctx: AppContext = Depends(get_ctx)) -> MessageOut:
    await resend(ctx.client, ctx.pool, ctx.task_queue, notification_id, user.username)
    return MessageOut(message=f"message {notification_id} is being sent again")


@api.post("/cycles/{cycle_id}/results/release", response_model=ReleasedOut, summary="Release results to employees")
async def release(cycle_id: CycleIdPath, user: SessionUser = Depends(HR_WRITE),
                  ctx: AppContext = Depends(get_ctx)) -> ReleasedOut:
    async with ctx.pool.connection() as conn:
        return ReleasedOut(released_at=await release_results(conn, cycle_id, user.username, ctx.client, ctx.task_queue))


# -- pages -----------------------------------------------------------------------------------------

HR_PAGE = page_user("hr")


async def _cycles_page(request: Request, user: SessionUser, ctx: AppContext, status: int = 200,
                       error: Text | str | None = None, config_yaml: str | None = None,
                       preview: Any = None) -> Response:
    async with ctx.pool.connection() as conn:
        rows = await cycles(conn)
    return render(request, "hr_cycles.html", user, status, cycles=rows, error=say(request, user, error) if error else None,
                  config_yaml=config_yaml if config_yaml is not None else template_config(), preview=preview)


@pages.get("/hr")
async def cycles_page(request: Request, user: SessionUser = Depends(HR_PAGE), ctx: AppContext = Depends(get_ctx)) -> Response:
    return await _cycles_page(request, user, ctx)


@pages.post("/hr/cycles")
async def create_page(request: Request, user: SessionUser = Depends(HR_PAGE), ctx: AppContext = Depends(get_ctx)) -> Response:
    form = await request.form()
    text = form_text(form, "config_yaml") or ""
    try:
        body = CycleCreateIn(config_yaml=text)
        if form_text(form, "preview") == "1":  # who would be reviewed; the form stays as typed
            found = await actions.preview_cycle_from_yaml(ctx, body.config_yaml)
            return await _cycles_page(request, user, ctx, config_yaml=text, preview=found)
        created = await actions.create_cycle_from_yaml(ctx, user, body.config_yaml)
    except ValidationError as err:
        return await _cycles_page(request, user, ctx, 422, pydantic_message(err), text[:200_000])
    except UserError as err:
        web = from_user_error(err)
        return await _cycles_page(request, user, ctx, web.status, web.message, text)
    said = (tr("cycle %(cycle)s created: %(n)s participants", cycle=created.cycle_id, n=created.participants)
            if created.created else
            tr("cycle %(cycle)s already existed with this configuration: %(n)s participants", cycle=created.cycle_id,
               n=created.participants))
    return redirect(f"/hr/cycles/{created.cycle_id}", say(request, user, said))


async def cycle_zone(ctx: AppContext, cycle_id: str) -> str | None:
    """The cycle's time zone: pages about a cycle show its times there to readers without a zone of their own."""
    async with ctx.pool.connection() as conn:
        row = await (await conn.execute("SELECT timezone FROM review_cycle WHERE id = %s", (cycle_id,))).fetchone()
    return row[0] if row else None


async def _dashboard_page(request: Request, user: SessionUser, ctx: AppContext, cycle_id: str, status: int = 200,
                          error: Text | str | None = None, **extra) -> Response:
    board, report = await _board(ctx, cycle_id)
    async with ctx.pool.connection() as conn:
        people = await reviewers(conn, cycle_id)
        choices = await scorers(conn)
        sign = await signoff_progress(conn, cycle_id)
    messages = await deliveries(ctx.pool, cycle_id, limit=200)
    counts = await delivery_counts(ctx.pool, cycle_id)
    blockers = [b.message for b in report.blockers]
    return render(request, "hr_dashboard.html", user, status, tz=await cycle_zone(ctx, cycle_id), board=board,
                  people=people, scorers=choices, error=say(request, user, error) if error else None,
                  messages=messages, message_counts=counts, words=WORDS, blockers=blockers, timedelta=timedelta,
                  sign=sign, **extra)


@pages.get("/hr/cycles/{cycle_id}")
async def dashboard_page(request: Request, cycle_id: CycleIdPath, user: SessionUser = Depends(HR_PAGE),
                         ctx: AppContext = Depends(get_ctx)) -> Response:
    return await _dashboard_page(request, user, ctx, cycle_id)


async def _dashboard_action(request: Request, user: SessionUser, ctx: AppContext, cycle_id: str, action,
                            success: Text | Callable[[Any], Text]) -> Response:
    """Run an HR action from a form; on refusal show the dashboard again with the message.

    ``success`` is the flash message: a Text, or a function of the action's result giving one.
    """
    try:
        result = await action()
    except (WebError, UserError) as err:
        web = err if isinstance(err, WebError) else from_user_error(err)
        return await _dashboard_page(request, user, ctx, cycle_id, web.status, web.message)
    said = success(result) if callable(success) else success
    return redirect(f"/hr/cycles/{cycle_id}", say(request, user, said))


@pages.post("/hr/cycles/{cycle_id}/start")
async def start_page(request: Request, cycle_id: CycleIdPath, user: SessionUser = Depends(HR_PAGE),
                     ctx: AppContext = Depends(get_ctx)) -> Response:
    return await _dashboard_action(request, user, ctx, cycle_id, lambda: actions.start(ctx, cycle_id),
                                   tr("cycle %(cycle)s started", cycle=cycle_id))


@pages.post("/hr/cycles/{cycle_id}/reminders")
async def reminders_page(request: Request, cycle_id: CycleIdPath, user: SessionUser = Depends(HR_PAGE),
                         ctx: AppContext = Depends(get_ctx)) -> Response:
    only_overdue = form_text(await request.form(), "only_overdue") == "1"

    async def send() -> int:
        async with ctx.pool.connection() as conn:
            return await send_reminders_now(conn, cycle_id, user.username, only_overdue, ctx.client, ctx.task_queue)

    return await _dashboard_action(request, user, ctx, cycle_id, send,
                                   lambda n: tr("%(n)s reminder(s) are being sent", n=n))


@pages.post("/hr/cycles/{cycle_id}/survey-links")
async def survey_links_page(request: Request, cycle_id: CycleIdPath, user: SessionUser = Depends(HR_PAGE),
                            ctx: AppContext = Depends(get_ctx)) -> Response:
    form = await request.form()
    reissue = form_text(form, "reissue") == "1"
    try:
        async with ctx.pool.connection() as conn:
            links = await issue_links(conn, cycle_id, user.username, ctx.settings.base_url(), reissue)
    except UserError as err:
        web = from_user_error(err)
        return await _dashboard_page(request, user, ctx, cycle_id, web.status, web.message)
    if form_text(form, "format") == "csv":  # for a mail merge of HR's own: the same links, as a file
        response: Response = Response(_links_csv(links), media_type="text/csv; charset=utf-8", headers={
            "Content-Disposition": f'attachment; filename="survey-links-{cycle_id}.csv"'})
    else:
        response = render(request, "hr_links.html", user, tz=await cycle_zone(ctx, cycle_id), cycle_id=cycle_id,
                          links=links)
    response.headers["Cache-Control"] = "no-store"
    return response


def _links_csv(links: list) -> bytes:
    """The links as CSV, UTF-8 with a byte-order mark so Excel on a Chinese system opens it correctly."""
    return csv_bytes(["contact_id", "contact_name", "contact_email", "account", "kam_id", "kam_name", "link",
                      "expires_at"],
                     ([link.contact_id, link.contact_name, link.contact_email or "", link.account_name,
                       link.employee_id, link.employee_name, link.url, link.expires_at.isoformat()] for link in links))


@pages.post("/hr/cycles/{cycle_id}/reassign")
async def reassign_page(request: Request, cycle_id: CycleIdPath, user: SessionUser = Depends(HR_PAGE),
                        ctx: AppContext = Depends(get_ctx)) -> Response:
    form = await request.form()
    try:
        body = ReassignIn(employee_id=form_text(form, "employee_id") or "",
                          new_reviewer_id=form_text(form, "new_reviewer_id") or "", reason=form_text(form, "reason") or "")
    except ValidationError as err:
        return await _dashboard_page(request, user, ctx, cycle_id, 422, pydantic_message(err))
    async with ctx.pool.connection() as conn:
        names = dict(await (await conn.execute("SELECT id, name FROM employee WHERE id = ANY(%s)",
                                                ([body.employee_id, body.new_reviewer_id],))).fetchall())
    return await _dashboard_action(
        request, user, ctx, cycle_id, lambda: actions.reassign(ctx, user, cycle_id, body),
        lambda new: tr("the review of %(employee)s now goes to %(reviewer)s",
                       employee=names.get(body.employee_id, body.employee_id), reviewer=names.get(new, new)))


async def _calibration_page(request: Request, user: SessionUser, ctx: AppContext, cycle_id: str, status: int = 200,
                            error: Text | str | None = None, template: str = "hr_calibration.html") -> Response:
    async with ctx.pool.connection() as conn:
        view = await calibration_view(conn, cycle_id)
    return render(request, template, user, status, tz=view.timezone, view=view,
                  error=say(request, user, error) if error else None, request_id=secrets.token_hex(8))


async def _calibration_action(request: Request, user: SessionUser, ctx: AppContext, cycle_id: str, action,
                              success: Text, template: str = "hr_calibration.html") -> Response:
    """Run a calibration action from a form; on refusal show the page again with the message, in the reader's words."""
    try:
        await action()
    except (WebError, UserError) as err:
        web = err if isinstance(err, WebError) else from_user_error(err)
        return await _calibration_page(request, user, ctx, cycle_id, web.status, web.message, template)
    return redirect(f"/hr/cycles/{cycle_id}/calibration", say(request, user, success))


@pages.get("/hr/cycles/{cycle_id}/calibration")
async def calibration_page(request: Request, cycle_id: CycleIdPath, user: SessionUser = Depends(HR_PAGE),
                           ctx: AppContext = Depends(get_ctx)) -> Response:
    return await _calibration_page(request, user, ctx, cycle_id)


@pages.post("/hr/cycles/{cycle_id}/calibration/adjust")
async def adjust_page(request: Request, cycle_id: CycleIdPath, user: SessionUser = Depends(HR_PAGE),
                      ctx: AppContext = Depends(get_ctx)) -> Response:
    form = await request.form()
    try:
        body = AdjustIn(employee_id=form_text(form, "employee_id") or "", level=as_number(form_text(form, "level") or ""),
                        reason=form_text(form, "reason") or "", request_id=form_text(form, "request_id") or None)
    except ValidationError as err:
        return await _calibration_page(request, user, ctx, cycle_id, 422, pydantic_message(err))
    async with ctx.pool.connection() as conn:
        name = (await display_names(conn, [body.employee_id])).get(body.employee_id, body.employee_id)
    return await _calibration_action(request, user, ctx, cycle_id, lambda: actions.adjust(ctx, user, cycle_id, body),
                                     tr("%(name)s adjusted to level %(level)s", name=name, level=body.level))


@pages.get("/hr/cycles/{cycle_id}/calibration/finalize")
async def finalize_confirm_page(request: Request, cycle_id: CycleIdPath, user: SessionUser = Depends(HR_PAGE),
                                ctx: AppContext = Depends(get_ctx)) -> Response:
    """What finalizing will fix for good (distribution, adjustments, who is unrated), and the button that does it."""
    return await _calibration_page(request, user, ctx, cycle_id, template="hr_calibration_finalize.html")


@pages.post("/hr/cycles/{cycle_id}/calibration/finalize")
async def finalize_page(request: Request, cycle_id: CycleIdPath, user: SessionUser = Depends(HR_PAGE),
                        ctx: AppContext = Depends(get_ctx)) -> Response:
    return await _calibration_action(request, user, ctx, cycle_id, lambda: actions.finalize(ctx, user, cycle_id),
                                     tr("calibration finalized; incentives are being computed"),
                                     template="hr_calibration_finalize.html")


@pages.post("/hr/cycles/{cycle_id}/incentives/retry")
async def retry_page(request: Request, cycle_id: CycleIdPath, user: SessionUser = Depends(HR_PAGE),
                     ctx: AppContext = Depends(get_ctx)) -> Response:
    return await _dashboard_action(request, user, ctx, cycle_id, lambda: actions.retry_incentives(ctx, user, cycle_id),
                                   tr("incentives are being computed again"))


@pages.post("/hr/cycles/{cycle_id}/notifications/{notification_id}/resend")
async def resend_page(request: Request, cycle_id: CycleIdPath, notification_id: NotificationIdPath,
                      user: SessionUser = Depends(HR_PAGE), ctx: AppContext = Depends(get_ctx)) -> Response:
    return await _dashboard_action(
        request, user, ctx, cycle_id,
        lambda: resend(ctx.client, ctx.pool, ctx.task_queue, notification_id, user.username),
        tr("the message is being sent again"))
