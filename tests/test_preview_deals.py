"""`incentives preview … --deals`: the plan year settled period by period (deal lines, draw, clawback, ledger),
the deals reader's errors (file:line:column), and the preview's totals against the pure domain."""

from __future__ import annotations

import json
import tempfile
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import starter
from domain.deals import Deal, credits_by_employee, deal_commission
from services.preview import load_plan_file, preview

ROOT = Path(__file__).resolve().parent.parent
PLAN, INPUTS, DEALS = (ROOT / "examples" / n for n in ("plan-deals.yaml", "inputs-deals.csv", "deals.csv"))
D = Decimal
HEADER = "deal_id,employee_id,amount,currency,closed_on,status,cancelled_on\n"


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = starter.main(["incentives", "preview", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_worked_example_with_a_draw_and_a_clawback(capsys):
    code, out, _ = run(capsys, str(PLAN), str(INPUTS), "--deals", str(DEALS), "--json")
    assert code == 0
    data = json.loads(out)
    q1, q2, q3 = data["periods"]
    k01 = [(ln["kind"], ln["amount"]) for ln in q2["lines"] if ln["employee_id"] == "K01"]
    # the domain's own scenario (tests/domain/test_settlement.py), the churn of D1 clawed back in the next period
    assert [(ln["kind"], ln["amount"]) for ln in q1["lines"] if ln["employee_id"] == "K01"] == [
        ("deal_commission", "1000.00"), ("draw", "1000.00")]
    assert k01 == [("deal_commission", "3000.00"), ("draw_recovery", "-1000.00"), ("clawback", "-500.00")]
    ledger = {row["employee_id"]: row for row in q2["ledger"]}
    assert ledger["K01"] == {"employee_id": "K01", "period": 2, "earned": "3000.00", "drawn": "0.00",
                             "recovered": "1000.00", "clawed_back": "500.00", "balance": "0.00", "net": "1500.00",
                             "currency": "CNY"}
    # D3 split 60/40: 12,000 at 4 % (K01 is above 100,000 YTD) and 8,000 at 2 %
    assert [(ln["employee_id"], ln["amount"]) for ln in q3["lines"] if ln["kind"] == "deal_commission"] == [
        ("K01", "480.00"), ("K02", "160.00")]
    totals = {row["employee_id"]: row for row in data["totals"]}
    assert totals["K01"]["net"] == "5500.00" and totals["K01"]["balance"] == "1520.00"
    assert totals["K02"]["drawn"] == "5840.00"
    clawback = next(ln for ln in q2["lines"] if ln["kind"] == "clawback")
    assert "75 days after the deal closed, within 90 days" in " ".join(clawback["explanation"])


def test_table_shows_steps_and_ledger_in_chinese(capsys):
    code, out, _ = run(capsys, str(PLAN), str(INPUTS), "--deals", str(DEALS), "--lang", "zh-CN")
    assert code == 0
    assert "追回" in out and "欠款余额" in out and "客户在成交后 75 天离开" in out
    assert "Σ" in out


def test_csv_lists_every_line(capsys):
    code, out, _ = run(capsys, str(PLAN), str(INPUTS), "--deals", str(DEALS), "--format", "csv")
    assert code == 0
    assert out.splitlines()[0] == "period,employee_id,kind,amount,currency,deal_id,idempotency_key,explanation"
    assert "2025-Q2,K01,clawback,-500.00,CNY,D1,2025-Q2:K01:clawback-D1:1," in out


def test_plain_preview_is_unchanged(capsys):
    code, out, _ = run(capsys, str(ROOT / "examples" / "plan.yaml"), str(ROOT / "examples" / "inputs.csv"), "--json")
    assert code == 0 and "periods" not in json.loads(out)


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ("D1,K01,5o,CNY,2025-01-15,won,\n", "DEALS.csv:2:amount: invalid number '5o'"),
        ("D1,K01,-5,CNY,2025-01-15,won,\n", "DEALS.csv:2:amount: must not be negative"),
        ("D1,K01,5,CNY,2025-02-30,won,\n", "DEALS.csv:2:closed_on: invalid date '2025-02-30'"),
        ("D1,K01,5,CNY,,won,\n", "DEALS.csv:2:closed_on: required value is missing"),
        ("D1,K01,5,CNY,2025-01-15,lost,\n", "DEALS.csv:2:status: unknown status 'lost'"),
        ("D1,K01,5,CNY,2025-01-15,churned,\n", "DEALS.csv:2:cancelled_on: a churned deal needs the date"),
        ("D1,K01,5,CNY,2025-01-15,won,2025-02-01\n", "DEALS.csv:2:cancelled_on: a won deal has no cancelled_on"),
        ("D1,K01,5,CNY,2025-01-15,cancelled,2025-01-01\n", "DEALS.csv:2:cancelled_on: 2025-01-01 is before the deal"),
        ("D1,K01:60;K02:30,5,CNY,2025-01-15,won,\n", "DEALS.csv:2:employee_id: the credit shares of deal D1 sum to 90"),
        ("D1,K01:60;K02,5,CNY,2025-01-15,won,\n", "DEALS.csv:2:employee_id: 'K02' is not employee_id:percent"),
        ("D1,K01:x;K02:40,5,CNY,2025-01-15,won,\n", "DEALS.csv:2:employee_id: the share of K01, 'x', is not a percent"),
        ("D1,K01,5,CNY,2025-01-15,won,\nD1,K01,6,CNY,2025-01-16,won,\n", "DEALS.csv:3:deal_id: deal D1 appears twice"),
        ("D1,K09,5,CNY,2025-01-15,won,\n", "DEALS.csv:2:employee_id: employee K09 is not in inputs-deals.csv"),
        ("D1,K01,5,USD,2025-01-15,won,\n", "DEALS.csv:2:currency: the deal is in USD but K01 is paid in CNY"),
        ("D1,K01,5,CNY,2024-12-31,won,\n", "DEALS.csv:2:closed_on: 2024-12-31 is outside the preview's periods"),
        ("D1,K01,5,cny,2025-01-15,won,\n", "DEALS.csv:2:currency: invalid currency 'cny'"),
        ("", "DEALS.csv:1:*: no deal rows after the header"),
    ],
)
def test_deal_mistakes_name_line_and_column(capsys, tmp_path, rows, expected):
    code, out, err = run(capsys, str(PLAN), str(INPUTS), "--deals", str(_write(tmp_path, "DEALS.csv", HEADER + rows)))
    assert code == 2 and expected in err and "Traceback" not in err


