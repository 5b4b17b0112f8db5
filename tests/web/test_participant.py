"""The participant page and API: everything about one person in one cycle, for HR and the calibration committee.

The committee is a manager for people in their own reporting line while the cycle is in calibration; any other
manager gets the same 404 as for a participant that does not exist; employees and payroll are refused by role.
"""

from __future__ import annotations

import re
import uuid
from decimal import Decimal
from html import unescape

import psycopg

from tests.helpers import ratings
from tests.web.calibration_world import calibration_cycle


async def _cycle(web) -> str:
    return await calibration_cycle(web.db_url, f"PT{uuid.uuid4().hex[:8]}")


async def test_hr_sees_every_section_with_names_and_local_times(web):
    cid = await _cycle(web)
    hr = await web.login("HR1")
    hr.cookies.set("kr_lang", "en")
    r = await hr.get(f"/hr/cycles/{cid}/participants/K01")
    assert r.status_code == 200, r.text
    page = unescape(r.text)
    assert "KAM K01" in page and "manager: Manager M1" in page
    assert "Closed the Sinopec renewal" in page and "Clear weekly reports" in page  # self-review, manager's comment
    assert "Pipeline slipped into Q4" in page  # the KAM's KPI comment
    # KPI actuals against targets: sales attainment 90 % of a plan target of 100 %, retention 0.92 against 0.9.
    assert 'data-kpi="sales_attainment"' in page and ">90%<" in page and ">102.2%<" in page
    assert "Contact CK010" in page and "Responsive and well prepared" in page and "expired without an answer" in page
    assert "CSAT 100%: 1 of 1 answers were 4 or 5." in page and "95% confidence interval 20.65% to 100%." in page
    assert 'id="score-lines"' in page and "Sales target attainment / 销售目标达成率" in page and "27%" in page
    sentences = page.split('id="score-sentences"')[1].split("</ul>")[0]  # the lines as a KAM reads them
    assert "90% of target → score 2 of 5, weight 27%" in sentences, sentences
    assert "Aligned with the regional peers" in page and "Hannah HR" in page  # adjustment, by name
    assert "Manager M2" in page and "Matrix team" in page  # the reassignment, from M2 to M1
    assert "Rating adjusted in calibration" in page and "self-review submitted" in page and "the system" in page
    assert "10 Oct 2026, 10:30" in page  # the adjustment, in Beijing time (the cycle's zone)
    zh = await web.login("HR1")
    zh.cookies.set("kr_lang", "zh-CN")
    page = unescape((await zh.get(f"/hr/cycles/{cid}/participants/K01")).text)
    assert "自评" in page and "审计记录" in page and "2026年10月10日 10:30" in page and "95% 置信区间" in page
    assert "客户满意度（CSAT）100%：1 份答卷中有 1 份评分为 4 或 5。" in page and "已过期，未答复" in page
    assert "直属上级：Manager M1" in page and "校准中调整了评级" in page and "自评已提交" in page


async def test_the_api_returns_the_same_participant(web):
    cid = await _cycle(web)
    hr = await web.login("HR1")
    r = await hr.get(f"/api/hr/cycles/{cid}/participants/K01")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["name"] == "KAM K01" and body["manager"] == {"id": "M1", "name": "Manager M1"}
    assert body["final_level"] == 3 and body["final_label"] == "Meets"
    assert body["csat"]["ci_low"] == "20.65" and body["csat"]["responses"] == 1
    kpi = next(k for k in body["kpis"] if k["id"] == "sales_attainment")
    assert Decimal(kpi["target"]) == 1 and Decimal(kpi["attainment"]) == Decimal("0.9")
    assert kpi["comment"] == "Pipeline slipped into Q4"
    retention = next(k for k in body["kpis"] if k["id"] == "customer_retention")  # 0.92 against the plan's 0.9
    assert Decimal(retention["target"]) == Decimal("0.9")
    assert Decimal(retention["attainment"]).quantize(Decimal("0.0001")) == Decimal("1.0222")
    assert next(k for k in body["kpis"] if k["id"] == "complaint_rate")["target"] is None  # lower is better
    assert [a["actor_name"] for a in body["adjustments"]] == ["Hannah HR"]
    assert body["reassignments"][0]["from_reviewer"]["name"] == "Manager M2"
    assert {e["action"] for e in body["audit"]} >= {"review.opened", "rating.adjusted", "self_review.submitted"}
    assert body["manager_score"]["comments"]["communication"] == "Clear weekly reports"


