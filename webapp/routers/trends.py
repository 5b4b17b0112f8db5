"""Trends across cycles: a KAM's figures, a manager's team, HR's list of managers whose ratings drift.

Pages and their JSON twins read services/trends.py, which decides who may see whom (a KAM themself, a manager
their direct reports and their own team, HR everyone); anyone else with a role that may ask gets 404, as for an
employee that does not exist. Payroll has no trends (its statements are its view of the payouts).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict

from domain.inputs import ID_PATTERN, id_problem
from domain.text import tr
from domain.trends import ARROWS, DriftRule
from services.trends import CADENCES, drift_report, employee_trend, team_trend
from services.users import SessionUser
from webapp.auth import api_user, page_user
from webapp.context import AppContext, get_ctx
from webapp.pages import redirect, render, say
from webapp.schemas import EmployeeIdPath, ErrorOut

api = APIRouter(prefix="/api/trends", tags=["trends"], responses={
    401: {"model": ErrorOut}, 403: {"model": ErrorOut}, 404: {"model": ErrorOut}})
pages = APIRouter(include_in_schema=False)
EMPLOYEE_READERS = ("hr", "manager", "employee")
TEAM_READERS = ("hr", "manager")
ManagerIdPath = Annotated[str, PathParam(pattern=ID_PATTERN, description="the manager's employee id", examples=["M1"])]
Cadence = Literal["quarterly", "half_yearly", "annual"]


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class FigureOut(_Out):
    value: Decimal | None
    change: Decimal | None = None
    direction: Literal["up", "down", "same"] | None = None
    better: bool | None = None


class KpiFigureOut(FigureOut):
    kpi_id: str
    label_en: str
    label_zh: str
    ratio: bool


class PayoutFigureOut(FigureOut):
    currency: str


class CyclePointOut(_Out):
    cycle_id: str
    cycle_name: str
    cadence: str
    period: str
    period_start: date
    period_end: date
    timezone: str
    released_at: datetime | None
    scale_max: Decimal | None
    levels: list[tuple[int, str]]
    preliminary_score: FigureOut
    normalized_score: FigureOut
    final_level: FigureOut
    final_label: str | None
    adjustments: int
    kpis: list[KpiFigureOut]
    payouts: list[PayoutFigureOut]


class EmployeeTrendOut(_Out):
    employee_id: str
    name: str
    manager_id: str | None
    manager_name: str | None
    cycles: list[CyclePointOut]


class LevelCountOut(_Out):
    level: int
    count: int
    share: Decimal


class MemberPointOut(_Out):
    employee_id: str
    name: str
    preliminary_score: Decimal | None
    final_level: FigureOut


class TeamCycleOut(_Out):
    cycle_id: str
    cycle_name: str
    cadence: str
    period: str
    period_start: date
    timezone: str
    released_at: datetime | None
    levels: list[tuple[int, str]]
    rated: int
    distribution: list[LevelCountOut]
    mean_score: FigureOut
    mean_normalized: FigureOut
    mean_level: FigureOut
    members: list[MemberPointOut]


class TeamTrendOut(_Out):
    manager_id: str
    name: str
    reports: list[tuple[str, str]]
    cycles: list[TeamCycleOut]


class DriftRuleOut(_Out):
    cycles: int
    mean_threshold: Decimal
    share_threshold: Decimal
    min_team: int


class DriftOut(_Out):
    first_cycle: str | None
    last_cycle: str | None
    team_mean_change: Decimal | None
    company_mean_change: Decimal | None
    mean_drift: Decimal | None
    top_drift: Decimal | None
    bottom_drift: Decimal | None
    flags: list[str]
    leaning: Literal["generous", "strict", "mixed"] | None
    flagged: bool


class DriftCycleOut(_Out):
    cycle_id: str
    cycle_name: str
    period: str
    company_mean: Decimal | None
    team_mean: Decimal | None
    team_rated: int


class ManagerDriftOut(_Out):
    manager_id: str
    name: str
    drift: DriftOut
    cycles: list[DriftCycleOut]


class DriftReportOut(_Out):
    cadence: str | None
    rule: DriftRuleOut
    cycles: list[tuple[str, str, str]]
    managers: list[ManagerDriftOut]


def drift_rule(cycles: Annotated[int, Query(ge=2, le=20, description="how many of the latest cycles to compare")] = 3,
               mean_threshold: Annotated[Decimal, Query(ge=0, le=10, max_digits=6, decimal_places=3,
                                                        description="levels")] = Decimal("0.5"),
               share_threshold: Annotated[Decimal, Query(ge=0, le=1, max_digits=5, decimal_places=3,
                                                         description="a ratio: 0.2 = 20 points")] = Decimal("0.2"),
               min_team: Annotated[int, Query(ge=1, le=10_000, description="smallest team compared")] = 3) -> DriftRule:
    """The drift rule's thresholds from the query string (the defaults are the declared rule, docs/trends.md)."""
    return DriftRule(cycles, mean_threshold, share_threshold, min_team)


