"""Incentive plan and payout lines: bonus (curves × rating multiplier × proration) and commission.

Every amount is computed at working precision and rounded once, per line, with the plan's
declared mode; every line carries a sentence that shows its inputs. Corrections after lock are
new delta lines, never edits.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import date
from decimal import Context, Decimal, localcontext
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    SerializerFunctionWrapHandler,
    Tag,
    field_validator,
    model_serializer,
    model_validator,
)

from domain.clawbacks import ClawbackConfig
from domain.deals import DealCommissionConfig
from domain.draws import DrawConfig
from domain.errors import DomainError
from domain.inputs import Id, Text, bounded
from domain.money import (
    Num,
    RoundingMode,
    calc_context,
    check_rounding_mode,
    exact,
    fmt_money,
    fmt_num,
    fmt_plain,
    fmt_plain_pair,
    minor_unit,
    proration_days,
)
from domain.planyear import PlanYearConfig
from domain.scorecard import check_unique, check_weights_sum, interpolate
from domain.text import tr
from domain.tiers import MAX_RATE, MAX_REVENUE, CommissionTier, check_tiers
from domain.trusted import trusted as _trusted

#: ``draw`` tops earnings up to a guarantee, ``draw_recovery`` (negative) takes an earlier recoverable top-up back;
#: both count towards the draw, as bonus and commission adjustments count towards theirs (issue 13).
LineType = Literal["bonus", "commission", "adjustment", "draw", "draw_recovery"]
BaseLineType = Literal["bonus", "commission", "draw"]

# ---- bounds ----
# Every amount the formulas can produce must fit payout_line.amount, Numeric(20,4): below 10^16. The largest
# bonus is target × company factor × rating multiplier × measure factor (the measure factor is a weighted mean
# of capped curve values, so at most the largest curve value or cap) × proration (at most 1); the largest
# commission is revenue × the highest rate. largest_payout() multiplies the maxima out; a test holds it below
# AMOUNT_LIMIT, and a property test computes such plans' lines.
AMOUNT_LIMIT = Decimal(10) ** 16
#: A target bonus above a trillion units of any currency is a typo; below one unit it is one too (0 means none).
MAX_TARGET = Decimal(10) ** 12
MIN_TARGET = Decimal(1)
#: A company factor is a multiple of target, usually 0..2; 0 switches the bonus off, below 1 % is a typo.
MAX_COMPANY_FACTOR = Decimal(5)
MIN_COMPANY_FACTOR = Decimal("0.01")
#: Rating multipliers, like the company factor, scale the target (usually 0..2).
MAX_MULTIPLIER = Decimal(5)
#: A curve's payout factor, a measure cap or the plan cap: a multiple of target (usually at most 3).
MAX_PAYOUT_FACTOR = Decimal(10)
#: Attainments are KPI actuals too (ratios: 1.0 = 100 %).
MAX_ATTAINMENT = Decimal(10) ** 14

Target = Annotated[Num, bounded(0, MAX_TARGET, tr("a target bonus in units of money; 0 means none"),
                                zero_or_at_least=MIN_TARGET)]
Factor = Annotated[Num, bounded(0, MAX_PAYOUT_FACTOR, tr("a multiple of target"), places=6)]
Multiplier = Annotated[Num, bounded(0, MAX_MULTIPLIER, tr("it multiplies the target"), places=4)]
Attainment = Annotated[Num, bounded(-MAX_ATTAINMENT, MAX_ATTAINMENT, tr("attainments are KPI actuals, stored as "
                                    "Numeric(20,6)"), places=6)]
Weight = Annotated[Num, bounded(0, 100, tr("a weight is a percent"))]


def largest_payout() -> Decimal:
    """The largest amount any plan within these bounds can compute for one line (bonus or commission)."""
    bonus = MAX_TARGET * MAX_COMPANY_FACTOR * MAX_MULTIPLIER * MAX_PAYOUT_FACTOR
    return max(bonus, MAX_REVENUE * MAX_RATE)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TargetIncentive(_Frozen):
    """Target bonus per grade, with per-employee overrides (employee wins)."""

    by_grade: dict[Annotated[Text, Field(min_length=1, max_length=64)], Target] = Field(default_factory=dict)
    by_employee: dict[Id, Target] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _non_negative(self) -> TargetIncentive:
        for name, mapping in (("by_grade", self.by_grade), ("by_employee", self.by_employee)):
            for key, value in mapping.items():
                if value < 0:
                    raise DomainError(tr("target %(value)s must not be negative", value=fmt_num(value)), f"{name}.{key}")
        return self

    def is_empty(self) -> bool:
        return not self.by_grade and not self.by_employee


class PayoutCurve(_Frozen):
    """0 at or below threshold, linear 0→1 up to target, 1→payout_at_max up to maximum, flat above."""

    threshold: Attainment
    target: Attainment
    maximum: Attainment
    payout_at_max: Factor

    @model_validator(mode="after")
    def _ordered(self) -> PayoutCurve:
        if not self.threshold < self.target:
            raise DomainError(
                tr("threshold %(threshold)s must be below target %(target)s",
                   threshold=fmt_num(self.threshold), target=fmt_num(self.target)), "threshold"
            )
        if not self.target < self.maximum:
            raise DomainError(tr("target %(target)s must be below maximum %(maximum)s",
                                 target=fmt_num(self.target), maximum=fmt_num(self.maximum)), "maximum")
        return self

    def points(self) -> tuple[tuple[Decimal, Decimal], ...]:
        return (
            (self.threshold, Decimal(0)),
            (self.target, Decimal(1)),
            (self.maximum, self.payout_at_max),
        )


class PiecewisePayoutCurve(_Frozen):
    """The general form: payout factor by attainment, linear between points, flat outside."""

    points: tuple[tuple[Attainment, Factor], ...] = Field(min_length=2, max_length=50)  # more is not a curve HR reads

    @model_validator(mode="after")
    def _ordered(self) -> PiecewisePayoutCurve:
        for i, (x, y) in enumerate(self.points):
            if y < 0:
                raise DomainError(tr("payout factor %(y)s must not be negative", y=fmt_num(y)), f"points.{i}")
            if i and x <= self.points[i - 1][0]:
                raise DomainError(
                    tr("x values must be strictly increasing: point %(i)s x=%(x)s is not above point %(i2)s x=%(previous)s",
                       i=i, x=fmt_num(x), i2=i - 1, previous=fmt_num(self.points[i - 1][0])),
                    f"points.{i}",
                )
        return self


def _curve_kind(value: Any) -> str:
    if isinstance(value, dict):
        return "points" if "points" in value else "thresholds"
    return "points" if isinstance(value, PiecewisePayoutCurve) else "thresholds"


Curve = Annotated[
    Annotated[PayoutCurve, Tag("thresholds")] | Annotated[PiecewisePayoutCurve, Tag("points")],
    Discriminator(_curve_kind),
]


@functools.lru_cache(maxsize=256)  # a plan's curves are frozen; described once, not once per employee
def describe_curve(curve: PayoutCurve | PiecewisePayoutCurve) -> str:
    """``curve (0.8→0, 1→1, 1.5→2)``: the points as they appear in explanations."""
    return "curve (" + ", ".join(f"{fmt_num(x)}→{fmt_num(y)}" for x, y in _curve_points(curve)) + ")"


def _curve_points(curve: PayoutCurve | PiecewisePayoutCurve) -> tuple[tuple[Decimal, Decimal], ...]:
    return curve.points() if isinstance(curve, PayoutCurve) else curve.points


def payout_curve_explained(curve: PayoutCurve | PiecewisePayoutCurve, x: Decimal) -> tuple[Decimal, str]:
    """(payout factor, which segment of the curve was used)."""
    return interpolate(_curve_points(curve), x)


def payout_curve(curve: PayoutCurve | PiecewisePayoutCurve, x: Decimal) -> Decimal:
    """Payout factor for an attainment: 0 at or below threshold, 1 at target, payout_at_max at and above maximum."""
    return payout_curve_explained(curve, x)[0]


class Measure(_Frozen):
    """One bonus measure: weight (percent), payout curve on attainment, optional cap on its factor."""

    id: Id
    weight: Weight
    curve: Curve
    cap: Factor | None = None


class Gate(_Frozen):
    """Below this weighted attainment the whole bonus is 0."""

    min_weighted_attainment: Attainment


class BonusConfig(_Frozen):
    """Multi-measure bonus: target × Σ w_j·f_j(attainment_j), optional caps and gate."""

    measures: tuple[Measure, ...] = Field(min_length=1, max_length=50)  # one per KPI, with room to spare
    gate: Gate | None = None
    cap: Factor | None = Field(default=None, description="plan cap, as a multiple of target")

    @model_validator(mode="after")
    def _weights(self) -> BonusConfig:
        check_unique((m.id for m in self.measures), "measures")
        check_weights_sum((m.weight for m in self.measures), "measures")
        return self


class CommissionConfig(_Frozen):
    """Commission on revenue; the plan must declare the mode and who owns a boundary value."""

    measure: Literal["revenue"] = "revenue"
    mode: Literal["retroactive", "marginal"]
    boundary: Literal["upper", "lower"]
    tiers: tuple[CommissionTier, ...] = Field(min_length=1, max_length=50)  # more is not a table HR reads

    @model_validator(mode="after")
    def _ordered(self) -> CommissionConfig:
        check_tiers(self.tiers)
        return self


#: The plan's blocks added for sales compensation (issue 13), left out of its dump while unset.
SALES_FIELDS = ("deal_commission", "plan_year", "draw", "clawback")


class IncentivePlan(_Frozen):
    """A versioned incentive plan; rounding mode is declared, not assumed."""

    id: Id
    # payout_line.plan_version is a PostgreSQL integer; a million versions of one plan is already absurd.
    version: Annotated[int, bounded(1, 1_000_000, tr("a plan's version number"))] = Field(strict=True)
    rounding: RoundingMode
    target_incentive: TargetIncentive = TargetIncentive()
    company_factor: Annotated[Num, bounded(0, MAX_COMPANY_FACTOR, tr("a multiple of target, usually 0..2; 0 switches "
                                           "the bonus off"), places=4, zero_or_at_least=MIN_COMPANY_FACTOR)] = Decimal(1)
    bonus: BonusConfig | None = None
    # Keys stay lax: the frozen configuration comes back from JSON, whose keys are strings.
    rating_multipliers: dict[Annotated[int, bounded(0, 100, tr("a rating level"))], Multiplier] = Field(default_factory=dict)
    commission: CommissionConfig | None = None
    # Sales compensation (issue 13), all optional so that every existing plan stays valid: commission deal by deal,
    # an annual basis paid per period with YTD true-up, a draw per person and period, clawbacks of paid deals.
    deal_commission: DealCommissionConfig | None = None
    plan_year: PlanYearConfig | None = None
    draw: DrawConfig | None = None
    clawback: ClawbackConfig | None = None

    @model_serializer(mode="wrap")
    def _omit_unset_sales(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """Leave the sales blocks out while they are unset, so a plan frozen before them dumps (and digests,
        services.cycles.config_digest) exactly as it did."""
        data = handler(self)
        for key in SALES_FIELDS:
            if data.get(key, 0) is None:
                del data[key]
        return data

    @model_validator(mode="after")
    def _consistent(self) -> IncentivePlan:
        for level, value in self.rating_multipliers.items():
            if value < 0:
                raise DomainError(tr("multiplier %(value)s must not be negative",
                                     value=fmt_num(value)), f"rating_multipliers.{level}")
        if self.target_incentive.is_empty() and self.commission is None and self.deal_commission is None:
            raise DomainError(tr("the plan pays nothing: no target incentive and no commission"), "target_incentive")
        if self.plan_year is not None and self.target_incentive.is_empty():
            raise DomainError(tr("plan_year pays a share of the annual target each period, but there is no target "
                                 "incentive: give the annual targets in target_incentive"), "plan_year")
        if self.clawback is not None and self.deal_commission is None:
            raise DomainError(tr("clawbacks take back deal commission, but the plan has no deal_commission"),
                              "clawback")
        if self.target_incentive.is_empty() and self.bonus is not None:
            raise DomainError(tr("bonus measures are configured but no target incentive to apply them to"),
                              "target_incentive")
        return self


def _tier_index(tiers: Sequence[CommissionTier], boundary: str, amount: Decimal) -> int | None:
    """Index of the tier an amount reaches, honouring who owns an exact edge; None below the first tier."""
    found: int | None = None
    for i, tier in enumerate(tiers):
        if tier.from_ < amount or (boundary == "upper" and tier.from_ == amount):
            found = i
    return found


@exact
def commission_breakdown(
    tiers: Sequence[CommissionTier], mode: str, boundary: str, amount: Decimal
) -> tuple[Decimal, list[str]]:
    """(unrounded commission, the steps that produced it) for either mode."""
    check_tiers(tiers)
    if mode not in ("retroactive", "marginal"):
        raise DomainError(tr("%(mode)s is not a commission mode; use retroactive or marginal", mode=repr(mode)), "mode")
    if boundary not in ("upper", "lower"):
        raise DomainError(tr("%(boundary)s is not a boundary owner; use upper or lower", boundary=repr(boundary)), "boundary")
    if amount < 0:
        raise DomainError(tr("amount %(amount)s is negative", amount=fmt_num(amount)), "amount")
    steps: list[str] = []
    with localcontext(calc_context()):
        if mode == "retroactive":
            idx = _tier_index(tiers, boundary, amount)
            if idx is None:
                return Decimal(0), [f"{fmt_num(amount)} is below the first tier (from {fmt_num(tiers[0].from_)}) → 0"]
            rate = tiers[idx].rate
            value = amount * rate
            edge = " (on the edge; the upper tier owns it)" if tiers[idx].from_ == amount else ""
            if idx + 1 < len(tiers) and tiers[idx + 1].from_ == amount:
                edge = " (on the edge; the lower tier owns it)"
            steps.append(f"tier reached: from {fmt_num(tiers[idx].from_)} at {fmt_num(rate * 100)} %{edge}; "
                         f"whole amount {fmt_num(amount)} × {fmt_num(rate * 100)} % = {fmt_num(value)}")
            return value, steps
        total = Decimal(0)
        for i, tier in enumerate(tiers):
            upper = tiers[i + 1].from_ if i + 1 < len(tiers) else None
            top = amount if upper is None else min(amount, upper)
            width = top - tier.from_
            if width <= 0:
                break
            part = width * tier.rate
            total += part
            span = f"{fmt_num(tier.from_)}–{fmt_num(top)}"
            steps.append(f"{span}: {fmt_num(width)} × {fmt_num(tier.rate * 100)} % = {fmt_num(part)}")
        if not steps:
            steps.append(f"{fmt_num(amount)} is below the first tier (from {fmt_num(tiers[0].from_)}) → 0")
        return total, steps


def commission(tiers: Sequence[CommissionTier], mode: str, boundary: str, amount: Decimal) -> Decimal:
    """Unrounded commission: retroactive = whole amount at the reached tier's rate; marginal = each slice at its rate.

    Tiers 0/10k/50k/100k at 1/2/3/4 %, amount 60,000: retroactive 1,800, marginal 1,200.
    """
    return commission_breakdown(tiers, mode, boundary, amount)[0]


class IncentiveInput(_Frozen):
    """What the incentive calculation needs about one employee for one period."""

    employee_id: str = Field(min_length=1)
    grade: str | None = None
    currency: str
    rating_level: int | None = None
    # Not bounded here: attainments and revenue are KPI actuals, which their column (Numeric(20,6)) keeps below
    # MAX_ATTAINMENT and MAX_REVENUE, and a what-if preview may explore beyond them without writing anything.
    attainment: dict[str, Num] = Field(default_factory=dict)
    revenue: Num | None = None
    employment_start: date | None = None
    employment_end: date | None = None

    @field_validator("currency")
    @classmethod
    def _iso(cls, value: str) -> str:
        minor_unit(value)
        return value

    @model_validator(mode="after")
    def _dates(self) -> IncentiveInput:
        if self.employment_start and self.employment_end and self.employment_end < self.employment_start:
            raise DomainError(
                tr("%(employment_end)s is before employment_start %(employment_start)s",
                   employment_end=self.employment_end, employment_start=self.employment_start),
                "employment_end",
            )
        return self


class PayoutLine(_Frozen):
    """One line payroll reads; ``explanation`` is the readable sentence, ``inputs`` the same as data."""

    employee_id: str
    line_type: LineType
    amount: Decimal
    currency: str
    plan_id: str
    plan_version: int
    idempotency_key: str
    explanation: str
    inputs: dict[str, Any] = Field(default_factory=dict)
    cycle_id: str
    revision: int = 0
    adjusts: BaseLineType | None = Field(default=None, description="for adjustment lines: the line type corrected")

    def base_type(self) -> BaseLineType:
        """The line type this line counts towards (an adjustment counts towards what it adjusts)."""
        if self.line_type == "bonus" or self.line_type == "commission" or self.line_type == "draw":
            return self.line_type
        if self.line_type == "draw_recovery":
            return "draw"
        base = self.adjusts or self.inputs.get("adjusts")
        if base not in ("bonus", "commission", "draw"):
            raise DomainError(tr("adjustment line %(idempotency_key)s does not say what it adjusts",
                                 idempotency_key=self.idempotency_key), "adjusts")
        return base


def idempotency_key(cycle_id: str, employee_id: str, line_type: str, plan_version: int, revision: int) -> str:
    """Deterministic key: a retried calculation writes the same line, never a second one."""
    return f"{cycle_id}:{employee_id}:{line_type}:{plan_version}:{revision}"


def _s(value: Decimal) -> str:
    return fmt_num(value, 10)


#: Fields a computed line sets explicitly; the rest (revision, adjusts) keep their defaults, as when validated.
_LINE_FIELDS_SET = frozenset(("employee_id", "line_type", "amount", "currency", "plan_id", "plan_version",
                              "idempotency_key", "explanation", "inputs", "cycle_id"))


def _computed_line(employee_id: str, line_type: BaseLineType, amount: Decimal, currency: str, plan_id: str,
                   plan_version: int, key: str, explanation: str, inputs: dict[str, Any], cycle_id: str) -> PayoutLine:
    """A PayoutLine from values compute_payouts built itself: validating would only copy them.

    Equal to the validated model: the same ``__dict__`` (field order included) and the same fields set.
    """
    return _trusted(PayoutLine, {
        "employee_id": employee_id, "line_type": line_type, "amount": amount, "currency": currency,
        "plan_id": plan_id, "plan_version": plan_version, "idempotency_key": key, "explanation": explanation,
        "inputs": inputs, "cycle_id": cycle_id, "revision": 0, "adjusts": None,
    }, set(_LINE_FIELDS_SET))


_INPUT_FIELDS_SET = frozenset(("employee_id", "grade", "currency", "rating_level", "attainment", "revenue",
                               "employment_start", "employment_end"))


def pack_inputs(inputs: Sequence[IncentiveInput]) -> list[Any]:
    """Validated inputs as one flat list of strings, ints, dates and None, to send to another process.

    Pickling the models costs a dict per model, pickling plain tuples a tuple and a dict per input: a
    process holding a large heap then pays for garbage collections. A flat list of atoms is one object;
    Decimals travel as their exact text. Per input: employee_id, grade, currency, rating_level, revenue,
    employment_start, employment_end, the number of attainments, then each measure id and attainment.
    """
    flat: list[Any] = []
    add = flat.extend
    for inp in inputs:
        d = inp.__dict__
        revenue, attainment = d["revenue"], d["attainment"]
        add((d["employee_id"], d["grade"], d["currency"], d["rating_level"], None if revenue is None else str(revenue),
             d["employment_start"], d["employment_end"], len(attainment)))
        for measure, value in attainment.items():
            add((measure, str(value)))
    return flat


def unpack_inputs(flat: Sequence[Any]) -> list[IncentiveInput]:
    """The inputs ``pack_inputs`` packed, without validating them a second time (they were validated when
    first built); every field counts as set."""
    out: list[IncentiveInput] = []
    i, n = 0, len(flat)
    while i < n:
        employee_id, grade, currency, rating_level, revenue, start, end, count = flat[i:i + 8]
        i += 8
        attainment = {flat[j]: Decimal(flat[j + 1]) for j in range(i, i + 2 * count, 2)}
        i += 2 * count
        out.append(_trusted(IncentiveInput, {
            "employee_id": employee_id, "grade": grade, "currency": currency, "rating_level": rating_level,
            "attainment": attainment, "revenue": None if revenue is None else Decimal(revenue),
            "employment_start": start, "employment_end": end,
        }, set(_INPUT_FIELDS_SET)))
    return out


class _CompiledCurve:
    """``interpolate`` over a frozen curve, with the differences and segment texts worked out once.

    ``y0 + dy * (x - x0) / dx`` with ``dy``/``dx`` computed in the same exact context is the very
    same Decimal as ``interpolate``'s ``y0 + (y1 - y0) * (x - x0) / (x1 - x0)``; on the flat parts
    the factor, and so its texts, are plan constants.
    """

    __slots__ = ("first_x", "last_x", "first", "last", "segments")

    def __init__(self, points: tuple[tuple[Decimal, Decimal], ...]) -> None:
        (first_x, first_y), (last_x, last_y) = points[0], points[-1]
        self.first_x, self.last_x = first_x, last_x
        self.first = (first_y, f"at or below the first point {fmt_num(first_x)}→{fmt_num(first_y)}", _s(first_y),
                      fmt_num(first_y))
        self.last = (last_y, f"at or above the last point {fmt_num(last_x)}→{fmt_num(last_y)}", _s(last_y),
                     fmt_num(last_y))
        self.segments = tuple(
            (x0, x1, y0, y1 - y0, x1 - x0,
             f"between {fmt_num(x0)}→{fmt_num(y0)} and {fmt_num(x1)}→{fmt_num(y1)}")
            for (x0, y0), (x1, y1) in zip(points, points[1:], strict=False)
        )

    def at(self, x: Decimal) -> tuple[Decimal, str, str, str]:
        """(factor, which part of the curve was used, the factor's 10- and 4-place texts)."""
        if x <= self.first_x:
            return self.first
        if x >= self.last_x:
            return self.last
        for x0, x1, y0, dy, dx, how in self.segments:
            if x0 <= x <= x1:
                y = y0 + dy * (x - x0) / dx  # in the @exact context
                wide, narrow = fmt_plain_pair(y, 10, 4)
                return y, how, wide, narrow
        raise AssertionError("unreachable: points are strictly increasing")  # pragma: no cover


class _CompiledMeasure:
    """A bonus measure's constant parts: its curve and every text that does not depend on the employee."""

    __slots__ = ("id", "weight", "cap", "curve", "head", "on_curve", "weight_wide", "cap_wide", "cap_narrow",
                 "cap_text")

    def __init__(self, m: Measure) -> None:
        self.id, self.weight, self.cap = m.id, m.weight, m.cap
        self.curve = _CompiledCurve(_curve_points(m.curve))
        self.head = f"{m.id} {fmt_num(m.weight)} % × "
        self.on_curve = f" on {describe_curve(m.curve)}: "
        self.weight_wide = _s(m.weight)
        if m.cap is not None:
            self.cap_wide, self.cap_narrow = _s(m.cap), fmt_num(m.cap)
            self.cap_text = f", capped at {fmt_num(m.cap)}"


class _CompiledMarginal:
    """Marginal commission on frozen tiers: the steps of the tiers an amount passes whole are constants."""

    __slots__ = ("tiers", "full_steps", "totals", "below")

    def __init__(self, tiers: Sequence[CommissionTier]) -> None:
        self.tiers = tuple((t.from_, tiers[i + 1].from_ if i + 1 < len(tiers) else None, t.rate,
                            f"{fmt_num(t.from_)}–", f" × {fmt_num(t.rate * 100)} % = ")
                           for i, t in enumerate(tiers))
        steps: list[str] = []
        totals = [Decimal(0)]  # the running total after 0, 1, 2, ... whole tiers, added in the same order
        for from_, upper, rate, span, times in self.tiers[:-1]:
            width = upper - from_  # a whole tier: top = upper
            part = width * rate
            totals.append(totals[-1] + part)
            steps.append(f"{span}{fmt_num(upper)}: {fmt_num(width)}{times}{fmt_num(part)}")
        self.full_steps, self.totals = tuple(steps), tuple(totals)
        self.below = f" is below the first tier (from {fmt_num(tiers[0].from_)}) → 0"

    def breakdown(self, amount: Decimal, amount_text: str) -> tuple[Decimal, list[str]]:
        """``commission_breakdown(..., "marginal", ...)`` for a non-negative amount (its text given)."""
        tiers = self.tiers
        k = 0
        last = len(tiers) - 1
        while k < last and tiers[k][1] < amount:  # tier k is passed whole: min(amount, upper) is upper
            k += 1
        from_, _upper, rate, span, times = tiers[k]
        width = amount - from_  # top = amount
        if width <= 0:
            if k == 0:
                return self.totals[0], [f"{amount_text}{self.below}"]
            return self.totals[k], list(self.full_steps[:k])
        part = width * rate
        steps = list(self.full_steps[:k])
        steps.append(f"{span}{amount_text}: {fmt_plain(width)}{times}{fmt_plain(part)}")
        return self.totals[k] + part, steps


class _CompiledRetroactive:
    """Retroactive commission on frozen tiers: each tier's texts are constants."""

    __slots__ = ("tiers", "boundary", "below")

    def __init__(self, tiers: Sequence[CommissionTier], boundary: str) -> None:
        self.tiers = tuple((t.from_, t.rate, f"tier reached: from {fmt_num(t.from_)} at {fmt_num(t.rate * 100)} %",
                            f" × {fmt_num(t.rate * 100)} % = ") for t in tiers)
        self.boundary = boundary
        self.below = f" is below the first tier (from {fmt_num(tiers[0].from_)}) → 0"

    def breakdown(self, amount: Decimal, amount_text: str) -> tuple[Decimal, list[str]]:
        """``commission_breakdown(..., "retroactive", ...)`` for a non-negative amount (its text given)."""
        tiers = self.tiers
        upper_owns = self.boundary == "upper"
        idx: int | None = None
        for i, tier in enumerate(tiers):
            if tier[0] < amount or (upper_owns and tier[0] == amount):
                idx = i
        if idx is None:
            return Decimal(0), [f"{amount_text}{self.below}"]
        from_, rate, reached, times = tiers[idx]
        value = amount * rate
        edge = " (on the edge; the upper tier owns it)" if from_ == amount else ""
        if idx + 1 < len(tiers) and tiers[idx + 1][0] == amount:
            edge = " (on the edge; the lower tier owns it)"
        return value, [f"{reached}{edge}; whole amount {amount_text}{times}{fmt_plain(value)}"]


class _PayoutRun:
    """One compute_payouts call: the plan's constant texts and numbers, built once instead of per employee.

    Runs inside compute_payouts' exact context (so every precomputed Decimal is what the per-line
    arithmetic would have produced). Checks raise the same errors, in the same order, as computing
    each line from scratch: nothing that can fail is cached.
    """

    def __init__(self, plan: IncentivePlan, period_start: date, period_end: date, cycle_id: str) -> None:
        self.plan, self.cycle_id = plan, cycle_id
        self.period_start, self.period_end = period_start, period_end
        self.period_text = f"; period {period_start.isoformat()} to {period_end.isoformat()}) = "
        self.has_bonus = not plan.target_incentive.is_empty()
        self.key_prefix = f"{cycle_id}:"
        self.bonus_key_suffix = f":bonus:{plan.version}:0"
        self.commission_key_suffix = f":commission:{plan.version}:0"
        self.measures: tuple[_CompiledMeasure, ...] | None = None  # compiled at the first bonus line
        self.heads: dict[tuple[str, int | None, str], tuple[Decimal, str, str, str, str]] = {}
        self.prorations: dict[tuple[date | None, date | None], tuple[int, int, str, str]] = {}
        self.money: dict[str, tuple[Decimal, Context, str, str]] = {}
        self.commission: _CompiledMarginal | _CompiledRetroactive | None = None  # compiled at the first revenue
        self.tier_texts: tuple[tuple[str, str], ...] = ()
        cfg = plan.commission
        if cfg is not None:
            self.commission_mid = (f", {cfg.mode} mode, boundary values owned by the {cfg.boundary} tier; ")

    # ---- constants looked up per employee, computed on first use (a failing check is never cached) ----

    def _head(self, inp: IncentiveInput, path: str) -> tuple[Decimal, str, str, str, str]:
        """(target × company factor × multiplier, the explanation after "Bonus for <id>" up to the measure factor,
        the target's source, and the target's and multiplier's data texts) for the employee's grade or override."""
        ti = self.plan.target_incentive
        if inp.employee_id in ti.by_employee:
            return self._new_head(ti.by_employee[inp.employee_id], f"override for {inp.employee_id}", inp, path)
        if inp.grade is not None and inp.grade in ti.by_grade:
            key = (inp.grade, inp.rating_level, inp.currency)
            cached = self.heads.get(key)
            if cached is None:
                cached = self.heads[key] = self._new_head(ti.by_grade[inp.grade], f"grade {inp.grade}", inp, path)
            return cached
        raise DomainError(
            tr("no target incentive for employee %(employee_id)s (grade %(grade)s): add it to target_incentive.by_grade or by_employee",
               employee_id=repr(inp.employee_id), grade=repr(inp.grade)),
            f"{path}.grade",
        )

    def _new_head(self, target: Decimal, source: str, inp: IncentiveInput, path: str) -> tuple[Decimal, str, str, str, str]:
        plan = self.plan
        if plan.rating_multipliers:
            if inp.rating_level is None:
                raise DomainError(tr("employee %(employee_id)s has no final rating; the bonus needs one",
                                     employee_id=repr(inp.employee_id)),
                                  f"{path}.rating_level")
            if inp.rating_level not in plan.rating_multipliers:
                raise DomainError(tr("no multiplier for rating %(rating_level)s (employee %(employee_id)s)",
                                     rating_level=inp.rating_level, employee_id=repr(inp.employee_id)),
                                  "rating_multipliers")
            multiplier = plan.rating_multipliers[inp.rating_level]
            mult_text = f"rating multiplier {fmt_num(multiplier)} (rating {inp.rating_level})"
        else:
            multiplier, mult_text = Decimal(1), "rating multiplier 1 (the plan has no rating multipliers)"
        head = (f": target {fmt_money(target, inp.currency)} ({source}) × company factor {fmt_num(plan.company_factor)} × "
                f"{mult_text} × measure factor ")
        return target * plan.company_factor * multiplier, head, source, _s(target), _s(multiplier)

    def _proration(self, start: date | None, end: date | None) -> tuple[int, int, str, str]:
        """(days, period days, "days/period days", the explanation's proration text) for employment dates."""
        cached = self.prorations.get((start, end))
        if cached is not None:
            return cached
        days, total_days = proration_days(self.period_start, self.period_end, start, end)
        if start is None and end is None:
            employed = "employed throughout"
        else:
            employed = "employed " + " ".join(
                part for part in (
                    f"from {start.isoformat()}" if start else "",
                    f"until {end.isoformat()}" if end else "",
                ) if part
            )
        entry = (days, total_days, f"{days}/{total_days}",
                 f") × proration {days}/{total_days} days ({employed}{self.period_text}")
        self.prorations[(start, end)] = entry
        return entry

    def _money(self, currency: str) -> tuple[Decimal, Context, str, str]:
        """(quantum, rounding context, bonus explanation tail, commission explanation tail) for a currency;
        the same checks, in the same order, as round_money."""
        cached = self.money.get(currency)
        if cached is not None:
            return cached
        rounding = self.plan.rounding
        mode = check_rounding_mode(rounding)
        places = minor_unit(currency)
        ctx = calc_context()
        ctx.rounding = mode
        entry = (Decimal(1).scaleb(-places), ctx, f" {currency} (rounded once, {rounding}, {places} decimals).",
                 f" {currency} (rounded once, {rounding}).")
        self.money[currency] = entry
        return entry

    # ---- the lines ----

    def bonus_line(self, i: int, inp: IncentiveInput) -> PayoutLine:
        """What the bonus formula gives for one employee (see compute_payouts)."""
        plan = self.plan
        path = f"inputs.{i}"
        base, head, source, target_wide, mult_wide = self._head(inp, path)
        per_measure: dict[str, Any] = {}
        data: dict[str, Any] = {"target": target_wide, "target_source": source, "company_factor": _s(plan.company_factor),
                                "rating_level": inp.rating_level, "multiplier": mult_wide, "measures": per_measure}
        bonus = plan.bonus
        if bonus is None:
            factor, factor_text, factor_wide, factor_narrow = Decimal(1), "no bonus measures", "1", "1"
        else:
            factor, factor_text, factor_wide, factor_narrow = self._measure_factor(bonus, inp, path, data, per_measure)
        data["measure_factor"] = factor_wide
        days, total_days, proration, proration_text = self._proration(inp.employment_start, inp.employment_end)
        data["days"], data["period_days"], data["proration"] = days, total_days, proration
        raw = base * factor * days / total_days  # compute_payouts' context; the same order as target × cf × m × f × d / D
        quantum, ctx, tail, _ = self._money(inp.currency)
        amount = raw.quantize(quantum, context=ctx)
        raw_wide, raw_narrow = fmt_plain_pair(raw, 10, 4)
        data["unrounded"], data["rounding"], data["currency"] = raw_wide, plan.rounding, inp.currency
        explanation = (f"Bonus for {inp.employee_id}{head}{factor_narrow} ({factor_text}{proration_text}{raw_narrow} → "
                       f"{amount:,}{tail}")
        return _computed_line(inp.employee_id, "bonus", amount, inp.currency, plan.id, plan.version,
                              f"{self.key_prefix}{inp.employee_id}{self.bonus_key_suffix}", explanation, data,
                              self.cycle_id)

    def _measure_factor(self, bonus: BonusConfig, inp: IncentiveInput, path: str, data: dict[str, Any],
                        per_measure: dict[str, Any]) -> tuple[Decimal, str, str, str]:
        """(Σ w_j·f_j with caps and gate applied, its explanation, its two texts); fills the measures' data."""
        measures = self.measures
        if measures is None:
            measures = self.measures = tuple(_CompiledMeasure(m) for m in bonus.measures)
        parts: list[str] = []
        weighted = Decimal(0)
        weighted_attainment = Decimal(0)
        attainment = inp.attainment
        for m in measures:
            att = attainment.get(m.id)
            if att is None:
                raise DomainError(tr("employee %(employee_id)s has no attainment for measure %(id)s",
                                     employee_id=repr(inp.employee_id), id=repr(m.id)),
                                  f"{path}.attainment.{m.id}")
            f, how, f_wide, f_narrow = m.curve.at(att)
            cap = m.cap
            if cap is not None and cap < f:  # min(f, cap): f unless the cap is strictly below it
                capped, capped_wide, capped_narrow, cap_text = cap, m.cap_wide, m.cap_narrow, m.cap_text
            else:
                capped, capped_wide, capped_narrow, cap_text = f, f_wide, f_narrow, ""
            weighted += m.weight * capped / 100
            weighted_attainment += m.weight * att / 100
            att_wide, att_narrow = fmt_plain_pair(att, 10, 4)
            parts.append(f"{m.head}{capped_narrow} (attainment {att_narrow}{m.on_curve}{how}{cap_text})")
            per_measure[m.id] = {"attainment": att_wide, "weight": m.weight_wide, "factor": f_wide,
                                 "capped": capped_wide}
        text = " + ".join(parts)
        wa_wide, wa_narrow = fmt_plain_pair(weighted_attainment, 10, 4)
        data["weighted_attainment"] = wa_wide
        gate = bonus.gate
        if gate is not None and weighted_attainment < gate.min_weighted_attainment:
            data["gate"] = "closed"
            return (Decimal(0), f"{text}; gate closed: weighted attainment {wa_narrow} is below "
                    f"{fmt_num(gate.min_weighted_attainment)}, so 0", "0", "0")
        if gate is not None:
            data["gate"] = "open"
            text += f"; gate open: weighted attainment {wa_narrow} ≥ {fmt_num(gate.min_weighted_attainment)}"
        if bonus.cap is not None and weighted > bonus.cap:
            text += f"; {fmt_plain(weighted)} capped at the plan cap {fmt_num(bonus.cap)}"
            return bonus.cap, text, _s(bonus.cap), fmt_num(bonus.cap)
        weighted_wide, weighted_narrow = fmt_plain_pair(weighted, 10, 4)
        return weighted, text, weighted_wide, weighted_narrow

    def commission_line(self, inp: IncentiveInput) -> PayoutLine | None:
        """The commission on the employee's revenue, or None without a commission plan or revenue."""
        plan = self.plan
        cfg = plan.commission
        revenue = inp.revenue
        if cfg is None or revenue is None:
            return None
        table = self.commission
        if table is None:  # commission_breakdown's checks of the plan, at the same point (first revenue)
            check_tiers(cfg.tiers)
            if cfg.mode not in ("retroactive", "marginal"):
                raise DomainError(tr("%(mode)s is not a commission mode; use retroactive or marginal", mode=repr(cfg.mode)), "mode")
            if cfg.boundary not in ("upper", "lower"):
                raise DomainError(tr("%(boundary)s is not a boundary owner; use upper or lower", boundary=repr(cfg.boundary)), "boundary")
            table = self.commission = (_CompiledMarginal(cfg.tiers) if cfg.mode == "marginal"
                                       else _CompiledRetroactive(cfg.tiers, cfg.boundary))
            self.tier_texts = tuple((_s(t.from_), _s(t.rate)) for t in cfg.tiers)
        if revenue < 0:
            raise DomainError(tr("amount %(revenue)s is negative", revenue=fmt_num(revenue)), "amount")
        revenue_wide, revenue_narrow = fmt_plain_pair(revenue, 10, 4)
        raw, steps = table.breakdown(revenue, revenue_narrow)
        quantum, ctx, _, tail = self._money(inp.currency)
        amount = raw.quantize(quantum, context=ctx)
        raw_wide, raw_narrow = fmt_plain_pair(raw, 10, 4)
        explanation = (f"Commission for {inp.employee_id}: revenue {revenue:,} {inp.currency}{self.commission_mid}"
                       f"{'; '.join(steps)}; total {raw_narrow} → {amount:,}{tail}")
        data = {"revenue": revenue_wide, "mode": cfg.mode, "boundary": cfg.boundary, "steps": steps,
                "unrounded": raw_wide, "rounding": plan.rounding, "currency": inp.currency,
                "tiers": [{"from": from_, "rate": rate} for from_, rate in self.tier_texts]}
        return _computed_line(inp.employee_id, "commission", amount, inp.currency, plan.id, plan.version,
                              f"{self.key_prefix}{inp.employee_id}{self.commission_key_suffix}", explanation, data,
                              self.cycle_id)


@exact
def compute_payouts(
    plan: IncentivePlan, period_start: date, period_end: date, cycle_id: str, inputs: Sequence[IncentiveInput]
) -> list[PayoutLine]:
    """Bonus and commission lines (revision 0), in input order, bonus before commission.

    bonus = round(target × company_factor × multiplier(rating) × min(cap, Σ w_j f_j(att_j)) × days/period_days);
    no bonus lines when the plan has no target incentive; no commission line without revenue.
    """
    if period_end < period_start:
        raise DomainError(tr("%(period_end)s is before period_start %(period_start)s", period_end=period_end, period_start=period_start),
                          "period_end")
    if not cycle_id:
        raise DomainError(tr("must not be empty"), "cycle_id")
    run = _PayoutRun(plan, period_start, period_end, cycle_id)
    seen: set[str] = set()
    lines: list[PayoutLine] = []
    for i, inp in enumerate(inputs):
        if inp.employee_id in seen:
            raise DomainError(tr("employee %(employee_id)s appears twice", employee_id=repr(inp.employee_id)), f"inputs.{i}.employee_id")
        seen.add(inp.employee_id)
        if run.has_bonus:
            lines.append(run.bonus_line(i, inp))
        line = run.commission_line(inp)
        if line is not None:
            lines.append(line)
    return lines


@exact
def delta_lines(computed: list[PayoutLine], locked: list[PayoutLine], revision: int) -> list[PayoutLine]:
    """Adjustment lines that bring what is locked up (or down) to what is computed now.

    For each (employee, line type), the difference between the computed amount and the sum of the
    locked lines (including earlier adjustments); nothing when the difference is zero, so a
    re-run with unchanged inputs yields ``[]``. Paid lines are never edited.
    """
    if isinstance(revision, bool) or not isinstance(revision, int) or revision < 1:
        raise DomainError(tr("must be a positive integer, got %(revision)s", revision=repr(revision)), "revision")
    groups: dict[tuple[str, BaseLineType], tuple[list[PayoutLine], list[PayoutLine]]] = {}
    for line in computed:
        groups.setdefault((line.employee_id, line.base_type()), ([], []))[0].append(line)
    for line in locked:
        groups.setdefault((line.employee_id, line.base_type()), ([], []))[1].append(line)
    locked_keys = {line.idempotency_key for line in locked}
    out: list[PayoutLine] = []
    for (employee_id, base), (now, before) in groups.items():
        currencies = {line.currency for line in now + before}
        if len(currencies) > 1:
            raise DomainError(tr("employee %(employee_id)s has %(base)s lines in several currencies %(currencies)s",
                                 employee_id=repr(employee_id), base=base, currencies=str(sorted(currencies))),
                              "currency")
        currency = currencies.pop()
        quantum = Decimal(1).scaleb(-minor_unit(currency))
        with localcontext(calc_context()):
            now_sum = sum((line.amount for line in now), Decimal(0))
            before_sum = sum((line.amount for line in before), Decimal(0))
            diff = now_sum - before_sum
        if diff == 0:
            continue
        if diff.quantize(quantum, context=calc_context()) != diff:
            raise DomainError(tr("amounts for %(employee_id)s %(base)s are not in %(currency)s minor units",
                                 employee_id=repr(employee_id), base=base, currency=currency), "amount")
        diff = diff.quantize(quantum, context=calc_context())
        template = now[0] if now else before[-1]
        key = idempotency_key(template.cycle_id, employee_id, f"adjustment-{base}", template.plan_version, revision)
        if key in locked_keys:
            raise DomainError(tr("revision %(revision)s is already used by locked line %(key)s", revision=revision, key=key), "revision")
        recomputed = (f" Recomputed: {now[0].explanation}" if len(now) == 1 else
                      " No line is computed now, so the locked amount is reversed." if not now else "")
        explanation = (
            f"Adjustment of {base} for {employee_id} (revision {revision}): recomputed "
            f"{fmt_money(now_sum, currency)} − already locked {fmt_money(before_sum, currency)} "
            f"({len(before)} line(s)) = {'+' if diff > 0 else ''}{fmt_money(diff, currency)}.{recomputed}"
        )
        out.append(PayoutLine(
            employee_id=employee_id, line_type="adjustment", amount=diff, currency=currency,
            plan_id=template.plan_id, plan_version=template.plan_version, idempotency_key=key,
            explanation=explanation,
            inputs={"adjusts": base, "computed": str(now_sum), "locked_total": str(before_sum),
                    "computed_keys": [line.idempotency_key for line in now],
                    "locked_keys": [line.idempotency_key for line in before]},
            cycle_id=template.cycle_id, revision=revision, adjusts=base,
        ))
    return out
