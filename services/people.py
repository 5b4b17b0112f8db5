"""Read side of the people's pages (KAM and manager): what each may see, straight from PostgreSQL.

Every query is scoped by the person asking: a KAM's queries filter on their own employee id, a
manager's on ``review.reviewer_id`` (which HR reassignment updates). Manager scores are read only by
``review_results``, which refuses until HR has released the cycle's results.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from psycopg import AsyncConnection
from pydantic import ValidationError

from domain.cycle import CycleConfig
from domain.scorecard import CompetencyItem, Scorecard
from domain.scoring import CsatResult, ScoreLine
from domain.sentences import (
    Label,
    item_label,
    kpi_label,
    measure_texts,
    payout_line_text,
    rating_label_text,
    score_line_text,
    score_total_text,
)
from domain.text import Text, tr
from services.errors import NotFound, UserError
from services.inbox import TaskRow, tasks_of  # noqa: F401 - the inbox lives apart so `kamreview tasks` stays light
from services.kpi_sources import SOURCES_SQL, KpiSourceView, source_views

_configs: dict[str, CycleConfig] = {}


class NotReleased(UserError):
    """The employee asked for results HR has not released yet."""


async def cycle_config(conn: AsyncConnection, cycle_id: str) -> CycleConfig:
    """The cycle's frozen configuration (cached: it never changes after creation)."""
    config = _configs.get(cycle_id)
    if config is None:
        row = await (await conn.execute("SELECT config FROM review_cycle WHERE id = %s", (cycle_id,))).fetchone()
        if row is None:
            raise NotFound(tr("cycle %(cycle)s does not exist", cycle=cycle_id))
        config = CycleConfig.model_validate(row[0])
        _configs[cycle_id] = config
    return config


@dataclass
class MyReview:
    cycle_id: str
    cycle_name: str
    period: str
    review_status: str
    self_review_status: str | None
    self_review_due: datetime | None
    results_released: bool


async def reviews_of(conn: AsyncConnection, employee_id: str) -> list[MyReview]:
    cur = await conn.execute(
        """SELECT r.cycle_id, c.name, c.period_label, r.status, t.status, t.due_at, c.results_released_at IS NOT NULL
           FROM review r JOIN review_cycle c ON c.id = r.cycle_id
           LEFT JOIN task t ON t.review_id = r.id AND t.kind = 'self_review'
           WHERE r.employee_id = %s ORDER BY c.created_at DESC, r.cycle_id""",
        (employee_id,),
    )
    return [MyReview(*r) for r in await cur.fetchall()]


@dataclass
class Item:
    id: str
    label: str


@dataclass
class KpiValue:
    id: str
    label: str
    value: Decimal | None


@dataclass
class ReviewContext:
    """Everything the self-review and the scoring forms show, for one review."""

    review_id: str
    cycle_id: str
    cycle_name: str
    period: str
    employee_id: str
    employee_name: str
    reviewer_id: str | None
    review_status: str
    competencies: list[Item]
    scale_min: int
    scale_max: int
    potential_min: int
    potential_max: int
    kpis: list[KpiValue]
    self_review_status: str | None
    self_review_due: datetime | None
    self_ratings: dict[str, int] = field(default_factory=dict)
    self_evidence: dict[str, str] = field(default_factory=dict)
    self_kpi_comments: dict[str, str] = field(default_factory=dict)
    self_submitted_at: datetime | None = None
    scoring_status: str | None = None
    scoring_due: datetime | None = None
    results_released: bool = False
    # The configured competencies themselves: labels and level descriptions per language, and their group.
    competency_items: tuple[CompetencyItem, ...] = ()
    timezone: str = "Asia/Shanghai"  # the cycle's zone, for readers without one of their own


