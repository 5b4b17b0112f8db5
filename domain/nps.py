"""NPS with an adjusted-Wald confidence interval, and whether a KAM's sample can be told apart from the company.

The adjusted-Wald interval (Rocks 2016, The American Statistician; as MeasuringU publishes it): add 3 to the
number of answers and ¾ to the promoters and to the detractors, then use the variance of a difference of two
proportions of one sample: NPS' = p' − d', var = (p' + d' − NPS'²) / n', NPS' ± z·√var, kept inside −100..100.
The reported NPS is the plain one (% promoters − % detractors); the interval is centred on the adjusted one.

A KAM's customer sample is "too small to distinguish" when the company's NPS lies inside the KAM's interval, and
"below the minimum" when it has fewer answers than the scorecard asks for (like CSAT's low-sample flag).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal, localcontext

from pydantic import BaseModel, ConfigDict

from domain.errors import DomainError
from domain.money import calc_context, exact, round_to
from domain.text import Steps, Text, tr

#: Two-sided 95 % normal quantile (the same as the CSAT Wilson interval's).
Z95 = Decimal("1.96")
#: Added to the number of answers, and (a quarter of it each) to promoters and detractors.
ADJUST_N = Decimal(3)
ADJUST_EACH = Decimal("0.75")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class NpsInterval(_Frozen):
    """NPS and its adjusted-Wald interval, in NPS points (−100..100, 2 decimals)."""

    responses: int
    promoters: int
    passives: int
    detractors: int
    nps: Decimal | None
    adjusted_nps: Decimal | None
    ci_low: Decimal | None
    ci_high: Decimal | None
    below_minimum: bool
    distinguishable: bool | None
    steps: Steps


def nps_counts(scores: Sequence[int]) -> tuple[int, int, int]:
    """(promoters 9–10, passives 7–8, detractors 0–6) of answers on the 0–10 scale."""
    for i, s in enumerate(scores):
        if isinstance(s, bool) or not isinstance(s, int) or not 0 <= s <= 10:
            raise DomainError(tr("an NPS answer is a whole number 0..10, got %(value)s", value=repr(s)), f"scores.{i}")
    return (sum(1 for s in scores if s >= 9), sum(1 for s in scores if 7 <= s <= 8), sum(1 for s in scores if s <= 6))


@exact
def nps_adjusted_wald(promoters: int, passives: int, detractors: int, z: Decimal = Z95, min_responses: int = 0,
                      company_nps: Decimal | None = None) -> NpsInterval:
    """The NPS of the counts with its adjusted-Wald interval, and the small-sample flags.

    50 promoters, 30 passives, 20 detractors: NPS +30, interval +14.05 to +44.20 at 95 %.
    ``company_nps`` (in points) is compared with the interval: inside it, the KAM is not distinguishable.
    """
    for name, value in (("promoters", promoters), ("passives", passives), ("detractors", detractors)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise DomainError(tr("must be a non-negative whole number, got %(value)s", value=repr(value)), name)
    if z <= 0:
        raise DomainError(tr("the z value must be positive, got %(value)s", value=str(z)), "z")
    n = promoters + passives + detractors
    below = n < min_responses
    if n == 0:
        return NpsInterval(responses=0, promoters=0, passives=0, detractors=0, nps=None, adjusted_nps=None,
                           ci_low=None, ci_high=None, below_minimum=below, distinguishable=None,
                           steps=(tr("no NPS answers: no NPS and no interval"),))
    with localcontext(calc_context()):
        nps = Decimal(promoters - detractors) * 100 / n
        n_adj = Decimal(n) + ADJUST_N
        p_adj = (Decimal(promoters) + ADJUST_EACH) / n_adj
        d_adj = (Decimal(detractors) + ADJUST_EACH) / n_adj
        nps_adj = p_adj - d_adj
        var = (p_adj + d_adj - nps_adj * nps_adj) / n_adj
        half = z * var.sqrt()
        low = max(Decimal(-1), nps_adj - half) * 100
        high = min(Decimal(1), nps_adj + half) * 100
    nps_r, adj_r, low_r, high_r = (round_to(v, 2) for v in (nps, nps_adj * 100, low, high))
    steps: list[Text] = [
        tr("%(promoters)s promoters (9–10), %(passives)s passives (7–8), %(detractors)s detractors (0–6) of %(n)s "
           "answers: NPS = %(nps)s", promoters=promoters, passives=passives, detractors=detractors, n=n, nps=nps_r),
        tr("adjusted-Wald: n' = %(n)s + 3, p' = (%(promoters)s + 0.75) / n', d' = (%(detractors)s + 0.75) / n', "
           "NPS' = %(adjusted)s; standard error √((p' + d' − NPS'²) / n') × %(z)s = ±%(half)s → interval %(low)s to "
           "%(high)s", n=n, promoters=promoters, detractors=detractors, adjusted=adj_r, z=z,
           half=round_to(half * 100, 2), low=low_r, high=high_r),
    ]
    if below:
        steps.append(tr("only %(n)s answers, fewer than the %(minimum)s the scorecard asks for", n=n,
                        minimum=min_responses))
    distinguishable: bool | None = None
    if company_nps is not None:
        distinguishable = not (low_r <= company_nps <= high_r)
        steps.append(tr("the company NPS %(company)s lies inside the interval: this sample is too small to tell the KAM "
                        "apart from the company", company=company_nps) if not distinguishable else
                     tr("the company NPS %(company)s lies outside the interval: the KAM differs from the company",
                        company=company_nps))
    return NpsInterval(responses=n, promoters=promoters, passives=passives, detractors=detractors, nps=nps_r,
                       adjusted_nps=adj_r, ci_low=low_r, ci_high=high_r, below_minimum=below,
                       distinguishable=distinguishable, steps=tuple(steps))
