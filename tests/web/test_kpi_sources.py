"""The participant page lists, for each KPI computed from the CRM, the records it came from (with amounts and what
each did), and flags a figure corrected after the score was made: over HTTP in both languages, in the API, and in
real Chromium (the records open from their summary)."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from html import unescape

import psycopg

from services.kpis import compute_kpis
from tests.web.calibration_world import calibration_cycle
from tests.web.test_browser import browser, page_for, sign_in  # noqa: F401 (fixtures)


def seed_crm(db_url: str) -> None:
    """K01: two won deals of 2026-Q3 in CNY, one in USD (not counted against a CNY target); target 2,500,000.
    The score used 0.9 (the stored breakdown); the records now say 2,000,000 / 2,500,000 = 0.8."""
    with psycopg.connect(db_url) as conn:
        conn.execute("""INSERT INTO crm_deal (id, kind, account_id, kam_id, won, amount, currency, closed_on, source)
                        VALUES ('zcrm_501', 'deal', 'AK01', 'K01', true, 1200000, 'CNY', %s, 'zoho'),
                               ('zcrm_502', 'deal', 'AK01', 'K01', true, 800000, 'CNY', %s, 'zoho'),
                               ('zcrm_503', 'deal', 'AK01', 'K01', true, 5000, 'USD', %s, 'zoho')""",
                     (date(2026, 8, 3), date(2026, 9, 28), date(2026, 9, 1)))
        conn.execute("""INSERT INTO kpi_target (employee_id, period, kpi_id, target, currency, source)
                        VALUES ('K01', '2026-Q3', 'sales_attainment', 2500000, 'CNY', 'targets.csv')""")


async def test_the_page_lists_each_figures_records_and_flags_a_correction(web):
    cid = await calibration_cycle(web.db_url, f"KS{uuid.uuid4().hex[:8]}")
    seed_crm(web.db_url)
    await compute_kpis(web.db_url, "2026-Q3", "HR1")
    hr = await web.login("HR1")
    hr.cookies.set("kr_lang", "en")
    page = unescape((await hr.get(f"/hr/cycles/{cid}/participants/K01")).text)
    assert "corrected: the score used 90%" in page  # the figure now is 80 %, the score was made with 90 %
    assert "Where the KPI figures came from" in page
    assert "Sales target attainment / 销售目标达成率: 2,000,000 / 2,500,000, from 3 records" in page, page
    assert 'data-record="zcrm_502"' in page and "¥800,000.00" in page and "another currency: not counted" in page
    zh = await web.login("HR1")
    zh.cookies.set("kr_lang", "zh-CN")
    page = unescape((await zh.get(f"/hr/cycles/{cid}/participants/K01")).text)
    assert "已更正：评分时使用的是 90%" in page and "KPI 数据来源" in page and "其他币种，未计入" in page

    body = (await hr.get(f"/api/hr/cycles/{cid}/participants/K01")).json()
    sales = next(k for k in body["kpis"] if k["id"] == "sales_attainment")
    assert Decimal(sales["value"]) == Decimal("0.8") and Decimal(sales["scored_value"]) == Decimal("0.9")
    assert sales["computed"] is True and Decimal(sales["numerator"]) == 2000000
    assert [(r["id"], r["role"]) for r in sales["records"]] == [
        ("zcrm_501", "counted"), ("zcrm_502", "counted"), ("zcrm_503", "excluded")]


async def test_the_kams_results_page_shows_the_new_figure_and_its_records(web):
    cid = await calibration_cycle(web.db_url, f"KR{uuid.uuid4().hex[:8]}")
    seed_crm(web.db_url)
    await compute_kpis(web.db_url, "2026-Q3", "HR1")
    with psycopg.connect(web.db_url) as conn:
        conn.execute("UPDATE review_cycle SET results_released_at = now() WHERE id = %s", (cid,))
    k1 = await web.login("K01")
    k1.cookies.set("kr_lang", "en")
    r = await k1.get(f"/me/results/{cid}")
    assert r.status_code == 200, r.text
    page = unescape(r.text)
    assert "Where the KPI figures came from" in page
    assert "2,000,000 / 2,500,000, from 3 records = 80%" in page and "corrected: the score used 90%" in page
    assert 'data-record="zcrm_501"' in page and "CN¥1,200,000.00" in page
    k1.cookies.set("kr_lang", "zh-CN")
    page = unescape((await k1.get(f"/me/results/{cid}")).text)
    assert "KPI 数据来源" in page and "已更正：评分时使用的是 90%" in page and "已计入" in page
    body = (await k1.get(f"/api/me/results/{cid}")).json()  # the JSON twin
    (sales,) = [k for k in body["kpi_sources"] if k["kpi_id"] == "sales_attainment"]
    assert sales["corrected"] is True and Decimal(sales["value"]) == Decimal("0.8")
    assert [r["id"] for r in sales["records"]] == ["zcrm_501", "zcrm_502", "zcrm_503"]


def test_the_records_open_in_chromium(live, db_url, web_org, page_for):  # noqa: F811
    cid = f"KB{uuid.uuid4().hex[:8]}"
    live.call(lambda c: calibration_cycle(db_url, cid))
    seed_crm(db_url)
    live.call(lambda c: compute_kpis(db_url, "2026-Q3", "HR1"))
    page = page_for()
    page.context.add_cookies([{"name": "kr_lang", "value": "en", "url": live.url}])
    sign_in(page, live.url, "HR1")
    page.goto(f"{live.url}/hr/cycles/{cid}/participants/K01")
    sources = page.locator("details.kpi-sources[data-kpi='sales_attainment']")
    row = sources.locator("tr[data-record='zcrm_501']")
    assert not row.is_visible()  # closed until asked for
    sources.locator("summary").click()
    row.wait_for(state="visible")
    assert "¥1,200,000.00" in row.inner_text() and "counted" in row.inner_text()
    assert "corrected: the score used 90%" in page.inner_text("tr[data-kpi='sales_attainment']")

