"""Incentive plan and payout lines: bonus (curves × rating multiplier × proration) and commission.

Every amount is computed at working precision and rounded once, per line, with the plan's
declared mode; every line carries a sentence that shows its inputs. Corrections after lock are
new delta lines, never edits.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import date
from decimal import Decimal, localcontext
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator, model_validator

from domain.errors import DomainError
from domain.money import (
    Num,
    RoundingMode,
    calc_context,
    exact,
    fmt_money,
    fmt_num,
    minor_unit,
    proration_days,
    round_money,
)
from domain.scorecard import check_unique, check_weights_sum, interpolate

LineType = Literal["bonus", "commission", "adjustment"]
BaseLineType = Literal["bonus", "commission"]
_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TargetIncentive(_Frozen):
    """Target bonus per grade, with per-employee overrides (employee wins)."""

    by_grade: dict[str, Num] = Field(default_factory=dict)
    by_employee: dict[str, Num] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _non_negative(self) -> TargetIncentive:
        for name, mapping in (("by_grade", self.by_grade), ("by_employee", self.by_employee)):
            for key, value in mapping.items():
                if value < 0:
                    raise DomainError(f"target {fmt_num(value)} must not be negative", f"{name}.{key}")
        return self

    def is_empty(self) -> bool:
        return not self.by_grade and not self.by_employee


class PayoutCurve(_Frozen):
    """0 at or below threshold, linear 0→1 up to target, 1→payout_at_max up to maximum, flat above."""

    threshold: Num
    target: Num
    maximum: Num
    payout_at_max: Num = Field(ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> PayoutCurve:
        if not self.threshold < self.target:
            raise DomainError(
                f"threshold {fmt_num(self.threshold)} must be below target {fmt_num(self.target)}", "threshold"
            )
        if not self.target < self.maximum:
            raise DomainError(f"target {fmt_num(self.target)} must be below maximum {fmt_num(self.maximum)}", "maximum")
        return self

    def points(self) -> tuple[tuple[Decimal, Decimal], ...]:
        return (
            (self.threshold, Decimal(0)),
            (self.target, Decimal(1)),
            (self.maximum, self.payout_at_max),
        )


class PiecewisePayoutCurve(_Frozen):
    """The general form: payout factor by attainment, linear between points, flat outside."""

    points: tuple[tuple[Num, Num], ...] = Field(min_length=2)

    @model_validator(mode="after")
    def _ordered(self) -> PiecewisePayoutCurve:
        for i, (x, y) in enumerate(self.points):
            if y < 0:
                raise DomainError(f"payout factor {fmt_num(y)} must not be negative", f"points.{i}")
            if i and x <= self.points[i - 1][0]:
                raise DomainError(
                    f"x values must be strictly increasing: point {i} x={fmt_num(x)} is not above point {i - 1} "
                    f"x={fmt_num(self.points[i - 1][0])}",
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

    id: str = Field(pattern=_ID_PATTERN)
    weight: Num = Field(ge=0)
    curve: Curve
    cap: Num | None = Field(default=None, ge=0)


class Gate(_Frozen):
    """Below this weighted attainment the whole bonus is 0."""

    min_weighted_attainment: Num


class BonusConfig(_Frozen):
    """Multi-measure bonus: target × Σ w_j·f_j(attainment_j), optional caps and gate."""

    measures: tuple[Measure, ...] = Field(min_length=1)
    gate: Gate | None = None
    cap: Num | None = Field(default=None, ge=0, description="plan cap, as a multiple of target")

    @model_validator(mode="after")
    def _weights(self) -> BonusConfig:
        check_unique((m.id for m in self.measures), "measures")
        check_weights_sum((m.weight for m in self.measures), "measures")
        return self


class CommissionTier(_Frozen):
    """A tier starts at ``from`` and runs to the next tier's ``from`` (the last one is open-ended)."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True, serialize_by_alias=True)

    from_: Num = Field(alias="from", ge=0)
    rate: Num = Field(ge=0)


