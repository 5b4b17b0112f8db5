"""Draws and guarantees: non-recoverable top-ups, recoverable balances, the ledger across periods.

Worked examples from public documentation:
- Oracle Siebel Incentive Compensation, "Recoverable Draw Scenario"
  (docs.oracle.com/cd/E05553_01/books/InCompAdm/InCompAdmPlanDesign8.html): draw 2,000 a month for the first six
  months; earnings 2,750, 3,000, 1,500, 2,375, 3,000, 2,750 give net 2,750, 3,000, 2,000, 2,000, 2,875, 2,750
  (March's 500 top-up is owed; April repays 375 of it, May the last 125).
- Xactly, "The Non-Recoverable Draw Against Commission" (xactlycorp.com/blog/non-recoverable-draw/): a 1,500 draw,
  August earns 500 → paid 1,500 with 1,000 owed if recoverable; September earns 3,000 → 2,000 after repaying
  (recoverable) or 3,000 (non-recoverable).
- QCommission, "Recoverable vs Non-Recoverable Draw" (qcommission.com/blog/recoverable-vs-non-recoverable-draw-what-
  is-the-difference.html): a 2,000 non-recoverable draw, earning 1,000 pays 2,000; earning 4,000 pays 4,000.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from domain.draws import DrawConfig, draw_ledger, draw_period
from domain.errors import DomainError

D = Decimal


def cfg(**changes: Any) -> DrawConfig:
    data: dict[str, Any] = {"kind": "recoverable", "amount": 2000}
    data.update(changes)
    return DrawConfig.model_validate(data)


def ledger(c: DrawConfig, earned: list[int], **kw: Any) -> list[Any]:
    return draw_ledger(c, [D(e) for e in earned], "USD", "HALF_UP", **kw)


def test_oracle_recoverable_draw_scenario() -> None:
    rows = ledger(cfg(periods=6), [2750, 3000, 1500, 2375, 3000, 2750])
    assert [r.paid for r in rows] == [D(2750), D(3000), D(2000), D(2000), D(2875), D(2750)]
    assert [r.closing_balance for r in rows] == [D(0), D(0), D(500), D(125), D(0), D(0)]
    assert [r.drawn for r in rows] == [D(0), D(0), D(500), D(0), D(0), D(0)]
    assert [r.recovered for r in rows] == [D(0), D(0), D(0), D(375), D(125), D(0)]
    text = [str(s) for s in rows[3].steps]
    assert text[-1] == ("paid: earned 2,375.00 USD + drawn 0.00 USD − recovered 375.00 USD − clawed back 0.00 USD = "
                        "2,000.00 USD; balance owed 125.00 USD"), text


def test_xactly_recoverable_and_non_recoverable() -> None:
    rec = ledger(cfg(amount=1500), [500, 3000])
    assert [(r.paid, r.closing_balance) for r in rec] == [(D(1500), D(1000)), (D(2000), D(0))]
    non = ledger(cfg(kind="non_recoverable", amount=1500), [500, 3000])
    assert [(r.paid, r.closing_balance) for r in non] == [(D(1500), D(0)), (D(3000), D(0))]


def test_qcommission_non_recoverable() -> None:
    rows = ledger(cfg(kind="non_recoverable"), [1000, 4000])
    assert [r.paid for r in rows] == [D(2000), D(4000)]
    assert "not owed back" in str(rows[0].steps[0])


def test_recovery_capped_at_a_percent_of_the_excess() -> None:
    """Draw 2,000, recover at most 50 % of what is earned above it: 1,000 owed, 3,000 earned → 500 recovered."""
    rows = ledger(cfg(recovery_pct=50), [1000, 3000, 3000])
    assert [r.recovered for r in rows] == [D(0), D(500), D(500)]
    assert [r.paid for r in rows] == [D(2000), D(2500), D(2500)]
    assert rows[-1].closing_balance == D(0)


def test_after_the_guarantee_earnings_recover_in_full_then_write_off_or_carry() -> None:
    """Guarantee for 1 period, recovery for 1 more: 1,500 owed, 600 earned in period 2 → 600 recovered, 900 left."""
    off = ledger(cfg(periods=1, recovery_periods=1, at_end="write_off"), [500, 600, 5000])
    assert [r.recovered for r in off] == [D(0), D(600), D(0)]
    assert off[1].written_off == D(900) and off[1].closing_balance == D(0)
    assert off[2].paid == D(5000) and off[2].guarantee == D(0)
    carry = ledger(cfg(periods=1, recovery_periods=1, at_end="carry"), [500, 600, 5000])
    assert carry[1].carried == D(900) and carry[1].closing_balance == D(900)
    assert carry[2].recovered == D(0) and carry[2].closing_balance == D(900)  # carried to next year, not recovered
    assert any("recovery period has ended" in str(s) for s in carry[2].steps)


def test_clawbacks_are_shown_but_never_topped_up() -> None:
    rows = ledger(cfg(), [2500, 0], clawed_back=[D(3000), D(0)])
    assert rows[0].paid == D(-500)  # a negative settlement stays negative, for payroll to recover
    assert rows[0].drawn == D(0) and rows[0].closing_balance == D(0)
    assert rows[1].paid == D(2000) and rows[1].closing_balance == D(2000)


def test_per_person_amount_and_refusals() -> None:
    assert draw_period(cfg(), 0, D(0), D(0), "USD", "HALF_UP", amount=D(3000)).paid == D(3000)
    with pytest.raises(DomainError, match="more decimals than JPY"):
        draw_period(cfg(), 0, D("1.5"), D(0), "JPY", "HALF_UP")
    with pytest.raises(ValidationError, match="kind"):
        DrawConfig.model_validate({"kind": "maybe", "amount": 1})
    with pytest.raises(ValidationError, match="outside the allowed range"):
        cfg(recovery_pct=150)
    with pytest.raises(DomainError, match="one per period"):
        ledger(cfg(), [1, 2], clawed_back=[D(0)])


money = st.decimals(min_value=0, max_value=20000, places=2)


@given(earned=st.lists(money, min_size=1, max_size=12), draw=money, kind=st.sampled_from(["recoverable", "non_recoverable"]),
       pct=st.decimals(min_value=0, max_value=100, places=2), periods=st.none() | st.integers(min_value=1, max_value=12),
       recovery=st.none() | st.integers(min_value=0, max_value=6))
@settings(max_examples=300, deadline=None)
def test_draws_never_pay_below_the_guarantee(earned: list[Decimal], draw: Decimal, kind: str, pct: Decimal,
                                             periods: int | None, recovery: int | None) -> None:
    c = DrawConfig.model_validate({"kind": kind, "amount": draw, "recovery_pct": pct, "periods": periods,
                                   "recovery_periods": recovery})
    rows = draw_ledger(c, earned, "USD", "HALF_EVEN")
    for i, r in enumerate(rows):
        if periods is None or i < periods:
            assert r.paid >= draw
        assert r.paid >= 0
        assert r.closing_balance >= 0
        if kind == "non_recoverable":
            assert r.closing_balance == 0 and r.paid == max(r.earned, r.guarantee)
    # the ledger balances: everything drawn is recovered, written off or still owed
    assert sum(r.drawn for r in rows) == (sum(r.recovered for r in rows) + sum(r.written_off for r in rows)
                                          + rows[-1].closing_balance) or kind == "non_recoverable"
