"""The scorecard: what a KAM is scored on and how, frozen into a cycle when it is created.

Every rule is validated up front (weights sum to exactly 100 at each level, known KPI ids,
ordered curves and bands, scores inside the rating scale), so a cycle never fails mid-way for a
configuration reason, and every error names the path of the offending field.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal, localcontext
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_serializer, model_validator

from domain.errors import DomainError
from domain.inputs import Text, bounded
from domain.money import Num, calc_context, decimal_places, exact, fmt_num
from domain.text import tr

KpiId = Literal[
    "sales_attainment",
    "new_customer_acquisition",
    "customer_retention",
    "complaint_rate",
    "customer_satisfaction",
]

#: English and Chinese names of the five KPIs from the role descriptions.
KPI_LABELS: dict[str, tuple[str, str]] = {
    "sales_attainment": ("Sales target attainment", "销售目标达成率"),
    "new_customer_acquisition": ("New customer acquisition", "新客户获取率"),
    "customer_retention": ("Customer retention", "客户保持率"),
    "complaint_rate": ("Customer complaint rate", "客户投诉率"),
    "customer_satisfaction": ("Customer satisfaction", "客户满意度"),
}


#: Item ids the review records use for other things (the manager's potential rating).
RESERVED_ITEM_IDS = frozenset({"potential"})

# Bounds of the numbers a scorecard configures, each with its reason (the reason is also the message).
#: Scores are stored as Numeric(8,4): below 10^4 in magnitude, at most 4 decimals.
Score = Annotated[Num, bounded(-1000, 1000, tr("scores are stored with at most 4 digits before the point"), places=4)]
#: KPI actuals are stored as Numeric(20,6); a curve or band point beyond them can never be reached.
Actual = Annotated[Num, bounded(-10**14 + 1, 10**14 - 1, tr("KPI actuals are stored as Numeric(20,6)"), places=6)]
#: Weights are percents of their section.
Weight = Annotated[Num, bounded(0, 100, tr("a weight is a percent of its section"))]


class _Frozen(BaseModel):
    """Immutable, strict-keyed config: unknown keys are typos and must fail loudly."""

    model_config = ConfigDict(frozen=True, extra="forbid")


@exact
def check_weights_sum(weights: Iterable[Decimal], field: str) -> None:
    """Weights are percents and must sum to exactly 100 (the most common complaint about review tools)."""
    total = sum(weights, Decimal(0))
    if total != 100:
        raise DomainError(tr("weights sum to %(total)s, must be exactly 100", total=fmt_num(total)), field)


def check_unique(ids: Iterable[str], field: str) -> None:
    """Ids identify answers and lines; a duplicate would silently merge two items."""
    seen: set[str] = set()
    for item_id in ids:
        if item_id in seen:
            raise DomainError(tr("duplicate id %(item_id)s", item_id=repr(item_id)), field)
        seen.add(item_id)


class RatingScale(_Frozen):
    """The scale every item score and the final score live on (e.g. 1-5, 2 decimals)."""

    min: Score = Decimal(1)
    max: Score = Decimal(5)
    decimals: Annotated[int, bounded(0, 4, tr("scores are stored with 4 decimals"))] = Field(default=2, strict=True)

    @model_validator(mode="after")
    def _ordered(self) -> RatingScale:
        if self.min >= self.max:
            raise DomainError(tr("min %(min)s must be below max %(max)s", min=str(self.min), max=str(self.max)), "rating_scale")
        for name, value in (("min", self.min), ("max", self.max)):
            if decimal_places(value) > self.decimals:
                raise DomainError(tr("%(value)s has more than %(decimals)s decimals",
                                     value=str(value), decimals=self.decimals), f"rating_scale.{name}")
        return self

    def contains(self, value: Decimal) -> bool:
        return self.min <= value <= self.max

    def describe(self) -> str:
        return f"{fmt_num(self.min)}..{fmt_num(self.max)}"


class CurveRule(_Frozen):
    """Piecewise-linear map from an actual value to a score; flat outside the first and last points."""

    type: Literal["curve"] = "curve"
    points: tuple[tuple[Actual, Score], ...] = Field(min_length=2, max_length=50)  # more points are no longer a curve HR reads

    @model_validator(mode="after")
    def _increasing_x(self) -> CurveRule:
        for i in range(1, len(self.points)):
            if self.points[i][0] <= self.points[i - 1][0]:
                raise DomainError(
                    tr("x values must be strictly increasing: point %(i)s x=%(x)s is not above point %(i2)s x=%(previous)s",
                       i=i, x=fmt_num(self.points[i][0]), i2=i - 1, previous=fmt_num(self.points[i - 1][0])),
                    "points",
                )
        return self

    def scores(self) -> list[tuple[str, Decimal]]:
        return [(f"points.{i}", y) for i, (_, y) in enumerate(self.points)]

    def describe(self) -> str:
        return "curve (" + ", ".join(f"{fmt_num(x)}→{fmt_num(y)}" for x, y in self.points) + ")"

    def apply(self, actual: Decimal) -> tuple[Decimal, str]:
        """(score, how it was read off the curve)."""
        return interpolate(self.points, actual)


class Band(_Frozen):
    """``min`` inclusive, ``max`` exclusive; an open ``max`` (only on the last band) means no upper end."""

    min: Actual
    max: Actual | None = None
    score: Score

    def describe(self) -> str:
        upper = fmt_num(self.max) + ")" if self.max is not None else "∞)"
        return f"[{fmt_num(self.min)}, {upper}"


class BandsRule(_Frozen):
    """Step map from an actual value to a score; bands are ordered, contiguous and non-overlapping."""

    type: Literal["bands"] = "bands"
    bands: tuple[Band, ...] = Field(min_length=1, max_length=50)  # as for curve points

    @model_validator(mode="after")
    def _ordered(self) -> BandsRule:
        for i, band in enumerate(self.bands):
            if band.max is not None and band.max <= band.min:
                raise DomainError(tr("band %(i)s %(band)s has max not above min", i=i, band=band.describe()), f"bands.{i}")
            if band.max is None and i != len(self.bands) - 1:
                raise DomainError(tr("band %(i)s has no max; only the last band may be open-ended", i=i), f"bands.{i}.max")
            if i == 0:
                continue
            prev = self.bands[i - 1]
            assert prev.max is not None
            if band.min < prev.min:
                raise DomainError(
                    tr("bands must be ordered by min: band %(i)s %(band)s starts below band %(i2)s %(prev)s",
                       i=i, band=band.describe(), i2=i - 1, prev=prev.describe()),
                    f"bands.{i}.min",
                )
            if band.min < prev.max:
                raise DomainError(
                    tr("band %(i)s %(band)s overlaps band %(i2)s %(prev)s",
                       i=i, band=band.describe(), i2=i - 1, prev=prev.describe()), f"bands.{i}.min"
                )
            if band.min > prev.max:
                raise DomainError(
                    tr("gap between band %(i)s %(prev)s and band %(i2)s %(band)s",
                       i=i - 1, prev=prev.describe(), i2=i, band=band.describe()), f"bands.{i}.min"
                )
        return self

    def scores(self) -> list[tuple[str, Decimal]]:
        return [(f"bands.{i}.score", b.score) for i, b in enumerate(self.bands)]

    def describe(self) -> str:
        return "bands (" + ", ".join(f"{b.describe()}→{fmt_num(b.score)}" for b in self.bands) + ")"

    def apply(self, actual: Decimal) -> tuple[Decimal, str]:
        """(score, which band matched); values outside all bands take the nearest end band."""
        first, last = self.bands[0], self.bands[-1]
        if actual < first.min:
            return first.score, f"below the lowest band {first.describe()} → {fmt_num(first.score)}"
        for band in self.bands:
            if band.max is None or actual < band.max:
                return band.score, f"in band {band.describe()} → {fmt_num(band.score)}"
        return last.score, f"above the highest band {last.describe()} → {fmt_num(last.score)}"


Rule = Annotated[CurveRule | BandsRule, Field(discriminator="type")]


@exact
def interpolate(points: tuple[tuple[Decimal, Decimal], ...], x: Decimal) -> tuple[Decimal, str]:
    """Linear interpolation through strictly increasing points, flat outside; returns (y, explanation)."""
    first_x, first_y = points[0]
    last_x, last_y = points[-1]
    if x <= first_x:
        return first_y, f"at or below the first point {fmt_num(first_x)}→{fmt_num(first_y)}"
    if x >= last_x:
        return last_y, f"at or above the last point {fmt_num(last_x)}→{fmt_num(last_y)}"
    for (x0, y0), (x1, y1) in zip(points, points[1:], strict=False):
        if x0 <= x <= x1:
            y = y0 + (y1 - y0) * (x - x0) / (x1 - x0)  # in the @exact context
            return y, f"between {fmt_num(x0)}→{fmt_num(y0)} and {fmt_num(x1)}→{fmt_num(y1)}"
    raise AssertionError("unreachable: points are strictly increasing")  # pragma: no cover


class KpiItem(_Frozen):
    """One KPI: its weight within the KPI section and the rule turning the actual into a score."""

    id: KpiId
    weight: Weight
    rule: Rule
    label_en: Text | None = Field(default=None, min_length=1, max_length=200)
    label_zh: Text | None = Field(default=None, min_length=1, max_length=200)

    def label(self) -> str:
        en, zh = KPI_LABELS[self.id]
        return f"{self.label_en or en} / {self.label_zh or zh}"


def _chinese(locale: str | None) -> bool:
    return bool(locale) and str(locale).lower().startswith("zh")


class LevelDescription(_Frozen):
    """What a competency level looks like in practice, per language (either may be left out)."""

    en: Text | None = Field(default=None, min_length=1, max_length=2000)
    zh: Text | None = Field(default=None, min_length=1, max_length=2000)

    def text(self, locale: str | None) -> str | None:
        """In the reader's language, else the other one: a description in either beats none."""
        return (self.zh or self.en) if _chinese(locale) else (self.en or self.zh)


