"""A plan year paid each period: YTD attainment, true-up, period shares, accelerator gates.

The true-up is Oracle Incentive Compensation's "Calculate Monthly Bonuses Using True Up"
(docs.oracle.com/en/cloud/saas/sales/facmi/calculate-monthly-bonuses-using-true-up.html): an annual plan that
pays each period on year-to-date attainment and "subtracts, or trues up, any previously paid amount from the
current calculated earnings". The worked figures below are computed by hand from that definition.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from domain.errors import DomainError
from domain.planyear import PlanYearConfig, plan_year_period, plan_year_schedule

D = Decimal
CURVE = [[0, 0], [1, 1], [2, 3]]  # 0 at 0 %, 1 at 100 %, 3 at 200 % (an accelerator above quota)


def config(**changes: Any) -> PlanYearConfig:
    data: dict[str, Any] = {"periods": 4, "curve": CURVE}
    data.update(changes)
    return PlanYearConfig.model_validate(data)


def amounts(cfg: PlanYearConfig, actuals: list[str], target: str = "40000", quota: str = "1000000") -> list[Decimal]:
    return [r.amount for r in plan_year_schedule(cfg, D(target), D(quota), [D(a) for a in actuals], "USD", "HALF_UP")]


def test_quarterly_true_up_worked_example() -> None:
    """Annual target 40,000, quota 1,000,000, equal quarters (250,000 each).

    Q1 actual 200,000: YTD 80 % → factor 0.8 → YTD earned 40,000 × 25 % × 0.8 = 8,000; pays 8,000.
    Q2 actual 300,000: YTD 500,000 / 500,000 = 100 % → 20,000 earned; pays 20,000 − 8,000 = 12,000.
    Q3 actual 150,000: YTD 650,000 / 750,000 = 86.67 % → 26,000.00; pays 6,000.
    Q4 actual 450,000: YTD 1,100,000 / 1,000,000 = 110 % → factor 1.2 → 48,000; pays 22,000.
    """
    results = plan_year_schedule(config(), D(40000), D(1000000), [D(200000), D(300000), D(150000), D(450000)],
                                 "USD", "HALF_UP")
    assert [r.ytd_earned for r in results] == [D("8000.00"), D("20000.00"), D("26000.00"), D("48000.00")]
    assert [r.amount for r in results] == [D("8000.00"), D("12000.00"), D("6000.00"), D("22000.00")]
    assert sum(r.amount for r in results) == D(48000)
    text = [str(s) for s in results[1].steps]
    assert "true-up: YTD earned 20,000.00 USD − YTD already paid 8,000.00 USD = 12,000.00 USD" in text, text


def test_never_negative_unless_the_plan_says_so() -> None:
    """Q1 overachieves (150 %: factor 2 → 20,000), Q2 sells nothing (YTD 75 % → 15,000 earned)."""
    never = amounts(config(), ["375000", "0"])
    assert never == [D("20000.00"), D("0.00")]
    last = plan_year_schedule(config(), D(40000), D(1000000), [D(375000), D(0)], "USD", "HALF_UP")[-1]
    assert last.due == D("-5000.00") and last.carried_overpayment == D("5000.00")
    assert any("never pays a negative true-up" in str(s) for s in last.steps)
    assert amounts(config(negative_true_up="allowed"), ["375000", "0"]) == [D("20000.00"), D("-5000.00")]
    # the carried overpayment is earned back before anything more is paid: Q3 125,000 brings YTD to
    # 500,000 / 750,000 = 66.67 % → 20,000 earned, all paid already; Q3 250,000 → 83.33 % → 25,000, pays 5,000.
    assert amounts(config(), ["375000", "0", "125000"]) == [D("20000.00"), D("0.00"), D("0.00")]
    assert amounts(config(), ["375000", "0", "250000"]) == [D("20000.00"), D("0.00"), D("5000.00")]


def test_explicit_period_shares() -> None:
    """Seasonal shares 10/20/30/40 %: Q1 quota 100,000; Q1 actual 100,000 is 100 % → 4,000."""
    cfg = config(shares=[10, 20, 30, 40])
    assert amounts(cfg, ["100000"]) == [D("4000.00")]
    with pytest.raises(ValidationError, match="sum to 90 %"):
        config(shares=[10, 20, 30, 30])
    with pytest.raises(ValidationError, match="3 shares for 4 periods"):
        config(shares=[30, 30, 40])


def test_accelerator_pays_only_when_ytd_attainment_reaches_the_gate() -> None:
    """Period basis: Q2 sells 150 % of its quota (factor 2) while YTD is 75 %: the accelerator is withheld."""
    cfg = config(basis="period", accelerator={"above": 1, "min_ytd_attainment": 1})
    results = plan_year_schedule(cfg, D(40000), D(1000000), [D(0), D(375000)], "USD", "HALF_UP")
    assert results[1].gate_open is False and results[1].factor == D(1)
    assert results[1].amount == D("10000.00")
    assert any("accelerator gate closed" in str(s) for s in results[1].steps)
    open_ = plan_year_schedule(cfg, D(40000), D(1000000), [D(250000), D(375000)], "USD", "HALF_UP")
    assert open_[1].gate_open is True and open_[1].amount == D("20000.00")
    # A gate on another KPI: its YTD attainment is given.
    other = config(accelerator={"above": 1, "min_ytd_attainment": 1, "measure": "new_customer_acquisition"})
    r = plan_year_period(other, D(40000), D(1000000), [D(375000)], D(0), "USD", "HALF_UP", D("0.9"))
    assert r.gate_open is False and r.amount == D("10000.00")


def test_refusals() -> None:
    with pytest.raises(DomainError, match="annual quota must be positive"):
        plan_year_period(config(), D(1), D(0), [D(1)], D(0), "USD", "HALF_UP")
    with pytest.raises(DomainError, match="outside the plan year"):
        plan_year_period(config(), D(1), D(1), [D(1)] * 5, D(0), "USD", "HALF_UP")
    with pytest.raises(ValidationError, match="strictly increasing"):
        config(curve=[[1, 0], [1, 1]])


splits = st.lists(st.integers(min_value=1, max_value=50), min_size=1, max_size=12)


@given(split=splits, total=st.decimals(min_value=0, max_value=3_000_000, places=2),
       weights=st.lists(st.integers(min_value=0, max_value=9), min_size=12, max_size=12),
       mode=st.sampled_from(["allowed", "never"]))
@settings(max_examples=200, deadline=None)
def test_ytd_true_up_sums_to_the_annual_result_whatever_the_split(split: list[int], total: Decimal,
                                                                   weights: list[int], mode: str) -> None:
    n = len(split)
    shares = [D(s) * 100 / sum(split) for s in split]
    shares = [s.quantize(D("0.000001")) for s in shares]
    shares[-1] = D(100) - sum(shares[:-1])
    if shares[-1] < 0:
        return
    w = weights[:n]
    if sum(w) == 0:
        w = [1] * n
    actuals = [(total * x / sum(w)).quantize(D("0.01")) for x in w]
    actuals[-1] = total - sum(actuals[:-1])
    cfg = PlanYearConfig.model_validate({"periods": n, "shares": shares, "curve": CURVE, "negative_true_up": mode})
    results = plan_year_schedule(cfg, D(40000), D(1000000), actuals, "USD", "HALF_EVEN")
    annual = plan_year_schedule(PlanYearConfig.model_validate({"periods": 1, "curve": CURVE}), D(40000),
                                D(1000000), [total], "USD", "HALF_EVEN")[0].amount
    paid = sum(r.amount for r in results)
    if mode == "allowed":
        assert paid == annual
    else:
        assert all(r.amount >= 0 for r in results)
        assert paid == max(r.ytd_earned for r in results) >= annual