async def test_the_committee_is_the_reporting_line_during_calibration_only(web):
    cid = await _cycle(web)
    m1, m2 = await web.login("M1"), await web.login("M2")
    assert (await m1.get(f"/api/hr/cycles/{cid}/participants/K01")).status_code == 200  # M1 manages K01
    assert (await m1.get(f"/hr/cycles/{cid}/participants/K03")).status_code == 200
    # Another manager's report looks exactly like a participant that does not exist.
    other = await m1.get(f"/api/hr/cycles/{cid}/participants/K02")
    missing = await m1.get(f"/api/hr/cycles/{cid}/participants/K99")
    assert other.status_code == missing.status_code == 404
    assert other.json()["detail"].replace("K02", "X") == missing.json()["detail"].replace("K99", "X")
    assert (await m2.get(f"/hr/cycles/{cid}/participants/K01")).status_code == 404
    # The manager's inbox is the committee's way in: links to exactly the pages they may open.
    def links(page: str) -> set[str]:
        return set(re.findall(rf'href="/hr/cycles/{cid}/participants/(\w+)"', page))

    assert links((await m1.get("/manager")).text) == {"K01", "K03"}
    assert "K01" not in links((await m2.get("/manager")).text)
    # Whoever HR reassigned a review to scored it, so they sit on the committee for that person too.
    with psycopg.connect(web.db_url) as conn:
        conn.execute("UPDATE review SET reviewer_id = 'M1' WHERE cycle_id = %s AND employee_id = 'K02'", (cid,))
    assert (await m1.get(f"/api/hr/cycles/{cid}/participants/K02")).status_code == 200
    assert links((await m1.get("/manager")).text) == {"K01", "K02", "K03"}
    # A manager above M1 in the org chart is in K01's reporting line too; M1 never sees their own page.
    with psycopg.connect(web.db_url) as conn:
        conn.execute("UPDATE employee SET manager_id = 'M2' WHERE id = 'M1'")
    assert (await m2.get(f"/api/hr/cycles/{cid}/participants/K01")).status_code == 200
    # Outside calibration the committee has nothing to compare: only HR reads the page.
    with psycopg.connect(web.db_url) as conn:
        conn.execute("UPDATE review_cycle SET status = 'incentives' WHERE id = %s", (cid,))
    assert (await m1.get(f"/api/hr/cycles/{cid}/participants/K01")).status_code == 404
    assert links((await m1.get("/manager")).text) == set()
    assert (await (await web.login("HR1")).get(f"/api/hr/cycles/{cid}/participants/K01")).status_code == 200


async def test_employees_and_payroll_are_refused_and_a_kam_never_sees_their_own(web):
    cid = await _cycle(web)
    for who in ("K01", "K02", "PAY1"):
        http = await web.login(who)
        assert (await http.get(f"/api/hr/cycles/{cid}/participants/K01")).status_code == 403
        assert (await http.get(f"/hr/cycles/{cid}/participants/K01")).status_code == 403
    anon = web.anon()
    assert (await anon.get(f"/api/hr/cycles/{cid}/participants/K01")).status_code == 401
    r = await anon.get(f"/hr/cycles/{cid}/participants/K01")
    assert r.status_code == 303 and r.headers["location"].startswith("/login")


async def test_while_reviews_are_open_hr_sees_what_is_there_so_far(web):
    cid = await web.open_cycle()
    kam = await web.login("K01")
    assert (await kam.post(f"/api/me/reviews/{cid}/self-review",
                           json={"ratings": ratings(3), "evidence": {"communication": "Won AK01"}})
            ).status_code == 200
    hr = await web.login("HR1")
    hr.cookies.set("kr_lang", "en")
    r = await hr.get(f"/hr/cycles/{cid}/participants/K01")
    page = unescape(r.text)
    assert r.status_code == 200 and "No score yet: it is computed when the review closes." in page
    assert "Won AK01" in page and "Self-review: done" in page and "no manager's score yet" in page
    assert "not answered yet" in page and "No answers yet." in page
    body = (await hr.get(f"/api/hr/cycles/{cid}/participants/K01")).json()
    assert body["final_level"] is None and body["csat"]["responses"] == 0 and body["score_lines"] == []
    assert "self_review.submitted" in {e["action"] for e in body["audit"]}
    # The committee has nothing to see yet: reviews are still being written.
    assert (await (await web.login("M1")).get(f"/api/hr/cycles/{cid}/participants/K01")).status_code == 404
