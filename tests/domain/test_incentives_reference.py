"""compute_payouts builds a plan's constant texts and numbers once per call, skips re-validating the lines it
builds and formats seldom-repeating numbers without a cache: none of that may change a single byte.

Every case here is compared with the straightforward per-line calculation in ``_incentives_reference``.
"""

from __future__ import annotations

import copy
import json
import pickle
import random
from datetime import date
from decimal import Decimal, localcontext
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.errors import DomainError
from domain.incentives import (
    CommissionTier,
    IncentiveInput,
    IncentivePlan,
    PayoutLine,
    _CompiledMarginal,
    _CompiledRetroactive,
    commission_breakdown,
    compute_payouts,
    pack_inputs,
    unpack_inputs,
)
from domain.money import calc_context, fmt_num
from tests.domain._incentives_reference import reference_compute_payouts

D = Decimal
BASE: dict[str, Any] = {
    "id": "kam-incentive", "version": 3, "rounding": "HALF_UP",
    "target_incentive": {"by_grade": {"K1": 20000, "K2": "30000.50", "K3": 45000}},
    "company_factor": 1.1,
    "bonus": {
        "measures": [
            {"id": "sales_attainment", "weight": 60,
             "curve": {"threshold": 0.8, "target": 1.0, "maximum": 1.5, "payout_at_max": 2.0}, "cap": 1.8},
            {"id": "customer_retention", "weight": 25,
             "curve": {"threshold": 0.7, "target": 0.9, "maximum": 1.0, "payout_at_max": 1.5}},
            {"id": "new_customer_acquisition", "weight": 15,
             "curve": {"points": [[0.5, 0], [0.9, 0.5], [1, 1], [1.3, 1.7], [1.5, 2.2]]}, "cap": 0.75},
        ],
        "gate": {"min_weighted_attainment": 0.5},
        "cap": 1.6,
    },
    "rating_multipliers": {5: 1.5, 4: "1.25", 3: 1.0, 2: "0.333", 1: 0},
    "commission": {"measure": "revenue", "mode": "marginal", "boundary": "upper",
                   "tiers": [{"from": 0, "rate": 0.002}, {"from": 500000, "rate": 0.004}, {"from": 1500000, "rate": 0.006}]},
}