def check_tiers(tiers: Sequence[CommissionTier], path: str = "tiers") -> None:
    """Tiers must be non-empty and strictly increasing in ``from``."""
    if not tiers:
        raise DomainError("need at least one tier", path)
    for i in range(1, len(tiers)):
        if tiers[i].from_ <= tiers[i - 1].from_:
            raise DomainError(
                f"tiers must be strictly increasing: tier {i} from {fmt_num(tiers[i].from_)} is not above tier "
                f"{i - 1} from {fmt_num(tiers[i - 1].from_)}",
                f"{path}.{i}.from",
            )


class CommissionConfig(_Frozen):
    """Commission on revenue; the plan must declare the mode and who owns a boundary value."""

    measure: Literal["revenue"] = "revenue"
    mode: Literal["retroactive", "marginal"]
    boundary: Literal["upper", "lower"]
    tiers: tuple[CommissionTier, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _ordered(self) -> CommissionConfig:
        check_tiers(self.tiers)
        return self


class IncentivePlan(_Frozen):
    """A versioned incentive plan; rounding mode is declared, not assumed."""

    id: str = Field(pattern=_ID_PATTERN)
    version: int = Field(ge=1)
    rounding: RoundingMode
    target_incentive: TargetIncentive = TargetIncentive()
    company_factor: Num = Field(default=Decimal(1), ge=0)
    bonus: BonusConfig | None = None
    rating_multipliers: dict[int, Num] = Field(default_factory=dict)
    commission: CommissionConfig | None = None

    @model_validator(mode="after")
    def _consistent(self) -> IncentivePlan:
        for level, value in self.rating_multipliers.items():
            if value < 0:
                raise DomainError(f"multiplier {fmt_num(value)} must not be negative", f"rating_multipliers.{level}")
        if self.target_incentive.is_empty() and self.commission is None:
            raise DomainError("the plan pays nothing: no target incentive and no commission", "target_incentive")
        if self.target_incentive.is_empty() and self.bonus is not None:
            raise DomainError("bonus measures are configured but no target incentive to apply them to",
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
        raise DomainError(f"{mode!r} is not a commission mode; use retroactive or marginal", "mode")
    if boundary not in ("upper", "lower"):
        raise DomainError(f"{boundary!r} is not a boundary owner; use upper or lower", "boundary")
    if amount < 0:
        raise DomainError(f"amount {fmt_num(amount)} is negative", "amount")
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
                f"{self.employment_end.isoformat()} is before employment_start {self.employment_start.isoformat()}",
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
        if self.line_type == "bonus" or self.line_type == "commission":
            return self.line_type
        base = self.adjusts or self.inputs.get("adjusts")
        if base not in ("bonus", "commission"):
            raise DomainError(f"adjustment line {self.idempotency_key} does not say what it adjusts", "adjusts")
        return "bonus" if base == "bonus" else "commission"


def idempotency_key(cycle_id: str, employee_id: str, line_type: str, plan_version: int, revision: int) -> str:
    """Deterministic key: a retried calculation writes the same line, never a second one."""
    return f"{cycle_id}:{employee_id}:{line_type}:{plan_version}:{revision}"


def _s(value: Decimal) -> str:
    return fmt_num(value, 10)


def _bonus_line(plan: IncentivePlan, period_start: date, period_end: date, cycle_id: str, i: int,
                inp: IncentiveInput) -> PayoutLine:
    path = f"inputs.{i}"
    ti = plan.target_incentive
    if inp.employee_id in ti.by_employee:
        target, source = ti.by_employee[inp.employee_id], f"override for {inp.employee_id}"
    elif inp.grade is not None and inp.grade in ti.by_grade:
        target, source = ti.by_grade[inp.grade], f"grade {inp.grade}"
    else:
        raise DomainError(
            f"no target incentive for employee {inp.employee_id!r} (grade {inp.grade!r}): add it to "
            "target_incentive.by_grade or by_employee",
            f"{path}.grade",
        )
    data: dict[str, Any] = {"target": _s(target), "target_source": source, "company_factor": _s(plan.company_factor)}
    if plan.rating_multipliers:
        if inp.rating_level is None:
            raise DomainError(f"employee {inp.employee_id!r} has no final rating; the bonus needs one",
                              f"{path}.rating_level")
        if inp.rating_level not in plan.rating_multipliers:
            raise DomainError(f"no multiplier for rating {inp.rating_level} (employee {inp.employee_id!r})",
                              "rating_multipliers")
        multiplier = plan.rating_multipliers[inp.rating_level]
        mult_text = f"rating multiplier {fmt_num(multiplier)} (rating {inp.rating_level})"
    else:
        multiplier, mult_text = Decimal(1), "rating multiplier 1 (the plan has no rating multipliers)"
    data.update(rating_level=inp.rating_level, multiplier=_s(multiplier))
    factor, factor_text, measure_data = _measure_factor(plan, inp, path)
    data.update(measure_data)
    data["measure_factor"] = _s(factor)
    days, total_days = proration_days(period_start, period_end, inp.employment_start, inp.employment_end)
    data.update(days=days, period_days=total_days, proration=f"{days}/{total_days}")
    raw = target * plan.company_factor * multiplier * factor * days / total_days  # compute_payouts' context
    amount = round_money(raw, inp.currency, plan.rounding)
    data.update(unrounded=_s(raw), rounding=plan.rounding, currency=inp.currency)
    if inp.employment_start is None and inp.employment_end is None:
        employed = "employed throughout"
    else:
        employed = "employed " + " ".join(
            part for part in (
                f"from {inp.employment_start.isoformat()}" if inp.employment_start else "",
                f"until {inp.employment_end.isoformat()}" if inp.employment_end else "",
            ) if part
        )
    explanation = (
        f"Bonus for {inp.employee_id}: target {fmt_money(target, inp.currency)} ({source}) × company factor "
        f"{fmt_num(plan.company_factor)} × {mult_text} × measure factor {fmt_num(factor)} ({factor_text}) × "
        f"proration {days}/{total_days} days ({employed}; period {period_start.isoformat()} to "
        f"{period_end.isoformat()}) = {fmt_num(raw)} → {fmt_money(amount, inp.currency)} "
        f"(rounded once, {plan.rounding}, {minor_unit(inp.currency)} decimals)."
    )
    return PayoutLine(employee_id=inp.employee_id, line_type="bonus", amount=amount, currency=inp.currency,
                      plan_id=plan.id, plan_version=plan.version,
                      idempotency_key=idempotency_key(cycle_id, inp.employee_id, "bonus", plan.version, 0),
                      explanation=explanation, inputs=data, cycle_id=cycle_id)


def _measure_factor(plan: IncentivePlan, inp: IncentiveInput, path: str) -> tuple[Decimal, str, dict[str, Any]]:
    """(Σ w_j·f_j with caps and gate applied, its explanation, its data)."""
    bonus = plan.bonus
    if bonus is None:
        return Decimal(1), "no bonus measures", {"measures": {}}
    parts: list[str] = []
    per_measure: dict[str, Any] = {}
    data: dict[str, Any] = {"measures": per_measure}
    # runs inside compute_payouts' exact context
    weighted = Decimal(0)
    weighted_attainment = Decimal(0)
    for m in bonus.measures:
        att = inp.attainment.get(m.id)
        if att is None:
            raise DomainError(f"employee {inp.employee_id!r} has no attainment for measure {m.id!r}",
                              f"{path}.attainment.{m.id}")
        f, how = payout_curve_explained(m.curve, att)
        capped = min(f, m.cap) if m.cap is not None else f
        cap_text = f", capped at {fmt_num(m.cap)}" if m.cap is not None and f > m.cap else ""
        weighted += m.weight * capped / 100
        weighted_attainment += m.weight * att / 100
        parts.append(f"{m.id} {fmt_num(m.weight)} % × {fmt_num(capped)} (attainment {fmt_num(att)} on "
                     f"{describe_curve(m.curve)}: {how}{cap_text})")
        per_measure[m.id] = {"attainment": _s(att), "weight": _s(m.weight), "factor": _s(f),
                             "capped": _s(capped)}
    text = " + ".join(parts)
    data["weighted_attainment"] = _s(weighted_attainment)
    if bonus.gate is not None and weighted_attainment < bonus.gate.min_weighted_attainment:
        data["gate"] = "closed"
        return (Decimal(0), f"{text}; gate closed: weighted attainment {fmt_num(weighted_attainment)} is below "
                f"{fmt_num(bonus.gate.min_weighted_attainment)}, so 0", data)
    if bonus.gate is not None:
        data["gate"] = "open"
        text += (f"; gate open: weighted attainment {fmt_num(weighted_attainment)} ≥ "
                 f"{fmt_num(bonus.gate.min_weighted_attainment)}")
    if bonus.cap is not None and weighted > bonus.cap:
        text += f"; {fmt_num(weighted)} capped at the plan cap {fmt_num(bonus.cap)}"
        weighted = bonus.cap
    return weighted, text, data


def _commission_line(plan: IncentivePlan, cycle_id: str, inp: IncentiveInput) -> PayoutLine | None:
    cfg = plan.commission
    if cfg is None or inp.revenue is None:
        return None
    raw, steps = commission_breakdown(cfg.tiers, cfg.mode, cfg.boundary, inp.revenue)
    amount = round_money(raw, inp.currency, plan.rounding)
    explanation = (
        f"Commission for {inp.employee_id}: revenue {fmt_money(inp.revenue, inp.currency)}, {cfg.mode} mode, "
        f"boundary values owned by the {cfg.boundary} tier; " + "; ".join(steps)
        + f"; total {fmt_num(raw)} → {fmt_money(amount, inp.currency)} (rounded once, {plan.rounding})."
    )
    data = {"revenue": _s(inp.revenue), "mode": cfg.mode, "boundary": cfg.boundary, "steps": steps,
            "unrounded": _s(raw), "rounding": plan.rounding, "currency": inp.currency,
            "tiers": [{"from": _s(t.from_), "rate": _s(t.rate)} for t in cfg.tiers]}
    return PayoutLine(employee_id=inp.employee_id, line_type="commission", amount=amount, currency=inp.currency,
                      plan_id=plan.id, plan_version=plan.version,
                      idempotency_key=idempotency_key(cycle_id, inp.employee_id, "commission", plan.version, 0),
                      explanation=explanation, inputs=data, cycle_id=cycle_id)


@exact
def compute_payouts(
    plan: IncentivePlan, period_start: date, period_end: date, cycle_id: str, inputs: Sequence[IncentiveInput]
) -> list[PayoutLine]:
    """Bonus and commission lines (revision 0), in input order, bonus before commission.

    bonus = round(target × company_factor × multiplier(rating) × min(cap, Σ w_j f_j(att_j)) × days/period_days);
    no bonus lines when the plan has no target incentive; no commission line without revenue.
    """
    if period_end < period_start:
        raise DomainError(f"{period_end.isoformat()} is before period_start {period_start.isoformat()}",
                          "period_end")
    if not cycle_id:
        raise DomainError("must not be empty", "cycle_id")
    seen: set[str] = set()
    lines: list[PayoutLine] = []
    for i, inp in enumerate(inputs):
        if inp.employee_id in seen:
            raise DomainError(f"employee {inp.employee_id!r} appears twice", f"inputs.{i}.employee_id")
        seen.add(inp.employee_id)
        if not plan.target_incentive.is_empty():
            lines.append(_bonus_line(plan, period_start, period_end, cycle_id, i, inp))
        line = _commission_line(plan, cycle_id, inp)
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
        raise DomainError(f"must be a positive integer, got {revision!r}", "revision")
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
            raise DomainError(f"employee {employee_id!r} has {base} lines in several currencies {sorted(currencies)}",
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
            raise DomainError(f"amounts for {employee_id!r} {base} are not in {currency} minor units", "amount")
        diff = diff.quantize(quantum, context=calc_context())
        template = now[0] if now else before[-1]
        key = idempotency_key(template.cycle_id, employee_id, f"adjustment-{base}", template.plan_version, revision)
        if key in locked_keys:
            raise DomainError(f"revision {revision} is already used by locked line {key}", "revision")
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
