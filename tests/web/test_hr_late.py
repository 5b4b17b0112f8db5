"""The dashboard names who is late: missed tasks, overdue ones, those in a grace period; per phase and manager."""

from __future__ import annotations

import uuid
from html import unescape

import psycopg

from services.cycles import create_cycle, start_cycle
from tests.helpers import count, cycle_config, eventually

OPEN = {"due_after": "600s", "reminders_before": [], "on_deadline": {"action": "close"}}


async def test_missed_self_reviews_are_named_not_nobody_is_late(web):
    """The bar showed every self-review missed while the page said "Nobody is late."."""
    cid = f"LATE{uuid.uuid4().hex[:8]}"
    config = cycle_config(cid, due="2s", manager_scoring=OPEN, customer_survey=OPEN)
    await create_cycle(web.db_url, config)
    await start_cycle(web.client, web.db_url, cid, web.task_queue)

    async def all_missed() -> bool:
        return count(web.db_url, "SELECT count(*) FROM task WHERE cycle_id = %s AND kind = 'self_review' "
                                 "AND status = 'missed'", cid) == 4

    await eventually(all_missed)
    hr = await web.login("HR1")
    hr.cookies.set("kr_lang", "en")
    page = unescape((await hr.get(f"/hr/cycles/{cid}")).text)
    assert "Nobody is late" not in page
    for kam in ("K01", "K02", "K03", "K04"):
        assert f"KAM {kam}" in page and f'href="/hr/cycles/{cid}/participants/{kam}"' in page
    assert 'id="late"' in page and page.count('data-state="missed"') == 4
    assert "missed" in page and "self-review" in page
    # per manager, by name: M1 has K01 and K03, M2 has K02 and K04
    assert "Manager M1" in page and "Manager M2" in page
    hr.cookies.set("kr_lang", "zh-CN")
    page = unescape((await hr.get(f"/hr/cycles/{cid}")).text)
    assert "没有人逾期" not in page and "自评" in page and "已错过" in page and "KAM K01" in page
    api = (await hr.get(f"/api/hr/cycles/{cid}")).json()
    assert sorted(t["employee_name"] for t in api["late"]) == ["KAM K01", "KAM K02", "KAM K03", "KAM K04"]
    assert {t["state"] for t in api["late"]} == {"missed"}


async def test_grace_period_and_overdue_are_shown_as_such(web):
    cid = await web.open_cycle()
    with psycopg.connect(web.db_url) as conn:
        # K03's scoring was extended once (the policy's grace period) and is due again in an hour;
        # K01's self-review is past its deadline, not yet closed.
        conn.execute("UPDATE task SET due_at = now() + interval '1 hour', extensions = 1 WHERE id = %s",
                     (f"{cid}:K03:manager_scoring",))
        conn.execute("UPDATE task SET due_at = now() - interval '3 hours' WHERE id = %s", (f"{cid}:K01:self_review",))
    hr = await web.login("HR1")
    hr.cookies.set("kr_lang", "en")
    api = (await hr.get(f"/api/hr/cycles/{cid}")).json()
    states = {(t["employee_id"], t["kind"]): t for t in api["late"]}
    assert states[("K01", "self_review")]["state"] == "overdue"
    assert states[("K03", "manager_scoring")]["state"] == "grace"
    assert states[("K03", "manager_scoring")]["assignee_name"] == "Manager M1"
    page = unescape((await hr.get(f"/hr/cycles/{cid}")).text)
    assert "in grace period" in page and "3 hours overdue" in page
    hr.cookies.set("kr_lang", "zh-CN")
    page = unescape((await hr.get(f"/hr/cycles/{cid}")).text)
    assert "宽限期" in page and "已逾期3小时" in page