#: The two groups of the sales-sequence competency model (序列通用 / 序列专业胜任能力).
CompetencyGroup = Literal["general", "professional"]


class CompetencyItem(_Frozen):
    """One competency from the sales-sequence model, rated on the competency scale.

    ``group`` and ``levels`` are optional (older configurations have neither): the forms group the
    competencies and show each level's description beside its choice when the configuration gives them.
    """

    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    label_en: Text = Field(min_length=1, max_length=200)
    label_zh: Text = Field(min_length=1, max_length=200)
    weight: Weight
    group: CompetencyGroup | None = None
    levels: dict[int, LevelDescription] = Field(default_factory=dict, max_length=101)

    def name(self, locale: str | None) -> str:
        """The label in the reader's language."""
        return self.label_zh if _chinese(locale) else self.label_en

    def describe(self, level: int, locale: str | None) -> str | None:
        found = self.levels.get(level)
        return found.text(locale) if found else None

    @field_validator("id")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value in RESERVED_ITEM_IDS:
            raise DomainError(tr("%(value)s is reserved (manager scores store potential under it); choose another id", value=repr(value)))
        return value

    def label(self) -> str:
        return f"{self.label_en} / {self.label_zh}"


class CompetencyScale(_Frozen):
    """Competency levels (1-3 in the model); mapped linearly onto the rating scale for scoring."""

    # Levels a person picks from a list (the API takes levels within ±1000); 101 levels are no longer a scale.
    min: Annotated[int, bounded(0, 100, tr("a competency scale is a short list of levels"))] = Field(default=1, strict=True)
    max: Annotated[int, bounded(0, 100, tr("a competency scale is a short list of levels"))] = Field(default=3, strict=True)

    @model_validator(mode="after")
    def _ordered(self) -> CompetencyScale:
        if self.min >= self.max:
            raise DomainError(tr("min %(min)s must be below max %(max)s", min=self.min, max=self.max), "scale")
        return self


