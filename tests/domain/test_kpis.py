"""The KPI arithmetic (domain.kpis) against a plain recomputation with fractions, on random CRM records; and the
rules for empty denominators, currencies, periods and won-back customers on worked examples."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.errors import DomainError
from domain.kpis import (
    CaseFact,
    DealFact,
    Target,
    kpi_figures,
    kpi_inputs,
    months_before,
    parse_period,
)

Q3 = parse_period("2026-Q3")
KAMS = ["K01", "K02", "K03"]
ACCOUNTS = [f"A{i}" for i in range(8)]
DAY0 = date(2025, 1, 1)

deal_st = st.builds(
    DealFact,
    id=st.uuids().map(lambda u: f"D-{u.hex[:8]}"),
    kind=st.sampled_from(["deal", "order"]),
    kam_id=st.sampled_from([*KAMS, None]),
    account_id=st.sampled_from([*ACCOUNTS, None]),
    won=st.booleans(),
    amount=st.one_of(st.none(), st.decimals(min_value=0, max_value=10**7, places=2, allow_nan=False)),
    currency=st.sampled_from(["CNY", "CNY", "USD"]),
    closed_on=st.one_of(st.none(), st.integers(0, 700).map(lambda n: DAY0 + timedelta(days=n))),
)
case_st = st.builds(
    CaseFact,
    id=st.uuids().map(lambda u: f"C-{u.hex[:8]}"),
    kam_id=st.sampled_from([*KAMS, None]),
    complaint=st.booleans(),
    opened_on=st.one_of(st.none(), st.integers(400, 700).map(lambda n: DAY0 + timedelta(days=n))),
)
target_st = st.one_of(st.none(), st.decimals(min_value=0, max_value=10**8, places=2, allow_nan=False))


def rounded(f: Fraction) -> Decimal:
    """Half-to-even at 6 places, by integer arithmetic."""
    scaled = f * 10**6
    q, r = divmod(scaled.numerator, scaled.denominator)
    twice = 2 * r
    if twice > scaled.denominator or (twice == scaled.denominator and q % 2):
        q += 1
    return Decimal(q).scaleb(-6)


def plain(deals: list[DealFact], cases: list[CaseFact], kam: str, sales: Decimal | None,
          new_target: Decimal | None) -> dict[str, Decimal | None]:
    """Each KPI written out once more, from the definitions in docs/kpis.md, without the engine's structure."""
    kinds = {d.kind for d in deals}
    deal_kind = "deal" if "deal" in kinds or not kinds else "order"
    order_kind = "order" if "order" in kinds or not kinds else "deal"
    won = [d for d in deals if d.won and d.closed_on is not None]
    mine = [d for d in won if d.kam_id == kam]

    def inside(day: date, lo: date, hi: date) -> bool:
        return lo <= day <= hi

    out: dict[str, Decimal | None] = {}
    total = sum((Fraction(d.amount) for d in mine if d.kind == deal_kind and inside(d.closed_on, Q3.start, Q3.end)
                 and d.amount is not None and d.currency == "CNY"), Fraction(0))
    out["sales_attainment"] = rounded(total / Fraction(sales)) if sales else None
    new = 0
    for account in ACCOUNTS:
        theirs = sorted((d for d in won if d.account_id == account and d.kind == deal_kind),
                        key=lambda d: (d.closed_on, d.id))
        if theirs and theirs[0].kam_id == kam and inside(theirs[0].closed_on, Q3.start, Q3.end):
            new += 1
    out["new_customer_acquisition"] = rounded(Fraction(new) / Fraction(new_target)) if new_target else None
    start_lo, start_hi = date(2025, 7, 1), date(2026, 6, 30)
    end_lo, end_hi = date(2025, 10, 1), date(2026, 9, 30)
    at_start = {d.account_id for d in mine if d.kind == deal_kind and d.account_id and inside(d.closed_on, start_lo, start_hi)}
    at_end = {d.account_id for d in mine if d.kind == deal_kind and d.account_id and inside(d.closed_on, end_lo, end_hi)}
    out["customer_retention"] = rounded(Fraction(len(at_start & at_end), len(at_start))) if at_start else None
    orders = sum(1 for d in mine if d.kind == order_kind and inside(d.closed_on, Q3.start, Q3.end))
    complaints = sum(1 for c in cases if c.kam_id == kam and c.complaint and c.opened_on is not None
                     and inside(c.opened_on, Q3.start, Q3.end))
    out["complaint_rate"] = rounded(Fraction(complaints, orders)) if orders else None
    return out


@settings(max_examples=150, deadline=None)
@given(st.lists(deal_st, max_size=40, unique_by=lambda d: d.id), st.lists(case_st, max_size=15, unique_by=lambda c: c.id),
       target_st, target_st)
def test_figures_match_a_plain_recomputation(deals: list[DealFact], cases: list[CaseFact], sales: Decimal | None,
                                             new_target: Decimal | None) -> None:
    inputs = kpi_inputs(Q3, deals, cases)
    targets = {}
    if sales is not None:
        targets["sales_attainment"] = Target(sales, "CNY")
    if new_target is not None:
        targets["new_customer_acquisition"] = Target(new_target)
    for kam in KAMS:
        from domain.kpis import KpiInputs

        figures = kpi_figures(inputs.get(kam, KpiInputs(kam)), targets, "USD")  # the target's currency wins
        got = {f.kpi_id: f.value for f in figures}
        assert got == plain(deals, cases, kam, sales, new_target)
        for f in figures:  # every figure is its numerator over its denominator, and says why when there is none
            if f.value is None:
                assert f.reason is not None
            else:
                assert f.value == rounded(Fraction(f.numerator) / Fraction(f.denominator))
        sales_fig = figures[0]
        counted = [r for r in sales_fig.records if r.role == "counted"]
        assert sum((r.amount for r in counted), Decimal(0)) == sales_fig.numerator  # the listed records add up
        retention = figures[2]
        assert retention.value is None or Decimal(0) <= retention.value <= Decimal(1)


