"""Trends across review cycles: a KAM's figures, a manager's team, and managers whose ratings drift.

Read-only, one query per view. A cycle counts once its results are released (before that its ratings can still
change and the people it rates have not seen them); cancelled cycles never count. Changes are against the previous
cycle of the same cadence in which the person (or team) took part.

Who may read what (decided here, so the page, the API and any other caller cannot differ):
- a KAM: their own trend;
- a manager: the trend of each of their direct reports (``employee.manager_id``), and their own team's view (the
  people whose review they held in each cycle: ``calibrated_rating.manager_id``);
- HR: everyone, every team, and the drift list.
Payroll reads payout lines through its statements and gets no trends. Anyone else gets the same NotFound as for an
employee that does not exist, so existence does not leak.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from psycopg import AsyncConnection

from domain.money import in_minor_unit
from domain.scorecard import KPI_LABELS
from domain.sentences import RATIO_KPIS
from domain.text import tr
from domain.trends import Drift, DriftRule, LevelCount, Tally, change, direction, distribution, drift, exact_mean, shown
from services.errors import NotFound
from services.users import SessionUser

#: KPIs where less is better: a rise is a worse result.
LOWER_IS_BETTER = frozenset({"complaint_rate"})
CADENCES = ("quarterly", "half_yearly", "annual")

# Each cycle's rating levels as configured (best first), and the rating scale's maximum, from the frozen config.
_LEVELS = """(SELECT jsonb_agg(jsonb_build_array((l->>'level')::int, l->>'label') ORDER BY (l->>'level')::int DESC)
              FROM jsonb_array_elements(c.config->'calibration'->'levels') l)"""
_SCALE_MAX = "(c.config->'scorecard'->'rating_scale'->>'max')"
RELEASED = "c.results_released_at IS NOT NULL AND c.status <> 'cancelled'"


@dataclass
class Figure:
    """A number in one cycle with its change against the previous cycle of the same cadence."""

    value: Decimal | None
    change: Decimal | None = None
    direction: str | None = None  # up | down | same | None (nothing to compare)
    better: bool | None = None  # whether the change is an improvement (a lower complaint rate is)


@dataclass
class KpiFigure(Figure):
    kpi_id: str = ""
    label_en: str = ""
    label_zh: str = ""
    ratio: bool = False  # a ratio (0.92), shown as a percentage


@dataclass
class PayoutFigure(Figure):
    currency: str = "CNY"


@dataclass
class CyclePoint:
    cycle_id: str
    cycle_name: str
    cadence: str
    period: str
    period_start: date
    period_end: date
    timezone: str
    released_at: datetime | None
    scale_max: Decimal | None
    levels: list[tuple[int, str]]  # the cycle's rating levels, best first
    preliminary_score: Figure
    normalized_score: Figure
    final_level: Figure
    final_label: str | None
    adjustments: int  # how many times calibration (or a correction after lock) changed the rating
    kpis: list[KpiFigure]
    payouts: list[PayoutFigure]  # locked lines only, delta lines included, per currency


@dataclass
class EmployeeTrend:
    employee_id: str
    name: str
    manager_id: str | None
    manager_name: str | None
    cycles: list[CyclePoint]  # by cadence, then period
    # False on a KAM's own trend: the normalized score and calibration's adjustments stay with HR and the managers,
    # as on the KAM's results page (which shows the final rating and the preliminary score).
    calibration_details: bool = True

    def cadences(self) -> list[str]:
        return [c for c in CADENCES if any(p.cadence == c for p in self.cycles)]

    def series(self, cadence: str) -> list[CyclePoint]:
        return [p for p in self.cycles if p.cadence == cadence]


def _may_see_employee(viewer: SessionUser, employee_id: str, manager_id: str | None) -> bool:
    if "hr" in viewer.roles:
        return True
    me = viewer.employee_id
    if not me:
        return False
    if "employee" in viewer.roles and me == employee_id:
        return True
    return "manager" in viewer.roles and manager_id == me and me != employee_id


def _may_see_team(viewer: SessionUser, manager_id: str) -> bool:
    return "hr" in viewer.roles or ("manager" in viewer.roles and viewer.employee_id == manager_id)


def employee_not_found(employee_id: str) -> NotFound:
    return NotFound(tr("There is no trend for %(employee)s that you may see.", employee=employee_id))


def _dec(v: Any) -> Decimal | None:
    return None if v is None else Decimal(str(v))


def _money(v: Any, currency: str) -> Decimal | None:
    """A stored total as people read it: exactly the currency's minor unit (1700.0000 CNY → 1700.00)."""
    return None if v is None else in_minor_unit(Decimal(str(v)), currency)


