"""Incentives: payout curves, commission modes and boundaries, bonus lines, delta lines."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from domain.errors import DomainError
from domain.incentives import (
    CommissionTier,
    IncentiveInput,
    IncentivePlan,
    PayoutCurve,
    PayoutLine,
    PiecewisePayoutCurve,
    commission,
    compute_payouts,
    delta_lines,
    payout_curve,
)

D = Decimal
YEAR = (date(2023, 1, 1), date(2023, 12, 31))

CONTRACT_PLAN: dict[str, Any] = {
    "id": "kam-bonus",
    "version": 1,
    "rounding": "HALF_UP",
    "target_incentive": {"by_grade": {"K1": 20000, "K2": 30000, "K3": 45000}, "by_employee": {}},
    "company_factor": 1.0,
    "bonus": {
        "measures": [
            {"id": "sales_attainment", "weight": 60,
             "curve": {"threshold": 0.8, "target": 1.0, "maximum": 1.5, "payout_at_max": 2.0}, "cap": 2.0},
            {"id": "customer_retention", "weight": 40,
             "curve": {"threshold": 0.7, "target": 0.9, "maximum": 1.0, "payout_at_max": 1.5}},
        ],
        "gate": {"min_weighted_attainment": 0.5},
        "cap": 2.0,
    },
    "rating_multipliers": {5: 1.5, 4: 1.2, 3: 1.0, 2: 0.5, 1: 0},
    "commission": {
        "measure": "revenue",
        "mode": "retroactive",
        "boundary": "upper",
        "tiers": [{"from": 0, "rate": 0.01}, {"from": 10000, "rate": 0.02}, {"from": 50000, "rate": 0.03},
                  {"from": 100000, "rate": 0.04}],
    },
}


def plan(**changes: Any) -> IncentivePlan:
    data = copy.deepcopy(CONTRACT_PLAN)
    data.update(changes)
    return IncentivePlan.model_validate(data)


def simple_plan(**changes: Any) -> IncentivePlan:
    """Target × company factor × rating multiplier only (no measures, no commission)."""
    return plan(bonus=None, commission=None, **changes)


def tiers(rows: list[tuple[int, str]]) -> list[CommissionTier]:
    return [CommissionTier.model_validate({"from": f, "rate": r}) for f, r in rows]


PUBLIC_TIERS = tiers([(0, "0.01"), (10000, "0.02"), (50000, "0.03"), (100000, "0.04")])
BOUNDARY_TIERS = tiers([(0, "0.01"), (25000, "0.02"), (50000, "0.03")])


@pytest.mark.parametrize(
    ("table", "mode", "boundary", "amount", "expected"),
    [
        (PUBLIC_TIERS, "retroactive", "upper", "60000", "1800"),  # public example
        (PUBLIC_TIERS, "marginal", "upper", "60000", "1200"),  # public example
        (PUBLIC_TIERS, "marginal", "lower", "60000", "1200"),
        (BOUNDARY_TIERS, "retroactive", "upper", "50000", "1500"),  # 3 %: the upper tier owns 50,000
        (BOUNDARY_TIERS, "retroactive", "lower", "50000", "1000"),  # 2 %: the lower tier owns it
        (BOUNDARY_TIERS, "marginal", "upper", "50000", "750"),
        (BOUNDARY_TIERS, "marginal", "lower", "50000", "750"),
        (PUBLIC_TIERS, "retroactive", "upper", "0", "0"),
        (PUBLIC_TIERS, "marginal", "upper", "150000", "4400"),
        (PUBLIC_TIERS, "retroactive", "upper", "150000", "6000"),
        (tiers([(5000, "0.1")]), "retroactive", "upper", "4999", "0"),
        (tiers([(5000, "0.1")]), "marginal", "upper", "6000", "100"),
        (tiers([(5000, "0.1")]), "retroactive", "lower", "5000", "0"),
    ],
)
def test_commission_golden(table: list[CommissionTier], mode: str, boundary: str, amount: str, expected: str) -> None:
    assert commission(table, mode, boundary, D(amount)) == D(expected)


@pytest.mark.parametrize(("table", "mode", "boundary", "amount", "field"), [
    (PUBLIC_TIERS, "retroactive", "upper", D(-1), "amount"),
    (PUBLIC_TIERS, "flat", "upper", D(1), "mode"),
    (PUBLIC_TIERS, "marginal", "middle", D(1), "boundary"),
    ([], "marginal", "upper", D(1), "tiers"),
    (list(reversed(PUBLIC_TIERS)), "marginal", "upper", D(1), "tiers.1.from"),
])
def test_commission_rejects(table: list[CommissionTier], mode: str, boundary: str, amount: Decimal,
                            field: str) -> None:
    with pytest.raises(DomainError, match=field):
        commission(table, mode, boundary, amount)


CURVE = PayoutCurve(threshold=D("0.8"), target=D(1), maximum=D("1.5"), payout_at_max=D(2))


@pytest.mark.parametrize(("x", "factor"), [("0", "0"), ("0.8", "0"), ("0.9", "0.5"), ("1", "1"), ("1.25", "1.5"),
                                           ("1.5", "2"), ("3", "2")])
def test_payout_curve(x: str, factor: str) -> None:
    assert payout_curve(CURVE, D(x)) == D(factor)


def test_piecewise_payout_curve() -> None:
    curve = PiecewisePayoutCurve.model_validate({"points": [[0.5, 0], [0.9, 0.5], [1.0, 1], [1.3, 1.6]]})
    assert [payout_curve(curve, D(x)) for x in ("0.4", "0.7", "0.95", "1.15", "2")] == [
        D(0), D("0.25"), D("0.75"), D("1.3"), D("1.6")]


def test_contract_plan_validates_and_round_trips() -> None:
    p = plan()
    assert p.commission is not None and p.commission.tiers[1].from_ == D(10000)
    assert p.bonus is not None and p.bonus.measures[0].curve == CURVE
    assert IncentivePlan.model_validate_json(p.model_dump_json()) == p
    dumped = p.model_dump(mode="json")
    assert dumped["commission"]["tiers"][0] == {"from": "0", "rate": "0.01"}  # the YAML key, not from_
    assert IncentivePlan.model_validate(dumped) == p


def emp(employee_id: str = "E1", **kw: Any) -> IncentiveInput:
    base: dict[str, Any] = {"employee_id": employee_id, "grade": "K1", "currency": "USD", "rating_level": 3}
    base.update(kw)
    return IncentiveInput.model_validate(base)


def test_rating_multiplier_public_example() -> None:
    # 10,000 × 125 % × 150 % = 18,750
    p = simple_plan(target_incentive={"by_grade": {"K1": 10000}}, company_factor="1.25")
    [line] = compute_payouts(p, *YEAR, "2023", [emp(rating_level=5)])
    assert line.amount == D("18750.00") and line.line_type == "bonus"
    for fragment in ("target 10,000 USD (grade K1)", "company factor 1.25", "rating multiplier 1.5 (rating 5)",
                     "proration 365/365 days", "18,750.00 USD", "HALF_UP"):
        assert fragment in line.explanation


def test_proration_public_example() -> None:
    # 20,000 × 92/365 = 5,041.10 (joined 1 October, full-year period)
    [line] = compute_payouts(simple_plan(), *YEAR, "2023", [emp(employment_start=date(2023, 10, 1))])
    assert line.amount == D("5041.10")
    assert line.inputs["proration"] == "92/365"
    assert "proration 92/365 days (employed from 2023-10-01; period 2023-01-01 to 2023-12-31)" in line.explanation


def test_proration_181_days() -> None:
    # Left on 30 June: 1 Jan - 30 Jun is 181 days, so 20,000 × 181/365 = 9,917.81
    [line] = compute_payouts(simple_plan(), *YEAR, "2023", [emp(employment_end=date(2023, 6, 30))])
    assert line.inputs["days"] == 181 and line.amount == D("9917.81")


BONUS_CASES = [
    # (attainment sales, retention, rating) → amount; factor = 0.6·f_sales + 0.4·f_retention
    ("on target", "1.0", "0.9", 3, "20000.00"),
    ("above target", "1.1", "0.95", 3, "24400.00"),  # 0.6×1.2 + 0.4×1.25 = 1.22
    ("at threshold", "0.8", "0.7", 3, "0.00"),
    ("measure cap and max", "2.0", "1.2", 3, "36000.00"),  # 0.6×2 + 0.4×1.5 = 1.8
    ("gate closed", "0.5", "0.45", 5, "0.00"),  # weighted attainment 0.48 < 0.5
    ("rating multiplier 0", "1.2", "1.0", 1, "0.00"),
    ("rating 4", "1.0", "0.8", 4, "19200.00"),  # 0.6 + 0.4×0.5 = 0.8; ×1.2
]


@pytest.mark.parametrize(("case", "sales", "retention", "rating", "amount"), BONUS_CASES,
                         ids=[c[0] for c in BONUS_CASES])
def test_multi_measure_bonus(case: str, sales: str, retention: str, rating: int, amount: str) -> None:
    p = plan(commission=None)
    [line] = compute_payouts(p, *YEAR, "2023", [emp(rating_level=rating, attainment={
        "sales_attainment": sales, "customer_retention": retention})])
    assert line.amount == D(amount), case
    if case == "gate closed":
        assert "gate closed: weighted attainment 0.48 is below 0.5" in line.explanation
    if case == "above target":
        assert "sales_attainment 60 % × 1.2 (attainment 1.1 on curve (0.8→0, 1→1, 1.5→2)" in line.explanation


def test_plan_cap_limits_the_measure_factor() -> None:
    data = copy.deepcopy(CONTRACT_PLAN["bonus"])
    data["cap"] = "1.5"
    p = plan(commission=None, bonus=data)
    [line] = compute_payouts(p, *YEAR, "2023", [emp(attainment={"sales_attainment": 2, "customer_retention": 2})])
    assert line.amount == D("30000.00") and "capped at the plan cap 1.5" in line.explanation


def test_full_plan_bonus_and_commission_lines() -> None:
    lines = compute_payouts(plan(), *YEAR, "2023-H", [
        emp(attainment={"sales_attainment": "1.1", "customer_retention": "0.95"}, revenue=60000,
            employment_start=date(2023, 10, 1)),
        emp("E2", grade="K2", currency="JPY", attainment={"sales_attainment": 1, "customer_retention": "0.9"}),
    ])
    assert [(ln.employee_id, ln.line_type, ln.amount) for ln in lines] == [
        ("E1", "bonus", D("6150.14")),  # 20,000 × 1.22 × 92/365
        ("E1", "commission", D("1800.00")),
        ("E2", "bonus", D("30000")),  # JPY: no minor unit
    ]
    assert [ln.idempotency_key for ln in lines] == ["2023-H:E1:bonus:1:0", "2023-H:E1:commission:1:0",
                                                     "2023-H:E2:bonus:1:0"]
    assert "tier reached: from 50000 at 3 %" in lines[1].explanation
    assert compute_payouts(plan(), *YEAR, "2023-H", [
        emp(attainment={"sales_attainment": "1.1", "customer_retention": "0.95"}, revenue=60000,
            employment_start=date(2023, 10, 1)),
        emp("E2", grade="K2", currency="JPY", attainment={"sales_attainment": 1, "customer_retention": "0.9"}),
    ]) == lines  # deterministic


@pytest.mark.parametrize(("rounding", "expected"), [("HALF_UP", "5000.13"), ("HALF_EVEN", "5000.12")])
def test_declared_rounding_mode_is_used_once(rounding: str, expected: str) -> None:
    p = simple_plan(rounding=rounding, target_incentive={"by_grade": {"K1": 1}, "by_employee": {"E1": "10000.25"}})
    [line] = compute_payouts(p, *YEAR, "c", [emp(rating_level=2)])  # × 0.5 = 5000.125 exactly
    assert line.amount == D(expected) and line.inputs["target_source"] == "override for E1"


def test_kwd_rounds_to_three_places() -> None:
    p = simple_plan(target_incentive={"by_grade": {"K1": 1000}})
    [line] = compute_payouts(p, *YEAR, "c", [emp(currency="KWD", employment_start=date(2023, 12, 31))])
    assert line.amount == D("2.740")  # 1000/365 = 2.7397…


def test_employment_outside_the_period_pays_zero() -> None:
    [line] = compute_payouts(simple_plan(), *YEAR, "c", [emp(employment_start=date(2024, 2, 1))])
    assert line.amount == D("0.00") and line.inputs["days"] == 0


@pytest.mark.parametrize(("inp", "field"), [
    ({"grade": "K9"}, "inputs.0.grade"),
    ({"rating_level": None}, "inputs.0.rating_level"),
    ({"rating_level": 7}, "rating_multipliers"),
])
def test_compute_payouts_errors_name_the_field(inp: dict[str, Any], field: str) -> None:
    with pytest.raises(DomainError, match=field):
        compute_payouts(simple_plan(), *YEAR, "c", [emp(**inp)])


def test_missing_attainment_and_duplicates_and_bad_period() -> None:
    with pytest.raises(DomainError, match=r"inputs\.0\.attainment\.customer_retention"):
        compute_payouts(plan(), *YEAR, "c", [emp(attainment={"sales_attainment": 1})])
    with pytest.raises(DomainError, match=r"inputs\.1\.employee_id"):
        compute_payouts(simple_plan(), *YEAR, "c", [emp(), emp()])
    with pytest.raises(DomainError, match="period_end"):
        compute_payouts(simple_plan(), date(2023, 2, 1), date(2023, 1, 1), "c", [emp()])


def test_commission_only_plan_and_missing_revenue() -> None:
    p = plan(bonus=None, target_incentive={}, rating_multipliers={})
    lines = compute_payouts(p, *YEAR, "c", [emp(revenue=60000), emp("E2")])
    assert [(ln.employee_id, ln.line_type, ln.amount) for ln in lines] == [("E1", "commission", D("1800.00"))]


@pytest.mark.parametrize(("data", "field"), [
    ({"currency": "usd"}, "currency"),
    ({"currency": "US"}, "currency"),
    ({"employment_start": "2023-05-01", "employment_end": "2023-04-01"}, "employment_end"),
    ({"attainment": {"sales_attainment": float("nan")}}, "attainment.sales_attainment"),
    ({"revenue": "lots"}, "revenue"),
])
def test_invalid_incentive_input(data: dict[str, Any], field: str) -> None:
    base: dict[str, Any] = {"employee_id": "E1", "grade": "K1", "currency": "USD", "rating_level": 3}
    with pytest.raises(ValidationError, match=field):
        IncentiveInput.model_validate({**base, **data})


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def apply(c: dict[str, Any]) -> None:
        keys = path.split(".")
        node: Any = c
        for key in keys[:-1]:
            node = node[int(key)] if isinstance(node, list) else node[key]
        node[int(keys[-1]) if isinstance(node, list) else keys[-1]] = value
    return apply


def _drop(path: str) -> Callable[[dict[str, Any]], None]:
    def apply(c: dict[str, Any]) -> None:
        keys = path.split(".")
        node: Any = c
        for key in keys[:-1]:
            node = node[key]
        del node[keys[-1]]
    return apply


INVALID_PLANS = [
    ("measure weights not 100", _set("bonus.measures.1.weight", 30), ["bonus", "measures: weights sum to 90"]),
    ("threshold above target", _set("bonus.measures.0.curve.threshold", 1.2),
     ["bonus.measures.0.curve", "threshold 1.2 must be below target 1"]),
    ("target above maximum", _set("bonus.measures.1.curve.maximum", 0.9), ["maximum", "must be below maximum 0.9"]),
    ("unordered piecewise curve", _set("bonus.measures.0.curve", {"points": [[1, 1], [0.5, 0]]}),
     ["bonus.measures.0.curve", "points.1", "strictly increasing"]),
    ("negative payout", _set("bonus.measures.0.curve.payout_at_max", -1), ["payout_at_max"]),
    ("unordered tiers", _set("commission.tiers", [{"from": 10000, "rate": 0.02}, {"from": 0, "rate": 0.01}]),
     ["commission", "tiers.1.from", "strictly increasing"]),
    ("duplicate tier", _set("commission.tiers.1.from", 0), ["tiers.1.from"]),
    ("negative rate", _set("commission.tiers.0.rate", -0.01), ["commission.tiers.0.rate"]),
    ("bad rounding mode", _set("rounding", "ROUND_UP"), ["rounding", "HALF_UP", "HALF_EVEN"]),
    ("commission mode missing", _drop("commission.mode"), ["commission.mode", "Field required"]),
    ("unknown commission mode", _set("commission.mode", "flat"), ["commission.mode"]),
    ("boundary missing", _drop("commission.boundary"), ["commission.boundary"]),
    ("unknown boundary", _set("commission.boundary", "middle"), ["commission.boundary"]),
    ("negative multiplier", _set("rating_multipliers", {5: -1}), ["rating_multipliers.5"]),
    ("negative target", _set("target_incentive.by_grade.K1", -5), ["by_grade.K1"]),
    ("version 0", _set("version", 0), ["version"]),
    ("duplicate measure", _set("bonus.measures.1.id", "sales_attainment"), ["measures: duplicate id"]),
    ("typo", _set("bonus.gates", {}), ["bonus.gates", "Extra inputs"]),
    ("infinite company factor", _set("company_factor", float("inf")), ["company_factor", "finite"]),
    ("pays nothing", lambda c: c.update(target_incentive={}, commission=None, bonus=None),
     ["target_incentive", "pays nothing"]),
    ("measures without targets", _set("target_incentive", {}), ["target_incentive", "no target incentive"]),
]


@pytest.mark.parametrize(("case", "mutate", "expected"), INVALID_PLANS, ids=[c[0] for c in INVALID_PLANS])
def test_invalid_plan_names_the_field(case: str, mutate: Callable[[dict[str, Any]], None], expected: list[str]) -> None:
    data = copy.deepcopy(CONTRACT_PLAN)
    mutate(data)
    with pytest.raises(ValidationError) as info:
        IncentivePlan.model_validate(data)
    for fragment in expected:
        assert fragment in str(info.value), f"{case}: {fragment!r} not in {info.value}"


def _lines(**amounts: str) -> list[PayoutLine]:
    p = simple_plan(target_incentive={"by_grade": {"K1": 1}, "by_employee": {k: v for k, v in amounts.items()}})
    return compute_payouts(p, *YEAR, "c1", [emp(k) for k in amounts])


def test_delta_lines_unchanged_is_empty() -> None:
    lines = _lines(E1="1000", E2="2000")
    assert delta_lines(lines, lines, revision=1) == []


def test_delta_lines_for_changes_reversals_and_new_people() -> None:
    locked = _lines(E1="1000", E2="2000")
    computed = _lines(E1="1250.50", E3="300")
    deltas = delta_lines(computed, locked, revision=2)
    assert [(d.employee_id, d.amount, d.adjusts, d.idempotency_key) for d in deltas] == [
        ("E1", D("250.50"), "bonus", "c1:E1:adjustment-bonus:1:2"),
        ("E3", D("300.00"), "bonus", "c1:E3:adjustment-bonus:1:2"),
        ("E2", D("-2000.00"), "bonus", "c1:E2:adjustment-bonus:1:2"),
    ]
    assert all(d.line_type == "adjustment" and d.revision == 2 for d in deltas)
    first = deltas[0]
    assert "recomputed 1,250.50 USD − already locked 1,000.00 USD (1 line(s)) = +250.50 USD" in first.explanation
    assert "Recomputed: Bonus for E1" in first.explanation
    assert "reversed" in deltas[2].explanation
    # Once the deltas are locked too, re-running finds nothing left to correct.
    assert delta_lines(computed, locked + deltas, revision=3) == []


def test_delta_lines_read_back_without_the_adjusts_field() -> None:
    locked = _lines(E1="1000")
    deltas = delta_lines(_lines(E1="1100"), locked, revision=1)
    stored = [PayoutLine.model_validate({**d.model_dump(), "adjusts": None}) for d in deltas]  # as from the DB
    assert delta_lines(_lines(E1="1100"), locked + stored, revision=2) == []


def test_delta_lines_errors() -> None:
    lines = _lines(E1="1000")
    with pytest.raises(DomainError, match="revision"):
        delta_lines(lines, lines, revision=0)
    deltas = delta_lines(_lines(E1="1100"), lines, revision=1)
    with pytest.raises(DomainError, match="revision 1 is already used"):
        delta_lines(_lines(E1="1200"), lines + deltas, revision=1)
    usd = lines[0]
    eur = usd.model_copy(update={"currency": "EUR", "idempotency_key": "other"})
    with pytest.raises(DomainError, match="currency"):
        delta_lines([usd], [eur], revision=1)


def test_payout_line_serialises_to_json() -> None:
    lines = compute_payouts(plan(), *YEAR, "c", [emp(attainment={"sales_attainment": 1, "customer_retention": 1},
                                                     revenue=12345)])
    for line in lines:
        assert PayoutLine.model_validate_json(line.model_dump_json()) == line


# Properties ------------------------------------------------------------------------------------

rates = st.decimals(min_value=0, max_value=D("0.2"), places=4)


@st.composite
def tier_tables(draw: st.DrawFn, increasing: bool = False) -> list[CommissionTier]:
    starts = sorted(draw(st.sets(st.integers(min_value=1, max_value=200_000), max_size=5)))
    rs = draw(st.lists(rates, min_size=len(starts) + 1, max_size=len(starts) + 1))
    if increasing:
        rs = sorted(rs)
    return tiers([(0, str(rs[0]))] + [(s, str(r)) for s, r in zip(starts, rs[1:], strict=True)])


amounts = st.decimals(min_value=0, max_value=500_000, places=2)


@given(table=tier_tables(), a=amounts, b=amounts, boundary=st.sampled_from(["upper", "lower"]))
@settings(max_examples=200, deadline=None)
def test_marginal_commission_never_decreases(table: list[CommissionTier], a: Decimal, b: Decimal,
                                             boundary: str) -> None:
    lo, hi = sorted((a, b))
    assert commission(table, "marginal", boundary, lo) <= commission(table, "marginal", boundary, hi)


@given(table=tier_tables(increasing=True), amount=amounts, boundary=st.sampled_from(["upper", "lower"]))
@settings(max_examples=200, deadline=None)
def test_retroactive_at_least_marginal_for_increasing_rates(table: list[CommissionTier], amount: Decimal,
                                                            boundary: str) -> None:
    assert commission(table, "retroactive", boundary, amount) >= commission(table, "marginal", boundary, amount)


@given(t=st.decimals(min_value=0, max_value=2, places=2), gap1=st.decimals(min_value=D("0.01"), max_value=1, places=2),
       gap2=st.decimals(min_value=D("0.01"), max_value=1, places=2),
       p=st.decimals(min_value=1, max_value=5, places=2),
       a=st.decimals(min_value=-1, max_value=5, places=3), b=st.decimals(min_value=-1, max_value=5, places=3))
@settings(max_examples=200, deadline=None)
def test_payout_curve_monotone_for_monotone_configs(t: Decimal, gap1: Decimal, gap2: Decimal, p: Decimal,
                                                    a: Decimal, b: Decimal) -> None:
    curve = PayoutCurve(threshold=t, target=t + gap1, maximum=t + gap1 + gap2, payout_at_max=p)
    lo, hi = sorted((a, b))
    f_lo, f_hi = payout_curve(curve, lo), payout_curve(curve, hi)
    assert D(0) <= f_lo <= f_hi <= p


@given(ys=st.lists(st.decimals(min_value=0, max_value=3, places=2), min_size=2, max_size=6),
       a=st.decimals(min_value=-1, max_value=8, places=3), b=st.decimals(min_value=-1, max_value=8, places=3))
@settings(max_examples=100, deadline=None)
def test_piecewise_curve_monotone_for_monotone_points(ys: list[Decimal], a: Decimal, b: Decimal) -> None:
    curve = PiecewisePayoutCurve(points=tuple((D(i), y) for i, y in enumerate(sorted(ys))))
    lo, hi = sorted((a, b))
    assert payout_curve(curve, lo) <= payout_curve(curve, hi)


people = st.lists(
    st.fixed_dictionaries({
        "rating_level": st.integers(min_value=1, max_value=5),
        "sales": st.decimals(min_value=0, max_value=2, places=3),
        "retention": st.decimals(min_value=0, max_value=2, places=3),
        "revenue": st.none() | st.decimals(min_value=0, max_value=300_000, places=2),
        "start_day": st.none() | st.integers(min_value=0, max_value=400),
        "currency": st.sampled_from(["USD", "JPY", "KWD"]),
        "grade": st.sampled_from(["K1", "K2", "K3"]),
    }),
    max_size=6,
)


def _inputs(rows: list[dict[str, Any]]) -> list[IncentiveInput]:
    out = []
    for i, r in enumerate(rows):
        start = None if r["start_day"] is None else date.fromordinal(date(2023, 1, 1).toordinal() + r["start_day"])
        out.append(IncentiveInput(employee_id=f"E{i}", grade=r["grade"], currency=r["currency"],
                                  rating_level=r["rating_level"], revenue=r["revenue"], employment_start=start,
                                  attainment={"sales_attainment": r["sales"], "customer_retention": r["retention"]}))
    return out


@given(rows=people, mode=st.sampled_from(["retroactive", "marginal"]), revision=st.integers(min_value=1, max_value=9))
@settings(max_examples=60, deadline=None)
def test_delta_lines_of_unchanged_inputs_is_empty(rows: list[dict[str, Any]], mode: str, revision: int) -> None:
    data = copy.deepcopy(CONTRACT_PLAN)
    data["commission"]["mode"] = mode
    p = IncentivePlan.model_validate(data)
    first = compute_payouts(p, *YEAR, "cyc", _inputs(rows))
    again = compute_payouts(p, *YEAR, "cyc", _inputs(rows))
    assert again == first
    assert delta_lines(again, first, revision) == []


@given(before=people, factor=st.decimals(min_value=0, max_value=2, places=2))
@settings(max_examples=40, deadline=None)
def test_locked_plus_deltas_equals_recomputed(before: list[dict[str, Any]], factor: Decimal) -> None:
    locked = compute_payouts(plan(), *YEAR, "cyc", _inputs(before))
    recomputed = compute_payouts(plan(company_factor=str(factor)), *YEAR, "cyc", _inputs(before)[1:])
    deltas = delta_lines(recomputed, locked, revision=1)
    assert all(d.amount != 0 for d in deltas)
    totals: dict[tuple[str, str], Decimal] = {}
    for line in locked + deltas:
        key = (line.employee_id, line.base_type())
        totals[key] = totals.get(key, D(0)) + line.amount
    expected = {(ln.employee_id, ln.line_type): ln.amount for ln in recomputed}
    for key in set(totals) | set(expected):
        assert totals.get(key, D(0)) == expected.get(key, D(0))