def test_unknown_column_and_missing_file(capsys, tmp_path):
    bad = _write(tmp_path, "DEALS.csv", "deal_id,employee,amount,currency,closed_on\n")
    code, _, err = run(capsys, str(PLAN), str(INPUTS), "--deals", str(bad))
    assert code == 2 and "DEALS.csv:1:employee: unknown column 'employee'" in err
    code, _, err = run(capsys, str(PLAN), str(INPUTS), "--deals", str(tmp_path / "none.csv"))
    assert code == 2 and "cannot read file" in err


def test_deals_without_deal_commission_are_refused(capsys, tmp_path):
    plan = _write(tmp_path, "plan.yaml", "period: {start: 2026-01-01, end: 2026-12-31}\n" + (
        ROOT / "examples" / "plan.yaml").read_text().split("\n", 2)[2])
    deals = _write(tmp_path, "DEALS.csv", HEADER + "D1,E1,5,CNY,2026-01-15,won,\n")
    code, _, err = run(capsys, str(plan), str(ROOT / "examples" / "inputs.csv"), "--deals", str(deals))
    assert code == 2 and "the plan has no deal_commission" in err


deal_rows = st.lists(st.tuples(st.sampled_from(["K01", "K02", "K01:50;K02:50", "K01:33.3;K02:66.7"]),
                               st.decimals(min_value=0, max_value=500000, places=2, allow_nan=False),
                               st.integers(min_value=0, max_value=272),
                               st.sampled_from(["won", "won", "cancelled", "refunded", "churned"]),
                               st.integers(min_value=0, max_value=200)), min_size=1, max_size=12)


@settings(max_examples=40, deadline=None)
@given(deal_rows)
def test_preview_totals_equal_the_domain(rows):
    """Whatever the deals: each period's ledger adds up to its net, the nets to the lines, and the commission
    paid over the periods is what the domain pays on all the deals at once (cumulative, rounded per deal)."""
    start = date(2025, 1, 1)
    text = HEADER
    for i, (who, amount, day, status, later) in enumerate(rows):
        closed = start + timedelta(days=day)
        on = (closed + timedelta(days=later)).isoformat() if status != "won" else ""
        text += f"D{i},{who},{amount},CNY,{closed.isoformat()},{status},{on}\n"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "deals.csv"
        path.write_text(text, encoding="utf-8")
        result = preview(PLAN, INPUTS, path)
    assert result.periods is not None
    plan = load_plan_file(PLAN).incentive_plan
    paid: dict[str, Decimal] = {}
    for period in result.periods:
        for s, row in zip(period.settlements, period.ledger, strict=True):
            assert s.net == sum((ln.amount for ln in s.lines), D(0)) == row.net
            assert row.earned + row.drawn - row.recovered - row.clawed_back == row.net
            assert row.balance >= 0 and row.clawed_back >= 0
            if row.earned < 2000:  # the guarantee: never paid below the draw, before clawbacks
                assert row.net + row.clawed_back == 2000
            for ln in s.lines:
                if ln.kind == "deal_commission":
                    paid[s.employee_id] = paid.get(s.employee_id, D(0)) + ln.amount
    deals = [Deal.model_validate({"id": f"D{i}", "closed_on": start + timedelta(days=day), "amount": amount,
                                  "currency": "CNY", "credits": [
                                      {"employee_id": p.split(":")[0], "percent": p.split(":")[1] if ":" in p else 100}
                                      for p in who.split(";")]})
             for i, (who, amount, day, _s, _l) in enumerate(rows)]
    assert plan.deal_commission is not None
    for employee, credits in credits_by_employee(deals).items():
        assert paid.get(employee, D(0)) == deal_commission(plan.deal_commission, credits, plan.rounding).total
    totals = result.totals()
    for employee, t in totals.items():
        assert t.net == sum((row.net for p in result.periods for row in p.ledger if row.employee_id == employee), D(0))