def _figures(values: list[Decimal | None], lower_is_better: bool = False) -> list[Figure]:
    out, previous = [], None
    for v in values:
        d = change(previous, v)
        better = None if d is None or d == 0 else (d < 0) == lower_is_better
        out.append(Figure(v, d, direction(d), better))
        previous = v
    return out


def _mean_figures(groups: list[list[Decimal]]) -> list[Figure]:
    """Each group's mean with its change against the previous group's, both from the exact means (then rounded)."""
    out, previous = [], None
    for x in (exact_mean(g) for g in groups):
        d = None if previous is None or x is None else x - previous
        out.append(Figure(None if x is None else shown(x), None if d is None else shown(d), direction(d),
                          None if d is None or d == 0 else d > 0))
        previous = x
    return out


async def employee_trend(conn: AsyncConnection, employee_id: str, viewer: SessionUser | None) -> EmployeeTrend:
    """One KAM across the released cycles; ``viewer`` None: no permission check (the CLI runs as the operator)."""
    rows = await (await conn.execute(
        f"""SELECT e.name, e.manager_id, m.name, x.*
            FROM employee e LEFT JOIN employee m ON m.id = e.manager_id
            LEFT JOIN LATERAL (
                SELECT c.id, c.name AS cname, c.cadence, c.period_label, c.period_start, c.period_end, c.timezone,
                       c.results_released_at, {_SCALE_MAX} AS scale_max, {_LEVELS} AS levels,
                       COALESCE(cr.preliminary_score, r.preliminary_score) AS prelim, cr.normalized_score,
                       cr.final_level,
                       (SELECT count(*) FROM rating_adjustment a WHERE a.review_id = r.id) AS adjustments,
                       (SELECT jsonb_object_agg(k.kpi_id, k.value::text) FROM kpi_actual k
                        WHERE k.employee_id = r.employee_id AND k.period = c.period_label) AS kpis,
                       (SELECT jsonb_object_agg(t.currency, t.total::text) FROM (
                            SELECT p.currency, sum(p.amount) AS total FROM payout_line p
                            WHERE p.cycle_id = c.id AND p.employee_id = r.employee_id AND p.status = 'locked'
                            GROUP BY p.currency) t) AS pay
                FROM review r JOIN review_cycle c ON c.id = r.cycle_id
                LEFT JOIN calibrated_rating cr ON cr.review_id = r.id
                WHERE r.employee_id = e.id AND {RELEASED}) x ON true
            WHERE e.id = %s
            ORDER BY x.period_start, x.id""", (employee_id,))).fetchall()
    if not rows or (viewer is not None and not _may_see_employee(viewer, employee_id, rows[0][1])):
        raise employee_not_found(employee_id)
    name, manager_id, manager_name = rows[0][:3]
    details = viewer is None or "hr" in viewer.roles or viewer.employee_id != employee_id
    cycles = [r[3:] for r in rows if r[3] is not None]
    points: list[CyclePoint] = []
    for cadence in CADENCES:
        series = [r for r in cycles if r[2] == cadence]
        if not series:
            continue
        prelim = _figures([_dec(r[10]) for r in series])
        normalized = _figures([_dec(r[11]) if details else None for r in series])
        level = _figures([_dec(r[12]) for r in series])
        kpi_ids = sorted({k for r in series for k in (r[14] or {})}, key=_kpi_order)
        kpi_series = {k: _figures([_dec((r[14] or {}).get(k)) for r in series], k in LOWER_IS_BETTER)
                      for k in kpi_ids}
        currencies = sorted({cur for r in series for cur in (r[15] or {})})
        pay_series = {cur: _figures([_money((r[15] or {}).get(cur), cur) for r in series]) for cur in currencies}
        for i, r in enumerate(series):
            levels = [(int(lv), str(label)) for lv, label in (r[9] or [])]
            label = next((lb for lv, lb in levels if r[12] is not None and lv == r[12]), None)
            kpis = [KpiFigure(**vars(kpi_series[k][i]), kpi_id=k, label_en=_kpi_label(k)[0], label_zh=_kpi_label(k)[1],
                              ratio=k in RATIO_KPIS) for k in kpi_ids if (r[14] or {}).get(k) is not None]
            pays = [PayoutFigure(**vars(pay_series[cur][i]), currency=cur) for cur in currencies
                    if (r[15] or {}).get(cur) is not None]
            points.append(CyclePoint(r[0], r[1], cadence, r[3], r[4], r[5], r[6], r[7], _dec(r[8]), levels,
                                     prelim[i], normalized[i], level[i], label, int(r[13] or 0) if details else 0,
                                     kpis, pays))
    return EmployeeTrend(employee_id, name, manager_id, manager_name, points, details)


#: Figures imported beside the scorecard's KPIs (the commission's measure), named as people know them.
OTHER_LABELS = {"revenue": ("Key-account revenue", "大客户营收")}


