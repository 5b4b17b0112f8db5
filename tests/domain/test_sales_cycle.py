"""A cycle's sales lines and ledger from the pure settlement: two linked periods with a draw and a clawback.

The worked example (also the README's): cumulative deal commission 2 % to 100,000 and 4 % above, a recoverable
draw of 2,000 per period, 50 % of a deal's commission back when the customer leaves within 90 days.
Q3: deal D1 of 50,000 pays 1,000; the draw tops it up by 1,000 (owed back). Q4: D1's customer left on 20 Aug
(36 days after closing) → −500; D2 of 100,000 continues the YTD total from 50,000: 50,000 × 2 % + 50,000 × 4 %
= 3,000; 1,000 above the draw recovers the 1,000 owed. Q4 pays 3,000 − 1,000 − 500 = 1,500.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from domain.clawbacks import DealEvent
from domain.deals import Deal, credit_deal
from domain.incentives import IncentiveInput, IncentivePlan, delta_lines
from domain.sales_cycle import (
    LockedLine,
    PersonPeriod,
    ledger_entries,
    ledger_movements,
    pending_events,
    person_year,
    settle_cycle,
)

PLAN = IncentivePlan.model_validate({
    "id": "kam-deals", "version": 1, "rounding": "HALF_UP",
    "deal_commission": {"application": "cumulative", "table": {
        "kind": "rate", "mode": "marginal", "boundary": "upper",
        "tiers": [{"from": 0, "rate": "0.02"}, {"from": 100000, "rate": "0.04"}]}},
    "draw": {"kind": "recoverable", "amount": 2000},
    "clawback": {"mode": "early_termination", "windows": [{"within_days": 90, "percent": 50}]},
})
K01 = IncentiveInput(employee_id="K01", grade="K2", currency="CNY")


def _deal(deal_id: str, closed: date, amount: int, credits=(("K01", 100),)) -> Deal:
    return Deal(id=deal_id, closed_on=closed, amount=Decimal(amount), currency="CNY",
                credits=[{"employee_id": e, "percent": p} for e, p in credits])


def _locked(lines) -> list[LockedLine]:
    return [LockedLine(ln.line_type, ln.amount, ln.inputs) for ln in lines]


def test_two_linked_periods_pay_the_draw_then_recover_it_and_claw_back():
    q3 = settle_cycle(PLAN, "kam-deals-2026", "Q3", [], [
        PersonPeriod(person=K01, credits=tuple(credit_deal(_deal("D1", date(2026, 7, 15), 50000))))])
    assert [(ln.line_type, ln.amount) for ln in q3] == [("commission", Decimal("1000.00")), ("draw", Decimal("1000.00"))]
    moved = ledger_movements(_locked(q3))
    assert ledger_entries(moved, Decimal(0), True, True) == [("earned", Decimal("1000.00"), Decimal(0)),
                                                            ("drawn", Decimal("1000.00"), Decimal("1000.00"))]
    year = person_year("K01", "CNY", _locked(q3), index=1, balance=Decimal("1000.00"))
    assert year.ytd_credited == 50000 and [p.deal_id for p in year.paid_deals] == ["D1"]
    churn = DealEvent(deal_id="D1", kind="churned", on=date(2026, 8, 20))
    q4 = settle_cycle(PLAN, "kam-deals-2026", "Q4", [], [
        PersonPeriod(person=K01, year=year, credits=tuple(credit_deal(_deal("D2", date(2026, 10, 10), 100000))),
                     events=(churn,))])
    assert [(ln.line_type, ln.amount) for ln in q4] == [
        ("commission", Decimal("3000.00")), ("draw_recovery", Decimal("-1000.00")), ("adjustment", Decimal("-500.00"))]
    assert sum(ln.amount for ln in q4) == Decimal("1500.00")
    claw = q4[-1]
    assert claw.inputs["event"] == "churned" and claw.inputs["event_on"] == "2026-08-20" and claw.adjusts == "commission"
    assert "the paid line is not changed" in claw.explanation
    moved = ledger_movements(_locked(q4))
    assert ledger_entries(moved, Decimal("1000.00"), True, True) == [
        ("earned", Decimal("3000.00"), Decimal("1000.00")), ("recovered", Decimal("1000.00"), Decimal("0.00")),
        ("clawed_back", Decimal("500.00"), Decimal("0.00"))]
    # Q4 locked: a later cycle never applies the churn again.
    later = person_year("K01", "CNY", _locked(q3) + _locked(q4), index=2)
    assert pending_events(later, [churn]) == []
    assert later.clawed == {("D1", "K01"): Decimal("500.00")}


def test_a_recomputed_cycle_with_unchanged_inputs_adds_no_delta_line():
    people = [PersonPeriod(person=K01, credits=tuple(credit_deal(_deal("D1", date(2026, 7, 15), 50000))))]
    first = settle_cycle(PLAN, "y", "Q3", [], people)
    again = settle_cycle(PLAN, "y", "Q3", [], people)
    locked = [ln.model_copy(update={"revision": 0}) for ln in first]
    assert delta_lines(again, locked, 1) == []


def test_split_credit_pays_each_kam_on_their_share():
    deal = _deal("D3", date(2026, 8, 5), 20000, (("K01", 60), ("K02", 40)))
    k02 = IncentiveInput(employee_id="K02", currency="CNY")
    parts = {c.employee_id: (c,) for c in credit_deal(deal)}
    plan = PLAN.model_copy(update={"draw": None, "clawback": None})
    lines = settle_cycle(plan, "y", "Q3", [], [PersonPeriod(person=K01, credits=parts["K01"]),
                                              PersonPeriod(person=k02, credits=parts["K02"])])
    assert [(ln.employee_id, ln.amount, ln.inputs["credited"]) for ln in lines] == [
        ("K01", Decimal("240.00"), "12000.00"), ("K02", Decimal("160.00"), "8000.00")]


def test_each_sales_line_reads_as_a_sentence_in_both_languages():
    from domain.sentences import payout_line_text
    from i18n.format import Formatter

    year = person_year("K01", "CNY", _locked(settle_cycle(PLAN, "y", "Q3", [], [
        PersonPeriod(person=K01, credits=tuple(credit_deal(_deal("D1", date(2026, 7, 15), 50000))))])), index=1,
        balance=Decimal(1000))
    q4 = settle_cycle(PLAN, "y", "Q4", [], [PersonPeriod(
        person=K01, year=year, credits=tuple(credit_deal(_deal("D2", date(2026, 10, 10), 100000))),
        events=(DealEvent(deal_id="D1", kind="churned", on=date(2026, 8, 20)),))])
    en, zh = Formatter(locale="en"), Formatter(locale="zh-CN")
    texts = [payout_line_text(ln.line_type, ln.amount, ln.currency, ln.inputs) for ln in q4]
    assert [en.text(t) for t in texts] == [
        "Commission on deal D2: CN¥100,000.00 credited = CN¥3,000.00",
        "Draw recovery: CN¥1,000.00 of earlier draws taken back",
        "Clawback of the commission on deal D1, whose customer left on 2026-08-20: -CN¥500.00"]
    assert all(zh.text(t) != en.text(t) for t in texts)


def test_the_last_period_of_recovery_writes_the_rest_off_as_the_draw_rules_say():
    from domain.draws import DrawConfig, draw_ledger
    from domain.sales_cycle import period_ledger

    draw = DrawConfig(kind="recoverable", amount=Decimal(2000), periods=1, recovery_periods=1, at_end="write_off")
    plan = PLAN.model_copy(update={"draw": draw, "clawback": None})
    q3 = settle_cycle(plan, "y", "Q3", [], [PersonPeriod(
        person=K01, credits=tuple(credit_deal(_deal("D1", date(2026, 7, 15), 25000))))])  # 500 earned, 1,500 drawn
    assert period_ledger(_locked(q3), Decimal(0), draw, 0, first=True)[-1] == ("drawn", Decimal("1500.00"),
                                                                               Decimal("1500.00"))
    year = person_year("K01", "CNY", _locked(q3), index=1, balance=Decimal("1500.00"))
    q4 = settle_cycle(plan, "y", "Q4", [], [PersonPeriod(
        person=K01, year=year, credits=tuple(credit_deal(_deal("D2", date(2026, 10, 10), 35000))))])  # 700 earned
    entries = period_ledger(_locked(q4), Decimal("1500.00"), draw, 1, first=True)
    assert entries == [("earned", Decimal("700.00"), Decimal("1500.00")),
                       ("recovered", Decimal("700.00"), Decimal("800.00")),
                       ("written_off", Decimal("800.00"), Decimal("0.00"))]
    last = draw_ledger(draw, [Decimal("500.00"), Decimal("700.00")], "CNY", "HALF_UP")[-1]  # the domain's own ledger
    assert (last.recovered, last.written_off, last.closing_balance) == (Decimal("700.00"), Decimal("800.00"), 0)
    # A last period of recovery that earns nothing has no line, and still writes the balance off.
    assert period_ledger([], Decimal("1500.00"), draw, 1, first=True) == [
        ("earned", Decimal(0), Decimal("1500.00")), ("written_off", Decimal("1500.00"), Decimal("0.00"))]


def test_a_clawback_names_the_event_that_caused_it_and_a_later_cycle_applies_it_once():
    plan = PLAN.model_copy(update={"draw": None, "clawback": PLAN.clawback.model_copy(
        update={"applies_to": ("churned",)})})
    q3 = settle_cycle(plan, "y", "Q3", [], [
        PersonPeriod(person=K01, credits=tuple(credit_deal(_deal("D1", date(2026, 7, 15), 50000))))])
    year = person_year("K01", "CNY", _locked(q3), index=1)
    events = (DealEvent(deal_id="D1", kind="cancelled", on=date(2026, 8, 1)),  # the plan does not claw these back
              DealEvent(deal_id="D1", kind="churned", on=date(2026, 8, 20)))
    (claw,) = settle_cycle(plan, "y", "Q4", [], [PersonPeriod(person=K01, year=year, events=events)])
    assert (claw.amount, claw.inputs["event"], claw.inputs["event_on"]) == (Decimal("-500.00"), "churned", "2026-08-20")
    after = person_year("K01", "CNY", _locked(q3) + _locked([claw]), index=2)
    assert pending_events(after, events) == [events[0]]  # looked at again, and again takes nothing
    assert settle_cycle(plan, "y", "Q1", [], [PersonPeriod(person=K01, year=after, events=events)]) == []


def test_a_reinstatement_pays_back_what_was_clawed_back_and_a_stale_one_is_ignored():
    plan = PLAN.model_copy(update={"draw": None})
    q3 = settle_cycle(plan, "y", "Q3", [], [
        PersonPeriod(person=K01, credits=tuple(credit_deal(_deal("D1", date(2026, 7, 15), 50000))))])
    stale = DealEvent(deal_id="D1", kind="reinstated", on=date(2026, 8, 1))  # before the churn: nothing to reinstate
    churn = DealEvent(deal_id="D1", kind="churned", on=date(2026, 8, 20))
    back = DealEvent(deal_id="D1", kind="reinstated", on=date(2026, 11, 2))
    year = person_year("K01", "CNY", _locked(q3), index=1)
    q4 = settle_cycle(plan, "y", "Q4", [], [PersonPeriod(person=K01, year=year, events=(stale, churn))])
    assert [(ln.amount, ln.inputs["event"]) for ln in q4] == [(Decimal("-500.00"), "churned")]
    year = person_year("K01", "CNY", _locked(q3) + _locked(q4), index=2)
    assert pending_events(year, (stale, churn, back)) == [back]
    q1 = settle_cycle(plan, "y", "Q1", [], [PersonPeriod(person=K01, year=year, events=(stale, churn, back))])
    assert [(ln.amount, ln.inputs["event"]) for ln in q1] == [(Decimal("500.00"), "reinstated")]
    assert sum(ln.amount for ln in q4 + q1) == 0  # a clawback and its reinstatement net to zero
