"""Deal-level commission: per transaction or cumulative, amount tables, split credit.

Worked examples from public documentation:
- Oracle Incentive Compensation (Oracle Sales Cloud), "Examples of Calculating Earnings Using Step Rates"
  (docs.oracle.com/en/cloud/saas/sales/facmi/examples-of-calculating-earnings-using-step-rates.html): tiers
  0–1,000 1 %, 1,000–3,000 2 %, 3,000–8,000 3 %, 8,000–20,000 5 %; transactions 200, 300, 1,500, 1,200, 2,000,
  4,500 processed individually pay 2, 3, 20, 14, 30, 95 = 164 USD.
- Oracle, "Examples of Calculating Earnings Using Interpolated Rates" (docs.oracle.com/cd/G11809_01/trans/F77870-03/
  examples-of-calculating-earnings-using-interpolated-rates.html): amount table 0–1,000: 10, 1,000–3,000: 40,
  3,000–8,000: 100, 8,000–20,000: 2,000; the same transactions pay 2, 3, 20, 14, 30, 80 = 149 USD.
- Oracle, "Options for Splitting Attainment Numbers Across Rate Tiers" (docs.oracle.com/en/cloud/saas/sales/facmi/
  options-for-splitting-attainment-numbers-across-rate-tiers.html): interpolated amount table on attainment
  0–25 %: 1,000, 25–50 %: 2,000, 50–100 %: 5,000, 100–999 %: 6,000; 12 % earns (12 / 25) × 1,000 = 480.
- Issue 13's example: tiers 0–1,000 at 1 % and 1,000–3,000 at 2 %, deals 500 and 2,500: 45 per transaction,
  50 cumulatively.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from domain.deals import (
    AmountTable,
    Deal,
    DealCommissionConfig,
    amount_table_value,
    credit_deal,
    credits_by_employee,
    deal_commission,
)
from domain.errors import DomainError

D = Decimal
STEP_TIERS = [{"from": 0, "rate": "0.01"}, {"from": 1000, "rate": "0.02"}, {"from": 3000, "rate": "0.03"},
              {"from": 8000, "rate": "0.05"}]
ORACLE_AMOUNTS = ["200", "300", "1500", "1200", "2000", "4500"]


def cfg(application: str, table: dict[str, Any]) -> DealCommissionConfig:
    return DealCommissionConfig.model_validate({"application": application, "table": table})


def deals(amounts: list[str], employee: str = "K1", currency: str = "USD") -> list[Deal]:
    return [Deal(id=f"T{i + 1}", closed_on=date(2015, 1, 1 + i), amount=D(a), currency=currency,
                 credits=({"employee_id": employee, "percent": 100},)) for i, a in enumerate(amounts)]


def run(c: DealCommissionConfig, amounts: list[str], ytd: str = "0") -> list[Decimal]:
    credits = credits_by_employee(deals(amounts))["K1"]
    return [line.amount for line in deal_commission(c, credits, "HALF_UP", D(ytd)).lines]


def test_issue_example_per_transaction_45_and_cumulative_50() -> None:
    table = {"kind": "rate", "mode": "marginal", "boundary": "upper",
             "tiers": [{"from": 0, "rate": "0.01"}, {"from": 1000, "rate": "0.02"}]}
    assert run(cfg("per_transaction", table), ["500", "2500"]) == [D(5), D(40)]
    assert run(cfg("cumulative", table), ["500", "2500"]) == [D(5), D(45)]
    credits = credits_by_employee(deals(["500", "2500"]))["K1"]
    result = deal_commission(cfg("cumulative", table), credits, "HALF_UP")
    assert result.total == D(50) and result.ytd_after == D(3000)
    second = result.lines[1]
    assert (second.ytd_before, second.ytd_after) == (D(500), D(3000))
    text = " | ".join(str(s) for s in second.steps)
    assert "500–1000: 500 × 1 % = 5" in text and "1000–3000: 2000 × 2 % = 40" in text, text


def test_oracle_step_rates_individually_164() -> None:
    c = cfg("per_transaction", {"kind": "rate", "mode": "marginal", "boundary": "upper", "tiers": STEP_TIERS})
    paid = run(c, ORACLE_AMOUNTS)
    assert paid == [D(2), D(3), D(20), D(14), D(30), D(95)]
    assert sum(paid) == D(164)


def test_cumulative_marginal_is_the_table_on_the_year_total() -> None:
    """Derived from the same Oracle table: cumulatively the deals pay what the table gives on 9,700 in all."""
    c = cfg("cumulative", {"kind": "rate", "mode": "marginal", "boundary": "upper", "tiers": STEP_TIERS})
    paid = run(c, ORACLE_AMOUNTS)
    assert paid == [D(2), D(3), D(25), D(26), D(60), D(169)]
    assert sum(paid) == D(10) + D(40) + D(150) + D(85)


def test_oracle_interpolated_amounts_individually_149() -> None:
    table = {"kind": "amount", "mode": "interpolated", "to": 20000,
             "tiers": [{"from": 0, "amount": 10}, {"from": 1000, "amount": 40}, {"from": 3000, "amount": 100},
                       {"from": 8000, "amount": 2000}]}
    paid = run(cfg("per_transaction", table), ORACLE_AMOUNTS)
    assert paid == [D(2), D(3), D(20), D(14), D(30), D(80)]
    assert sum(paid) == D(149)
    cumulative = run(cfg("cumulative", table), ORACLE_AMOUNTS)
    value, _ = amount_table_value(AmountTable.model_validate(table), D(9700))
    assert value.quantize(D("1e-20")) == D("433.33333333333333333333")  # 10 + 40 + 100 + 2,000 × 1,700 / 12,000
    assert sum(cumulative) == D("433.33")  # 2 + 3 + 25 + 24 + 40 + 339.33, each deal rounded once


def test_oracle_interpolated_attainment_12_percent_earns_480() -> None:
    table = AmountTable.model_validate({"mode": "interpolated", "to": 999, "tiers": [
        {"from": 0, "amount": 1000}, {"from": 25, "amount": 2000}, {"from": 50, "amount": 5000},
        {"from": 100, "amount": 6000}]})
    value, steps = amount_table_value(table, D(12))
    assert value == D(480)
    assert str(steps[0]) == "tier 0–25 reached to 12: 1000 × 12 / 25 = 480"
    assert amount_table_value(table, D(75))[0] == D(1000) + D(2000) + D(2500)
    assert amount_table_value(table, D(5000))[0] == D(14000)  # above 'to': every tier in full


def test_flat_amount_table_pays_the_tier_reached_with_the_declared_edge_owner() -> None:
    tiers = [{"from": 0, "amount": 0}, {"from": 1000, "amount": 50}, {"from": 3000, "amount": 200}]
    upper = AmountTable.model_validate({"mode": "flat", "boundary": "upper", "tiers": tiers})
    lower = AmountTable.model_validate({"mode": "flat", "boundary": "lower", "tiers": tiers})
    assert amount_table_value(upper, D(3000))[0] == D(200)
    assert amount_table_value(lower, D(3000))[0] == D(50)
    assert amount_table_value(upper, D(999))[0] == D(0)


def test_cumulative_retroactive_rates_the_deal_at_the_tier_the_total_reaches() -> None:
    table = {"kind": "rate", "mode": "retroactive", "boundary": "upper",
             "tiers": [{"from": 0, "rate": "0.01"}, {"from": 1000, "rate": "0.02"}]}
    # 500 at 1 %; the total then reaches 3,000 (tier from 1,000), so the 2,500 deal pays 2 % on itself only.
    assert run(cfg("cumulative", table), ["500", "2500"]) == [D(5), D(50)]
    assert run(cfg("per_transaction", table), ["500", "2500"]) == [D(5), D(50)]
    assert run(cfg("per_transaction", table), ["500", "900"]) == [D(5), D(9)]
    assert run(cfg("cumulative", table), ["500", "900"]) == [D(5), D(18)]


def test_cumulative_starts_where_earlier_periods_left_the_total() -> None:
    table = {"kind": "rate", "mode": "marginal", "boundary": "upper",
             "tiers": [{"from": 0, "rate": "0.01"}, {"from": 1000, "rate": "0.02"}]}
    assert run(cfg("cumulative", table), ["2500"], ytd="500") == [D(45)]


def test_split_credit_sums_exactly_and_commission_follows_each_share() -> None:
    deal = Deal(id="D1", closed_on=date(2024, 3, 1), amount=D("1000.01"), currency="USD",
                credits=({"employee_id": "K1", "percent": 50}, {"employee_id": "K2", "percent": 50}))
    parts = credit_deal(deal)
    assert [p.amount for p in parts] == [D("500.01"), D("500.00")]
    assert str(parts[0].step) == "deal D1 of 1,000.01 USD: 50 % credited to K1 = 500.01 USD"
    three = Deal(id="D2", closed_on=date(2024, 3, 1), amount=D("8.00"), currency="USD",
                 credits=({"employee_id": "A", "percent": "33.3333"}, {"employee_id": "B", "percent": "33.3333"},
                          {"employee_id": "C", "percent": "33.3334"}))
    assert [p.amount for p in credit_deal(three)] == [D("2.67"), D("2.66"), D("2.67")]


def test_refusals_name_the_field() -> None:
    with pytest.raises(ValidationError, match="sum to 90 %"):
        Deal(id="D1", closed_on=date(2024, 1, 1), amount=D(1), currency="USD",
             credits=({"employee_id": "K1", "percent": 60}, {"employee_id": "K2", "percent": 30}))
    with pytest.raises(ValidationError, match="needs 'to'"):
        AmountTable.model_validate({"mode": "interpolated", "tiers": [{"from": 0, "amount": 1}]})
    with pytest.raises(ValidationError, match="strictly increasing"):
        AmountTable.model_validate({"mode": "flat", "tiers": [{"from": 5, "amount": 1}, {"from": 5, "amount": 2}]})
    with pytest.raises(ValidationError, match="never fall"):
        DealCommissionConfig.model_validate({"application": "cumulative", "table": {
            "kind": "amount", "mode": "flat", "tiers": [{"from": 0, "amount": 5}, {"from": 10, "amount": 1}]}})
    with pytest.raises(ValidationError, match="application"):
        DealCommissionConfig.model_validate({"application": "monthly", "table": {
            "mode": "marginal", "boundary": "upper", "tiers": STEP_TIERS}})
    c = cfg("cumulative", {"kind": "rate", "mode": "marginal", "boundary": "upper", "tiers": STEP_TIERS})
    credits = credits_by_employee(deals(["1"], "K1") + deals(["1"], "K2", "USD")[:0])["K1"]
    with pytest.raises(DomainError, match="appears twice"):
        deal_commission(c, credits + credits, "HALF_UP")
    with pytest.raises(DomainError, match="several currencies"):
        deal_commission(c, credits + credits_by_employee([deals(["1"], currency="EUR")[0].model_copy(
            update={"id": "X"})])["K1"], "HALF_UP")


tables = st.sampled_from([
    {"kind": "rate", "mode": "marginal", "boundary": "upper", "tiers": STEP_TIERS},
    {"kind": "rate", "mode": "retroactive", "boundary": "lower", "tiers": STEP_TIERS},
])


@given(amounts=st.lists(st.decimals(min_value=0, max_value=30000, places=2), min_size=1, max_size=8))
@settings(max_examples=150, deadline=None)
def test_cumulative_marginal_deals_add_up_to_the_table_on_the_total(amounts: list[Decimal]) -> None:
    c = cfg("cumulative", {"kind": "rate", "mode": "marginal", "boundary": "upper", "tiers": STEP_TIERS})
    credits = credits_by_employee(deals([str(a) for a in amounts]))["K1"]
    result = deal_commission(c, credits, "HALF_EVEN")
    whole = deal_commission(cfg("per_transaction", c.table.model_dump(by_alias=True)),
                            credits_by_employee(deals([str(sum(amounts))]))["K1"], "HALF_EVEN")
    unrounded = sum((line.unrounded for line in result.lines), D(0))
    assert unrounded == whole.lines[0].unrounded
    assert abs(result.total - whole.total) <= D("0.005") * len(amounts) + D("0.005")


@given(amount=st.decimals(min_value=0, max_value=10 ** 9, places=2),
       shares=st.lists(st.integers(min_value=1, max_value=1000), min_size=1, max_size=6))
@settings(max_examples=200, deadline=None)
def test_split_credits_sum_to_the_deal(amount: Decimal, shares: list[int]) -> None:
    total = sum(shares)
    percents = [D(s) * 100 / total for s in shares]
    percents = [p.quantize(D("0.0001")) for p in percents]
    percents[-1] = D(100) - sum(percents[:-1])
    if percents[-1] < 0:
        return
    deal = Deal(id="D", closed_on=date(2024, 1, 1), amount=amount, currency="USD",
                credits=tuple({"employee_id": f"K{i}", "percent": p} for i, p in enumerate(percents)))
    parts = credit_deal(deal)
    assert sum(p.amount for p in parts) == amount
    for p in parts:
        assert abs(p.amount - amount * p.percent / 100) < D("0.01")


def test_a_plan_declares_the_sales_features_and_old_plans_stay_valid() -> None:
    from domain.incentives import IncentivePlan

    base = {"id": "kam-sales", "version": 1, "rounding": "HALF_UP", "target_incentive": {"by_grade": {"K1": 40000}}}
    assert IncentivePlan.model_validate(base).deal_commission is None
    full = IncentivePlan.model_validate({
        **base,
        "deal_commission": {"application": "cumulative", "table": {
            "kind": "rate", "mode": "marginal", "boundary": "upper", "tiers": STEP_TIERS}},
        "plan_year": {"periods": 4, "shares": [10, 20, 30, 40], "curve": [[0, 0], [1, 1], [2, 3]],
                      "accelerator": {"above": 1, "min_ytd_attainment": 1}},
        "draw": {"kind": "recoverable", "amount": 2000, "periods": 6, "recovery_pct": 50, "recovery_periods": 6,
                 "at_end": "write_off"},
        "clawback": {"mode": "early_termination", "windows": [{"within_days": 90, "percent": 50}]},
    })
    assert IncentivePlan.model_validate_json(full.model_dump_json()) == full
    commission_only = IncentivePlan.model_validate({"id": "c", "version": 1, "rounding": "HALF_UP",
                                                    "deal_commission": full.deal_commission.model_dump(by_alias=True)})
    assert commission_only.deal_commission == full.deal_commission
    with pytest.raises(ValidationError, match="no deal_commission"):
        IncentivePlan.model_validate({**base, "clawback": {"mode": "full"}})
    with pytest.raises(ValidationError, match="no target incentive"):
        IncentivePlan.model_validate({"id": "c", "version": 1, "rounding": "HALF_UP",
                                      "deal_commission": full.deal_commission.model_dump(by_alias=True),
                                      "plan_year": {"periods": 4, "curve": [[0, 0], [1, 1]]}})
    with pytest.raises(ValidationError) as info:
        IncentivePlan.model_validate({**base, "draw": {"kind": "recoverable", "amount": -1}})
    assert info.value.errors()[0]["loc"] == ("draw", "amount")


@given(amounts=st.lists(st.decimals(min_value=0, max_value=30000, places=2), min_size=1, max_size=6),
       mode=st.sampled_from(["marginal", "retroactive"]), boundary=st.sampled_from(["upper", "lower"]))
@settings(max_examples=150, deadline=None)
def test_per_transaction_is_the_period_commission_on_each_deal(amounts: list[Decimal], mode: str, boundary: str) -> None:
    """Per transaction, a deal pays exactly what domain.incentives.commission gives on its amount alone."""
    from domain.incentives import CommissionTier, commission

    table = {"kind": "rate", "mode": mode, "boundary": boundary, "tiers": STEP_TIERS}
    credits = credits_by_employee(deals([str(a) for a in amounts]))["K1"]
    lines = deal_commission(cfg("per_transaction", table), credits, "HALF_UP").lines
    tiers = [CommissionTier.model_validate(t) for t in STEP_TIERS]
    assert [ln.unrounded for ln in lines] == [commission(tiers, mode, boundary, a) for a in amounts]


def test_an_existing_plan_dumps_as_before() -> None:
    """A cycle's digest (services.cycles.config_digest) hashes the plan's dump: unset sales blocks stay out of it."""
    from domain.incentives import SALES_FIELDS, IncentivePlan

    base = {"id": "kam", "version": 1, "rounding": "HALF_UP", "target_incentive": {"by_grade": {"K1": 1}},
            "commission": {"mode": "marginal", "boundary": "upper", "tiers": [{"from": 0, "rate": "0.01"}]}}
    plan = IncentivePlan.model_validate(base)
    for dumped in (plan.model_dump(), plan.model_dump(mode="json"), json.loads(plan.model_dump_json())):
        assert not set(SALES_FIELDS) & set(dumped)
    with_draw = IncentivePlan.model_validate({**base, "draw": {"kind": "non_recoverable", "amount": 100}})
    assert with_draw.model_dump(mode="json")["draw"]["amount"] == "100"
    assert IncentivePlan.model_validate(with_draw.model_dump(mode="json")) == with_draw