async def review_context(conn: AsyncConnection, cycle_id: str, employee_id: str) -> ReviewContext:
    """The review's rules, KPI actuals and self-review. Callers check who may see it first."""
    cur = await conn.execute(
        """SELECT r.id, c.name, c.period_label, e.name, r.reviewer_id, r.status, c.results_released_at IS NOT NULL
           FROM review r JOIN review_cycle c ON c.id = r.cycle_id JOIN employee e ON e.id = r.employee_id
           WHERE r.cycle_id = %s AND r.employee_id = %s""",
        (cycle_id, employee_id),
    )
    row = await cur.fetchone()
    if row is None:
        raise NotFound(tr("%(employee)s has no review in cycle %(cycle)s", employee=employee_id, cycle=cycle_id))
    review_id, cycle_name, period, name, reviewer, status, released = row
    config = await cycle_config(conn, cycle_id)
    comp = config.scorecard.competencies
    competencies = [Item(c.id, f"{c.label_en} / {c.label_zh}") for c in comp.items] if comp else []
    actuals = dict(await (await conn.execute(
        "SELECT kpi_id, value FROM kpi_actual WHERE employee_id = %s AND period = %s", (employee_id, period)
    )).fetchall())
    kpis = [KpiValue(k.id, k.label(), actuals.get(k.id)) for k in config.scorecard.kpis]
    ctx = ReviewContext(
        review_id=review_id, cycle_id=cycle_id, cycle_name=cycle_name, period=period, employee_id=employee_id,
        employee_name=name, reviewer_id=reviewer, review_status=status, competencies=competencies,
        scale_min=comp.scale.min if comp else 1, scale_max=comp.scale.max if comp else 3,
        potential_min=1, potential_max=3, kpis=kpis, self_review_status=None, self_review_due=None,
        results_released=released, competency_items=comp.items if comp else (), timezone=config.timezone,
    )
    for kind, st, due in await (await conn.execute(
        "SELECT kind, status, due_at FROM task WHERE review_id = %s AND kind <> 'customer_survey'", (review_id,)
    )).fetchall():
        if kind == "self_review":
            ctx.self_review_status, ctx.self_review_due = st, due
        else:
            ctx.scoring_status, ctx.scoring_due = st, due
    for item, rating, comment, at in await (await conn.execute(
        "SELECT item_id, rating, comment, submitted_at FROM self_review_answer WHERE review_id = %s ORDER BY item_id",
        (review_id,),
    )).fetchall():
        ctx.self_submitted_at = at
        if item.startswith("kpi:"):
            if comment:
                ctx.self_kpi_comments[item[4:]] = comment
            continue
        if rating is not None:
            ctx.self_ratings[item] = rating
        if comment:
            ctx.self_evidence[item] = comment
    return ctx


@dataclass
class ManagerScore:
    ratings: dict[str, int]
    comments: dict[str, str]
    potential: int | None
    scored_by: str | None
    submitted_at: datetime | None


async def manager_score(conn: AsyncConnection, review_id: str) -> ManagerScore | None:
    """The submitted manager score, for the manager who gave it or for released results only."""
    rows = await (await conn.execute(
        "SELECT item_id, rating, comment, scored_by, submitted_at FROM manager_score WHERE review_id = %s",
        (review_id,),
    )).fetchall()
    if not rows:
        return None
    score = ManagerScore({}, {}, None, rows[0][3], rows[0][4])
    for item, rating, comment, _, _ in rows:
        if item == "potential":
            score.potential = rating
            continue
        if rating is not None:
            score.ratings[item] = rating
        if comment:
            score.comments[item] = comment
    return score


@dataclass
class ScoreLineView:
    """A score line as shown: rounded figures, the sentence a KAM reads, the exact figures for HR."""

    component: str
    label: str
    actual: str | None
    score: str
    weight_pct: str
    contribution: str
    item: str = ""
    text: Text | None = None  # domain.sentences.score_line_text
    detail: str = ""  # the engine's exact explanation (curve points, weights, unrounded contribution)


@dataclass
class PayoutView:
    line_type: str
    amount: Decimal
    currency: str
    explanation: str  # the engine's exact explanation, as payroll reads it
    text: Text | None = None  # domain.sentences.payout_line_text
    measures: list[Text] = field(default_factory=list)  # the bonus measures behind a bonus line


@dataclass
class Results:
    """What an employee sees once HR releases a cycle's results (never potential or the 9-box)."""

    cycle_id: str
    cycle_name: str
    period: str
    released_at: datetime
    final_level: int | None
    final_label: str | None
    preliminary_score: Decimal | None
    lines: list[ScoreLineView]
    manager: ManagerScore | None
    csat_pct: str | None
    csat_responses: int
    payouts: list[PayoutView]
    labels: dict[str, str] = field(default_factory=dict)  # item id -> label, for display
    timezone: str = "Asia/Shanghai"  # the cycle's zone, for readers without one of their own
    score_text: Text | None = None  # "3.45 of 5"
    final_label_text: Text | None = None  # the level's label, translated when it is a standard one
    csat_ratio: Decimal | None = None  # CSAT as a ratio (0.6916), for showing as a percentage
    item_labels: dict[str, Label] = field(default_factory=dict)  # item id -> its name in both languages
    kpi_sources: list[KpiSourceView] = field(default_factory=list)  # each KPI figure now and its CRM records


