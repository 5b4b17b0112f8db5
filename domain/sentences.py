"""Score lines and payout lines as sentences a KAM reads, in either language.

The engine's own explanations (``ScoreLine.explanation``, ``PayoutLine.explanation``) are exact and technical:
curve points, rounding modes, unrounded amounts. They stay as they are (the CLI, payroll and HR read them).
This module turns the same structured figures into ``Text`` sentences ("Sales target attainment: 67.5% of
target → score 1 of 5, weight 27%"), translated and formatted at the edge for the reader:

- ``score_line_text(line, scorecard, csat)``: one line of the preliminary score;
- ``payout_line_text(line_type, amount, currency, inputs, rating_label=...)``: one payout line;
- ``measure_texts(inputs, scorecard)``: the bonus measures behind a bonus line, one sentence each;
- ``rating_label_text(label)``: a calibration level's label, translated when it is one of the standard ones.

Figures are rounded here, once, for showing (percentages to 0.1 %, scores to the rating scale's decimals,
money to the currency's minor unit, half up), so every language shows the same digits.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from domain.money import fmt_money, fmt_num, minor_unit
from domain.scorecard import KPI_LABELS, NeutralPolicy, Scorecard, WeightedCombine
from domain.scoring import CsatResult, ScoreLine
from domain.text import N_, Text, tr

#: KPIs whose actual is a ratio of a target (1.0 = the target met); the others are plain rates.
TARGET_KPIS = frozenset({"sales_attainment", "new_customer_acquisition"})
#: KPIs measured as a ratio (0.92 = 92 %); customer satisfaction is already in percent (CSAT %).
RATIO_KPIS = frozenset({"sales_attainment", "new_customer_acquisition", "customer_retention", "complaint_rate"})
#: The calibration levels' labels of the default configuration, so that they are translated.
STANDARD_LEVEL_LABELS = (N_("Outstanding"), N_("Exceeds"), N_("Meets"), N_("Partially meets"), N_("Below"))
CSAT_LABEL = ("Customer satisfaction (CSAT)", "客户满意度")
GOALS_LABEL = ("Goals (OKR attainment)", "目标（OKR）达成")
PEER_LABEL = ("Peer feedback (360)", "同事反馈")
#: Percent places shown: 67.5 %.
PCT_PLACES = 1


@dataclass(frozen=True)
class Label:
    """A name the configuration gives in both languages (a KPI, a competency)."""

    en: str
    zh: str

    def localized(self, locale: str) -> str:
        return self.zh if locale.lower().startswith("zh") else self.en

    def __str__(self) -> str:
        return self.en


@dataclass(frozen=True)
class Money:
    """An amount already rounded to its currency's minor unit; shown as ¥8,500.00 by the reader's Formatter."""

    amount: Decimal
    currency: str

    def shown_by(self, fmt: Any) -> str:
        return fmt.money(self.amount, self.currency)

    def as_details(self) -> dict[str, list[str]]:
        """JSON-safe form inside a Text's details (domain.text revives it, so it is formatted for the reader)."""
        return {"$money": [str(self.amount), self.currency]}

    def __str__(self) -> str:
        return fmt_money(self.amount, self.currency)


@dataclass(frozen=True)
class Percent:
    """A ratio already rounded to what is shown (0.675 → 67.5 %)."""

    ratio: Decimal
    places: int = PCT_PLACES

    def shown_by(self, fmt: Any) -> str:
        return fmt.percent(self.ratio, self.places)

    def as_details(self) -> dict[str, list[Any]]:
        """JSON-safe form inside a Text's details (domain.text revives it)."""
        return {"$percent": [str(self.ratio), self.places]}

    def __str__(self) -> str:
        return f"{fmt_num(self.ratio * 100, self.places)}%"


