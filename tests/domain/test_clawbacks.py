"""Clawbacks: full, percent, early termination; the paid line untouched; reinstatement nets to zero.

Worked examples from public documentation:
- core8, "Clawbacks and early exit" (docs.core8.co/commission-plan-patterns/clawbacks-and-early-exit): earned
  commission 10,000, early termination triggers a 50 % clawback → an adjustment of −5,000 in the clawback period,
  the original payout left as it is.
- Zepys, "How to handle refunds and clawbacks with agents" (zepys.com/learn/how-to-handle-refunds-and-clawbacks-
  with-agents): a clawback window of 30–90 days after the sale; after it the commission is final.
- Siebel Incentive Compensation, "Canceling a Transaction" (docs.oracle.com/cd/E05553_01/books/InCompAdm/
  InCompAdmTransWorkbook11.html): an order booked in January and cancelled in June is adjusted in the current
  period; the original record becomes read-only.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from domain.clawbacks import ClawbackConfig, DealEvent, PaidDeal, clawback_lines
from domain.draws import DrawConfig, draw_ledger
from domain.errors import DomainError

D = Decimal
CLOSED = date(2024, 1, 15)
EARLY = {"mode": "early_termination", "windows": [{"within_days": 90, "percent": 50}]}


def cfg(data: dict[str, Any]) -> ClawbackConfig:
    return ClawbackConfig.model_validate(data)


def paid(amount: str = "10000", employee: str = "K1", deal: str = "D1") -> PaidDeal:
    return PaidDeal(deal_id=deal, employee_id=employee, closed_on=CLOSED, paid=D(amount), currency="USD")


def event(kind: str, days: int, deal: str = "D1", **kw: Any) -> DealEvent:
    return DealEvent(deal_id=deal, kind=kind, on=CLOSED + timedelta(days=days), **kw)


def test_core8_early_termination_50_percent_of_10000() -> None:
    original = paid()
    lines = clawback_lines(cfg(EARLY), [original], [event("churned", 60)], "2024-Q2", "HALF_UP")
    assert [ln.amount for ln in lines] == [D("-5000.00")]
    line = lines[0]
    assert line.cycle_id == "2024-Q2" and line.idempotency_key == "2024-Q2:K1:clawback-D1:1"
    assert original.paid == D(10000)  # the paid line is never edited
    fields = line.payout_fields()
    assert fields["line_type"] == "adjustment" and fields["adjusts"] == "commission"
    text = [str(s) for s in line.steps]
    assert "the customer left 60 days after the deal closed, within 90 days: the plan takes back 50%" in text, text
    assert text[-1] == "a new line of -5,000.00 USD in 2024-Q2; the paid line is not changed"


def test_after_the_last_window_the_commission_is_final() -> None:
    assert clawback_lines(cfg(EARLY), [paid()], [event("churned", 91)], "Q3", "HALF_UP") == []
    tiered = cfg({"mode": "early_termination", "windows": [{"within_days": 30, "percent": 100},
                                                           {"within_days": 90, "percent": 50}]})
    assert [ln.amount for ln in clawback_lines(tiered, [paid()], [event("cancelled", 30)], "Q", "HALF_UP")] == [D(-10000)]
    assert [ln.amount for ln in clawback_lines(tiered, [paid()], [event("cancelled", 31)], "Q", "HALF_UP")] == [D(-5000)]


def test_full_percent_and_partial_refund() -> None:
    assert clawback_lines(cfg({"mode": "full"}), [paid("1234.56")], [event("cancelled", 400)], "Q",
                          "HALF_UP")[0].amount == D("-1234.56")
    assert clawback_lines(cfg({"mode": "percent", "percent": 25}), [paid("1000")], [event("cancelled", 5)], "Q",
                          "HALF_UP")[0].amount == D("-250.00")
    # a 40 % refund of a deal paid 1,000.01 takes back 400.004 → 400.00
    refund = clawback_lines(cfg({"mode": "full"}), [paid("1000.01")], [event("refunded", 5, refunded_pct=40)], "Q",
                            "HALF_UP")
    assert refund[0].amount == D("-400.00")


def test_split_deal_claws_back_each_share_and_never_more_than_paid() -> None:
    shares = [paid("600", "K1"), paid("400", "K2")]
    lines = clawback_lines(cfg({"mode": "full"}), shares, [event("refunded", 5, refunded_pct=70),
                                                           event("cancelled", 9)], "Q", "HALF_UP")
    assert [(ln.employee_id, ln.amount) for ln in lines] == [("K1", D(-420)), ("K2", D(-280)), ("K1", D(-180)),
                                                             ("K2", D(-120))]
    assert any("only 180.00 USD is left" in str(s) for s in lines[2].steps)


def test_reinstatement_gives_back_what_was_clawed() -> None:
    lines = clawback_lines(cfg(EARLY), [paid()], [event("churned", 10), event("reinstated", 20)], "Q", "HALF_UP")
    assert [ln.amount for ln in lines] == [D(-5000), D(5000)]
    assert lines[1].clawed_back_after == 0
    # a reinstatement in a later period reads what earlier periods clawed back
    later = clawback_lines(cfg(EARLY), [paid()], [event("reinstated", 40)], "Q3", "HALF_UP",
                           clawed_before={("D1", "K1"): D(5000)}, sequence_start=2)
    assert [(ln.amount, ln.idempotency_key) for ln in later] == [(D(5000), "Q3:K1:clawback-D1:2")]


def test_a_net_negative_settlement_stays_negative() -> None:
    """Period earnings 1,000, a 5,000 clawback: the settlement is −4,000 for payroll to recover, not 0 or +."""
    claw = clawback_lines(cfg(EARLY), [paid()], [event("churned", 10)], "Q2", "HALF_UP")
    taken = -sum(ln.amount for ln in claw)
    rows = draw_ledger(DrawConfig(kind="non_recoverable", amount=D(0)), [D(1000)], "USD", "HALF_UP", clawed_back=[taken])
    assert rows[0].paid == D(-4000)


def test_refusals() -> None:
    with pytest.raises(ValidationError, match="needs 'percent'"):
        cfg({"mode": "percent"})
    with pytest.raises(ValidationError, match="at least one window"):
        cfg({"mode": "early_termination"})
    with pytest.raises(ValidationError, match="strictly increasing"):
        cfg({"mode": "early_termination", "windows": [{"within_days": 90, "percent": 50},
                                                       {"within_days": 30, "percent": 100}]})
    with pytest.raises(DomainError, match="twice"):
        clawback_lines(cfg(EARLY), [paid(), paid()], [event("churned", 10)], "Q", "HALF_UP")
    with pytest.raises(DomainError, match="no paid commission"):
        clawback_lines(cfg(EARLY), [paid()], [event("churned", 10, deal="D9")], "Q", "HALF_UP")


@given(amount=st.decimals(min_value=0, max_value=10 ** 7, places=2),
       pct=st.decimals(min_value=0, max_value=100, places=2),
       refunded=st.decimals(min_value=0, max_value=100, places=2),
       days=st.integers(min_value=0, max_value=400),
       mode=st.sampled_from(["full", "percent", "early_termination"]),
       kinds=st.lists(st.sampled_from(["cancelled", "refunded", "churned"]), min_size=1, max_size=3))
@settings(max_examples=200, deadline=None)
def test_clawback_then_reinstatement_nets_to_zero(amount: Decimal, pct: Decimal, refunded: Decimal, days: int,
                                                  mode: str, kinds: list[str]) -> None:
    data: dict[str, Any] = {"mode": mode}
    if mode == "percent":
        data["percent"] = pct
    if mode == "early_termination":
        data["windows"] = [{"within_days": 90, "percent": pct}]
    events = [event(k, days + i, refunded_pct=refunded) for i, k in enumerate(kinds)]
    events.append(event("reinstated", days + 10))
    lines = clawback_lines(cfg(data), [paid(str(amount))], events, "Q", "HALF_EVEN")
    assert sum(ln.amount for ln in lines) == 0
    assert all(ln.amount < 0 for ln in lines if ln.kind != "reinstated")
    running = D(0)
    for ln in lines:
        running -= ln.amount
        assert D(0) <= running <= amount  # never more than was paid
