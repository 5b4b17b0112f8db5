"""Every answer true under concurrency: 20 people (or clicks) at once get answers that match what was stored."""

from __future__ import annotations

import asyncio

import pytest

from services.users import fast_test_hasher, upsert_user
from tests.helpers import count, eventually, ratings
from tests.web.english import english  # noqa: F401  (the fixture, for pytestmark)

pytestmark = pytest.mark.usefixtures("english")  # these tests read the English wording

N = 20


async def test_concurrent_different_scores_one_accepted_the_rest_refused(web):
    """Issue 8, defect 2: 20 different scores at once; the stored one is the one acknowledged."""
    cid = await web.open_cycle()
    m1 = await web.login("M1")
    bodies = [{"ratings": ratings(1 + i % 3), "comments": {"communication": f"take {i}"}, "potential": 1 + i % 3}
              for i in range(N)]
    answers = await asyncio.gather(*(m1.post(f"/api/manager/reviews/{cid}/K01/score", json=b) for b in bodies))
    accepted = [i for i, r in enumerate(answers) if r.status_code == 200]
    assert len(accepted) == 1, [r.status_code for r in answers]
    refused = [r for r in answers if r.status_code != 200]
    assert {r.status_code for r in refused} == {409}
    assert all("already submitted" in r.json()["detail"] and "by M1" in r.json()["detail"] for r in refused)
    winner = bodies[accepted[0]]
    stored = (await m1.get(f"/api/manager/reviews/{cid}/K01")).json()["manager_score"]
    assert stored["ratings"] == winner["ratings"] and stored["potential"] == winner["potential"]
    assert count(web.db_url, "SELECT count(*) FROM audit_log WHERE action = 'manager_scoring.submitted'") == 1


async def test_concurrent_identical_scores_all_get_the_first_receipt(web):
    cid = await web.open_cycle()
    m1 = await web.login("M1")
    body = {"ratings": ratings(2), "potential": 2}
    answers = await asyncio.gather(*(m1.post(f"/api/manager/reviews/{cid}/K01/score", json=body) for _ in range(N)))
    assert {r.status_code for r in answers} == {200}
    assert len({r.json()["accepted_at"] for r in answers}) == 1
    # Later, an identical repeat still gets that receipt; a different one is refused with when and by whom.
    again = await m1.post(f"/api/manager/reviews/{cid}/K01/score", json=body)
    assert again.status_code == 200 and again.json() == answers[0].json()
    other = await m1.post(f"/api/manager/reviews/{cid}/K01/score", json={"ratings": ratings(3), "potential": 2})
    assert other.status_code == 409 and "already submitted on" in other.json()["detail"]
    assert "(Asia/Shanghai) by M1" in other.json()["detail"]
    assert count(web.db_url, "SELECT count(*) FROM manager_score WHERE review_id = %s", f"{cid}:K01") == 8


async def test_concurrent_approvals_apply_once(web):
    """Issue 8, defect 3: 20 concurrent approvals write one audit row and all get the first answer."""
    from tests.helpers import cycle_phase_is

    cid = await web.open_cycle(due="2s")
    await eventually(lambda: cycle_phase_is(web.client, cid, "calibration"), timeout=60)
    hr = await web.login("HR1")
    r = await hr.post(f"/api/hr/cycles/{cid}/calibration/finalize")
    assert r.status_code == 200, r.text
    finalized_again = await hr.post(f"/api/hr/cycles/{cid}/calibration/finalize")
    assert finalized_again.status_code == 200 and finalized_again.json() == r.json()
    await eventually(lambda: cycle_phase_is(web.client, cid, "awaiting_approval"), timeout=60)
    pay = await web.login("PAY1")
    answers = await asyncio.gather(*(pay.post(f"/api/payroll/cycles/{cid}/approve") for _ in range(N)))
    assert {a.status_code for a in answers} == {200}, [a.text for a in answers if a.status_code != 200]
    assert len({a.json()["count"] for a in answers}) == 1 and answers[0].json()["count"] > 0
    assert count(web.db_url, "SELECT count(*) FROM audit_log WHERE action = 'payouts.approved'") == 1
    assert count(web.db_url, "SELECT count(*) FROM audit_log WHERE action = 'calibration.finalized'") == 1
    # The cycle is locked and its workflow has ended: a retry after a lost answer still gets the first answer...
    await eventually(lambda: cycle_phase_is(web.client, cid, "locked"), timeout=30)
    late = await pay.post(f"/api/payroll/cycles/{cid}/approve")
    assert late.status_code == 200 and late.json() == answers[0].json()
    # ... and someone else in payroll is told who approved it and when (HR may not approve at all).
    upsert_user(web.db_url, "PAY2", "payroll-two-2026", ["payroll"], hasher=fast_test_hasher())
    other = await (await web.login("PAY2", "payroll-two-2026")).post(f"/api/payroll/cycles/{cid}/approve")
    assert other.status_code == 409
    assert "already approved on" in other.json()["detail"] and "by PAY1" in other.json()["detail"]
    assert (await hr.post(f"/api/payroll/cycles/{cid}/approve")).status_code == 403
    assert count(web.db_url, "SELECT count(*) FROM audit_log WHERE action = 'payouts.approved'") == 1


