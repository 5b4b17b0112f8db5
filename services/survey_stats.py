"""A KAM's NPS with its adjusted-Wald interval, beside the company's NPS of the same cycle.

Two queries count the 0–10 answers (promoters, passives, detractors) of one review and of its whole cycle;
``nps_summary`` turns the counts into what the participant page, its API and ``review show`` print.
The company's NPS is the plain NPS of all the cycle's answers (the KAM's own included); the KAM is "too few
answers to tell apart" when it lies inside the KAM's 95 % interval (domain.nps). The counts are unweighted:
a revenue-weighted CSAT keeps its weighted NPS, the interval is of the answers as given.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from decimal import Decimal

from psycopg import AsyncConnection

_COUNTS = """SELECT count(*) FILTER (WHERE s.nps >= 9), count(*) FILTER (WHERE s.nps BETWEEN 7 AND 8),
       count(*) FILTER (WHERE s.nps <= 6)
FROM survey_invitation i JOIN survey_response s ON s.invitation_id = i.id"""
#: (promoters, passives, detractors) of one review's answers (the invitations' review_id index).
REVIEW_NPS_SQL = _COUNTS + "\nWHERE i.review_id = %s AND s.nps IS NOT NULL"
#: The same of every answer of a cycle: tens of milliseconds for 40,000 answers, so the pages keep it a minute.
CYCLE_NPS_SQL = _COUNTS + "\nWHERE i.cycle_id = %s AND s.nps IS NOT NULL"
#: How long a web process reuses a cycle's company counts (answers only change while the survey phase is open).
COMPANY_TTL_S = 60.0
_company: dict[str, tuple[float, tuple[int, int, int]]] = {}


@dataclass
class NpsSummary:
    """The KAM's NPS and interval in NPS points (−100..100), the company's NPS, and the two small-sample flags."""

    responses: int
    promoters: int
    passives: int
    detractors: int
    nps: Decimal | None
    ci_low: Decimal | None
    ci_high: Decimal | None
    below_minimum: bool  # fewer answers than the scorecard's CSAT minimum
    min_responses: int
    company_nps: Decimal | None
    company_responses: int
    distinguishable: bool | None  # None: no answers, or no company figure to compare with
    steps: list[str]  # how it was computed, in English (the domain's steps)


def nps_summary(kam: tuple[int, int, int], company: tuple[int, int, int], min_responses: int = 0) -> NpsSummary:
    """The summary of (promoters, passives, detractors) of the KAM and of the whole cycle."""
    from domain.nps import nps_adjusted_wald

    whole = nps_adjusted_wald(*company)
    r = nps_adjusted_wald(*kam, min_responses=min_responses, company_nps=whole.nps)
    return NpsSummary(r.responses, r.promoters, r.passives, r.detractors, r.nps, r.ci_low, r.ci_high, r.below_minimum,
                      min_responses, whole.nps, whole.responses, r.distinguishable, [str(s) for s in r.steps])


async def review_nps(conn: AsyncConnection, cycle_id: str, review_id: str, min_responses: int = 0) -> NpsSummary:
    """The review's NPS against the company's (its counts cached COMPANY_TTL_S per cycle in this process)."""
    kam = await (await conn.execute(REVIEW_NPS_SQL, (review_id,))).fetchone()
    cached = _company.get(cycle_id)
    if cached is None or time.monotonic() - cached[0] > COMPANY_TTL_S:
        row = await (await conn.execute(CYCLE_NPS_SQL, (cycle_id,))).fetchone()
        cached = (time.monotonic(), _three(row))
        _company[cycle_id] = cached
    return nps_summary(_three(kam), cached[1], min_responses)


def _three(row: tuple[int, ...] | None) -> tuple[int, int, int]:
    a, b, c = (int(x or 0) for x in (row or (0, 0, 0)))
    return a, b, c


def nps_line(s: NpsSummary) -> str:
    """One line for the CLI: NPS +40 (95 % interval −3.41 to +71.3, adjusted-Wald, 5 answers; company +20 …)."""
    if s.nps is None:
        return "NPS: no answers on the 0-10 scale"
    line = (f"NPS {s.nps:+f} of {s.responses} answers (95 % interval {s.ci_low:+f} to {s.ci_high:+f}, adjusted-Wald)")
    if s.company_nps is not None:
        line += f"; company NPS {s.company_nps:+f} of {s.company_responses} answers"
        if s.distinguishable is False:
            line += f": too few answers (n={s.responses}) to tell this KAM's NPS apart from the company's"
    if s.below_minimum:
        line += f"; fewer than the {s.min_responses} answers the scorecard asks for"
    return line