def _variant(**changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(BASE)
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return data


def _commission(mode: str, boundary: str, tiers: list[tuple[Any, Any]]) -> dict[str, Any]:
    return {"mode": mode, "boundary": boundary, "tiers": [{"from": f, "rate": r} for f, r in tiers]}


EDGE_TIERS = [(100, "0.0125"), (50000, 0.02), (100000, "0.035")]
PLANS: dict[str, dict[str, Any]] = {
    "demo-like": _variant(),
    "half-even": _variant(rounding="HALF_EVEN"),
    "retroactive-upper": _variant(commission=_commission("retroactive", "upper", EDGE_TIERS)),
    "retroactive-lower": _variant(commission=_commission("retroactive", "lower", EDGE_TIERS)),
    "marginal-lower": _variant(commission=_commission("marginal", "lower", EDGE_TIERS)),
    "one-tier": _variant(commission=_commission("marginal", "upper", [(5000, "0.1")])),
    "no-multipliers": _variant(rating_multipliers=None),
    "no-bonus-measures": _variant(bonus=None),
    "no-commission": _variant(commission=None),
    "commission-only": _variant(target_incentive={}, bonus=None),
    "no-gate-no-cap": _variant(bonus={**BASE["bonus"], "gate": None, "cap": None}),
    "tight-gate-and-cap": _variant(bonus={**BASE["bonus"], "gate": {"min_weighted_attainment": 0.95}, "cap": 1.1}),
    "overrides": _variant(target_incentive={"by_grade": {"K1": 20000, "K2": 30000, "K3": "45000.00"},
                                            "by_employee": {f"E{i:04d}": D(i * 37) / 7 for i in range(0, 400, 3)}}),
    "odd-weights": _variant(company_factor="1.0375", bonus={"measures": [
        {"id": "sales_attainment", "weight": "33.3333", "curve": BASE["bonus"]["measures"][0]["curve"]},
        {"id": "customer_retention", "weight": "66.6667", "curve": BASE["bonus"]["measures"][1]["curve"]}]}),
}
PERIODS = [(date(2026, 7, 1), date(2026, 9, 30)), (date(2026, 1, 1), date(2026, 12, 31)), (date(2026, 2, 1), date(2026, 2, 1))]


def _decimal(rnd: random.Random, lo: float, hi: float, places: int) -> Decimal:
    scale = 10 ** places
    return D(rnd.randint(int(lo * scale), int(hi * scale))) / scale


def _inputs(rnd: random.Random, n: int, year: int, faults: bool) -> list[IncentiveInput]:
    """A spread over every branch: curve points hit exactly, caps, gate, tier edges, proration, odd currencies.
    With ``faults``, a few inputs lack what the plan needs (the error must be the same too)."""
    out = []
    for i in range(n):
        attainment = {
            "sales_attainment": rnd.choice([_decimal(rnd, 0, 2.5, 4), D("0.8"), D("1.0"), D("1.5"), D(1), D("1E+0"),
                                            D("0.80000"), _decimal(rnd, 0.7, 1.6, 2)]),
            "customer_retention": rnd.choice([_decimal(rnd, 0.5, 1.1, 4), D("0.7"), D("0.9"), _decimal(rnd, 0, 1, 7)]),
            "new_customer_acquisition": _decimal(rnd, 0, 2, rnd.choice([0, 2, 4, 6])),
        }
        start = end = None
        k = rnd.random()
        if k < 0.15:
            start = date(year, rnd.randint(1, 12), rnd.randint(1, 28))
        if 0.1 < k < 0.22:
            end = date(year, rnd.randint(1, 12), rnd.randint(1, 28))
            if start and end < start:
                start, end = end, start
        if k > 0.97:
            start, end = date(2020, 1, 1), date(2020, 2, 1)
        revenue = rnd.choice([None, _decimal(rnd, 0, 3_000_000, 2), D(500000), D(1500000), D("50000.00"), D(0), D(100),
                              D(5000), _decimal(rnd, 0, 200_000, 0), D("1234567.891")])
        data: dict[str, Any] = {
            "employee_id": rnd.choice([f"E{i:04d}", f"E\\{i}", f"E\t{i}", f"Eé{i}\n"]), "grade": rnd.choice(["K1", "K2", "K3"]),
            "currency": rnd.choice(["CNY", "USD", "JPY", "KWD", "EUR", "KRW"]), "rating_level": rnd.randint(1, 5),
            "attainment": attainment, "revenue": revenue, "employment_start": start, "employment_end": end,
        }
        if faults and rnd.random() < 0.01:
            fault = rnd.choice(["attainment", "grade", "rating", "revenue"])
            if fault == "attainment":
                attainment.pop("customer_retention")
            elif fault == "grade":
                data["grade"] = rnd.choice([None, "K9"])
            elif fault == "rating":
                data["rating_level"] = rnd.choice([None, 7])
            else:
                data["revenue"] = D("-0.01")
        out.append(IncentiveInput.model_validate(data))
    return out


def _outcome(fn: Any, plan: IncentivePlan, start: date, end: date, cycle_id: str, inputs: list[IncentiveInput]) -> Any:
    """Everything observable about the result: each line's exact values, its JSON and its fields, or the error."""
    try:
        lines = fn(plan, start, end, cycle_id, inputs)
    except DomainError as err:
        return ("error", str(err), err.path)
    return [(repr(line.model_dump()), line.model_dump_json(), json.dumps(line.inputs, sort_keys=True, ensure_ascii=False),
             sorted(line.model_fields_set), list(line.__dict__)) for line in lines]


@pytest.mark.parametrize("name", sorted(PLANS))
def test_lines_equal_the_reference_calculation(name: str) -> None:
    plan = IncentivePlan.model_validate(PLANS[name])
    rnd = random.Random(name)
    errors = 0
    for start, end in PERIODS:
        inputs = _inputs(rnd, 200, start.year, faults=True)
        for i in range(0, len(inputs), 25):  # small batches, so one faulty input does not hide the others
            got = _outcome(compute_payouts, plan, start, end, f"C-{name}", inputs[i:i + 25])
            assert got == _outcome(reference_compute_payouts, plan, start, end, f"C-{name}", inputs[i:i + 25])
            errors += got[0] == "error"
    assert errors < 12  # most batches produce lines


def test_errors_equal_the_reference() -> None:
    plan = IncentivePlan.model_validate(PLANS["demo-like"])
    inputs = _inputs(random.Random(5), 3, 2026, faults=False)
    start, end = PERIODS[0]
    for args in [(start, end, "C", [inputs[0], inputs[0]]), (end, start, "C", inputs), (start, end, "", inputs)]:
        assert _outcome(compute_payouts, plan, *args) == _outcome(reference_compute_payouts, plan, *args)
        assert _outcome(compute_payouts, plan, *args)[0] == "error"


@given(sales=st.decimals(min_value=0, max_value=3, allow_nan=False, allow_infinity=False),
       retention=st.decimals(min_value=0, max_value=2, places=5),
       acquisition=st.decimals(min_value=0, max_value=2, places=9),
       revenue=st.none() | st.decimals(min_value=0, max_value=10_000_000, allow_nan=False, allow_infinity=False),
       rating=st.integers(min_value=1, max_value=5), currency=st.sampled_from(["CNY", "JPY", "KWD"]),
       name=st.sampled_from(sorted(PLANS)))
@settings(max_examples=300, deadline=None)
def test_any_numbers_equal_the_reference(sales: Decimal, retention: Decimal, acquisition: Decimal,
                                         revenue: Decimal | None, rating: int, currency: str, name: str) -> None:
    plan = IncentivePlan.model_validate(PLANS[name])
    inp = IncentiveInput(employee_id="E1", grade="K2", currency=currency, rating_level=rating, revenue=revenue,
                         attainment={"sales_attainment": sales, "customer_retention": retention,
                                     "new_customer_acquisition": acquisition})
    start, end = PERIODS[0]
    assert _outcome(compute_payouts, plan, start, end, "C", [inp]) == _outcome(reference_compute_payouts, plan, start,
                                                                             end, "C", [inp])


@st.composite
def tier_tables(draw: st.DrawFn) -> list[CommissionTier]:
    starts = sorted(draw(st.sets(st.integers(min_value=0, max_value=200_000), min_size=1, max_size=5)))
    rates = draw(st.lists(st.decimals(min_value=0, max_value=D("0.2"), places=4), min_size=len(starts),
                          max_size=len(starts)))
    return [CommissionTier.model_validate({"from": s, "rate": r}) for s, r in zip(starts, rates, strict=True)]


@given(table=tier_tables(), amount=st.decimals(min_value=0, max_value=500_000, places=2),
       boundary=st.sampled_from(["upper", "lower"]), on_edge=st.booleans())
@settings(max_examples=300, deadline=None)
def test_compiled_commission_equals_commission_breakdown(table: list[CommissionTier], amount: Decimal, boundary: str,
                                                         on_edge: bool) -> None:
    if on_edge:  # exactly on a tier's start, where the boundary owner matters
        amount = table[int(amount) % len(table)].from_
    with localcontext(calc_context()):
        marginal = _CompiledMarginal(table).breakdown(amount, fmt_num(amount))
        retroactive = _CompiledRetroactive(table, boundary).breakdown(amount, fmt_num(amount))
    assert marginal == commission_breakdown(table, "marginal", boundary, amount)
    assert retroactive == commission_breakdown(table, "retroactive", boundary, amount)
    assert [str(marginal[0]), str(retroactive[0])] == [str(commission_breakdown(table, mode, boundary, amount)[0])
                                                       for mode in ("marginal", "retroactive")]


def test_computed_lines_equal_validated_lines() -> None:
    """Lines are built without re-validation; they must be indistinguishable from validated ones."""
    plan = IncentivePlan.model_validate(PLANS["demo-like"])
    lines = compute_payouts(plan, *PERIODS[0], "C", _inputs(random.Random(9), 50, 2026, faults=False))
    for line in lines:
        validated = PayoutLine.model_validate(line.model_dump(exclude={"revision", "adjusts"}))  # as first built
        assert line == validated and validated == line
        assert list(line.__dict__) == list(validated.__dict__)
        assert line.model_fields_set == validated.model_fields_set
        assert line.model_dump_json() == validated.model_dump_json()
        assert pickle.loads(pickle.dumps(line)) == line
        assert line.model_copy(update={"revision": 2}).revision == 2
        with pytest.raises(Exception, match="frozen"):
            line.amount = D(1)  # type: ignore[misc]


@pytest.mark.parametrize("model", [PayoutLine, IncentiveInput])
def test_models_built_without_validation_have_no_other_state(model: type) -> None:
    """What building them from trusted values relies on: no private attributes, extras or post-init hook."""
    assert model.__private_attributes__ == {}
    assert model.model_config.get("extra") == "forbid"
    assert not model.__pydantic_post_init__


def test_inputs_travel_as_a_flat_list_of_atoms() -> None:
    inputs = _inputs(random.Random(3), 100, 2026, faults=False)
    inputs.append(IncentiveInput(employee_id="E-", currency="USD", grade="", attainment={}))  # every optional empty
    flat = pickle.loads(pickle.dumps(pack_inputs(inputs)))
    assert all(type(x) in (str, int, date, type(None)) for x in flat)
    rebuilt = unpack_inputs(flat)
    assert rebuilt == inputs
    assert [repr(inp.__dict__) for inp in rebuilt] == [repr(inp.__dict__) for inp in inputs]  # same Decimal digits
    assert unpack_inputs(pack_inputs([])) == []
    plan = IncentivePlan.model_validate(PLANS["overrides"])
    assert _outcome(compute_payouts, plan, *PERIODS[1], "C", rebuilt) == _outcome(compute_payouts, plan, *PERIODS[1],
                                                                                  "C", inputs)