PLAN_YEAR = """period: {start: 2025-01-01, end: 2025-12-31}
periods:
  - {id: Q1, start: 2025-01-01, end: 2025-03-31}
  - {id: Q2, start: 2025-04-01, end: 2025-06-30}
incentive_plan:
  id: kam-year
  version: 1
  rounding: HALF_UP
  target_incentive: {by_grade: {K1: 40000}}
  plan_year: {periods: 4, curve: [[0, 0], [1, 1], [2, 3]]}
  draw: {kind: non_recoverable, amount: 10000}
"""


def test_plan_year_true_up_from_the_deals(capsys, tmp_path):
    """Annual target 40,000 and quota 1,000,000 in four equal shares; actuals are the deals closed per period."""
    plan = _write(tmp_path, "plan.yaml", PLAN_YEAR)
    inputs = _write(tmp_path, "inputs.csv", "employee_id,grade,currency,annual_quota\nK01,K1,CNY,1000000\n")
    deals = _write(tmp_path, "DEALS.csv", HEADER + "D1,K01,200000,CNY,2025-02-01,won,\nD2,K01,400000,CNY,2025-05-01,won,\n")
    code, out, _ = run(capsys, str(plan), str(inputs), "--deals", str(deals), "--json")
    assert code == 0
    q1, q2 = json.loads(out)["periods"]
    # Q1: 200,000 / 250,000 = 80 % → 40,000 × 25 % × 0.8 = 8,000; the guarantee of 10,000 adds 2,000 (not owed)
    assert [(ln["kind"], ln["amount"]) for ln in q1["lines"]] == [("plan_year_bonus", "8000.00"), ("draw", "2000.00")]
    # Q2: YTD 600,000 / 500,000 = 120 % → factor 1.4 → YTD earned 28,000 − 8,000 paid = 20,000
    assert [(ln["kind"], ln["amount"]) for ln in q2["lines"]] == [("plan_year_bonus", "20000.00")]
    assert q2["ledger"][0]["balance"] == "0.00"
    no_quota = _write(tmp_path, "inputs.csv", "employee_id,grade,currency\nK01,K1,CNY\n")
    code, _, err = run(capsys, str(plan), str(no_quota), "--deals", str(deals))
    assert code == 2 and "needs an annual target (target_incentive) and an annual_quota" in err


def test_overlapping_periods_are_refused(capsys, tmp_path):
    bad = _write(tmp_path, "plan.yaml", PLAN.read_text().replace("2025-04-01, end: 2025-06-30",
                                                                 "2025-03-01, end: 2025-06-30"))
    code, _, err = run(capsys, str(bad), str(INPUTS), "--deals", str(DEALS))
    assert code == 2 and "periods.1.start: period 2 must start after the previous one ends" in err


def test_refund_and_a_clawback_after_the_last_period(capsys, tmp_path):
    deals = _write(tmp_path, "DEALS.csv", HEADER + "D1,K01,50000,CNY,2025-01-15,refunded,2025-02-01\n"
                   "D2,K01,10000,CNY,2025-08-01,cancelled,2025-08-15\n")
    code, out, _ = run(capsys, str(PLAN), str(INPUTS), "--deals", str(deals), "--json")
    assert code == 0
    data = json.loads(out)
    claw = [ln for p in data["periods"] for ln in p["lines"] if ln["kind"] == "clawback"]
    # D1 paid 1,000 in Q1, refunded 17 days after closing: half comes back, in Q2 (the period after it was paid)
    assert [(ln["idempotency_key"], ln["amount"]) for ln in claw] == [("2025-Q2:K01:clawback-D1:1", "-500.00")]
    assert data["notes"] == ["deal D2 cancelled on 2025-08-15: its clawback falls in a period after the preview's "
                             "last one"]