def _kpi_label(kpi_id: str) -> tuple[str, str]:
    return KPI_LABELS.get(kpi_id) or OTHER_LABELS.get(kpi_id) or (kpi_id.replace("_", " ").capitalize(), kpi_id)


def _kpi_order(kpi_id: str) -> tuple[int, str]:
    known = list(KPI_LABELS)
    return (known.index(kpi_id) if kpi_id in known else len(known), kpi_id)


# -- a manager's team ----------------------------------------------------------------------------------------


@dataclass
class MemberPoint:
    employee_id: str
    name: str
    preliminary_score: Decimal | None
    final_level: Figure  # change against the member's previous cycle with this manager, same cadence


@dataclass
class TeamCycle:
    cycle_id: str
    cycle_name: str
    cadence: str
    period: str
    period_start: date
    timezone: str
    released_at: datetime | None
    levels: list[tuple[int, str]]
    rated: int
    distribution: list[LevelCount]  # best level first
    mean_score: Figure  # the team's mean preliminary score (the manager's own scoring, before normalization)
    mean_normalized: Figure
    mean_level: Figure
    members: list[MemberPoint]


@dataclass
class TeamTrend:
    manager_id: str
    name: str
    reports: list[tuple[str, str]]  # the current direct reports (id, name): each has a trend of their own
    cycles: list[TeamCycle]  # by cadence, then period

    def cadences(self) -> list[str]:
        return [c for c in CADENCES if any(p.cadence == c for p in self.cycles)]

    def series(self, cadence: str) -> list[TeamCycle]:
        return [p for p in self.cycles if p.cadence == cadence]

    def members(self, cadence: str) -> list[tuple[str, str]]:
        """Everyone this manager rated in the cadence's cycles, by name."""
        seen = {m.employee_id: m.name for p in self.series(cadence) for m in p.members}
        return sorted(seen.items(), key=lambda kv: (kv[1], kv[0]))


def team_not_found(manager_id: str) -> NotFound:
    return NotFound(tr("There is no team of %(manager)s that you may see.", manager=manager_id))


async def team_trend(conn: AsyncConnection, manager_id: str, viewer: SessionUser | None) -> TeamTrend:
    """The people a manager rated, cycle by cycle; ``viewer`` None: no permission check (the CLI)."""
    if viewer is not None and not _may_see_team(viewer, manager_id):
        raise team_not_found(manager_id)
    rows = await (await conn.execute(
        f"""SELECT e.name,
                   (SELECT jsonb_agg(jsonb_build_array(d.id, d.name) ORDER BY d.name, d.id) FROM employee d
                    WHERE d.manager_id = e.id),
                   x.*
            FROM employee e LEFT JOIN LATERAL (
                SELECT c.id, c.name AS cname, c.cadence, c.period_label, c.period_start, c.timezone,
                       c.results_released_at, {_LEVELS} AS levels, cr.employee_id, p.name AS pname,
                       cr.preliminary_score, cr.normalized_score, cr.final_level
                FROM calibrated_rating cr JOIN review_cycle c ON c.id = cr.cycle_id
                JOIN employee p ON p.id = cr.employee_id
                WHERE cr.manager_id = e.id AND {RELEASED}) x ON true
            WHERE e.id = %s
            ORDER BY x.period_start, x.id, x.pname, x.employee_id""", (manager_id,))).fetchall()
    if not rows:
        raise team_not_found(manager_id)
    name = rows[0][0]
    reports = [(str(i), str(n)) for i, n in rows[0][1] or []]
    flat = [r[2:] for r in rows if r[2] is not None]
    cycles: list[TeamCycle] = []
    for cadence in CADENCES:
        ids = list(dict.fromkeys(r[0] for r in flat if r[2] == cadence))
        if not ids:
            continue
        by_cycle = {cid: [r for r in flat if r[0] == cid] for cid in ids}
        scores = _mean_figures([[r[10] for r in by_cycle[c] if r[10] is not None] for c in ids])
        normalized = _mean_figures([[r[11] for r in by_cycle[c] if r[11] is not None] for c in ids])
        levels_mean = _mean_figures([[r[12] for r in by_cycle[c] if r[12] is not None] for c in ids])
        last_level: dict[str, Decimal] = {}
        for i, cid in enumerate(ids):
            rs = by_cycle[cid]
            head = rs[0]
            levels = [(int(lv), str(label)) for lv, label in (head[7] or [])]
            rated = [int(r[12]) for r in rs if r[12] is not None]
            members = []
            for r in rs:
                lv = _dec(r[12])
                d = change(last_level.get(r[8]), lv)
                members.append(MemberPoint(r[8], r[9], _dec(r[10]), Figure(lv, d, direction(d), None)))
                if lv is not None:
                    last_level[r[8]] = lv
            cycles.append(TeamCycle(cid, head[1], cadence, head[3], head[4], head[5], head[6], levels, len(rated),
                                    distribution(rated, [lv for lv, _ in levels]), scores[i], normalized[i],
                                    levels_mean[i], members))
    return TeamTrend(manager_id, name, reports, cycles)


