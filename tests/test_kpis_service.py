"""The KPI service on PostgreSQL (services.kpis): its SQL aggregates give exactly what the plain domain definition
gives on the same random records (property test); figures and their sources are written, audited, unchanged on a
second run, updated when a record changes, removed when no figure remains; targets import; the stale-period hook."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.kpis import CaseFact, DealFact, KpiInputs, Target, kpi_figures, kpi_inputs, parse_period, record_json
from services.db import DirectDatabase
from services.imports.issues import ImportFailed
from services.imports.kpi_targets import import_targets, preview_targets
from services.kpi_sources import kpi_sources
from services.kpis import compute_kpis, figures_for, recompute_after_import, stale_periods
from tests.helpers import seed_org

Q3 = parse_period("2026-Q3")
KAMS = ["K01", "K02", "K03"]
ACCOUNTS = [f"X{i}" for i in range(6)]
DAY0 = date(2025, 1, 1)

deal_st = st.builds(
    DealFact,
    id=st.integers(0, 10**9).map(lambda n: f"D{n}"),
    kind=st.sampled_from(["deal", "deal", "order"]),
    kam_id=st.sampled_from([*KAMS, None]),
    account_id=st.sampled_from([*ACCOUNTS, None]),
    won=st.booleans(),
    amount=st.one_of(st.none(), st.decimals(min_value=0, max_value=10**6, places=2, allow_nan=False)),
    currency=st.sampled_from(["CNY", "CNY", "EUR"]),
    closed_on=st.one_of(st.none(), st.integers(0, 700).map(lambda n: DAY0 + timedelta(days=n))),
)
case_st = st.builds(
    CaseFact,
    id=st.integers(0, 10**9).map(lambda n: f"C{n}"),
    kam_id=st.sampled_from([*KAMS, None]),
    complaint=st.booleans(),
    opened_on=st.one_of(st.none(), st.integers(450, 700).map(lambda n: DAY0 + timedelta(days=n))),
)


def store(db_url: str, deals: list[DealFact], cases: list[CaseFact]) -> None:
    with psycopg.connect(db_url) as conn, conn.cursor() as cur:
        cur.execute("DELETE FROM crm_deal; DELETE FROM crm_case")
        with cur.copy("COPY crm_deal (id, kind, account_id, kam_id, won, amount, currency, closed_on, source) "
                      "FROM STDIN") as copy:
            for d in deals:
                copy.write_row((d.id, d.kind, d.account_id, d.kam_id, d.won, d.amount, d.currency, d.closed_on, "t"))
        with cur.copy("COPY crm_case (id, kam_id, complaint, opened_on, source) FROM STDIN") as copy:
            for c in cases:
                copy.write_row((c.id, c.kam_id, c.complaint, c.opened_on, "t"))


@pytest.fixture
def org(db_url: str) -> None:
    seed_org(db_url, kams=3)
    with psycopg.connect(db_url) as conn:
        conn.execute("DELETE FROM kpi_actual")
        conn.execute("""INSERT INTO kpi_target (employee_id, period, kpi_id, target, currency, source) VALUES
                        ('K01', '2026-Q3', 'sales_attainment', 2500000, 'CNY', 't'),
                        ('K02', '2026-Q3', 'sales_attainment', 1000000, 'EUR', 't'),
                        ('K01', '2026-Q3', 'new_customer_acquisition', 2, NULL, 't')""")


TARGETS = {"K01": {"sales_attainment": Target(Decimal(2500000), "CNY"),
                   "new_customer_acquisition": Target(Decimal(2))},
           "K02": {"sales_attainment": Target(Decimal(1000000), "EUR")}, "K03": {}}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(deals=st.lists(deal_st, max_size=30, unique_by=lambda d: d.id),
       cases=st.lists(case_st, max_size=10, unique_by=lambda c: c.id))
async def test_the_sql_gives_what_the_plain_definition_gives(db_url: str, db_admin_url: str, org: None,
                                                             deals: list[DealFact], cases: list[CaseFact]) -> None:
    store(db_admin_url, deals, cases)  # the app never deletes CRM records; the test starts each example afresh
    with psycopg.connect(db_url) as conn:  # the stored values (amounts at the column's scale)
        stored = [DealFact(*r) for r in conn.execute(
            "SELECT id, kind, kam_id, account_id, won, amount, currency, closed_on FROM crm_deal")]
    expected = kpi_inputs(Q3, stored, cases)
    async with DirectDatabase(db_url).connection() as conn:
        got = await figures_for(conn, Q3, with_records=True)
    for item in got:
        emp = item.figure.employee_id
        (want,) = [f for f in kpi_figures(expected.get(emp, KpiInputs(emp)), TARGETS[emp], "CNY")
                   if f.kpi_id == item.figure.kpi_id]
        assert (item.figure.value, item.figure.numerator, item.figure.denominator) == (
            want.value, want.numerator, want.denominator), item.figure.kpi_id
        assert item.record_list() == [record_json(r) for r in want.records], item.figure.kpi_id


DEALS = [
    DealFact("D1", "deal", "K01", "A1", True, Decimal("1250000.00"), "CNY", date(2026, 9, 30)),
    DealFact("D2", "deal", "K01", "A2", True, Decimal("600000.00"), "CNY", date(2026, 8, 15)),
    DealFact("D4", "deal", "K01", "A2", True, Decimal("300000.00"), "CNY", date(2025, 11, 2)),
    DealFact("D5", "deal", "K01", "A4", True, Decimal("200000.00"), "CNY", date(2025, 8, 1)),
]


async def test_compute_writes_figures_with_sources_then_changes_nothing_then_follows_a_correction(
        db_url: str, db_admin_url: str, org: None) -> None:
    store(db_admin_url, DEALS, [CaseFact("C1", "K01", True, date(2026, 8, 12))])
    preview = await compute_kpis(db_url, "2026-Q3", "HR1", write=False)
    assert [(c.employee_id, c.kpi_id, c.after, c.what) for c in preview.changes] == [
        ("K01", "sales_attainment", Decimal("0.740000"), "new"),
        ("K01", "new_customer_acquisition", Decimal("0.500000"), "new"),
        ("K01", "customer_retention", Decimal("0.500000"), "new"),
        ("K01", "complaint_rate", Decimal("0.500000"), "new"),  # no orders stored: won deals stand in
        ("K02", "sales_attainment", Decimal("0.000000"), "new"),
    ]
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT count(*) FROM kpi_actual").fetchone() == (0,)  # a preview writes nothing

    run = await compute_kpis(db_url, "2026-Q3", "HR1")
    assert run.written and len(run.changes) == 5
    async with DirectDatabase(db_url).connection() as conn:
        sources = await kpi_sources(conn, "K01", "2026-Q3")
    sales = sources["sales_attainment"]
    assert (sales.value, sales.numerator, sales.denominator, sales.computed) == (
        Decimal("0.740000"), Decimal("1850000.000000"), Decimal("2500000.000000"), True)
    assert [(r["id"], r["amount"]) for r in sales.records] == [("D2", "600000.0000"), ("D1", "1250000.0000")]
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT count(*) FROM audit_log WHERE action = 'kpi.computed'").fetchone() == (5,)

    again = await compute_kpis(db_url, "2026-Q3", "HR1")
    assert again.changes == [] and not again.changed

    # A late CRM correction: D1 was 1,350,000. The figure, its numerator and its source follow; audited.
    with psycopg.connect(db_url) as conn:
        conn.execute("UPDATE crm_deal SET amount = 1350000 WHERE id = 'D1'")
    corrected = await compute_kpis(db_url, "2026-Q3", "HR1")
    assert [(c.kpi_id, c.before, c.after, c.what) for c in corrected.changes] == [
        ("sales_attainment", Decimal("0.740000"), Decimal("0.780000"), "changed"),
        # the won deals that stand in for orders list their amounts: same figure, new sources
        ("complaint_rate", Decimal("0.500000"), Decimal("0.500000"), "sources")]
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT count(*) FROM audit_log WHERE action = 'kpi.computed'").fetchone() == (7,)
        conn.execute("INSERT INTO kpi_actual VALUES ('K03', '2026-Q3', 'complaint_rate', 0.5)")  # entered by hand
    with psycopg.connect(db_admin_url) as conn:  # the target goes: so does the computed figure (no denominator)
        conn.execute("DELETE FROM kpi_target WHERE employee_id = 'K01' AND kpi_id = 'sales_attainment'")
    removed = await compute_kpis(db_url, "2026-Q3", "HR1")
    assert [(c.employee_id, c.kpi_id, c.what) for c in removed.changes] == [("K01", "sales_attainment", "removed")]
    assert [(c.employee_id, c.kpi_id, c.what) for c in removed.kept] == [("K03", "complaint_rate", "kept")]
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT count(*) FROM kpi_actual WHERE kpi_id = 'sales_attainment' AND employee_id = 'K01'"
                            ).fetchone() == (0,)
        assert conn.execute("SELECT value FROM kpi_actual WHERE employee_id = 'K03'").fetchone() == (Decimal("0.5"),)
    assert await stale_periods(db_url, [date(2026, 8, 1)]) == ["2026-Q3"]
    assert await stale_periods(db_url, [date(2026, 12, 1)]) == []

    # The hook after an import: the periods the changed dates touch are recomputed (here: D2 moved out of Q3).
    with psycopg.connect(db_url) as conn:
        conn.execute("UPDATE crm_deal SET closed_on = '2026-10-01' WHERE id = 'D2'")
    (run,) = await recompute_after_import(db_url, [date(2026, 8, 15), date(2026, 10, 1)], "HR1")
    assert run.period.label == "2026-Q3" and ("K01", "complaint_rate") in {(c.employee_id, c.kpi_id)
                                                                          for c in run.changes}


async def test_unknown_period_is_refused(db_url: str) -> None:
    from services.errors import UserError

    with pytest.raises(UserError, match="unknown period '2026-Q7'"):
        await compute_kpis(db_url, "2026-Q7", "HR1")


def test_targets_import_validates_previews_writes_and_reimports_unchanged(db_url: str, tmp_path: Path) -> None:
    seed_org(db_url, kams=2)
    good = tmp_path / "targets.csv"
    good.write_text("employee_id,period,kpi_id,target,currency\nK01,2026-Q3,sales_attainment,2500000,CNY\n"
                    "K01,2026-Q3,new_customer_acquisition,2,\n", encoding="utf-8")
    assert preview_targets(db_url, good).tables["kpi_target"].counts.inserted == 2
    summary = import_targets(db_url, good, "HR1")
    assert summary.kpi_target.inserted == 2 and summary.audit_events == 2
    assert not import_targets(db_url, good, "HR1").changed
    good.write_text("employee_id,period,kpi_id,target,currency\nK01,2026-Q3,sales_attainment,2600000,CNY\n",
                    encoding="utf-8")
    assert import_targets(db_url, good, "HR1").kpi_target.updated == 1

    bad = tmp_path / "bad.csv"
    bad.write_text("employee_id,period,kpi_id,target,currency\nK01,2026-Q9,sales_attainment,1,CNY\n"
                   "K01,2026-Q3,customer_retention,1,\nHR1,2026-Q3,sales_attainment,1,CNY\n"
                   "K02,2026-Q3,new_customer_acquisition,2.5,CNY\nK02,2026-Q3,sales_attainment,0,CNY\n"
                   "K77,2026-Q3,sales_attainment,5,CNY\n", encoding="utf-8")
    with pytest.raises(ImportFailed) as failed:
        import_targets(db_url, bad, "HR1")
    assert [str(i) for i in failed.value.issues] == [
        "bad.csv:2:period: unknown period '2026-Q9' (write 2026, 2026-H1, 2026-Q3 or 2026-09)",
        "bad.csv:3:kpi_id: KPI 'customer_retention' has no target (targets are for: sales_attainment, "
        "new_customer_acquisition)",
        "bad.csv:4:employee_id: 'HR1' is not a KAM (role hr)",
        "bad.csv:5:currency: new_customer_acquisition counts accounts; leave its currency empty",
        "bad.csv:5:target: new_customer_acquisition counts accounts: the target must be a whole number",
        "bad.csv:6:target: a target must be above 0 (a KPI without a target gets no figure)",
        "bad.csv:7:employee_id: unknown employee 'K77' (import the org first)",
    ]
