"""CRM deals/orders and cases are stored (crm_deal, crm_case) by the one writer: attributed to the KAM of their
account, re-importing the same files changes nothing, a changed record is updated and audited, a record of an
account that is no key account is stored for nobody and the preview says so; a figure entered by hand in
KPIS.csv replaces a computed one and drops its sources."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from services.importer import TableCounts, import_files
from services.imports.crm import apply_crm_import, preview_crm_import
from services.kpis import compute_kpis
from tests.helpers import schema_drift
from tests.test_crm_imports import ZOHO_CASES, ZOHO_DEALS, fxiaoke_files, org, zoho_files  # noqa: F401 - fixture

pytestmark = pytest.mark.usefixtures("org")

DEAL_WON = "zcrm_4876876000000502001"


def deals(db_url: str) -> list[tuple]:
    with psycopg.connect(db_url) as conn:
        return conn.execute("""SELECT id, kind, account_id, kam_id, owner, stage, won, amount, currency, closed_on,
                                      source FROM crm_deal ORDER BY id""").fetchall()


def test_zoho_records_are_stored_attributed_reimported_unchanged_and_updated(db_url: str,
                                                                            tmp_path: Path) -> None:
    apply_crm_import(db_url, "zoho", zoho_files(tmp_path), actor="hr.admin")
    assert deals(db_url) == [
        (DEAL_WON, "deal", "zcrm_4876876000000327001", "K01", "王芳", "Closed Won", True, Decimal("1250000.0000"),
         "CNY", date(2026, 9, 30), "zoho"),
        ("zcrm_4876876000000502002", "deal", "zcrm_4876876000000327002", "K02", "Michael Brown",
         "Negotiation/Review", False, Decimal("420000.0000"), "EUR", date(2026, 12, 15), "zoho"),
    ]
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT id, kam_id, type, complaint, status, opened_on FROM crm_case ORDER BY id"
                            ).fetchall() == [
            ("zcrm_4876876000000603001", "K01", "Problem", True, "Closed", date(2026, 8, 12)),
            ("zcrm_4876876000000603002", "K01", "Question", False, "New", date(2026, 9, 3)),
        ]
    before = deals(db_url)
    again = apply_crm_import(db_url, "zoho", zoho_files(tmp_path))
    assert again.crm_deal == TableCounts(unchanged=2) and again.crm_case == TableCounts(unchanged=2)
    assert again.kpi_dates == () and not again.changed and deals(db_url) == before

    # The CRM moved the won deal's closing date and reopened a case: both rows update, each change audited.
    moved = ZOHO_DEALS.replace('"09/30/2026"', '"10/02/2026"')
    reopened = ZOHO_CASES.replace('"Closed","Phone"', '"Reopened","Phone"')
    preview = preview_crm_import(db_url, "zoho", zoho_files(tmp_path, deals=moved, cases=reopened))
    (change,) = preview.tables["crm_deal"].changed
    assert (change.before["closed_on"], change.after["closed_on"]) == ("2026-09-30", "2026-10-02")
    summary = apply_crm_import(db_url, "zoho", zoho_files(tmp_path, deals=moved, cases=reopened))
    assert summary.crm_deal == TableCounts(updated=1, unchanged=1) and summary.crm_case.updated == 1
    assert summary.kpi_dates == (date(2026, 8, 12), date(2026, 9, 30), date(2026, 10, 2))  # before and after
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT closed_on FROM crm_deal WHERE id = %s", (DEAL_WON,)).fetchone() == (
            date(2026, 10, 2),)
        assert conn.execute("""SELECT count(*) FROM audit_log WHERE entity_type = 'crm_deal' AND entity_id = %s
                               AND action = 'import.update'""", (DEAL_WON,)).fetchone() == (1,)


def test_a_deal_of_an_account_that_is_no_key_account_counts_for_nobody(db_url: str,
                                                                       tmp_path: Path) -> None:
    stray = ZOHO_DEALS + ('"zcrm_4876876000000502003","王芳","Side project","Some Prospect Ltd",'
                          '"zcrm_4876876000000999999","Closed Won","10,000.00","09/01/2026","CNY",'
                          '"2026-08-01 09:00:00"\n')
    preview = preview_crm_import(db_url, "zoho", zoho_files(tmp_path, deals=stray))
    assert "1 deals, orders or cases count for no KAM" in str(preview) and "zcrm_4876876000000502003" in str(preview)
    apply_crm_import(db_url, "zoho", zoho_files(tmp_path, deals=stray))
    stored = {row[0]: row[3] for row in deals(db_url)}
    assert stored["zcrm_4876876000000502003"] is None


def test_fxiaoke_orders_are_stored_as_orders_cancelled_ones_not_won(db_url: str, tmp_path: Path) -> None:
    apply_crm_import(db_url, "fxiaoke", fxiaoke_files(tmp_path))
    with psycopg.connect(db_url) as conn:
        kinds = dict(conn.execute("SELECT kind, count(*) FILTER (WHERE won) FROM crm_deal GROUP BY kind").fetchall())
        sources = {r[0] for r in conn.execute("SELECT DISTINCT source FROM crm_deal")}
    assert kinds == {"deal": 1, "order": 1} and sources == {"fxiaoke"}  # won: 赢单, and the order not 作废


async def test_a_hand_entered_figure_replaces_a_computed_one_and_drops_its_sources(db_url: str,
                                                                                   tmp_path: Path) -> None:
    apply_crm_import(db_url, "zoho", zoho_files(tmp_path))
    run = await compute_kpis(db_url, "2026-Q3", "HR1")  # no targets: retention and the complaint rate only
    assert {(c.employee_id, c.kpi_id) for c in run.changes} == {("K01", "complaint_rate")}
    folder = tmp_path / "csv"
    folder.mkdir()
    (folder / "ORG.csv").write_text("employee_id,name,role,manager_id\n", encoding="utf-8")
    (folder / "ACCOUNTS.csv").write_text("account_id,account_name,kam_id,annual_revenue\n", encoding="utf-8")
    (folder / "KPIS.csv").write_text("employee_id,period,kpi_id,value\nK01,2026-Q3,complaint_rate,0.02\n",
                                     encoding="utf-8")
    import_files(db_url, folder / "ORG.csv", folder / "ACCOUNTS.csv", folder / "KPIS.csv")
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT count(*) FROM kpi_source").fetchone() == (0,)
    again = await compute_kpis(db_url, "2026-Q3", "HR1")  # computing again takes it back, from the records
    assert [(c.kpi_id, c.before, c.after) for c in again.changes] == [
        ("complaint_rate", Decimal("0.02"), Decimal("1.000000"))]


def test_migration_0011_matches_the_models(db_url: str) -> None:
    assert schema_drift(db_url, {"crm_deal", "crm_case", "kpi_target", "kpi_source"}) == []
