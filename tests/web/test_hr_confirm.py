"""Irreversible HR actions ask first: a page saying what will happen, to how many, that it cannot be undone."""

from __future__ import annotations

import re
from html import unescape

import psycopg

from tests.helpers import count, eventually


def csrf(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def finalized(db_url: str, cycle_id: str) -> None:
    """Calibration final, payouts awaiting approval: what release needs (the workflow is not the subject here)."""
    with psycopg.connect(db_url) as conn:
        conn.execute("UPDATE review_cycle SET status = 'awaiting_approval' WHERE id = %s", (cycle_id,))
        conn.execute("""INSERT INTO calibrated_rating (review_id, cycle_id, employee_id, manager_id, preliminary_score,
                               final_level, finalized)
                        SELECT id, cycle_id, employee_id, reviewer_id, 3.1, 3, true FROM review WHERE cycle_id = %s""",
                     (cycle_id,))


async def test_release_asks_first_then_releases_once(web):
    cid = await web.open_cycle()
    hr = await web.login("HR1")
    hr.cookies.set("kr_lang", "en")
    page = unescape((await hr.get(f"/hr/cycles/{cid}/results/release")).text)
    assert "calibration is not finalized" in page and 'id="confirm"' not in page  # nothing to confirm yet
    assert f'href="/hr/cycles/{cid}"' in page  # a way back
    finalized(web.db_url, cid)
    page = (await hr.get(f"/hr/cycles/{cid}/results/release")).text
    text = unescape(page)
    assert "4 employees will see their final rating and their manager's scores" in text
    assert "This cannot be undone" in text and 'id="confirm"' in page and "No, back to the cycle" in text
    # a POST that did not come from the confirmation page only shows it
    r = await hr.post(f"/hr/cycles/{cid}/results/release", data={"csrf_token": csrf(page)})
    assert r.status_code == 200 and 'id="confirm"' in r.text
    assert count(web.db_url, "SELECT count(*) FROM review_cycle WHERE id = %s AND results_released_at IS NULL", cid) == 1
    hr.cookies.set("kr_lang", "zh-CN")
    zh = unescape((await hr.get(f"/hr/cycles/{cid}/results/release")).text)
    assert "4 名员工将从现在起看到自己的最终评级和经理评分" in zh and "此操作无法撤销" in zh and "确定公布结果" in zh
    r = await hr.post(f"/hr/cycles/{cid}/results/release", data={"csrf_token": csrf(page), "confirm": "yes"})
    assert r.status_code == 303
    assert "结果已公布" in unescape((await hr.get(r.headers["location"])).text)
    assert count(web.db_url, "SELECT count(*) FROM audit_log WHERE action = 'results.released'") == 1
    hr.cookies.set("kr_lang", "en")
    again = unescape((await hr.get(f"/hr/cycles/{cid}/results/release")).text)
    assert "the results were already released on" in again and "by HR1" in again and 'id="confirm"' not in again


async def test_release_without_the_csrf_token_is_refused(web):
    cid = await web.open_cycle()
    finalized(web.db_url, cid)
    hr = await web.login("HR1")
    del hr.headers["X-CSRF-Token"]
    r = await hr.post(f"/hr/cycles/{cid}/results/release", data={"confirm": "yes"})
    assert r.status_code == 403
    assert count(web.db_url, "SELECT count(*) FROM review_cycle WHERE id = %s AND results_released_at IS NULL", cid) == 1


async def test_cancel_asks_first_needs_a_reason_and_cancels(web):
    cid = await web.open_cycle()
    hr = await web.login("HR1")
    hr.cookies.set("kr_lang", "en")
    board = (await hr.get(f"/hr/cycles/{cid}")).text
    assert f'href="/hr/cycles/{cid}/cancel"' in board
    page = (await hr.get(f"/hr/cycles/{cid}/cancel")).text
    text = unescape(page)
    assert "4 open reviews are cancelled" in text and "16 open tasks disappear from the inboxes" in text
    assert "Nothing is paid to any of the 4 participants" in text and "This cannot be undone" in text
    assert 'name="reason"' in page and "No, back to the cycle" in text
    r = await hr.post(f"/hr/cycles/{cid}/cancel", data={"csrf_token": csrf(page), "confirm": "yes", "reason": " "})
    assert r.status_code == 422 and "cancelling a cycle needs a reason" in unescape(r.text) and 'id="confirm"' in r.text
    hr.cookies.set("kr_lang", "zh-CN")
    zh = unescape((await hr.get(f"/hr/cycles/{cid}/cancel")).text)
    assert "4 份进行中的考核将被取消" in zh and "确定取消考核周期" in zh
    r = await hr.post(f"/hr/cycles/{cid}/cancel", data={"csrf_token": csrf(page), "confirm": "yes",
                                                        "reason": "销售团队重组"})
    assert r.status_code == 303
    assert f"考核周期 {cid} 已取消" in unescape((await hr.get(r.headers["location"])).text)

    async def cancelled() -> bool:
        return count(web.db_url, "SELECT count(*) FROM review_cycle WHERE id = %s AND status = 'cancelled'", cid) == 1

    await eventually(cancelled)
    board = unescape((await hr.get(f"/hr/cycles/{cid}")).text)
    assert "已取消" in board and f'href="/hr/cycles/{cid}/cancel"' not in board
    hr.cookies.set("kr_lang", "en")
    again = unescape((await hr.get(f"/hr/cycles/{cid}/cancel")).text)
    assert f"cycle {cid} is already cancelled" in again and 'id="confirm"' not in again
    # the API refuses the same way
    r = await hr.post(f"/api/hr/cycles/{cid}/cancel", json={"reason": "again"})
    assert r.status_code == 409 and "already cancelled" in r.json()["detail"]