def _dec(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


_EXPONENTS = tuple(Decimal(1).scaleb(-places) for places in range(13))


def shown_round(value: Decimal, places: int) -> Decimal:
    """``value`` rounded half up to ``places`` decimals, the way every figure of a sentence is shown."""
    exponent = _EXPONENTS[places] if 0 <= places < len(_EXPONENTS) else Decimal(1).scaleb(-places)
    return value.quantize(exponent, rounding=ROUND_HALF_UP)


def percent(ratio: Decimal, places: int = PCT_PLACES) -> Percent:
    """The ratio as the percentage shown: rounded half up to ``places`` decimals of a percent."""
    return Percent(shown_round(ratio, places + 2), places)


def money(amount: Decimal, currency: str) -> Money:
    """The amount as shown: rounded half up to the currency's minor unit."""
    return Money(shown_round(amount, minor_unit(currency)), currency)


def _product(parts: Sequence[Text]) -> Text:
    """Factors as one Text: ``a × b × c`` (each factor translated on its own)."""
    joined = parts[-1]
    for part in reversed(parts[:-1]):
        joined = tr("%(first)s × %(rest)s", first=part, rest=joined)
    return joined


def _sum(parts: Sequence[Text]) -> Text:
    """Terms as one Text: ``a + b + c``."""
    joined = parts[-1]
    for part in reversed(parts[:-1]):
        joined = tr("%(first)s + %(rest)s", first=part, rest=joined)
    return joined


def rating_label_text(label: str | None) -> Text | None:
    """A level's label as a Text: the standard labels are translated, others shown as configured."""
    return Text(label) if label else None


# ---- labels from the configuration ----------------------------------------------------------------------


def kpi_label(scorecard: Scorecard | None, kpi_id: str) -> Label:
    """A KPI's name as configured (label_en / label_zh), else the role description's name."""
    en, zh = KPI_LABELS.get(kpi_id, (kpi_id.replace("_", " ").capitalize(), kpi_id))
    for kpi in scorecard.kpis if scorecard is not None else ():
        if kpi.id == kpi_id:
            return Label(kpi.label_en or en, kpi.label_zh or zh)
    return Label(en, zh)


def item_label(scorecard: Scorecard | None, component: str, item: str) -> Label:
    """The name of a score line's item in both languages."""
    if component == "csat":
        return Label(*CSAT_LABEL)
    if component == "goals":
        return Label(*GOALS_LABEL)
    if component == "peer_feedback":
        return Label(*PEER_LABEL)
    if component == "competencies" and scorecard is not None and scorecard.competencies is not None:
        for c in scorecard.competencies.items:
            if c.id == item:
                return Label(c.label_en, c.label_zh)
        return Label(item, item)
    return kpi_label(scorecard, item)


# ---- score lines ------------------------------------------------------------------------------------------


def score_line_text(line: ScoreLine, scorecard: Scorecard, csat: CsatResult | None = None) -> Text:
    """One line of the preliminary score as a sentence: what was measured, the score it gave, its weight.

    ``csat`` is the review's survey result (``ScoreResult.csat``), for the count of satisfied customers.
    """
    scale = scorecard.rating_scale
    common = {
        "item": item_label(scorecard, line.component, line.item),
        "score": shown_round(line.item_score, scale.decimals),
        "max": scale.max.normalize(),
        "weight": percent(line.weight_pct / 100),
    }
    actual = line.actual
    if line.component == "competencies":
        comp = scorecard.competencies
        top = comp.scale.max if comp is not None else None
        if (comp is not None and isinstance(comp.combine, WeightedCombine) and line.self_rating is not None
                and line.manager_rating is not None and actual is not None):
            return tr("%(item)s: manager's rating %(rating)s and self-rating %(own)s give level %(level)s of "
                      "%(top)s → score %(score)s of %(max)s, weight %(weight)s",
                      rating=line.manager_rating, own=line.self_rating, level=shown_round(actual, 2).normalize(),
                      top=top, **common)
        rating = line.manager_rating if line.manager_rating is not None else actual
        return tr("%(item)s: manager's rating %(rating)s of %(top)s → score %(score)s of %(max)s, weight %(weight)s",
                  rating=rating, top=top, **common)
    if line.component == "goals" and actual is not None:
        return tr("%(item)s: %(actual)s of the approved goals attained → score %(score)s of %(max)s, weight %(weight)s",
                  actual=percent(actual), **common)
    if line.component == "peer_feedback" and actual is not None:
        return tr("%(item)s: colleagues' average %(actual)s → score %(score)s of %(max)s, weight %(weight)s",
                  actual=actual.normalize(), **common)
    is_csat = line.component == "csat" or line.item == "customer_satisfaction"
    if is_csat:
        cs = scorecard.csat
        responses = csat.responses if csat is not None else 0
        if (line.component == "csat" and cs is not None and isinstance(cs.below_minimum, NeutralPolicy)
                and (actual is None or responses < cs.min_responses)):
            return tr("%(item)s: only %(responses)s of the %(needed)s answers needed → neutral score %(score)s of "
                      "%(max)s, weight %(weight)s", responses=responses, needed=cs.min_responses, **common)
        if actual is not None and csat is not None and csat.csat_pct is not None and csat.csat_pct == actual:
            return tr("%(item)s: %(actual)s of customers satisfied (%(satisfied)s of %(responses)s answers rated 4 "
                      "or 5) → score %(score)s of %(max)s, weight %(weight)s",
                      actual=percent(actual / 100), satisfied=csat.satisfied, responses=csat.responses, **common)
        if actual is not None:
            return tr("%(item)s: %(actual)s → score %(score)s of %(max)s, weight %(weight)s",
                      actual=percent(actual / 100), **common)
    if actual is None:
        return tr("%(item)s → score %(score)s of %(max)s, weight %(weight)s", **common)
    if line.item in TARGET_KPIS:
        return tr("%(item)s: %(actual)s of target → score %(score)s of %(max)s, weight %(weight)s",
                  actual=percent(actual), **common)
    shown: Any = percent(actual) if line.item in RATIO_KPIS else actual.normalize()
    return tr("%(item)s: %(actual)s → score %(score)s of %(max)s, weight %(weight)s", actual=shown, **common)


def score_total_text(score: Decimal | None, scorecard: Scorecard) -> Text:
    """The preliminary score: "3.45 of 5" (or that there is none)."""
    if score is None:
        return tr("no preliminary score (nothing to score)")
    return tr("%(score)s of %(max)s", score=shown_round(score, scorecard.rating_scale.decimals),
              max=scorecard.rating_scale.max.normalize())


# ---- payout lines -----------------------------------------------------------------------------------------


def measure_texts(inputs: Mapping[str, Any] | None, scorecard: Scorecard | None = None) -> list[Text]:
    """The bonus measures of a bonus line's inputs: attainment, the payout it earns, the measure's weight."""
    out: list[Text] = []
    for measure_id, m in ((inputs or {}).get("measures") or {}).items():
        att, factor, weight = _dec(m.get("attainment")), _dec(m.get("capped", m.get("factor"))), _dec(m.get("weight"))
        if att is None or factor is None or weight is None:
            continue
        words = (N_("%(item)s: %(attainment)s of target → payout %(factor)s, weight %(weight)s")
                 if measure_id in TARGET_KPIS else N_("%(item)s: %(attainment)s → payout %(factor)s, weight %(weight)s"))
        out.append(tr(words, item=kpi_label(scorecard, measure_id), attainment=percent(att), factor=percent(factor),
                      weight=percent(weight / 100)))
    return out


def payout_line_text(line_type: str, amount: Decimal, currency: str, inputs: Mapping[str, Any] | None,
                     rating_label: str | None = None) -> Text:
    """One payout line as a sentence whose figures multiply out to its amount (as far as rounding shows).

    ``inputs`` is the line's structured data (``PayoutLine.inputs``); ``rating_label`` the final level's label.
    """
    data = inputs or {}
    total = money(amount, currency)
    if line_type == "bonus":
        return _bonus_text(data, total, currency, rating_label)
    if line_type == "commission" and data.get("deal_id"):
        credited = _dec(data.get("credited"))
        if credited is not None:
            return tr("Commission on deal %(deal)s: %(credited)s credited = %(amount)s", deal=data["deal_id"],
                      credited=money(credited, currency), amount=total)
    if line_type == "commission":
        return _commission_text(data, total, currency)
    if line_type == "draw":
        return tr("Draw: earnings topped up to the guarantee by %(amount)s", amount=total)
    if line_type == "draw_recovery":
        return tr("Draw recovery: %(amount)s of earlier draws taken back", amount=money(-amount, currency))
    if line_type == "adjustment" and data.get("event") and data.get("deal_id"):
        if data.get("event") == "reinstated":
            return tr("Commission on deal %(deal)s reinstated: %(amount)s", deal=data["deal_id"], amount=total)
        words = {"cancelled": N_("Clawback of the commission on deal %(deal)s, cancelled on %(on)s: %(amount)s"),
                 "refunded": N_("Clawback of the commission on deal %(deal)s, refunded on %(on)s: %(amount)s")}.get(
            str(data["event"]), N_("Clawback of the commission on deal %(deal)s, whose customer left on %(on)s: "
                                   "%(amount)s"))
        return tr(words, deal=data["deal_id"], on=str(data.get("event_on", "")), amount=total)
    if line_type == "adjustment":
        computed, locked = _dec(data.get("computed")), _dec(data.get("locked_total"))
        if computed is not None and locked is not None:
            words = (N_("Correction to the commission: recalculated %(computed)s − already approved %(locked)s = "
                        "%(amount)s") if data.get("adjusts") == "commission" else
                     N_("Correction to the bonus: recalculated %(computed)s − already approved %(locked)s = %(amount)s"))
            return tr(words, computed=money(computed, currency), locked=money(locked, currency), amount=total)
    return tr("Payout: %(amount)s", amount=total)


def _bonus_text(data: Mapping[str, Any], total: Money, currency: str, rating_label: str | None) -> Text:
    target, company, multiplier = _dec(data.get("target")), _dec(data.get("company_factor")), _dec(data.get("multiplier"))
    if target is None or company is None or multiplier is None:
        return tr("Bonus: %(amount)s", amount=total)
    if data.get("gate") == "closed":
        wa = _dec(data.get("weighted_attainment")) or Decimal(0)
        return tr("Bonus: %(amount)s, because the weighted attainment %(attainment)s is below what the plan needs "
                  "for a bonus", amount=total, attainment=percent(wa))
    parts = [tr("target bonus %(amount)s", amount=money(target, currency)),
             tr("company factor %(factor)s", factor=percent(company))]
    level = data.get("rating_level")
    label = rating_label_text(rating_label)
    if level is not None and label is not None:
        parts.append(tr("rating multiplier %(factor)s (final rating %(level)s, %(label)s)",
                        factor=percent(multiplier), level=level, label=label))
    elif level is not None:
        parts.append(tr("rating multiplier %(factor)s (final rating %(level)s)", factor=percent(multiplier), level=level))
    factor = _dec(data.get("measure_factor"))
    if data.get("measures") and factor is not None:
        parts.append(tr("KPI payout %(factor)s", factor=percent(factor)))
    days, period_days = data.get("days"), data.get("period_days")
    if isinstance(days, int) and isinstance(period_days, int) and days != period_days:
        parts.append(tr("%(days)s of %(total)s days employed", days=days, total=period_days))
    return tr("Bonus: %(factors)s = %(amount)s", factors=_product(parts), amount=total)


def _commission_text(data: Mapping[str, Any], total: Money, currency: str) -> Text:
    revenue = _dec(data.get("revenue"))
    tiers = [(_dec(t.get("from")), _dec(t.get("rate"))) for t in data.get("tiers") or []]
    if revenue is None or not tiers or any(f is None or r is None for f, r in tiers):
        return tr("Commission: %(amount)s", amount=total)
    shown_revenue = money(revenue, currency)
    first = tiers[0][0] or Decimal(0)
    below = tr("Commission: revenue %(revenue)s is below the first tier (from %(start)s) = %(amount)s",
               revenue=shown_revenue, start=money(first, currency), amount=total)
    if data.get("mode") == "retroactive":  # the tier reached, with the plan's owner of an edge value
        reached: int | None = None
        for i, (start, _) in enumerate(tiers):
            if start is not None and (start < revenue or (data.get("boundary") == "upper" and start == revenue)):
                reached = i
        if reached is None:
            return below
        start, rate = tiers[reached]
        return tr("Commission: revenue %(revenue)s × %(rate)s, the rate of the tier reached (from %(start)s) = "
                  "%(amount)s", revenue=shown_revenue, rate=percent(rate or Decimal(0), 4),
                  start=money(start or Decimal(0), currency), amount=total)
    parts: list[Text] = []
    for i, (start, rate) in enumerate(tiers):
        upper = tiers[i + 1][0] if i + 1 < len(tiers) else None
        assert start is not None and rate is not None
        top = revenue if upper is None else min(revenue, upper)
        if top <= start:
            break
        parts.append(tr("%(slice)s × %(rate)s", slice=money(top - start, currency), rate=percent(rate, 4)))
    if not parts:
        return below
    return tr("Commission: revenue %(revenue)s, each part at its tier's rate: %(parts)s = %(amount)s",
              revenue=shown_revenue, parts=_sum(parts), amount=total)
