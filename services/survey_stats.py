"""A KAM's NPS with its adjusted-Wald interval, beside the company's NPS of the same cycle.

One query counts the 0–10 answers (promoters, passives, detractors) of one review and of every review of its
cycle; ``nps_summary`` turns the counts into what the participant page, its API and ``review show`` print.
The company's NPS is the plain NPS of all the cycle's answers (the KAM's own included); the KAM is "too few
answers to tell apart" when it lies inside the KAM's 95 % interval (domain.nps). The counts are unweighted:
a revenue-weighted CSAT keeps its weighted NPS, the interval is of the answers as given.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

#: (promoters, passives, detractors) of the review, then of its whole cycle: %(review)s and %(cycle)s.
NPS_COUNTS_SQL = """
SELECT count(*) FILTER (WHERE i.review_id = %(review)s AND s.nps >= 9),
       count(*) FILTER (WHERE i.review_id = %(review)s AND s.nps BETWEEN 7 AND 8),
       count(*) FILTER (WHERE i.review_id = %(review)s AND s.nps <= 6),
       count(*) FILTER (WHERE s.nps >= 9), count(*) FILTER (WHERE s.nps BETWEEN 7 AND 8),
       count(*) FILTER (WHERE s.nps <= 6)
FROM review r JOIN survey_invitation i ON i.review_id = r.id JOIN survey_response s ON s.invitation_id = i.id
WHERE r.cycle_id = %(cycle)s AND s.nps IS NOT NULL"""


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


def nps_summary(counts: tuple[int, ...] | None, min_responses: int = 0) -> NpsSummary:
    """The summary of the six counts NPS_COUNTS_SQL returns (None or all zero: no answers)."""
    from domain.nps import nps_adjusted_wald

    kam = tuple(int(c or 0) for c in (counts or (0,) * 6))
    company = nps_adjusted_wald(*kam[3:6])
    r = nps_adjusted_wald(*kam[:3], min_responses=min_responses, company_nps=company.nps)
    return NpsSummary(r.responses, r.promoters, r.passives, r.detractors, r.nps, r.ci_low, r.ci_high, r.below_minimum,
                      min_responses, company.nps, company.responses, r.distinguishable, [str(s) for s in r.steps])


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