@api.get("/employees/{employee_id}", response_model=EmployeeTrendOut,
         summary="One KAM across released cycles: scores, rating, KPIs, payouts, each with its change")
async def employee_api(employee_id: EmployeeIdPath, user: SessionUser = Depends(api_user(*EMPLOYEE_READERS)),
                       ctx: AppContext = Depends(get_ctx)) -> EmployeeTrendOut:
    async with ctx.pool.connection() as conn:
        return EmployeeTrendOut.model_validate(await employee_trend(conn, employee_id, user))


@api.get("/teams/{manager_id}", response_model=TeamTrendOut,
         summary="The people a manager rated, cycle by cycle: distribution of final levels, mean score")
async def team_api(manager_id: ManagerIdPath, user: SessionUser = Depends(api_user(*TEAM_READERS)),
                   ctx: AppContext = Depends(get_ctx)) -> TeamTrendOut:
    async with ctx.pool.connection() as conn:
        return TeamTrendOut.model_validate(await team_trend(conn, manager_id, user))


@api.get("/drift", response_model=DriftReportOut,
         summary="Managers whose team's ratings move faster than the company's (the drift rule, docs/trends.md)")
async def drift_api(cadence: Cadence | None = None, rule: DriftRule = Depends(drift_rule),
                    user: SessionUser = Depends(api_user("hr")), ctx: AppContext = Depends(get_ctx)) -> DriftReportOut:
    async with ctx.pool.connection() as conn:
        return DriftReportOut.model_validate(await drift_report(conn, cadence, rule))


# -- pages -----------------------------------------------------------------------------------------


def sparkline(values: list[Decimal | None], low: Decimal | int | None = None, high: Decimal | int | None = None,
              width: int = 120, height: int = 28) -> dict:
    """Points of a small line chart (SVG coordinates), drawn on the server: no script, no library."""
    known = [v for v in values if v is not None]
    if len(values) < 2 or not known:
        return {"points": "", "dots": [], "width": width, "height": height}
    lo = Decimal(low) if low is not None else min(known)
    hi = Decimal(high) if high is not None else max(known)
    span = (hi - lo) or Decimal(1)
    step = Decimal(width - 8) / (len(values) - 1)
    dots = []
    for i, v in enumerate(values):
        if v is None:
            continue
        y = Decimal(height - 4) - (min(max(v, lo), hi) - lo) / span * Decimal(height - 8)
        dots.append((round(float(4 + step * i), 1), round(float(y), 1)))
    return {"points": " ".join(f"{x},{y}" for x, y in dots), "dots": dots, "width": width, "height": height}


def _context() -> dict:
    return {"spark": sparkline, "ARROWS": ARROWS, "CADENCES": CADENCES}


@pages.get("/trends/employees/{employee_id}")
async def employee_page(request: Request, employee_id: EmployeeIdPath,
                        user: SessionUser = Depends(page_user(*EMPLOYEE_READERS)),
                        ctx: AppContext = Depends(get_ctx)) -> Response:
    async with ctx.pool.connection() as conn:
        trend = await employee_trend(conn, employee_id, user)
    tz = trend.cycles[-1].timezone if trend.cycles else None
    return render(request, "trends_employee.html", user, tz=tz, t=trend, own=user.employee_id == employee_id,
                  **_context())


@pages.get("/trends/teams/{manager_id}")
async def team_page(request: Request, manager_id: ManagerIdPath, user: SessionUser = Depends(page_user(*TEAM_READERS)),
                    ctx: AppContext = Depends(get_ctx)) -> Response:
    async with ctx.pool.connection() as conn:
        trend = await team_trend(conn, manager_id, user)
    tz = trend.cycles[-1].timezone if trend.cycles else None
    linkable = None if "hr" in user.roles else {i for i, _ in trend.reports}  # None: every member
    return render(request, "trends_team.html", user, tz=tz, t=trend, linkable=linkable, **_context())


@pages.get("/trends")
async def drift_page(request: Request, cadence: Cadence | None = None, employee: str | None = None,
                     rule: DriftRule = Depends(drift_rule), user: SessionUser = Depends(page_user("hr")),
                     ctx: AppContext = Depends(get_ctx)) -> Response:
    """The drift list; ``employee`` (the page's find form) opens that employee's trend."""
    error = None
    if employee is not None:
        wanted = employee.strip()
        problem = id_problem(wanted) if wanted else tr("write an employee id, e.g. K01")
        if problem is None:
            return redirect(f"/trends/employees/{wanted}")
        error = say(request, user, tr("employee id: %(problem)s", problem=problem))
    async with ctx.pool.connection() as conn:
        report = await drift_report(conn, cadence, rule)
    return render(request, "hr_trends.html", user, 422 if error else 200, report=report, error=error,
                  employee=employee or "", **_context())
