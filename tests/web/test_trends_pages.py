"""The trend pages and their JSON twins over the trends world, in both languages, with their permissions."""

from __future__ import annotations

import html as html_text
import re
from typing import Any

import pytest

from services.users import fast_test_hasher, seed_demo_users
from tests.trends_world import trends_world
from tests.web.helpers import password_of


@pytest.fixture
async def world(web) -> dict[str, Any]:
    """The web app over the trends world (its own org: K01..K06 under M1 and M2, with sign-ins)."""
    return await trends_world(web.db_url, seed=False)


@pytest.fixture
def web_org(db_url: str) -> dict[str, Any]:  # replaces tests/web/conftest.py's: the trends world's org
    from tests.helpers import seed_org

    org = seed_org(db_url, kams=6, managers=2)
    seed_demo_users(db_url, hasher=fast_test_hasher())
    return org


def cells(html: str, row: str) -> list[str]:
    """The text of each cell of the row ``data-row=row`` (tags and spaces squeezed)."""
    m = re.search(rf'<tr data-row="{re.escape(row)}">(.*?)</tr>', html, re.S)
    assert m, f"no row {row}"
    found = re.findall(r"<td[^>]*>(.*?)</td>", m.group(1), re.S)
    return [re.sub(r"\s+", " ", html_text.unescape(re.sub(r"<[^>]+>", " ", c))).strip() for c in found]


async def test_the_kam_sees_their_own_trend_in_both_languages(web, world):
    import psycopg

    with psycopg.connect(web.db_url) as conn:  # K01 reads in their own zone, not the cycle's
        conn.execute("UPDATE web_user SET timezone = 'Europe/Berlin' WHERE username = 'K01'")
    k01 = await web.login("K01")
    me = await k01.get("/me")
    assert 'href="/trends/employees/K01"' in me.text
    r = await k01.get("/trends/employees/K01", cookies={"kr_lang": "en"})
    assert r.status_code == 200, r.text
    level = cells(r.text, "final_level")
    assert level[1:] == ["3 Meets nothing to compare with", "4 Exceeds ↑ vs. the previous cycle: up, better +1",
                         "4 Exceeds → vs. the previous cycle: unchanged", "5 Outstanding ↑ vs. the previous cycle: up, better +1"]
    pay = cells(r.text, "payout:CNY")
    assert pay[2] == "CN¥1,700.00 ↑ vs. the previous cycle: up, better +CN¥700.00"
    assert pay[3].startswith("CN¥1,200.00 ↓") and pay[3].endswith("-CN¥500.00")
    complaints = cells(r.text, "kpi:complaint_rate")
    assert complaints[3] == "2.5% ↑ vs. the previous cycle: up, worse +0.5 pp"
    assert '<svg class="spark" role="img" aria-label="Final rating across cycles: 3, 4, 4, 5"' in r.text
    released = re.search(r'<tr data-row="released">.*?<time datetime="([^"]+)" title="([^"]+)">', r.text, re.S)
    assert "Europe/Berlin" in released.group(2) and "Europe/Berlin" in r.text.split("<footer>")[1]
    zh = await k01.get("/trends/employees/K01", cookies={"kr_lang": "zh-CN"})
    assert "我的趋势" in zh.text and "较上期" in zh.text and "最终评级" in zh.text and "激励（CNY）" in zh.text
    assert cells(zh.text, "final_level")[2] == "4 超出预期 ↑ 较上期：上升，变好 +1"
    assert 'data-row="normalized_score"' not in r.text  # calibration's working stays with HR and managers
    assert (await k01.get("/trends/employees/K02")).status_code == 404
    assert (await k01.get("/trends/teams/M1")).status_code == 403
    api = (await k01.get("/api/trends/employees/K01")).json()
    assert [c["final_level"]["direction"] for c in api["cycles"] if c["cadence"] == "quarterly"] == [None, "up", "same", "up"]
    assert api["cycles"][1]["payouts"][0] == {"value": "1700.00", "change": "700.00", "direction": "up",
                                              "better": True, "currency": "CNY"}


async def test_the_manager_sees_each_report_and_the_team(web, world):
    m1 = await web.login("M1")
    r = await m1.get("/trends/teams/M1", cookies={"kr_lang": "en"})
    assert r.status_code == 200, r.text
    assert cells(r.text, "level:5")[1:] == ["0 (0%)", "0 (0%)", "0 (0%)", "2 (67%)"]
    assert cells(r.text, "mean_level")[4] == "4.67 ↑ vs. the previous cycle: up, better +1"
    assert 'href="/trends/employees/K03"' in r.text
    k01 = await m1.get("/trends/employees/K01", cookies={"kr_lang": "en"})
    assert cells(k01.text, "final_level")[4].startswith("5 Outstanding adjusted ↑")
    assert cells(k01.text, "normalized_score")[1:3] == ["3 nothing to compare with",
                                                       "3.7 ↑ vs. the previous cycle: up, better +0.7"]
    assert (await m1.get("/trends/employees/K03")).status_code == 200
    assert (await m1.get("/trends/employees/K02")).status_code == 404  # M2's report
    assert (await m1.get("/trends/teams/M2")).status_code == 404
    assert (await m1.get("/trends")).status_code == 403
    team = (await m1.get("/api/trends/teams/M1")).json()
    assert [c["rated"] for c in team["cycles"]] == [3, 3, 3, 3, 3]
    zh = await m1.get("/trends/teams/M1", cookies={"kr_lang": "zh-CN"})
    assert "我的团队趋势" in zh.text and "平均最终评级" in zh.text


async def test_hr_sees_the_drift_list_and_any_employee(web, world):
    hr = await web.login("HR1")
    r = await hr.get("/trends", cookies={"kr_lang": "en"})
    assert r.status_code == 200, r.text
    assert "2 managers flagged of 2." in r.text
    row = re.search(r'<tr data-manager="M1" data-flagged="1">(.*?)</tr>', r.text, re.S).group(1)
    assert "more generous" in row and "+0.67" in row and "+33.3 pp" in row
    assert "stricter" in re.search(r'<tr data-manager="M2"[^>]*>(.*?)</tr>', r.text, re.S).group(1)
    relaxed = await hr.get("/trends?mean_threshold=1&share_threshold=0.4", cookies={"kr_lang": "en"})
    assert "0 managers flagged of 2." in relaxed.text
    assert (await hr.get("/trends?cycles=1")).status_code == 422
    found = await hr.get("/trends?employee=K04")
    assert found.status_code == 303 and found.headers["location"] == "/trends/employees/K04"
    bad = await hr.get("/trends?employee=%20x%20y", cookies={"kr_lang": "en"})
    assert bad.status_code == 422 and "employee id:" in bad.text
    assert (await hr.get("/trends/employees/K04")).status_code == 200
    assert (await hr.get("/trends/employees/NOBODY")).status_code == 404
    drift = (await hr.get("/api/trends/drift")).json()
    assert drift["cadence"] == "quarterly" and drift["managers"][0]["drift"]["flagged"]
    zh = await hr.get("/trends", cookies={"kr_lang": "zh-CN"})
    assert "趋势：评级漂移的经理" in zh.text and "偏宽松" in zh.text


async def test_payroll_has_no_trends(web, world):
    pay = await web.login("PAY1")
    for path in ("/trends/employees/K01", "/trends/teams/M1", "/trends", "/api/trends/drift",
                 "/api/trends/employees/K01", "/api/trends/teams/M1"):
        assert (await pay.get(path)).status_code == 403, path
    assert password_of("PAY1")
