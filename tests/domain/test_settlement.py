"""A KAM's plan year put together: deals, a recoverable draw, a clawback, and the ledger between periods.

The figures are this project's own worked example (the README's example grows from it): each part follows the
public examples cited in test_deals, test_draws and test_clawbacks.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from domain.clawbacks import ClawbackConfig, DealEvent, PaidDeal
from domain.deals import Deal, DealCommissionConfig, credits_by_employee
from domain.draws import DrawConfig
from domain.errors import DomainError
from domain.settlement import settle_period

D = Decimal
DEALS = DealCommissionConfig.model_validate({"application": "cumulative", "table": {
    "kind": "rate", "mode": "marginal", "boundary": "upper",
    "tiers": [{"from": 0, "rate": "0.02"}, {"from": 100000, "rate": "0.04"}]}})
DRAW = DrawConfig(kind="recoverable", amount=D(2000), periods=4)
CLAW = ClawbackConfig.model_validate({"mode": "early_termination", "windows": [{"within_days": 90, "percent": 50}]})


def deal(deal_id: str, closed: date, amount: int) -> Deal:
    return Deal(id=deal_id, closed_on=closed, amount=D(amount), currency="CNY",
                credits=({"employee_id": "K01", "percent": 100},))


def test_three_quarters_with_a_draw_and_a_clawback() -> None:
    common = {"employee_id": "K01", "currency": "CNY", "rounding": "HALF_UP", "deal_cfg": DEALS, "draw": DRAW,
              "clawback": CLAW}
    # Q1: D1 50,000 at 2 % = 1,000; the draw tops up to 2,000 and 1,000 is owed back.
    q1 = settle_period(cycle_id="2025-Q1", index=0, credits=credits_by_employee([deal("D1", date(2025, 1, 15), 50000)])
                       ["K01"], **common)
    assert [(ln.kind, ln.amount) for ln in q1.lines] == [("deal_commission", D("1000.00")), ("draw", D("1000.00"))]
    assert q1.net == D(2000) and q1.ledger is not None and q1.ledger.closing_balance == D(1000)
    # Q2: D2 100,000 continues from 50,000: 50,000 × 2 % + 50,000 × 4 % = 3,000; 1,000 above the draw repays the debt.
    q2 = settle_period(cycle_id="2025-Q2", index=1, ytd_credited_before=q1.ytd_credited_after,
                       credits=credits_by_employee([deal("D2", date(2025, 4, 10), 100000)])["K01"],
                       draw_balance=q1.ledger.closing_balance, **common)
    assert [(ln.kind, ln.amount) for ln in q2.lines] == [("deal_commission", D("3000.00")),
                                                          ("draw_recovery", D("-1000.00"))]
    assert q2.net == D(2000) and q2.ledger is not None and q2.ledger.closing_balance == D(0)
    # Q3: D1's customer left on 2025-03-31, 75 days after closing: half of its 1,000 comes back; no new deals, so
    # the draw tops up to 2,000 (owed back later); the clawback is its own negative line.
    paid = [PaidDeal(deal_id="D1", employee_id="K01", closed_on=date(2025, 1, 15), paid=D(1000), currency="CNY")]
    q3 = settle_period(cycle_id="2025-Q3", index=2, ytd_credited_before=q2.ytd_credited_after,
                       draw_balance=q2.ledger.closing_balance, paid_deals=paid,
                       events=[DealEvent(deal_id="D1", kind="churned", on=date(2025, 3, 31))], **common)
    assert [(ln.kind, ln.amount) for ln in q3.lines] == [("draw", D("2000.00")), ("clawback", D("-500.00"))]
    assert q3.net == D(1500)
    assert q3.ledger is not None and (q3.ledger.clawed_back, q3.ledger.closing_balance) == (D(500), D(2000))
    assert str(q3.steps[-1]) == "net for the period: 1,500.00 CNY"


def test_a_net_negative_settlement_is_a_negative_line() -> None:
    paid = [PaidDeal(deal_id="D1", employee_id="K01", closed_on=date(2025, 1, 15), paid=D(10000), currency="CNY")]
    s = settle_period(employee_id="K01", cycle_id="Q2", index=0, currency="CNY", rounding="HALF_UP", clawback=CLAW,
                      deal_cfg=DEALS, paid_deals=paid, other_earned=D(1000),
                      events=[DealEvent(deal_id="D1", kind="cancelled", on=date(2025, 2, 1))])
    assert s.net == D(-4000)
    assert "negative settlement for payroll to recover" in str(s.steps[-1])


def test_refusals() -> None:
    with pytest.raises(DomainError, match="no clawback rules"):
        settle_period(employee_id="K01", cycle_id="Q", index=0, currency="CNY", rounding="HALF_UP",
                      events=[DealEvent(deal_id="D1", kind="cancelled", on=date(2025, 2, 1))])
    with pytest.raises(DomainError, match="no deal_commission"):
        settle_period(employee_id="K01", cycle_id="Q", index=0, currency="CNY", rounding="HALF_UP",
                      credits=credits_by_employee([deal("D1", date(2025, 1, 1), 1)])["K01"])


def test_plan_year_bonus_counts_towards_the_draw() -> None:
    from domain.planyear import PlanYearConfig

    year = PlanYearConfig.model_validate({"periods": 4, "curve": [[0, 0], [1, 1], [2, 3]]})
    # YTD 80 % of the Q1 quota → 8,000 bonus; with a 10,000 non-recoverable guarantee the draw adds 2,000.
    s = settle_period(employee_id="K01", cycle_id="Q1", index=0, currency="CNY", rounding="HALF_UP", plan_year=year,
                      annual_target=D(40000), annual_quota=D(1000000), actuals=[D(200000)],
                      draw=DrawConfig(kind="non_recoverable", amount=D(10000)))
    assert [(ln.kind, ln.amount) for ln in s.lines] == [("plan_year_bonus", D("8000.00")), ("draw", D("2000.00"))]
    assert s.net == D(10000) and s.plan_year is not None and s.plan_year.ytd_earned == D(8000)
    with pytest.raises(DomainError, match="one per period so far"):
        settle_period(employee_id="K01", cycle_id="Q2", index=1, currency="CNY", rounding="HALF_UP", plan_year=year,
                      annual_target=D(1), annual_quota=D(1), actuals=[D(1)])


def test_stored_steps_are_formatted_for_the_reader() -> None:
    """A step stored as JSON (a jsonb column, a Temporal payload) reads like the fresh one, in either language."""
    from domain.settlement import Settlement
    from i18n.format import Formatter

    s = settle_period(employee_id="K01", cycle_id="2025-Q1", index=0, currency="CNY", rounding="HALF_UP",
                      deal_cfg=DEALS, draw=DRAW, credits=credits_by_employee([deal("D1", date(2025, 1, 15), 50000)])["K01"])
    stored = Settlement.model_validate_json(s.model_dump_json())
    assert stored == s
    zh, en = Formatter(locale="zh-CN"), Formatter(locale="en")
    assert zh.text(stored.steps[-1]) == "本期净额：¥2,000.00"
    assert en.text(stored.steps[-1]) == "net for the period: CN¥2,000.00"
    assert zh.text(stored.lines[0].steps[0]) == "成交 D1 金额 ¥50,000.00：K01 分得 100% = ¥50,000.00"
