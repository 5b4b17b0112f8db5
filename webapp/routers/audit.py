"""A cycle's audit log for HR: a page, its JSON twin and a CSV export, all with the same filters.

Filters: event kind, actor, the person the event is about, and a time range. On the page the range
is two dates, read in the reader's time zone (a day from midnight to midnight there); the API takes
instants. The CSV is UTF-8 with a byte-order mark, so Excel on a Chinese system opens it correctly.
"""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from domain.text import N_, tr
from i18n import Formatter
from i18n.format import zone
from services.audit import MAX_EXPORT, MAX_PAGE, AuditEntry, AuditFilter, audit_entries, audit_people
from services.csv_text import csv_bytes
from services.errors import Rejected
from services.users import SessionUser
from webapp.auth import api_user, page_user
from webapp.context import AppContext, get_ctx
from webapp.pages import reader, render
from webapp.routers.hr import cycle_zone
from webapp.schemas import AuditEntryOut, AuditPageOut, CycleIdPath, ErrorOut
from webapp.words import event_choices, event_words

api = APIRouter(prefix="/api/hr", tags=["hr"], responses={
    401: {"model": ErrorOut}, 403: {"model": ErrorOut}, 404: {"model": ErrorOut}, 422: {"model": ErrorOut}})
pages = APIRouter(include_in_schema=False)
HR = api_user("hr")
HR_PAGE = page_user("hr")

Key = Annotated[str | None, Query(max_length=100, pattern=r"^[A-Za-z0-9_.:@-]*$")]
Page = Annotated[int, Query(ge=1, le=100_000)]
Size = Annotated[int, Query(ge=1, le=MAX_PAGE)]
From = Annotated[str | None, Query(alias="from", max_length=10, description="YYYY-MM-DD, in the reader's time zone")]
To = Annotated[str | None, Query(alias="to", max_length=10, description="YYYY-MM-DD, the last day included")]


def _day(value: str | None, fmt: Formatter, label: str, end: bool = False) -> datetime | None:
    """A date from the form as an instant: that day's midnight (the next day's for an end) in the reader's zone."""
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise Rejected(tr("%(field)s: %(value)s is not a date (YYYY-MM-DD)", field=tr(label), value=value)) from None
    return datetime.combine(day + timedelta(days=1) if end else day, time(0), tzinfo=zone(fmt.tz))


def _out(entry: AuditEntry, fmt: Formatter) -> AuditEntryOut:
    return AuditEntryOut(**vars(entry), event_text=event_words(entry.event, fmt.gettext, fmt.locale))


@api.get("/cycles/{cycle_id}/audit", response_model=AuditPageOut,
         summary="The cycle's audit log, newest first: filter by event, actor, person and time; paged")
async def audit_api(request: Request, cycle_id: CycleIdPath, event: Key = None, actor: Key = None, person: Key = None,
                    since: datetime | None = None, until: datetime | None = None, page: Page = 1, size: Size = 50,
                    user: SessionUser = Depends(HR), ctx: AppContext = Depends(get_ctx)) -> AuditPageOut:
    fmt = reader(request, user, tz=await cycle_zone(ctx, cycle_id))
    async with ctx.pool.connection() as conn:
        found = await audit_entries(conn, cycle_id, AuditFilter(event, actor, person, since, until), page, size)
    return AuditPageOut(total=found.total, page=found.page, pages=found.pages,
                        entries=[_out(e, fmt) for e in found.entries])


async def _page_filter(request: Request, ctx: AppContext, user: SessionUser, cycle_id: str, event: str | None,
                       actor: str | None, person: str | None, day_from: str | None,
                       day_to: str | None) -> tuple[Formatter, AuditFilter]:
    fmt = reader(request, user, tz=await cycle_zone(ctx, cycle_id))
    where = AuditFilter(event or None, actor or None, person or None, _day(day_from, fmt, N_("From")),
                        _day(day_to, fmt, N_("To"), end=True))
    return fmt, where


@pages.get("/hr/cycles/{cycle_id}/audit")
async def audit_page(request: Request, cycle_id: CycleIdPath, event: Key = None, actor: Key = None,
                     person: Key = None, day_from: From = None, day_to: To = None,
                     page: Page = 1, user: SessionUser = Depends(HR_PAGE), ctx: AppContext = Depends(get_ctx)) -> Response:
    fmt, where = await _page_filter(request, ctx, user, cycle_id, event, actor, person, day_from, day_to)
    async with ctx.pool.connection() as conn:
        found = await audit_entries(conn, cycle_id, where, page, 50)
        actors, people = await audit_people(conn, cycle_id)
        (name,) = await (await conn.execute("SELECT name FROM review_cycle WHERE id = %s", (cycle_id,))).fetchone()
    chosen = {"event": event or "", "actor": actor or "", "person": person or "", "from": day_from or "",
              "to": day_to or ""}
    query = urlencode({k: v for k, v in chosen.items() if v})
    return render(request, "hr_audit.html", user, tz=fmt.tz, cycle_id=cycle_id, cycle_name=name, found=found,
                  events=event_choices(fmt.gettext, fmt.locale), actors=actors, people=people, chosen=chosen,
                  query=query, words=lambda e: event_words(e, fmt.gettext, fmt.locale))


@pages.get("/hr/cycles/{cycle_id}/audit.csv")
async def audit_csv(request: Request, cycle_id: CycleIdPath, event: Key = None, actor: Key = None,
                    person: Key = None, day_from: From = None, day_to: To = None,
                    user: SessionUser = Depends(HR_PAGE), ctx: AppContext = Depends(get_ctx)) -> Response:
    """Every row the filters select (up to 50,000), times in the reader's zone with the zone named."""
    fmt, where = await _page_filter(request, ctx, user, cycle_id, event, actor, person, day_from, day_to)
    async with ctx.pool.connection() as conn:
        found = await audit_entries(conn, cycle_id, where, 1, MAX_EXPORT)
    body = csv_bytes([fmt.gettext(h) for h in CSV_HEADER], (
        [fmt.local(e.occurred_at).isoformat(timespec="seconds"), e.actor_name or e.actor, e.actor,
         event_words(e.event, fmt.gettext, fmt.locale), e.event, e.subject_name or "", e.subject_id or "",
         f"{e.entity_type} {e.entity_id}", _json(e.before), _json(e.after)] for e in found.entries))
    return Response(body, media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="audit-{cycle_id}.csv"', "Cache-Control": "no-store"})


CSV_HEADER = (N_("time"), N_("actor"), N_("actor id"), N_("event"), N_("event key"), N_("person"), N_("person id"),
              N_("subject"), N_("before"), N_("after"))


def _json(value: dict | None) -> str:
    return "" if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