def score_line_views(breakdown: dict[str, Any] | None, scorecard: Scorecard) -> list[ScoreLineView]:
    """A stored score breakdown (``ScoreResult`` as JSON) as lines to show, each with its sentence."""
    stored = breakdown or {}
    csat = _csat_of(stored)
    views = []
    for ln in stored.get("lines", []):
        try:
            text: Text | None = score_line_text(ScoreLine.model_validate(ln), scorecard, csat)
        except (ValidationError, ArithmeticError):  # a breakdown from an older engine: the figures still show
            text = None
        views.append(ScoreLineView(
            ln.get("component", ""), ln.get("label", ln.get("item", "")), _num(ln.get("actual")),
            _num(ln.get("item_score")) or "", _num(ln.get("weight_pct")) or "", _num(ln.get("contribution")) or "",
            ln.get("item", ""), text, ln.get("explanation", "")))
    return views


def _csat_of(breakdown: dict[str, Any]) -> CsatResult | None:
    try:
        return CsatResult.model_validate(breakdown["csat"]) if breakdown.get("csat") else None
    except ValidationError:
        return None


def payout_views(rows: list[tuple[Any, ...]], scorecard: Scorecard, rating_label: str | None) -> list[PayoutView]:
    """Payout rows (line_type, amount, currency, explanation, inputs) with their sentences."""
    return [PayoutView(kind, amount, currency, explanation,
                       payout_line_text(kind, amount, currency, inputs, rating_label),
                       measure_texts(inputs, scorecard) if kind == "bonus" else [])
            for kind, amount, currency, explanation, inputs in rows]


async def review_results(conn: AsyncConnection, cycle_id: str, employee_id: str) -> Results:
    """The employee's results; raises NotReleased before HR releases them (manager scores stay hidden)."""
    row = await (await conn.execute(
        """SELECT r.id, c.name, c.period_label, c.results_released_at, r.preliminary_score, r.score_breakdown,
                  cr.final_level
           FROM review r JOIN review_cycle c ON c.id = r.cycle_id
           LEFT JOIN calibrated_rating cr ON cr.review_id = r.id
           WHERE r.cycle_id = %s AND r.employee_id = %s""",
        (cycle_id, employee_id),
    )).fetchone()
    if row is None:
        raise NotFound(tr("you have no review in cycle %(cycle)s", cycle=cycle_id))
    review_id, cycle_name, period, released_at, prelim, breakdown, level = row
    if released_at is None:
        raise NotReleased(tr("HR has not released the results of cycle %(cycle)s yet", cycle=cycle_id))
    config = await cycle_config(conn, cycle_id)
    scorecard = config.scorecard
    label = next((lv.label for lv in config.calibration.levels if lv.level == level), None)
    lines = score_line_views(breakdown, scorecard)
    csat: dict[str, Any] = (breakdown or {}).get("csat") or {}
    payouts = payout_views(await (await conn.execute(
        """SELECT line_type, amount, currency, explanation, inputs FROM payout_line
           WHERE cycle_id = %s AND employee_id = %s AND status = 'locked' ORDER BY line_type, revision""",
        (cycle_id, employee_id),
    )).fetchall(), scorecard, label)
    comp = scorecard.competencies
    labels = {c.id: f"{c.label_en} / {c.label_zh}" for c in comp.items} if comp else {}
    labels |= {k.id: k.label() for k in scorecard.kpis}
    item_labels = {c.id: item_label(scorecard, "competencies", c.id) for c in comp.items} if comp else {}
    item_labels |= {k.id: kpi_label(scorecard, k.id) for k in scorecard.kpis}
    csat_pct = _dec(csat.get("csat_pct"))
    sources = source_views(await (await conn.execute(SOURCES_SQL, (employee_id, period))).fetchall(), breakdown,
                           [k.id for k in scorecard.kpis])
    return Results(cycle_id, cycle_name, period, released_at, level, label, prelim, lines,
                   await manager_score(conn, review_id), _num(csat.get("csat_pct")), int(csat.get("responses") or 0),
                   payouts, labels, config.timezone, score_total_text(prelim, scorecard), rating_label_text(label),
                   None if csat_pct is None else csat_pct / 100, item_labels, sources)


def _dec(value: Any) -> Decimal | None:
    if value is None:
        return None
    try:
        return Decimal(str(value))
    except ArithmeticError:
        return None


def _num(value: Any) -> str | None:
    if value is None:
        return None
    try:
        return f"{Decimal(str(value)):.2f}"
    except ArithmeticError:
        return str(value)
