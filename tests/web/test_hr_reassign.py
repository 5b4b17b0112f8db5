"""Reassigning a review: only to someone who can score it, chosen by name; refused with a reason otherwise."""

from __future__ import annotations

import re
from html import unescape

import psycopg

from tests.helpers import count


def more_managers(db_url: str) -> None:
    """Managers who cannot score: one has left, one has not joined, one's sign-in is disabled, one's lacks the role."""
    with psycopg.connect(db_url) as conn:
        conn.execute("""INSERT INTO employee (id, name, role, termination_date, hire_date, currency, timezone) VALUES
                        ('M7', 'Left Manager', 'manager', current_date - 30, '2020-01-01', 'CNY', 'Asia/Shanghai'),
                        ('M8', 'Future Manager', 'manager', NULL, current_date + 30, 'CNY', 'Asia/Shanghai'),
                        ('M9', 'Disabled Manager', 'manager', NULL, '2020-01-01', 'CNY', 'Asia/Shanghai'),
                        ('M10', 'Employee-only Manager', 'manager', NULL, '2020-01-01', 'CNY', 'Asia/Shanghai'),
                        ('M11', 'Unsigned Manager', 'manager', NULL, '2020-01-01', 'CNY', 'Asia/Shanghai')""")
        conn.execute("""INSERT INTO web_user (username, employee_id, display_name, roles, password_hash, disabled) VALUES
                        ('M9', 'M9', 'Disabled Manager', '{manager}', 'x', true),
                        ('M10', 'M10', 'Employee-only Manager', '{employee}', 'x', false)""")


async def test_the_form_offers_only_managers_who_can_score_by_name(web):
    more_managers(web.db_url)
    cid = await web.open_cycle()
    hr = await web.login("HR1")
    hr.cookies.set("kr_lang", "en")
    page = unescape((await hr.get(f"/hr/cycles/{cid}")).text)
    select = re.search(r'<select id="new_reviewer_id" name="new_reviewer_id">(.*?)</select>', page, re.S).group(1)
    offered = re.findall(r'<option value="([^"]+)">([^<]+)</option>', select)
    # M11 has no sign-in yet: one can be created for a manager, so they can score
    assert offered == [("M1", "Manager M1"), ("M2", "Manager M2"), ("M11", "Unsigned Manager")]
    assert "KAM K01, now scored by Manager M1" in page
    hr.cookies.set("kr_lang", "zh-CN")
    page = unescape((await hr.get(f"/hr/cycles/{cid}")).text)
    assert "KAM K01（当前评分人：Manager M1）" in page and "新评分人" in page


async def test_the_service_refuses_anyone_who_cannot_score_api_and_page(web):
    more_managers(web.db_url)
    cid = await web.open_cycle()
    hr = await web.login("HR1")
    hr.cookies.set("kr_lang", "en")
    cases = {
        "K01": "KAM K01 cannot score their own review",
        "K02": "K02 cannot score reviews (KAM K02 is a key account manager); choose a manager",
        "M7": "Left Manager has left the company",
        "M8": "Future Manager has not joined the company yet",
        "M9": "Disabled Manager cannot sign in as a manager",
        "M10": "Employee-only Manager cannot sign in as a manager",
        "ZZ9": "employee ZZ9 does not exist",
    }
    for who, said in cases.items():
        r = await hr.post(f"/api/hr/cycles/{cid}/reassign",
                          json={"employee_id": "K01", "new_reviewer_id": who, "reason": "M1 on leave"})
        assert r.status_code == 422 and said in r.json()["detail"], (who, r.text)
    token = re.search(r'name="csrf_token" value="([^"]+)"', (await hr.get(f"/hr/cycles/{cid}")).text).group(1)
    r = await hr.post(f"/hr/cycles/{cid}/reassign", data={"employee_id": "K01", "new_reviewer_id": "M7",
                                                          "reason": "M1 on leave", "csrf_token": token})
    assert r.status_code == 422 and "Left Manager has left the company" in unescape(r.text)
    assert 'id="reassign-form"' in r.text  # the dashboard again, with the message: no dead end
    hr.cookies.set("kr_lang", "zh-CN")
    r = await hr.post(f"/api/hr/cycles/{cid}/reassign",
                      json={"employee_id": "K01", "new_reviewer_id": "M7", "reason": "M1 on leave"})
    assert r.status_code == 422 and r.json()["detail"] == "Left Manager 已离职，请选择一位在职经理"
    assert count(web.db_url, "SELECT count(*) FROM review WHERE cycle_id = %s AND reviewer_id = 'M1' "
                             "AND employee_id = 'K01'", cid) == 1
    # someone who can: the flash names them
    hr.cookies.set("kr_lang", "en")
    r = await hr.post(f"/hr/cycles/{cid}/reassign", data={"employee_id": "K01", "new_reviewer_id": "M11",
                                                          "reason": "M1 on leave", "csrf_token": token})
    assert r.status_code == 303
    board = unescape((await hr.get(r.headers["location"])).text)
    assert "the review of KAM K01 now goes to Unsigned Manager" in board