class ManagerOnlyCombine(_Frozen):
    """Only the direct manager's rating counts; the self-rating is shown next to it."""

    mode: Literal["manager_only"] = "manager_only"


class WeightedCombine(_Frozen):
    """Self and manager ratings blended by percent weights summing to 100."""

    mode: Literal["weighted"] = "weighted"
    self: Weight
    manager: Weight

    @model_validator(mode="after")
    def _sum(self) -> WeightedCombine:
        total = self.self + self.manager
        if total != 100:
            raise DomainError(
                tr("self %(own)s + manager %(manager)s = %(total)s, must be exactly 100",
                   own=fmt_num(self.self), manager=fmt_num(self.manager), total=fmt_num(total)),
                "combine",
            )
        return self


Combine = Annotated[ManagerOnlyCombine | WeightedCombine, Field(discriminator="mode")]


class CompetencySection(_Frozen):
    """The competency part of the scorecard."""

    scale: CompetencyScale = CompetencyScale()
    combine: Combine = ManagerOnlyCombine()
    items: tuple[CompetencyItem, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _weights(self) -> CompetencySection:
        check_unique((i.id for i in self.items), "items")
        check_weights_sum((i.weight for i in self.items), "items")
        for n, item in enumerate(self.items):
            outside = sorted(lv for lv in item.levels if not self.scale.min <= lv <= self.scale.max)
            if outside:
                raise DomainError(tr("level %(level)s is not on the scale %(low)s to %(high)s", level=outside[0],
                                     low=self.scale.min, high=self.scale.max), f"items.{n}.levels")
        return self

    def map_to(self, level: Decimal, scale: RatingScale) -> Decimal:
        """Linear map of a competency level onto the rating scale (level 2 of 1..3 → 3 on 1..5)."""
        with localcontext(calc_context()):
            return scale.min + (level - self.scale.min) * (scale.max - scale.min) / (self.scale.max - self.scale.min)


class DropPolicy(_Frozen):
    """Too few survey answers: drop CSAT and renormalize the other components."""

    policy: Literal["drop"] = "drop"


class NeutralPolicy(_Frozen):
    """Too few survey answers: score CSAT at a fixed neutral value."""

    policy: Literal["neutral"] = "neutral"
    value: Score


BelowMinimum = Annotated[DropPolicy | NeutralPolicy, Field(discriminator="policy")]


class CsatSection(_Frozen):
    """How the customer survey's CSAT % becomes a score."""

    rule: Rule
    min_responses: Annotated[int, bounded(0, 1000, tr("no KAM's contacts give more answers to one survey"))] = Field(
        default=3, strict=True)
    below_minimum: BelowMinimum = DropPolicy()
    revenue_weighted: bool = False
    ask_nps: bool = True


class GoalsSection(_Frozen):
    """How goal (OKR) attainment becomes a score (domain/goals.py computes the attainment).

    Attainment per key result is linear from its start value (0) to its target (1), capped to
    ``[0, cap]``. Without a ``rule``, attainment 0..cap maps linearly onto the rating scale.
    """

    cap: Annotated[Num, bounded(0, 10, tr("a cap is a multiple of the target"))] = Decimal(1)
    rule: Rule | None = None

    @model_validator(mode="after")
    def _positive_cap(self) -> GoalsSection:
        if self.cap <= 0:
            raise DomainError(tr("the cap must be above 0 (1 means reaching the target is full attainment)"), "goals.cap")
        return self

    @exact
    def apply(self, attainment: Decimal, scale: RatingScale) -> tuple[Decimal, str]:
        """(score, how): the declared rule, else linear from 0 → scale min to cap → scale max."""
        if self.rule is not None:
            score, how = self.rule.apply(attainment)
            return score, f"on {self.rule.describe()}: {how}"
        score = scale.min + attainment / self.cap * (scale.max - scale.min)
        return score, f"linear 0→{fmt_num(scale.min)}, {fmt_num(self.cap)}→{fmt_num(scale.max)}"


def _without_unset_goals(value: BaseModel, data: dict) -> dict:
    # Goals and peer feedback came later: a configuration without them serializes (and hashes) exactly as before.
    for later in ("goals", "peer_feedback", "phases"):
        if later in type(value).model_fields and getattr(value, later, None) is None:
            data.pop(later, None)
    return data


class ComponentWeights(_Frozen):
    """Share of the total score per component, in percent; ``goals`` and ``peer_feedback`` are optional (absent: no
    such component, and the cycle scores exactly as before they existed)."""

    kpis: Weight
    competencies: Weight
    csat: Weight
    goals: Weight | None = None
    peer_feedback: Weight | None = None  # needs the cycle's peer_feedback block (domain/cycle.py checks)
    # Phases defined only in the registry that feed the score, by key (each needs its added_phases block).
    phases: dict[str, Weight] | None = None

    @model_validator(mode="after")
    def _sum(self) -> ComponentWeights:
        check_weights_sum((self.kpis, self.competencies, self.csat, self.goals or Decimal(0),
                           self.peer_feedback or Decimal(0), *(self.phases or {}).values()), "component_weights")
        return self

    @model_serializer(mode="wrap")
    def _serialize(self, handler):  # type: ignore[no-untyped-def]
        return _without_unset_goals(self, handler(self))


class Scorecard(_Frozen):
    """The whole scorecard; cross-field rules (section weights, scores inside the scale) are checked here."""

    rating_scale: RatingScale = RatingScale()
    component_weights: ComponentWeights
    kpis: tuple[KpiItem, ...] = ()
    competencies: CompetencySection | None = None
    csat: CsatSection | None = None
    goals: GoalsSection | None = None  # None with a goals weight: the default section (cap 1, linear)

    @model_serializer(mode="wrap")
    def _serialize(self, handler):  # type: ignore[no-untyped-def]
        return _without_unset_goals(self, handler(self))

    def goals_section(self) -> GoalsSection:
        return self.goals or GoalsSection()

    @model_validator(mode="after")
    def _consistent(self) -> Scorecard:
        scale = self.rating_scale
        weights = self.component_weights
        if self.kpis:
            check_unique((k.id for k in self.kpis), "kpis")
            check_weights_sum((k.weight for k in self.kpis), "kpis")
        elif weights.kpis > 0:
            raise DomainError(tr("component weight %(kpis)s but no KPIs are defined", kpis=fmt_num(weights.kpis)), "kpis")
        if self.competencies is None and weights.competencies > 0:
            raise DomainError(
                tr("component weight %(competencies)s but no competencies section",
                   competencies=fmt_num(weights.competencies)), "competencies"
            )
        if self.csat is None and weights.csat > 0:
            raise DomainError(tr("component weight %(csat)s but no csat section", csat=fmt_num(weights.csat)), "csat")
        for i, kpi in enumerate(self.kpis):
            for sub, score in kpi.rule.scores():
                _check_in_scale(score, scale, f"kpis.{i}.rule.{sub}")
        if self.goals is not None and self.goals.rule is not None:
            for sub, score in self.goals.rule.scores():
                _check_in_scale(score, scale, f"goals.rule.{sub}")
        if self.csat is not None:
            for sub, score in self.csat.rule.scores():
                _check_in_scale(score, scale, f"csat.rule.{sub}")
            if isinstance(self.csat.below_minimum, NeutralPolicy):
                _check_in_scale(self.csat.below_minimum.value, scale, "csat.below_minimum.value")
        return self

    def kpi(self, kpi_id: str) -> KpiItem | None:
        return next((k for k in self.kpis if k.id == kpi_id), None)


def _check_in_scale(score: Decimal, scale: RatingScale, path: str) -> None:
    if not scale.contains(score):
        raise DomainError(tr("score %(score)s is outside rating_scale %(scale)s",
                             score=fmt_num(score), scale=scale.describe()), path)


#: The 7 general and professional competencies of the sales-sequence model.
DEFAULT_COMPETENCIES: tuple[tuple[str, str, str, int], ...] = (
    ("communication", "Communication & expression", "沟通表达能力", 15),
    ("logical_analysis", "Logical analysis", "逻辑分析能力", 10),
    ("coordination", "Coordination & drive", "协调推进能力", 15),
    ("market_analysis", "Market information analysis", "市场信息分析", 15),
    ("product_knowledge", "Product & technical knowledge", "产品技术知识", 10),
    ("customer_relationship", "Customer relationship management", "客户关系管理", 20),
    ("sales_management", "Sales business management", "销售业务管理", 15),
)


def default_scorecard() -> Scorecard:
    """A sensible built-in scorecard: all five KPIs, the 7 competencies, and CSAT.

    KPI actuals are ratios (1.0 = 100 % of target; complaint rate 0.01 = 1 %), except
    ``customer_satisfaction``, which is a CSAT percent like the survey's.
    """
    return Scorecard.model_validate(
        {
            "rating_scale": {"min": 1, "max": 5, "decimals": 2},
            "component_weights": {"kpis": 60, "competencies": 25, "csat": 15},
            "kpis": [
                {
                    "id": "sales_attainment",
                    "weight": 40,
                    "rule": {"type": "curve", "points": [["0.8", 1], ["1.0", 3], ["1.2", 5]]},
                },
                {
                    "id": "new_customer_acquisition",
                    "weight": 15,
                    "rule": {"type": "curve", "points": [["0.5", 1], ["1.0", 3], ["1.5", 5]]},
                },
                {
                    "id": "customer_retention",
                    "weight": 20,
                    "rule": {"type": "curve", "points": [["0.8", 1], ["0.9", 3], ["0.98", 5]]},
                },
                {
                    "id": "complaint_rate",
                    "weight": 10,
                    "rule": {
                        "type": "bands",
                        "bands": [
                            {"min": 0, "max": "0.01", "score": 5},
                            {"min": "0.01", "max": "0.03", "score": 3},
                            {"min": "0.03", "score": 1},
                        ],
                    },
                },
                {
                    "id": "customer_satisfaction",
                    "weight": 15,
                    "rule": {"type": "curve", "points": [[50, 1], [80, 3], [95, 5]]},
                },
            ],
            "competencies": {
                "scale": {"min": 1, "max": 3},
                "combine": {"mode": "manager_only"},
                "items": [
                    {"id": cid, "label_en": en, "label_zh": zh, "weight": w} for cid, en, zh, w in DEFAULT_COMPETENCIES
                ],
            },
            "csat": {
                "rule": {"type": "curve", "points": [[50, 1], [80, 3], [95, 5]]},
                "min_responses": 3,
                "below_minimum": {"policy": "drop"},
                "revenue_weighted": False,
                "ask_nps": True,
            },
        }
    )