def test_worked_example_from_the_docs() -> None:
    """docs/kpis.md: 王芳 (K01), 2026-Q3."""
    d = [
        DealFact("D1", "deal", "K01", "A1", True, Decimal("1250000.00"), "CNY", date(2026, 9, 30)),
        DealFact("D2", "deal", "K01", "A2", True, Decimal("600000.00"), "CNY", date(2026, 8, 15)),
        DealFact("D3", "deal", "K01", "A3", True, Decimal("50000.00"), "USD", date(2026, 7, 20)),
        DealFact("D4", "deal", "K01", "A2", True, Decimal("300000.00"), "CNY", date(2025, 11, 2)),
        DealFact("D5", "deal", "K01", "A4", True, Decimal("200000.00"), "CNY", date(2025, 8, 1)),
        DealFact("D6", "deal", "K01", "A5", False, Decimal("900000.00"), "CNY", date(2026, 9, 1)),
        DealFact("O1", "order", "K01", "A1", True, Decimal("400000.00"), "CNY", date(2026, 9, 30)),
        DealFact("O2", "order", "K01", "A2", True, Decimal("600000.00"), "CNY", date(2026, 8, 16)),
    ]
    c = [CaseFact("C1", "K01", True, date(2026, 8, 12)), CaseFact("C2", "K01", False, date(2026, 9, 3))]
    (k01,) = kpi_inputs(Q3, d, c).values()
    figures = {f.kpi_id: f for f in kpi_figures(k01, {"sales_attainment": Target(Decimal(2500000), "CNY"),
                                                      "new_customer_acquisition": Target(Decimal(2))}, "CNY")}
    sales = figures["sales_attainment"]
    assert (sales.numerator, sales.value) == (Decimal("1850000.00"), Decimal("0.740000"))
    assert [(r.id, r.role, r.reason) for r in sales.records] == [
        ("D2", "counted", None), ("D1", "counted", None), ("D3", "excluded", "currency")]
    new = figures["new_customer_acquisition"]
    assert (new.value, [(r.id, r.via) for r in new.records]) == (Decimal("1.000000"), [("A3", "D3"), ("A1", "D1")])
    retention = figures["customer_retention"]  # A2 and A4 were customers at the start; A2 bought again, A4 did not
    assert retention.value == Decimal("0.500000")
    assert [(r.id, r.role) for r in retention.records] == [("A2", "retained"), ("A4", "lost"), ("A1", "gained"), ("A3", "gained")]
    complaint = figures["complaint_rate"]
    assert (complaint.value, complaint.numerator, complaint.denominator) == (Decimal("0.500000"), 1, 2)


def test_empty_denominators_give_no_figure_and_say_why() -> None:
    (k01,) = kpi_inputs(Q3, [DealFact("D1", "deal", "K01", "A1", True, Decimal(5), "CNY", date(2026, 8, 1))],
                        [CaseFact("C1", "K01", True, date(2026, 8, 2))]).values()
    figures = {f.kpi_id: f for f in kpi_figures(k01, {"sales_attainment": Target(Decimal(0))}, "CNY")}
    assert {k: (f.value, str(f.reason)) for k, f in figures.items()} == {
        "sales_attainment": (None, "no target for the period"),
        "new_customer_acquisition": (None, "no target for the period"),
        "customer_retention": (None, "no customers at the start of the period"),
        # a Zoho export has no sales orders: won deals stand in, so 1 complaint / 1 won deal
        "complaint_rate": (Decimal("1.000000"), "None"),
    }


def test_orders_only_when_a_source_has_them() -> None:
    deals = [DealFact("D1", "deal", "K01", "A1", True, Decimal(5), "CNY", date(2026, 8, 1)),
             DealFact("O1", "order", "K01", "A1", False, Decimal(5), "CNY", date(2026, 8, 1))]
    (k01,) = kpi_inputs(Q3, deals, [CaseFact("C1", "K01", True, date(2026, 8, 2))]).values()
    rate = kpi_figures(k01, {}, "CNY")[3]
    assert (rate.value, str(rate.reason)) == (None, "no won orders in the period")


@pytest.mark.parametrize(("label", "start", "end"), [
    ("2026", date(2026, 1, 1), date(2026, 12, 31)), ("2026-Q1", date(2026, 1, 1), date(2026, 3, 31)),
    ("2026-H2", date(2026, 7, 1), date(2026, 12, 31)), ("2024-02", date(2024, 2, 1), date(2024, 2, 29)),
])
def test_periods(label: str, start: date, end: date) -> None:
    period = parse_period(label)
    assert (period.start, period.end) == (start, end)


@pytest.mark.parametrize("label", ["2026-Q5", "Q3", "2026-13", "2026/Q3", ""])
def test_unknown_periods_are_refused(label: str) -> None:
    with pytest.raises(DomainError, match="unknown period"):
        parse_period(label)


def test_months_before_clamps_to_the_month_end() -> None:
    assert months_before(date(2026, 5, 31), 3) == date(2026, 2, 28)
    assert months_before(date(2026, 9, 30), 12) == date(2025, 9, 30)
