"""Payroll's statement of a cycle paying deals, a draw and clawbacks: the ledger on the page, in JSON and CSV."""

from __future__ import annotations

import csv
import io

from tests.test_sales_cycle import run_two_quarters, seed_deals

BOM = "\ufeff"


async def test_the_statement_shows_the_ledger_and_names_deals_and_clawbacks(web):
    seed_deals(web.db_url)
    _q3, q4 = await run_two_quarters(web.client, web.db_url, web.task_queue, web.org)
    pay = await web.login("PAY1")
    pay.cookies.set("kr_lang", "en")
    page = (await pay.get(f"/payroll/statements/{q4}")).text
    assert 'id="ledger"' in page and "Balance ledger" in page and "Download ledger CSV" in page
    assert "Clawback" in page and "Draw recovery" in page and ">D1</span>" in page
    ledger = {r["employee_id"]: r for r in (await pay.get(f"/api/payroll/statements/{q4}/ledger")).json()}
    assert (ledger["K01"]["earned"], ledger["K01"]["recovered"], ledger["K01"]["clawed_back"],
            ledger["K01"]["net"], ledger["K01"]["balance"]) == ("3240.00", "760.00", "620.00", "1860.00", "0.00")
    assert (ledger["K02"]["net"], ledger["K02"]["balance"]) == ("-80.00", "1840.00")
    # K03 had no deal: the guarantee was Q3's only, so Q4 pays nothing and the 2,000 drawn in Q3 is still owed.
    assert (ledger["K03"]["earned"], ledger["K03"]["drawn"], ledger["K03"]["balance"]) == ("0.00", "0.00", "2000.00")
    raw = (await pay.get(f"/api/payroll/statements/{q4}/ledger/csv")).text
    assert raw.startswith(BOM + "employee_id,employee_name,plan_year,earned,drawn,recovered,clawed_back,")
    rows = list(csv.DictReader(io.StringIO(raw.removeprefix(BOM))))
    assert [r["net"] for r in rows if r["employee_id"] == "K02"] == ["-80.00"]
    lines = (await pay.get(f"/api/payroll/statements/{q4}")).json()
    assert {(ln["employee_id"], ln["amount"], ln["deal_id"], ln["event"]) for ln in lines
            if ln["line_type"] == "adjustment"} == {("K01", "-500.00", "D1", "churned"),
                                                    ("K01", "-120.00", "D3", "cancelled"),
                                                    ("K02", "-80.00", "D3", "cancelled")}
    statement_csv = (await pay.get(f"/api/payroll/statements/{q4}/csv")).text
    assert statement_csv.splitlines()[0].endswith(",explanation,deal_id,event")
    pay.cookies.set("kr_lang", "zh-CN")
    zh = (await pay.get(f"/payroll/statements/{q4}")).text
    assert "余额台账" in zh and "提成追回" in zh and "扣回预支" in zh
