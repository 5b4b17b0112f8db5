"""Goals over the API and the pages (in-process): the KAM drafts and checks in, the manager approves or returns,
nobody else sees them; errors name the field."""

from __future__ import annotations

import re

PERIOD = "2026-Q3"
KR = {"metric": "Key-account revenue", "unit": "CNY", "start_value": "0", "target_value": "3000000",
      "due_date": "2026-09-30"}


async def test_the_goals_api_from_draft_to_check_in(web):
    kam, boss, other = await web.login("K01"), await web.login("M1"), await web.login("M2")
    r = await kam.post("/api/goals/K01/objectives", json={"period": PERIOD, "title": "Grow key accounts", "weight": 2})
    assert r.status_code == 200, r.text
    objective = r.json()["id"]
    r = await kam.post(f"/api/goals/objectives/{objective}/key-results", json={**KR, "target_value": "0"})
    assert r.status_code == 422 and "target_value" in r.text
    r = await kam.post(f"/api/goals/objectives/{objective}/key-results", json=KR)
    kr = r.json()["id"]
    r = await boss.post(f"/api/goals/objectives/{objective}/key-results",
                        json={**KR, "metric": "Sales target", "unit": "ratio", "start_value": "0.8", "target_value": "1.2",
                              "kpi_id": "sales_attainment"})
    assert r.status_code == 200, r.text
    assert (await other.get(f"/api/goals/K01?period={PERIOD}")).status_code == 404  # not M2's report
    assert (await kam.get(f"/api/goals/K03?period={PERIOD}")).status_code == 404  # not K01's own
    r = await kam.post("/api/goals/K01/submit", json={"period": PERIOD})
    assert r.json()["status"] == "submitted"
    assert (await kam.post("/api/manager/goals/K01/approve", json={"period": PERIOD})).status_code == 403
    r = await boss.post("/api/manager/goals/K01/return", json={"period": PERIOD, "comment": ""})
    assert r.status_code == 422 and "comment" in r.text
    assert (await boss.post("/api/manager/goals/K01/approve", json={"period": PERIOD})).json()["status"] == "approved"
    r = await kam.post(f"/api/goals/key-results/{kr}/check-ins", json={"value": "1500000", "comment": "halfway"})
    body = r.json()
    assert body["objectives"][0]["key_results"][0]["attainment"] == "0.5"
    linked = body["objectives"][0]["key_results"][1]
    assert (linked["source"], linked["current"]) == ("kpi", "0.900000")  # K01's sales attainment for 2026-Q3
    team = (await boss.get(f"/api/manager/goals?period={PERIOD}")).json()
    assert [(t["employee_id"], t["status"]) for t in team] == [("K01", "approved"), ("K03", None)]


async def test_the_pages_in_both_languages_and_a_form_error_beside_its_field(web):
    kam, boss = await web.login("K01"), await web.login("M1")
    csrf = kam.headers["X-CSRF-Token"]
    kam.cookies.set("kr_lang", "en")
    r = await kam.post("/goals/K01/objectives", data={"period": PERIOD, "title": "Win new accounts", "csrf_token": csrf})
    assert r.status_code == 303 and r.headers["location"] == f"/me/goals?period={PERIOD}"
    page = await kam.get(f"/me/goals?period={PERIOD}")
    assert "Win new accounts" in page.text
    objective = re.search(r'/goals/objectives/(\d+)/key-results', page.text).group(1)
    r = await kam.post(f"/goals/objectives/{objective}/key-results",
                       data={**KR, "target_value": "0", "csrf_token": csrf})
    assert r.status_code == 422
    assert re.search(r'id="err-kr-\d+-target_value">the target must differ from the start value', r.text), r.text
    kam.cookies.set("kr_lang", "zh-CN")
    zh = await kam.get(f"/me/goals?period={PERIOD}")
    assert "我的目标" in zh.text and "添加关键结果" in zh.text
    team = await boss.get(f"/manager/goals?period={PERIOD}", headers={"Accept-Language": "zh-CN"})
    assert team.status_code == 200 and "团队目标" in team.text and "K01" in team.text
