"""Preliminary score of one review: KPIs, competencies and customer satisfaction combined.

Missing parts are dropped and the remaining weights renormalized, never silently scored as 0, and
every line says which inputs, weights and curve points produced its number.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, localcontext

from pydantic import BaseModel, ConfigDict, Field

from domain.errors import DomainError
from domain.goals import ObjectiveProgress, goals_attainment
from domain.money import Num, calc_context, exact, fmt_num, round_to
from domain.peers import PeerAggregate
from domain.phases import PHASE_BY_KEY
from domain.scorecard import NeutralPolicy, Scorecard, WeightedCombine
from domain.text import tr

#: Two-sided 95 % normal quantile used for the Wilson interval.
Z95 = Decimal("1.96")
#: Decimals shown for item scores, weights and contributions on score lines.
LINE_DECIMALS = 4


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SurveyAnswer(_Frozen):
    """One customer contact's answer: satisfaction 1-5, optional NPS 0-10, the account's revenue for weighting."""

    account_id: str
    satisfaction: int = Field(ge=1, le=5)
    nps: int | None = Field(default=None, ge=0, le=10)
    account_revenue: Num | None = Field(default=None, ge=0)


class CsatResult(_Frozen):
    """CSAT % (answers of 4 or 5 over all answers), NPS and a Wilson 95 % interval, all in percent."""

    responses: int
    satisfied: int
    csat_pct: Decimal | None = Field(description="2 dp; None when there are no responses")
    nps: Decimal | None = None
    nps_responses: int = 0
    ci_low: Decimal | None = None
    ci_high: Decimal | None = None
    weighted: bool = False
    below_minimum: bool = False
    notes: list[str] = Field(default_factory=list)


def _wilson(p: Decimal, n: Decimal) -> tuple[Decimal, Decimal]:
    """Wilson score interval for a proportion ``p`` on ``n`` answers, as percents (2 dp)."""
    with localcontext(calc_context()):
        z2 = Z95 * Z95
        denom = 1 + z2 / n
        center = (p + z2 / (2 * n)) / denom
        half = Z95 * (p * (1 - p) / n + z2 / (4 * n * n)).sqrt() / denom
        low = max(Decimal(0), center - half) * 100
        high = min(Decimal(1), center + half) * 100
    return round_to(low, 2), round_to(high, 2)


@exact
def csat(answers: list[SurveyAnswer], revenue_weighted: bool = False, min_responses: int = 0) -> CsatResult:
    """CSAT and NPS of a set of answers; 5:42, 4:32, 3:10, 2:9, 1:14 gives 74/107 = 69.16 %.

    Revenue weighting needs every answer's account revenue (and a positive total); otherwise
    the plain count is used and a note says so. ``min_responses`` only sets the low-sample flag.
    """
    notes: list[str] = []
    n = len(answers)
    satisfied = sum(1 for a in answers if a.satisfaction >= 4)
    below = n < min_responses
    if n == 0:
        return CsatResult(responses=0, satisfied=0, csat_pct=None, below_minimum=below, notes=notes)
    weights = [Decimal(1)] * n
    weighted = False
    if revenue_weighted:
        revenues = [a.account_revenue for a in answers]
        if all(r is not None for r in revenues) and sum(r for r in revenues if r is not None) > 0:
            weights = [r for r in revenues if r is not None]
            weighted = True
        else:
            notes.append("revenue weighting skipped: some answers have no account revenue (or all are 0)")
    with localcontext(calc_context()):
        total_w = sum(weights, Decimal(0))
        sat_w = sum((w for a, w in zip(answers, weights, strict=True) if a.satisfaction >= 4), Decimal(0))
        p = sat_w / total_w
        # Kish effective sample size: n for equal weights, smaller when a few accounts dominate.
        n_eff = total_w * total_w / sum((w * w for w in weights), Decimal(0))
        nps_pairs = [(a.nps, w) for a, w in zip(answers, weights, strict=True) if a.nps is not None]
        nps_value: Decimal | None = None
        nps_w = sum((w for _, w in nps_pairs), Decimal(0))
        if nps_pairs and nps_w > 0:
            promoters = sum((w for s, w in nps_pairs if s >= 9), Decimal(0))
            detractors = sum((w for s, w in nps_pairs if s <= 6), Decimal(0))
            nps_value = round_to((promoters - detractors) * 100 / nps_w, 2)
        pct = round_to(p * 100, 2)
    low, high = _wilson(p, n_eff)
    return CsatResult(
        responses=n,
        satisfied=satisfied,
        csat_pct=pct,
        nps=nps_value,
        nps_responses=len(nps_pairs),
        ci_low=low,
        ci_high=high,
        weighted=weighted,
        below_minimum=below,
        notes=notes,
    )


class ReviewInputs(_Frozen):
    """Everything known about one review; any part may be empty (missing)."""

    kpi_actuals: dict[str, Num] = Field(default_factory=dict)
    self_ratings: dict[str, int] = Field(default_factory=dict)
    manager_ratings: dict[str, int] = Field(default_factory=dict)
    survey: list[SurveyAnswer] = Field(default_factory=list)
    goals: tuple[ObjectiveProgress, ...] = ()  # the approved objectives of the period, with their progress
    peer_feedback: PeerAggregate | None = None  # read only when the scorecard weighs it (domain/peers.py)
    # A registry-only phase's answer sets (question -> rating), by phase: read only when the scorecard weighs it.
    phase_answers: dict[str, tuple[dict[str, int], ...]] = Field(default_factory=dict)


class ScoreLine(_Frozen):
    """One scored item and how it contributes; ``weight_pct`` is its effective share of the total score.

    Numbers are shown to 4 decimals; the total is computed from the unrounded values and
    rounded once, so contributions may differ from it in the last shown digit.
    """

    component: str
    item: str
    label: str
    actual: Decimal | None
    item_score: Decimal
    weight_pct: Decimal
    contribution: Decimal
    explanation: str
    self_rating: int | None = None
    manager_rating: int | None = None


class ScoreResult(_Frozen):
    """The preliminary score (None only when nothing at all is available) with its lines and gaps."""

    score: Decimal | None
    lines: list[ScoreLine]
    missing: list[str]
    notes: list[str]
    component_scores: dict[str, Decimal] = Field(default_factory=dict)
    component_weights_pct: dict[str, Decimal] = Field(default_factory=dict)
    csat: CsatResult | None = None


@dataclass
class _Item:
    item: str
    label: str
    actual: Decimal | None
    score: Decimal
    weight: Decimal
    how: str
    self_rating: int | None = None
    manager_rating: int | None = None


@dataclass
class _Section:
    component: str
    weight: Decimal
    nominal_item_weight: Decimal
    items: list[_Item] = field(default_factory=list)


def _kpi_section(scorecard: Scorecard, inputs: ReviewInputs, survey: CsatResult | None,
                 missing: list[str], notes: list[str]) -> _Section:
    section = _Section("kpis", scorecard.component_weights.kpis, Decimal(100))
    for key in sorted(set(inputs.kpi_actuals) - {k.id for k in scorecard.kpis}):
        notes.append(f"kpi_actuals.{key} ignored: not a KPI on this scorecard")
    for kpi in scorecard.kpis:
        actual = inputs.kpi_actuals.get(kpi.id)
        source = "actual"
        if (actual is None and kpi.id == "customer_satisfaction" and survey is not None
                and survey.csat_pct is not None and not survey.below_minimum):
            actual, source = survey.csat_pct, "survey CSAT %"
        if actual is None:
            missing.append(f"kpis.{kpi.id}")
            notes.append(f"kpis.{kpi.id}: no actual value; dropped and the other KPI weights renormalized")
            continue
        score, how = kpi.rule.apply(actual)
        section.items.append(
            _Item(kpi.id, kpi.label(), actual, score, kpi.weight,
                  f"{source} {fmt_num(actual, 6)} on {kpi.rule.describe()}: {how}")
        )
    return section


def _check_rating(value: int, lo: int, hi: int, path: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise DomainError(tr("rating %(value)s is outside the competency scale %(lo)s..%(hi)s", value=repr(value), lo=lo, hi=hi), path)


def _competency_section(scorecard: Scorecard, inputs: ReviewInputs,
                        missing: list[str], notes: list[str]) -> _Section | None:
    comp = scorecard.competencies
    if comp is None:
        return None
    section = _Section("competencies", scorecard.component_weights.competencies, Decimal(100))
    ids = {i.id for i in comp.items}
    for name, ratings in (("self_ratings", inputs.self_ratings), ("manager_ratings", inputs.manager_ratings)):
        for key, value in ratings.items():
            if key in ids:
                _check_rating(value, comp.scale.min, comp.scale.max, f"{name}.{key}")
            else:
                notes.append(f"{name}.{key} ignored: not a competency on this scorecard")
    if not any(i.id in inputs.manager_ratings for i in comp.items):
        missing.append("competencies")
        notes.append("competencies: no manager ratings; dropped and the component weights renormalized")
        return section
    combine = comp.combine
    for item in comp.items:
        mgr = inputs.manager_ratings.get(item.id)
        own = inputs.self_ratings.get(item.id)
        own_text = f"self {own}" if own is not None else "no self-rating"
        if mgr is None:
            missing.append(f"competencies.{item.id}")
            notes.append(f"competencies.{item.id}: no manager rating; dropped and the other weights renormalized")
            continue
        if isinstance(combine, WeightedCombine) and own is not None:
            with localcontext(calc_context()):
                level = (combine.self * own + combine.manager * mgr) / 100
            how = (f"manager {mgr} × {fmt_num(combine.manager)} % + self {own} × {fmt_num(combine.self)} % "
                   f"= level {fmt_num(level)}")
        elif isinstance(combine, WeightedCombine):
            level = Decimal(mgr)
            how = f"manager {mgr} ({own_text}, so the manager rating alone counts) = level {mgr}"
        else:
            level = Decimal(mgr)
            how = f"manager {mgr} ({own_text}, shown, not scored) = level {mgr}"
        score = comp.map_to(level, scorecard.rating_scale)
        how += (f" on {comp.scale.min}..{comp.scale.max} → {fmt_num(score)} on "
                f"{scorecard.rating_scale.describe()}")
        section.items.append(_Item(item.id, item.label(), level, score, item.weight, how, own, mgr))
    return section


def _csat_section(scorecard: Scorecard, survey: CsatResult | None,
                  missing: list[str], notes: list[str]) -> _Section | None:
    cs = scorecard.csat
    if cs is None:
        return None
    section = _Section("csat", scorecard.component_weights.csat, Decimal(100))
    responses = survey.responses if survey is not None else 0
    pct = survey.csat_pct if survey is not None else None
    if pct is None or responses < cs.min_responses:
        reason = (f"{responses} response(s), fewer than min_responses {cs.min_responses}"
                  if responses else "no responses")
        if isinstance(cs.below_minimum, NeutralPolicy):
            value = cs.below_minimum.value
            notes.append(f"csat: {reason}; scored at the neutral value {fmt_num(value)}")
            section.items.append(_Item("csat", "Customer satisfaction (CSAT) / 客户满意度", pct, value, Decimal(100),
                                       f"{reason}: neutral value {fmt_num(value)} (below_minimum policy)"))
        else:
            missing.append("csat")
            notes.append(f"csat: {reason}; dropped and the component weights renormalized")
        return section
    assert survey is not None
    score, how = cs.rule.apply(pct)
    ci = f"; 95 % CI {fmt_num(survey.ci_low or Decimal(0), 2)}–{fmt_num(survey.ci_high or Decimal(0), 2)} %"
    weighting = ", revenue-weighted" if survey.weighted else ""
    section.items.append(
        _Item("csat", "Customer satisfaction (CSAT) / 客户满意度", pct, score, Decimal(100),
              f"CSAT {fmt_num(pct, 2)} % ({survey.satisfied} of {responses} responses rated 4–5{weighting}{ci}) "
              f"on {cs.rule.describe()}: {how}")
    )
    return section


#: The goals line's label in both languages (as the CSAT line's).
GOALS_LABEL = "Goals (OKR attainment) / 目标（OKR）达成"


def _goals_section(scorecard: Scorecard, inputs: ReviewInputs,
                   missing: list[str], notes: list[str]) -> _Section:
    section = _Section("goals", scorecard.component_weights.goals or Decimal(0), Decimal(100))
    if not inputs.goals:
        missing.append("goals")
        notes.append("goals: no approved objectives for the period; dropped and the component weights renormalized")
        return section
    rule = scorecard.goals_section()
    result = goals_attainment(inputs.goals, rule.cap)
    score, how = rule.apply(result.attainment, scorecard.rating_scale)
    # The line shows the attainment to 4 decimals; the score above came from the exact value.
    section.items.append(_Item("goals", GOALS_LABEL, round_to(result.attainment, LINE_DECIMALS), score, Decimal(100),
                               f"{result.explanation}; attainment {fmt_num(result.attainment)} {how}"))
    return section


#: The peer feedback line's label in both languages.
PEER_LABEL = "Peer feedback (360) / 同事反馈"


def _peer_section(scorecard: Scorecard, inputs: ReviewInputs, missing: list[str], notes: list[str]) -> _Section:
    """The peers' overall average mapped linearly onto the rating scale; below the anonymity minimum it is left out
    (nothing about the answers, not even how many, appears in the breakdown)."""
    section = _Section("peer_feedback", scorecard.component_weights.peer_feedback or Decimal(0), Decimal(100))
    agg = inputs.peer_feedback
    if agg is None or not agg.shown or agg.overall is None:
        missing.append("peer_feedback")
        notes.append(agg.explanation() if agg is not None else
                     "peer feedback: no colleagues were asked; not scored and the other weights renormalized")
        return section
    scale = scorecard.rating_scale
    score = scale.min + (agg.overall - agg.scale_min) / (agg.scale_max - agg.scale_min) * (scale.max - scale.min)
    section.items.append(_Item("peer_feedback", PEER_LABEL, agg.overall, score, Decimal(100),
                               f"{agg.explanation()}: {fmt_num(agg.overall)} on {agg.scale_min}..{agg.scale_max} "
                               f"→ {fmt_num(score)} on {scale.describe()}"))
    return section


def _phase_section(scorecard: Scorecard, key: str, weight: Decimal, inputs: ReviewInputs, missing: list[str],
                   notes: list[str]) -> _Section:
    """A phase defined only in the registry, scored as its definition says: the mean of its stored ratings (each answer
    set's mean, averaged), mapped linearly from its scale onto the rating scale; left out below its min_answers."""
    definition = PHASE_BY_KEY.get(key)
    section = _Section(key, weight, Decimal(100))
    answers = [a for a in inputs.phase_answers.get(key, ()) if a]
    needed = definition.min_answers if definition else 1
    if definition is None or len(answers) < needed:
        missing.append(key)
        notes.append(f"{key}: {len(answers)} answer(s), {needed} needed; not scored and the other weights renormalized")
        return section
    low, high = (Decimal(v) for v in definition.scale)
    mean = sum((Decimal(sum(a.values())) / len(a) for a in answers), Decimal(0)) / len(answers)
    scale = scorecard.rating_scale
    score = scale.min + (mean - low) / (high - low) * (scale.max - scale.min)
    label = f"{definition.label('en')} / {definition.label('zh-CN')}"
    section.items.append(_Item(key, label, round_to(mean, LINE_DECIMALS), score, Decimal(100),
                               f"mean of {len(answers)} answer(s) {fmt_num(mean)} on {fmt_num(low)}..{fmt_num(high)} "
                               f"→ {fmt_num(score)} on {scale.describe()}"))
    return section


@exact
def preliminary_score(scorecard: Scorecard, inputs: ReviewInputs) -> ScoreResult:
    """Weighted score on the rating scale, rounded once to ``rating_scale.decimals`` (HALF_UP).

    Missing parts (no manager ratings, a missing KPI actual, CSAT below minimum) are dropped and
    the remaining weights renormalized at each level, and listed in ``missing`` and ``notes``.
    """
    missing: list[str] = []
    notes: list[str] = []
    cs = scorecard.csat
    survey: CsatResult | None = None
    if inputs.survey:
        survey = csat(inputs.survey, cs.revenue_weighted if cs else False, cs.min_responses if cs else 0)
        notes.extend(f"survey: {n}" for n in survey.notes)
    weights = scorecard.component_weights
    # Zero-weight components are not scored at all, so their gaps are not reported as missing.
    candidates = [
        _kpi_section(scorecard, inputs, survey, missing, notes) if weights.kpis > 0 else None,
        _competency_section(scorecard, inputs, missing, notes) if weights.competencies > 0 else None,
        _csat_section(scorecard, survey, missing, notes) if weights.csat > 0 else None,
        _goals_section(scorecard, inputs, missing, notes) if (weights.goals or 0) > 0 else None,
        _peer_section(scorecard, inputs, missing, notes) if (weights.peer_feedback or 0) > 0 else None,
        *(_phase_section(scorecard, key, w, inputs, missing, notes) for key, w in (weights.phases or {}).items() if w > 0),
    ]
    sections = [s for s in candidates if s is not None]
    usable: list[tuple[_Section, Decimal]] = []
    for s in sections:
        available = sum((i.weight for i in s.items), Decimal(0))
        if available > 0:
            usable.append((s, available))
            if available != s.nominal_item_weight:
                notes.append(f"{s.component}: item weights renormalized over the available items "
                             f"({fmt_num(available)} of {fmt_num(s.nominal_item_weight)} → 100)")
    total_weight = sum((s.weight for s, _ in usable), Decimal(0))
    if total_weight == 0:
        notes.append("nothing to score: no component with a positive weight has any input")
        return ScoreResult(score=None, lines=[], missing=missing, notes=notes, csat=survey)
    if total_weight != 100:
        shares = ", ".join(f"{s.component} {fmt_num(s.weight)} → {fmt_num(s.weight * 100 / total_weight)} %"
                           for s, _ in usable)
        notes.append(f"component weights renormalized over the available components: {shares}")
    lines: list[ScoreLine] = []
    component_scores: dict[str, Decimal] = {}
    component_weights: dict[str, Decimal] = {}
    with localcontext(calc_context()):
        total = Decimal(0)
        for s, available in usable:
            comp_share = s.weight / total_weight
            component_weights[s.component] = round_to(comp_share * 100, LINE_DECIMALS)
            component_scores[s.component] = round_to(
                sum((i.weight * i.score for i in s.items), Decimal(0)) / available, LINE_DECIMALS)
            for i in s.items:
                eff = comp_share * i.weight / available
                contribution = eff * i.score
                total += contribution
                item_text = (f"item weight {fmt_num(i.weight)}/{fmt_num(available)} of {s.component} × "
                             if s.component not in ("csat", "goals", "peer_feedback", *(weights.phases or {}))
                             else "")
                weight_text = f"{item_text}component weight {fmt_num(s.weight)}/{fmt_num(total_weight)} of total"
                lines.append(ScoreLine(
                    component=s.component, item=i.item, label=i.label, actual=i.actual,
                    item_score=round_to(i.score, LINE_DECIMALS),
                    weight_pct=round_to(eff * 100, LINE_DECIMALS),
                    contribution=round_to(contribution, LINE_DECIMALS),
                    explanation=(f"{i.label}: {i.how}; score {fmt_num(i.score)} × {weight_text} "
                                 f"= {fmt_num(eff * 100)} % → contribution {fmt_num(contribution)}"),
                    self_rating=i.self_rating, manager_rating=i.manager_rating,
                ))
    score = round_to(total, scorecard.rating_scale.decimals, "HALF_UP")
    return ScoreResult(score=score, lines=lines, missing=missing, notes=notes,
                       component_scores=component_scores, component_weights_pct=component_weights, csat=survey)
