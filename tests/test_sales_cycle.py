"""Two linked cycles of one plan year pay deal commission, a recoverable draw and a clawback through the lock path.

Plan (kam-deals): cumulative deal commission, 2 % to 100,000 and 4 % above; a recoverable draw of 2,000 in each
person's first period; 50 % of a deal's commission back when the customer leaves within 90 days.
Deals from crm_deal: D1 K01 50,000 (15 Jul, its customer left 20 Aug), D3 20,000 shared K01 60 % / K02 40 %
(5 Aug, cancelled 10 Sep), D2 K01 100,000 (10 Oct).
- 2026-Q3: K01 D1 1,000 + D3 240 (continuing from 50,000), drawn 760 (owed); K02 D3 160, drawn 1,840 (owed).
- 2026-Q4 (reads what Q3 locked): K01 D2 continues from 62,000: 760 + 2,480 = 3,240; the guarantee has ended, so
  the 760 owed is recovered; D1 and D3 clawed back 500 + 120: net 1,860, balance 0. K02 earns nothing; D3's 160
  → −80 clawed back: net −80, a negative line for payroll to recover; the 1,840 owed is carried.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool
from temporalio.testing import ActivityEnvironment

from activities.cycle import CycleActivities
from domain.cycle import CycleConfig
from services.cycles import approve_payouts, recompute_incentives
from services.db import libpq_url
from services.payroll import export_payroll_csv
from tests.helpers import cycle_config, rows, run_full_cycle, schema_drift, seed_org
from tests.test_cli import cli  # noqa: F401 - the CLI fixture, reused
from worker import running_worker
from workflows.payloads import CycleActionInput

PLAN = {
    "id": "kam-deals", "version": 1, "rounding": "HALF_UP",
    "deal_commission": {"application": "cumulative", "table": {
        "kind": "rate", "mode": "marginal", "boundary": "upper",
        "tiers": [{"from": 0, "rate": "0.02"}, {"from": 100000, "rate": "0.04"}]}},
    "draw": {"kind": "recoverable", "amount": 2000, "periods": 1},
    "clawback": {"mode": "early_termination", "windows": [{"within_days": 90, "percent": 50}]},
}


def sales_config(cycle_id: str, label: str, start: str, end: str, plan: dict | None = None,
                 plan_year: str = "kam-deals-2026") -> CycleConfig:
    """The demo cycle (quarterly) paying PLAN for one quarter of the plan year kam-deals-2026."""
    base = cycle_config(cycle_id).model_dump(mode="json")
    base.update(period={"label": label, "start": start, "end": end}, incentive_plan=plan or PLAN, plan_year=plan_year)
    return CycleConfig.model_validate(base)


async def run_two_quarters(client, db_url: str, task_queue: str, org) -> tuple[str, str]:
    """Q3 and Q4 of the plan year, run and approved (needs a running worker)."""
    tag = uuid.uuid4().hex[:4]
    q3, q4 = f"S3{tag}", f"S4{tag}"
    await run_full_cycle(client, db_url, task_queue, q3, org, sales_config(q3, "2026-Q3", "2026-07-01", "2026-09-30"))
    await run_full_cycle(client, db_url, task_queue, q4, org, sales_config(q4, "2026-Q4", "2026-10-01", "2026-12-31"))
    return q3, q4


def seed_deals(db_url: str) -> None:
    with psycopg.connect(db_url) as conn:
        for deal, kam, amount, closed in (("D1", "K01", 50000, "2026-07-15"), ("D3", "K01", 20000, "2026-08-05"),
                                          ("D2", "K01", 100000, "2026-10-10")):
            conn.execute("""INSERT INTO crm_deal (id, kind, kam_id, won, amount, currency, closed_on, source)
                            VALUES (%s, 'deal', %s, true, %s, 'CNY', %s, 'zoho')""", (deal, kam, amount, closed))
        conn.execute("INSERT INTO crm_deal_credit (deal_id, employee_id, percent) VALUES ('D3', 'K01', 60), "
                     "('D3', 'K02', 40)")
        conn.execute("""INSERT INTO crm_deal_event (deal_id, kind, "on", source) VALUES
                        ('D1', 'churned', '2026-08-20', 'zoho'), ('D3', 'cancelled', '2026-09-10', 'zoho')""")
        for kam in ("K01", "K02"):  # the Q4 reviews score on Q4 figures like Q3's
            conn.execute("""INSERT INTO kpi_actual (employee_id, period, kpi_id, value)
                            SELECT employee_id, '2026-Q4', kpi_id, value FROM kpi_actual
                            WHERE employee_id = %s AND period = '2026-Q3'""", (kam,))


def lines(db_url: str, cycle_id: str) -> list[tuple]:
    return rows(db_url, """SELECT employee_id, line_type, amount, inputs ->> 'deal_id', status FROM payout_line
                           WHERE cycle_id = %s ORDER BY employee_id, line_type, inputs ->> 'deal_id'""", cycle_id)


def ledger(db_url: str) -> list[tuple]:
    return rows(db_url, "SELECT cycle_id, employee_id, kind, amount, balance_after FROM ledger_entry ORDER BY seq")


async def test_two_linked_cycles_pay_deals_a_draw_and_a_clawback_and_reruns_write_nothing(
        client, db_url, task_queue, tmp_path, cli):  # noqa: F811 - the imported fixture
    org = seed_org(db_url, kams=2)
    seed_deals(db_url)
    async with running_worker(client, db_url, task_queue):
        q3, q4 = await run_two_quarters(client, db_url, task_queue, org)

        assert [r[:4] for r in lines(db_url, q3)] == [
            ("K01", "commission", Decimal("1000.0000"), "D1"), ("K01", "commission", Decimal("240.0000"), "D3"),
            ("K01", "draw", Decimal("760.0000"), None),
            ("K02", "commission", Decimal("160.0000"), "D3"), ("K02", "draw", Decimal("1840.0000"), None)]
        assert [r[:4] for r in lines(db_url, q4)] == [
            ("K01", "adjustment", Decimal("-500.0000"), "D1"), ("K01", "adjustment", Decimal("-120.0000"), "D3"),
            ("K01", "commission", Decimal("3240.0000"), "D2"),
            ("K01", "draw_recovery", Decimal("-760.0000"), None),
            ("K02", "adjustment", Decimal("-80.0000"), "D3")]
        assert all(r[4] == "locked" for r in lines(db_url, q3) + lines(db_url, q4))
        expected_ledger = [
            (q3, "K01", "earned", Decimal("1240.0000"), Decimal("0.0000")),
            (q3, "K01", "drawn", Decimal("760.0000"), Decimal("760.0000")),
            (q3, "K02", "earned", Decimal("160.0000"), Decimal("0.0000")),
            (q3, "K02", "drawn", Decimal("1840.0000"), Decimal("1840.0000")),
            (q4, "K01", "earned", Decimal("3240.0000"), Decimal("760.0000")),
            (q4, "K01", "recovered", Decimal("760.0000"), Decimal("0.0000")),
            (q4, "K01", "clawed_back", Decimal("620.0000"), Decimal("0.0000")),
            (q4, "K02", "earned", Decimal("0.0000"), Decimal("1840.0000")),
            (q4, "K02", "clawed_back", Decimal("80.0000"), Decimal("1840.0000"))]
        assert ledger(db_url) == expected_ledger

        # Activities re-run after success write nothing new: neither lines nor ledger entries.
        before = (lines(db_url, q3), lines(db_url, q4), ledger(db_url))
        env = ActivityEnvironment(client)
        env.info = dataclasses.replace(env.info, task_queue=task_queue)
        async with AsyncConnectionPool(libpq_url(db_url), min_size=1, max_size=2, kwargs={"autocommit": True}) as pool:
            acts = CycleActivities(pool)
            for cid in (q3, q4):
                summary = await env.run(acts.compute_incentives, cid)
                assert summary.new_lines == 0
                await env.run(acts.lock_payouts, CycleActionInput(cid, "PAY1", datetime.now(UTC)))
        assert (lines(db_url, q3), lines(db_url, q4), ledger(db_url)) == before
        # Recomputing after lock with unchanged deals adds no delta line.
        assert (await recompute_incentives(client, db_url, q4, task_queue)).delta_lines == 0
        # A Q3 deal of K02 the CRM brought late: Q3's correction pays its commission and draws that much less.
        with psycopg.connect(db_url) as conn:
            conn.execute("""INSERT INTO crm_deal (id, kind, kam_id, won, amount, currency, closed_on, source)
                            VALUES ('D5', 'deal', 'K02', true, 10000, 'CNY', '2026-09-01', 'zoho')""")
        assert (await recompute_incentives(client, db_url, q3, task_queue)).delta_lines == 2
        deltas = rows(db_url, """SELECT employee_id, inputs ->> 'adjusts', amount FROM payout_line
                                 WHERE cycle_id = %s AND revision = 1 ORDER BY 2""", q3)
        assert deltas == [("K02", "commission", Decimal("200.0000")), ("K02", "draw", Decimal("-200.0000"))]
        await approve_payouts(client, db_url, q3, "PAY1")
        assert ledger(db_url)[len(expected_ledger):] == [
            (q3, "K02", "earned", Decimal("200.0000"), Decimal("1840.0000")),
            (q3, "K02", "drawn", Decimal("-200.0000"), Decimal("1640.0000"))]
        async with AsyncConnectionPool(libpq_url(db_url), min_size=1, max_size=2, kwargs={"autocommit": True}) as pool:
            await env.run(CycleActivities(pool).lock_payouts, CycleActionInput(q3, "PAY1", datetime.now(UTC)))  # retried
        assert len(ledger(db_url)) == len(expected_ledger) + 2

    out = tmp_path / "payroll.csv"
    export_payroll_csv(db_url, q4, out)
    exported = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8-sig"))))
    k02 = [(r["line_type"], r["amount"], r["deal_id"], r["event"]) for r in exported if r["employee_id"] == "K02"]
    assert k02 == [("adjustment", "-80.00", "D3", "cancelled")]  # a negative net: for payroll to recover, not paid

    # The statement (CLI) shows the ledger beside the lines; `payroll ledger` prints and writes it.
    st = json.loads(cli("payroll", "statement", q4, "K01", "--json").stdout)
    assert st["ledger"] == {"plan_year": "kam-deals-2026", "currency": "CNY", "earned": "3240.00", "drawn": "0.00",
                            "recovered": "760.00", "clawed_back": "620.00", "written_off": "0.00", "balance": "0.00"}
    text = cli("payroll", "statement", q4, "K01").stdout
    assert "ledger, plan year kam-deals-2026 (CNY):" in text and "clawed back" in text
    table = cli("payroll", "ledger", q4).stdout
    assert "balance owed" in table and "-80.00" in table and "1840.00" in table
    proc = cli("payroll", "ledger", q3, "--out", str(tmp_path / "ledger.csv"))
    assert proc.returncode == 0, proc.stderr
    ledger_rows = list(csv.DictReader(io.StringIO((tmp_path / "ledger.csv").read_text(encoding="utf-8-sig"))))
    assert [(r["employee_id"], r["earned"], r["drawn"], r["net"], r["balance"]) for r in ledger_rows] == [
        ("K01", "1240.00", "760.00", "2000.00", "760.00"), ("K02", "360.00", "1640.00", "2000.00", "1640.00")]


def test_migration_0018_matches_the_models(db_url):
    assert schema_drift(db_url, {"crm_deal_credit", "crm_deal_event", "ledger_entry"}) == []


def test_a_deal_in_another_currency_is_refused_in_the_persons_language():
    from domain.deals import Deal, credit_deal
    from domain.errors import DomainError
    from domain.incentives import IncentiveInput, IncentivePlan
    from domain.sales_cycle import PersonPeriod, settle_cycle
    from i18n.format import Formatter

    plan = IncentivePlan.model_validate(PLAN)
    deal = Deal(id="D9", closed_on="2026-07-01", amount=Decimal(100), currency="USD",
                credits=[{"employee_id": "K01", "percent": 100}])
    person = IncentiveInput(employee_id="K01", currency="CNY")
    try:
        settle_cycle(plan, "y", "Q3", [], [PersonPeriod(person=person, credits=tuple(credit_deal(deal)))])
    except DomainError as err:
        problem = err.as_text()
    else:
        raise AssertionError("a USD deal was paid in CNY")
    assert "the deal is in USD but K01 is paid in CNY" in Formatter(locale="en").text(problem)
    assert "USD" in (zh := Formatter(locale="zh-CN").text(problem)) and "the deal is in" not in zh


def test_a_deals_file_sets_split_credit_and_events_once(db_url, tmp_path, cli):  # noqa: F811 - the imported fixture
    seed_org(db_url, kams=2)
    with psycopg.connect(db_url) as conn:  # D1 came from the CRM: its figures stay the CRM's
        conn.execute("""INSERT INTO crm_deal (id, kind, kam_id, won, amount, currency, closed_on, source)
                        VALUES ('D1', 'deal', 'K01', true, 50000, 'CNY', '2026-07-15', 'zoho')""")
    deals = tmp_path / "deals.csv"
    deals.write_text("deal_id,employee_id,amount,currency,closed_on,status,cancelled_on\n"
                     "D1,K01,50000,CNY,2026-07-15,churned,2026-08-20\n"
                     "D3,K01:60;K02:40,20000,CNY,2026-08-05,cancelled,2026-09-10\n", encoding="utf-8")
    proc = cli("crm", "deals", str(deals), "--preview")
    assert "would add 1 new deal(s) and 2 event(s); 1 shared deal(s)" in proc.stdout, proc.stderr
    assert rows(db_url, "SELECT count(*) FROM crm_deal_event") == [(0,)]
    for _ in range(2):  # the second run adds nothing
        proc = cli("crm", "deals", str(deals))
        assert proc.returncode == 0, proc.stderr
    assert "added 0 new deal(s) and 0 event(s)" in proc.stdout
    assert rows(db_url, "SELECT id, kam_id, source FROM crm_deal ORDER BY id") == [("D1", "K01", "zoho"),
                                                                                ("D3", "K01", "csv")]
    assert rows(db_url, "SELECT deal_id, employee_id, percent FROM crm_deal_credit ORDER BY 1, 2") == [
        ("D1", "K01", Decimal("100.0000")), ("D3", "K01", Decimal("60.0000")), ("D3", "K02", Decimal("40.0000"))]
    assert rows(db_url, 'SELECT deal_id, kind, "on"::text FROM crm_deal_event ORDER BY 1') == [
        ("D1", "churned", "2026-08-20"), ("D3", "cancelled", "2026-09-10")]
    deals.write_text("deal_id,employee_id,amount,currency,closed_on\nD4,K77,10,CNY,2026-07-01\n", encoding="utf-8")
    refused = cli("crm", "deals", str(deals))
    assert refused.returncode != 0 and "deals.csv:2:employee_id: employee K77 does not exist" in refused.stderr


YEAR_PLAN = {"id": "kam-year", "version": 1, "rounding": "HALF_UP", "target_incentive": {"by_grade": {"K2": 40000}},
             "plan_year": {"periods": 4, "measure": "revenue", "curve": [[0, 0], [1, 1], [2, 2]]}}


async def test_a_plan_year_pays_each_quarter_the_ytd_true_up_on_what_earlier_cycles_locked(client, db_url, task_queue):
    """Fiscal year FY2026 from July, annual target 40,000 and quota 4,000,000 (a KPI target of period FY2026), equal
    quarters. K01: Q3 revenue 800,000 → YTD 80 % → 40,000 × ¼ × 0.8 = 8,000; Q4 1,400,000 → YTD 2,200,000 of
    2,000,000 = 110 % → YTD earned 40,000 × ½ × 1.1 = 22,000, less the 8,000 Q3 locked: 14,000."""
    org = seed_org(db_url, kams=2)
    with psycopg.connect(db_url) as conn:
        conn.execute("""INSERT INTO kpi_target (employee_id, period, kpi_id, target, source)
                        VALUES ('K01', 'FY2026', 'revenue', 4000000, 'csv'), ('K02', 'FY2026', 'revenue', 4000000, 'csv')""")
        conn.execute("""INSERT INTO kpi_actual (employee_id, period, kpi_id, value)
                        SELECT employee_id, '2026-Q4', kpi_id, CASE WHEN kpi_id = 'revenue' AND employee_id = 'K01'
                                                                    THEN 1400000 ELSE value END
                        FROM kpi_actual WHERE period = '2026-Q3'""")
    tag = uuid.uuid4().hex[:4]
    q3, q4 = f"Y3{tag}", f"Y4{tag}"
    async with running_worker(client, db_url, task_queue):
        for cid, label, start, end in ((q3, "2026-Q3", "2026-07-01", "2026-09-30"),
                                       (q4, "2026-Q4", "2026-10-01", "2026-12-31")):
            await run_full_cycle(client, db_url, task_queue, cid, org,
                                 sales_config(cid, label, start, end, YEAR_PLAN, "FY2026"))
    paid = rows(db_url, """SELECT cycle_id, employee_id, line_type, amount, inputs ->> 'paid_before' FROM payout_line
                           WHERE cycle_id = ANY(%s) ORDER BY cycle_id <> %s, employee_id""", [q3, q4], q3)
    assert paid == [(q3, "K01", "bonus", Decimal("8000.0000"), "0"), (q3, "K02", "bonus", Decimal("8500.0000"), "0"),
                    (q4, "K01", "bonus", Decimal("14000.0000"), "8000.0000"),
                    (q4, "K02", "bonus", Decimal("8500.0000"), "8500.0000")]


async def test_a_cycle_waits_for_the_earlier_cycle_of_its_plan_year_to_be_approved(db_url):
    from activities.sales import sales_inputs
    from domain.errors import DomainError
    from i18n.format import Formatter
    from services.cycles import create_cycle

    seed_org(db_url, kams=1)
    tag = uuid.uuid4().hex[:4]
    q3, q4 = f"W3{tag}", f"W4{tag}"
    await create_cycle(db_url, sales_config(q3, "2026-Q3", "2026-07-01", "2026-09-30"))
    q4_config = sales_config(q4, "2026-Q4", "2026-10-01", "2026-12-31")
    await create_cycle(db_url, q4_config)
    async with await psycopg.AsyncConnection.connect(libpq_url(db_url)) as conn, conn.cursor() as cur:
        try:
            await sales_inputs(cur, q4, q4_config, [])
        except DomainError as err:
            problem = err.as_text()
        else:
            raise AssertionError("Q4 was computed before Q3 was approved")
    assert f"cycle {q3} of the plan year kam-deals-2026 is not approved yet" in Formatter(locale="en").text(problem)
    assert "尚未审批" in Formatter(locale="zh-CN").text(problem)


async def test_a_large_cycle_settles_in_chunks_on_worker_processes_to_the_same_lines(monkeypatch):
    """Chunks in worker processes (as copy_first_lines) give exactly the lines of one pass, with progress after
    each chunk (the activity heartbeats on it); a refusal in any chunk is the cycle's refusal."""
    from temporalio.exceptions import ApplicationError

    from activities import payout_rows, sales
    from domain.deals import Deal, credit_deal
    from domain.incentives import IncentiveInput, IncentivePlan
    from domain.sales_cycle import PersonPeriod

    plan = IncentivePlan.model_validate(PLAN)
    inputs, people = [], []
    for i in range(7):
        person = IncentiveInput(employee_id=f"E{i}", currency="CNY")
        deal = Deal(id=f"D{i}", closed_on="2026-07-15", amount=Decimal(10000 * (i + 1)), currency="CNY",
                    credits=[{"employee_id": f"E{i}", "percent": 100}])
        inputs.append(person)
        people.append(PersonPeriod(person=person, credits=tuple(credit_deal(deal))))
    args = (plan, "y", date(2026, 7, 1), date(2026, 9, 30), "Q3", inputs, people)
    monkeypatch.setattr(payout_rows, "PARALLEL_MIN", 1)
    monkeypatch.setattr(sales, "CHUNK", 3)
    seen: list[str] = []
    lines = await sales.compute_sales_lines(*args, seen.append)
    assert lines == sales.sales_lines(*args) and len(seen) == 3
    usd = IncentiveInput(employee_id="E0", currency="USD")
    with pytest.raises(ApplicationError, match="the deal is in CNY but E0 is paid in USD"):
        await sales.compute_sales_lines(plan, "y", date(2026, 7, 1), date(2026, 9, 30), "Q3", [usd, *inputs[1:]],
                                        [PersonPeriod(person=usd, credits=people[0].credits), *people[1:]], seen.append)
