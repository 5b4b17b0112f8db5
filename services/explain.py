"""Per-person explanations: a review's score line by line, and an employee's payout statement."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import psycopg

from domain.text import tr
from services.db import libpq_url
from services.errors import NotFound
from services.kpi_sources import SOURCES_SQL, KpiSourceView, source_views
from services.survey_stats import CYCLE_NPS_SQL, REVIEW_NPS_SQL, NpsSummary, nps_summary


@dataclass
class ReviewExplanation:
    cycle_id: str
    employee_id: str
    name: str
    reviewer_id: str | None
    status: str
    preliminary_score: Decimal | None
    breakdown: dict[str, Any] | None
    missing: list[str]
    normalized_score: Decimal | None = None
    suggested_level: int | None = None
    final_level: int | None = None
    nine_box: str | None = None
    calibration_note: str | None = None
    adjustments: list[tuple[int | None, int, str, str, datetime]] = field(default_factory=list)
    kpis: list[KpiSourceView] = field(default_factory=list)
    """Each KPI's figure now, what the score used, and the CRM records it came from (services.kpis)."""
    nps: NpsSummary | None = None
    """The NPS of the review's answers with its adjusted-Wald interval, against the company's (services.survey_stats)."""


def explain_review(database_url: str, cycle_id: str, employee_id: str) -> ReviewExplanation:
    with psycopg.connect(libpq_url(database_url)) as conn:
        row = conn.execute(
            """SELECT e.name, r.reviewer_id, r.status, r.preliminary_score, r.score_breakdown, r.missing,
                      c.normalized_score, c.suggested_level, c.final_level, c.nine_box, c.note, r.id,
                      y.period_label, y.config -> 'scorecard' -> 'kpis',
                      y.config -> 'scorecard' -> 'csat' ->> 'min_responses'
               FROM review r JOIN employee e ON e.id = r.employee_id JOIN review_cycle y ON y.id = r.cycle_id
               LEFT JOIN calibrated_rating c ON c.review_id = r.id
               WHERE r.cycle_id = %s AND r.employee_id = %s""", (cycle_id, employee_id)).fetchone()
        if row is None:
            raise NotFound(tr("%(employee)s has no review in cycle %(cycle)s", employee=employee_id, cycle=cycle_id))
        adjustments = conn.execute(
            """SELECT from_level, to_level, reason, actor, adjusted_at FROM rating_adjustment
               WHERE review_id = %s ORDER BY adjusted_at""", (row[11],)).fetchall()
        sources = conn.execute(SOURCES_SQL, (employee_id, row[12])).fetchall()
        kam_nps = conn.execute(REVIEW_NPS_SQL, (row[11],)).fetchone()
        company_nps = conn.execute(CYCLE_NPS_SQL, (cycle_id,)).fetchone()
    order = [k["id"] for k in row[13] or []]
    return ReviewExplanation(cycle_id, employee_id, row[0], row[1], row[2], row[3], row[4], list(row[5] or []),
                             row[6], row[7], row[8], row[9], row[10], adjustments,
                             source_views(sources, row[4], order),
                             nps_summary(kam_nps or (0, 0, 0), company_nps or (0, 0, 0), int(row[14] or 0)))


@dataclass
class Statement:
    cycle_id: str
    employee_id: str
    name: str
    lines: list[tuple[str, Decimal, str, str, int, str, str]]  # type, amount, currency, status, revision, key, why
    totals: dict[str, Decimal]
    #: The balance ledger of the cycle (plans with deals, a draw or clawbacks): kind -> amount, "balance", and
    #: "plan_year" / "currency"; None when the cycle wrote no ledger entry for the person.
    ledger: dict[str, object] | None = None


def payout_statement(database_url: str, cycle_id: str, employee_id: str, locked_only: bool = False) -> Statement:
    with psycopg.connect(libpq_url(database_url)) as conn:
        person = conn.execute("SELECT name FROM employee WHERE id = %s", (employee_id,)).fetchone()
        if person is None:
            raise NotFound(tr("employee %(employee)s does not exist", employee=employee_id))
        lines = conn.execute(
            """SELECT line_type, amount, currency, status, revision, idempotency_key, explanation FROM payout_line
               WHERE cycle_id = %s AND employee_id = %s AND (NOT %s OR status = 'locked')
               ORDER BY revision, line_type""", (cycle_id, employee_id, locked_only)).fetchall()
        entries = conn.execute(
            """SELECT plan_year, kind, amount, currency, balance_after FROM ledger_entry
               WHERE cycle_id = %s AND employee_id = %s ORDER BY seq""", (cycle_id, employee_id)).fetchall()
    if not lines:
        raise NotFound(tr("no payout lines for %(employee)s in cycle %(cycle)s", employee=employee_id, cycle=cycle_id))
    totals: dict[str, Decimal] = {}
    for _, amount, currency, *_ in lines:
        totals[currency] = totals.get(currency, Decimal(0)) + amount
    ledger: dict[str, object] | None = None
    if entries:
        sums = dict.fromkeys(("earned", "drawn", "recovered", "clawed_back", "written_off"), Decimal(0))
        for _, kind, amount, _, _ in entries:
            sums[kind] += amount
        year, _, _, currency, balance = entries[-1]
        ledger = {**sums, "balance": balance, "plan_year": year, "currency": currency}
    return Statement(cycle_id, employee_id, person[0], lines, totals, ledger)