async def test_reassign_only_to_a_manager(web):
    """Issue 8, defect 9: a KAM or payroll as reviewer would be a dead end."""
    cid = await web.open_cycle()
    hr = await web.login("HR1")
    hr.cookies.set("kr_lang", "en")
    for who in ("K02", "PAY1", "HR1"):
        r = await hr.post(f"/api/hr/cycles/{cid}/reassign",
                          json={"employee_id": "K01", "new_reviewer_id": who, "reason": "M1 on leave"})
        assert r.status_code == 422, r.text
        assert f"{who} cannot score reviews" in r.json()["detail"] and "choose a manager" in r.json()["detail"]
    hr.cookies.set("kr_lang", "zh-CN")
    r = await hr.post(f"/api/hr/cycles/{cid}/reassign",
                      json={"employee_id": "K01", "new_reviewer_id": "K02", "reason": "M1 on leave"})
    assert r.status_code == 422 and "K02 不能评分" in r.json()["detail"] and "请选择一位经理" in r.json()["detail"]
    hr.cookies.set("kr_lang", "en")
    assert count(web.db_url, "SELECT count(*) FROM review WHERE id = %s AND reviewer_id = 'M1'", f"{cid}:K01") == 1
    r = await hr.post(f"/api/hr/cycles/{cid}/reassign",
                      json={"employee_id": "K01", "new_reviewer_id": "M2", "reason": "M1 on leave"})
    assert r.status_code == 200, r.text
    assert count(web.db_url, "SELECT count(*) FROM review WHERE id = %s AND reviewer_id = 'M2'", f"{cid}:K01") == 1


async def test_hr_sees_every_message_of_the_cycle_and_resends_one(web):
    """Issue 9: delivery per person on the cycle page and its JSON twin; a resend from the API."""
    cid = await web.open_cycle()
    hr = await web.login("HR1")

    async def settled() -> list:
        rows = (await hr.get(f"/api/hr/cycles/{cid}/notifications")).json()
        return rows if rows and all(r["status"] in ("sent", "failed") for r in rows) else []

    rows = await eventually(settled, timeout=30)
    # The test organisation has no e-mail addresses: every message says so, none is lost from view.
    assert {r["kind"] for r in rows} == {"task_assigned", "reviews_assigned", "survey_invitation"}
    assert all(r["status"] == "failed" and "no e-mail address on file" in r["last_error"] for r in rows)
    failed = (await hr.get(f"/api/hr/cycles/{cid}/notifications", params={"status": "failed"})).json()
    assert len(failed) == len(rows)
    page = await hr.get(f"/hr/cycles/{cid}")
    assert 'id="messages"' in page.text and "no e-mail address on file" in page.text
    r = await hr.post(f"/api/hr/notifications/{rows[0]['id']}/resend")
    assert r.status_code == 200 and "being sent again" in r.json()["message"]
    r = await hr.post("/api/hr/notifications/no-such-message/resend")
    assert r.status_code == 404