# -- managers whose ratings drift ----------------------------------------------------------------------------


@dataclass
class DriftCycle:
    cycle_id: str
    cycle_name: str
    period: str
    company_mean: Decimal | None
    team_mean: Decimal | None  # None: the manager rated nobody (or too few) in this cycle
    team_rated: int


@dataclass
class ManagerDrift:
    manager_id: str
    name: str
    drift: Drift
    cycles: list[DriftCycle]  # the window, in period order


@dataclass
class DriftReport:
    cadence: str | None  # None: no released cycle yet
    rule: DriftRule
    cycles: list[tuple[str, str, str]]  # the window: (cycle id, name, period), in period order
    managers: list[ManagerDrift] = field(default_factory=list)  # flagged first, the largest drift first

    @property
    def flagged(self) -> list[ManagerDrift]:
        return [m for m in self.managers if m.drift.flagged]


async def drift_report(conn: AsyncConnection, cadence: str | None = None, rule: DriftRule = DriftRule()) -> DriftReport:
    """Every manager's drift over the last ``rule.cycles`` released cycles of ``cadence`` (default: the cadence of
    the latest released cycle). For HR: the service does not check the reader; the routes do."""
    rows = await (await conn.execute(
        f"""WITH chosen AS (
                SELECT COALESCE(%(cadence)s, (SELECT c.cadence FROM review_cycle c WHERE {RELEASED}
                                               ORDER BY c.period_start DESC, c.id DESC LIMIT 1)) AS cadence),
            win AS (
                SELECT c.id, c.name, c.period_label, c.period_start, c.cadence,
                       (SELECT max((l->>'level')::int) FROM jsonb_array_elements(c.config->'calibration'->'levels') l)
                           AS top,
                       (SELECT min((l->>'level')::int) FROM jsonb_array_elements(c.config->'calibration'->'levels') l)
                           AS bottom
                FROM review_cycle c, chosen WHERE c.cadence = chosen.cadence AND {RELEASED}
                ORDER BY c.period_start DESC, c.id DESC LIMIT %(n)s)
            SELECT w.id, w.name, w.period_label, w.period_start, w.cadence, GROUPING(cr.manager_id) AS company,
                   cr.manager_id, max(m.name), count(cr.final_level), COALESCE(sum(cr.final_level), 0),
                   count(*) FILTER (WHERE cr.final_level = w.top), count(*) FILTER (WHERE cr.final_level = w.bottom)
            FROM win w LEFT JOIN calibrated_rating cr ON cr.cycle_id = w.id AND cr.final_level IS NOT NULL
            LEFT JOIN employee m ON m.id = cr.manager_id
            GROUP BY GROUPING SETS ((w.id, w.name, w.period_label, w.period_start, w.cadence, cr.manager_id),
                                    (w.id, w.name, w.period_label, w.period_start, w.cadence))
            ORDER BY w.period_start, w.id""", {"cadence": cadence, "n": rule.cycles})).fetchall()
    if not rows:
        return DriftReport(cadence, rule, [])
    window = list(dict.fromkeys((r[0], r[1], r[2]) for r in rows))
    ids = [w[0] for w in window]
    company: dict[str, Tally] = {}
    teams: dict[str, dict[str, Tally]] = {}
    names: dict[str, str] = {}
    for cid, _, _, _, _, is_company, mgr, mname, rated, total, top, bottom in rows:
        tally = Tally(int(rated), int(total), int(top), int(bottom))
        if is_company:
            company[cid] = tally
        elif mgr is not None and rated:
            teams.setdefault(mgr, {})[cid] = tally
            names[mgr] = mname or mgr
    managers = []
    for mgr, team in teams.items():
        d = drift(mgr, ids, company, team, rule)
        series = [DriftCycle(cid, cname, period, mean_of(company.get(cid)),
                             mean_of(team.get(cid)) if team.get(cid) and team[cid].rated >= rule.min_team else None,
                             team[cid].rated if cid in team else 0)
                  for cid, cname, period in window]
        managers.append(ManagerDrift(mgr, names[mgr], d, series))
    managers.sort(key=lambda m: (not m.drift.flagged, -abs(m.drift.mean_drift or 0), m.name, m.manager_id))
    return DriftReport(rows[0][4], rule, window, managers)


def mean_of(tally: Tally | None) -> Decimal | None:
    """A tally's mean level for showing (4 places); None when nobody was rated."""
    return shown(tally.mean()) if tally is not None and tally.rated else None
