"""The per-line payout calculation as first written (one employee at a time, every text formatted afresh).

compute_payouts now builds a plan's constant texts and numbers once per call; this straightforward
version is kept as the specification it must match byte for byte (see test_incentives_reference.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from domain.errors import DomainError
from domain.incentives import (
    IncentiveInput,
    IncentivePlan,
    PayoutLine,
    commission_breakdown,
    describe_curve,
    idempotency_key,
    payout_curve_explained,
)
from domain.money import exact, fmt_money, fmt_num, minor_unit, proration_days, round_money


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
    bonus = plan.bonus
    if bonus is None:
        return Decimal(1), "no bonus measures", {"measures": {}}
    parts: list[str] = []
    per_measure: dict[str, Any] = {}
    data: dict[str, Any] = {"measures": per_measure}
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
def reference_compute_payouts(
    plan: IncentivePlan, period_start: date, period_end: date, cycle_id: str, inputs: Sequence[IncentiveInput]
) -> list[PayoutLine]:
    """compute_payouts as first written: every line computed and described from scratch."""
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
