"""The demo from Zoho CRM's export files (issue 12): demo/zoho/ holds the same key accounts and contacts as
demo/accounts.csv, owned by the same KAMs, laid out as Zoho's export writes them; importing them twice is a no-op."""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from services.demo import DEMO, ZOHO_EXPORT, import_demo_data
from services.imports.crm import preview_crm_import
from tests.test_cli import cli  # noqa: F401 - the fixture


def project_accounts() -> tuple[dict[str, tuple[str, Decimal]], set[tuple[str, str]]]:
    rows = list(csv.DictReader((DEMO / "accounts.csv").open(encoding="utf-8")))
    accounts = {r["account_name"]: (r["kam_id"], Decimal(r["annual_revenue"])) for r in rows}
    contacts = {(r["account_name"], r["contact_name"]) for r in rows}
    return accounts, contacts


def test_zoho_files_are_laid_out_as_zoho_exports_them() -> None:
    names = sorted(p.name for p in ZOHO_EXPORT.glob("*.csv"))
    assert names == ["Accounts_001.csv", "Cases_001.csv", "Contacts_001.csv", "Deals_001.csv"]
    for path in ZOHO_EXPORT.glob("*.csv"):
        data = path.read_bytes()
        assert data.startswith(b"\xef\xbb\xbf\"Record Id\",")  # a byte-order mark, every cell quoted
        assert all(line.startswith('"zcrm_') for line in data.decode("utf-8-sig").splitlines()[1:])


def test_the_demo_imports_its_accounts_from_zoho(db_url: str) -> None:
    import_demo_data(db_url, "zoho")
    accounts, contacts = project_accounts()
    with psycopg.connect(db_url) as conn:
        stored = {name: (kam, revenue) for name, kam, revenue in conn.execute(
            "SELECT name, kam_id, annual_revenue FROM key_account WHERE id LIKE 'zcrm_%%'")}
        people = set(conn.execute("""SELECT a.name, c.name FROM customer_contact c
                                     JOIN key_account a ON a.id = c.account_id""").fetchall())
        kams = conn.execute("SELECT count(*) FROM employee WHERE role = 'kam'").fetchone()[0]
        kpis = conn.execute("SELECT count(*) FROM kpi_actual WHERE period = '2026-Q3'").fetchone()[0]
    assert stored == accounts and people == contacts and (kams, kpis) == (20, 100)
    preview = preview_crm_import(db_url, "zoho", sorted(ZOHO_EXPORT.glob("*.csv")))
    assert not preview.changed  # a second demo run finds everything in place
    assert (preview.deals, preview.won_deals) == (60, 20) and preview.cases > 0


@pytest.mark.slow
def test_demo_from_zoho_runs_a_whole_cycle(cli) -> None:  # noqa: F811 - about a minute: the whole demo
    """`kamreview demo --source zoho`: the same cycle, its key accounts imported from the Zoho export files."""
    proc = cli("demo", "--fast", "--source", "zoho", timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Zoho CRM's export files (Accounts_001.csv, Cases_001.csv, Contacts_001.csv, Deals_001.csv)" in proc.stderr
    assert "key_account: 60 new, 0 changed, 0 unchanged" in proc.stderr
    path = Path(proc.stdout.strip().splitlines()[-1])
    rows = list(csv.DictReader(path.open(encoding="utf-8-sig")))
    assert len(rows) == 40 and "total" in proc.stdout
    path.unlink()
