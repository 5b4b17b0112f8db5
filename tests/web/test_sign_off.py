"""After release: the reviewer records the results conversation, the KAM acknowledges or disagrees, HR sees it."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from tests.helpers import count
from tests.web.test_permissions import released_cycle

ZONE = ZoneInfo("Asia/Shanghai")  # the cycles' zone


def _today() -> str:
    return datetime.now(ZONE).date().isoformat()


async def test_conversation_acknowledgment_and_disagreement_through_the_api(web):
    cid = f"SO{uuid.uuid4().hex[:8]}"
    await released_cycle(web.db_url, cid)
    hr, m1, m2, k01, k03 = [await web.login(u) for u in ("HR1", "M1", "M2", "K01", "K03")]
    # Refusals are read in the reader's language: Chinese, everyone's default here.
    # The reviewer only, a date not in the future and not before the release.
    r = await m2.post(f"/api/manager/results/{cid}/K01/conversation", json={"held_on": _today()})
    assert r.status_code == 403 and "只有 KAM K01 的评分人" in r.json()["detail"]
    tomorrow = (datetime.now(ZONE).date() + timedelta(days=1)).isoformat()
    r = await m1.post(f"/api/manager/results/{cid}/K01/conversation", json={"held_on": tomorrow})
    assert r.status_code == 422 and "晚于今天" in r.json()["detail"]
    r = await m1.post(f"/api/manager/results/{cid}/K01/conversation", json={"held_on": "2020-01-01"})
    assert r.status_code == 422 and "早于结果发布日期" in r.json()["detail"]
    r = await m1.post(f"/api/manager/results/{cid}/K01/conversation", json={"held_on": _today()})
    assert r.status_code == 200 and r.json()["conversation_on"] == _today()
    # The KAM: a disagreement needs a comment; an answer is given once.
    r = await k01.post(f"/api/me/results/{cid}/sign-off", json={"response": "disagreed", "comment": "  "})
    assert r.status_code == 422 and "请填写意见" in r.json()["detail"]
    r = await k01.post(f"/api/me/results/{cid}/sign-off", json={"response": "disagreed",
                                                                "comment": "客户流失是因为产品停产，不是我的原因"})
    assert r.status_code == 200 and r.json()["response"] == "disagreed"
    again = await k01.post(f"/api/me/results/{cid}/sign-off", json={"response": "disagreed",
                                                                    "comment": "客户流失是因为产品停产，不是我的原因"})
    assert again.status_code == 200  # the same answer again: a repeat
    r = await k01.post(f"/api/me/results/{cid}/sign-off", json={"response": "acknowledged"})
    assert r.status_code == 409 and "提出过异议" in r.json()["detail"]
    r = await k03.post(f"/api/me/results/{cid}/sign-off", json={"response": "acknowledged", "comment": "谢谢"})
    assert r.status_code == 200
    assert (await k01.get(f"/api/me/results/{cid}/sign-off")).json()["conversation_on"] == _today()
    # HR's progress: counts and the disagreement.
    p = (await hr.get(f"/api/hr/cycles/{cid}/sign-off")).json()
    assert (p["total"], p["conversation_held"], p["acknowledged"], p["disagreed"], p["pending"]) == (4, 1, 1, 1, 2)
    assert [(d["employee_id"], d["comment"]) for d in p["disagreements"]] == [("K01", "客户流失是因为产品停产，不是我的原因")]
    # Audited: one row per change.
    assert count(web.db_url, "SELECT count(*) FROM audit_log WHERE action LIKE 'results.%%' AND entity_id LIKE %s",
                 f"{cid}:%") == 3


async def test_before_release_nothing_can_be_signed_off(web):
    cid = await web.open_cycle()
    m1, k01 = await web.login("M1"), await web.login("K01")
    r = await m1.post(f"/api/manager/results/{cid}/K01/conversation", json={"held_on": _today()})
    assert r.status_code == 409 and "尚未发布" in r.json()["detail"]
    r = await k01.post(f"/api/me/results/{cid}/sign-off", json={"response": "acknowledged"})
    assert r.status_code == 409


async def test_hr_reopens_through_the_api(web):
    from services import tasks
    from tests.helpers import ratings
    from workflows.payloads import SelfReviewSubmission

    cid = await web.open_cycle()
    hr, m1 = await web.login("HR1"), await web.login("M1")
    body = {"task": "self_review", "reason": "evidence missing", "due": "2d"}
    r = await hr.post(f"/api/hr/cycles/{cid}/participants/K01/reopen", json=body)
    assert r.status_code == 409 and "尚未提交" in r.json()["detail"]
    await tasks.submit_self_review(web.client, web.db_url, cid, SelfReviewSubmission("K01", ratings(2)))
    assert (await hr.post(f"/api/hr/cycles/{cid}/participants/K01/reopen", json={**body, "due": "soon"})).status_code == 422
    assert (await m1.post(f"/api/hr/cycles/{cid}/participants/K01/reopen", json=body)).status_code == 403
    r = await hr.post(f"/api/hr/cycles/{cid}/participants/K01/reopen", json=body)
    assert r.status_code == 200 and r.json() == {"employee_id": "K01", "task": "self_review", "version": 2}
    again = await hr.post(f"/api/hr/cycles/{cid}/participants/K01/reopen", json=body)
    assert again.status_code == 409 and "已重新开放" in again.json()["detail"]


async def test_hr_reopens_in_calibration_on_the_page_and_through_the_api(web):
    """A closed review in calibration: the participant page offers the reopen, finalize waits for the resubmission."""
    from services import tasks
    from tests.helpers import cycle_phase_is, eventually, ratings
    from workflows.payloads import ManagerScoreSubmission, SelfReviewSubmission, SurveySubmission

    cid = await web.open_cycle()
    org = web.org
    for k in org["kams"]:
        await tasks.submit_self_review(web.client, web.db_url, cid, SelfReviewSubmission(k, ratings(2)))
        await tasks.submit_manager_score(web.client, web.db_url, cid, k,
                                         ManagerScoreSubmission(org["manager_of"][k], ratings(1 if k == "K01" else 3)))
        for c in org["contacts"][k]:
            await tasks.submit_survey(web.client, web.db_url, cid, k, SurveySubmission(c, 5, 9))
    await eventually(lambda: cycle_phase_is(web.client, cid, "calibration"))
    hr, m1 = await web.login("HR1"), await web.login("M1")
    page = await hr.get(f"/hr/cycles/{cid}/participants/K01")
    assert page.status_code == 200 and 'id="reopen"' in page.text
    body = {"task": "manager_scoring", "reason": "scored with last quarter's figures", "due": "2d"}
    r = await hr.post(f"/api/hr/cycles/{cid}/participants/K01/reopen", json=body)
    assert r.status_code == 200 and r.json()["version"] == 2
    r = await hr.post(f"/api/hr/cycles/{cid}/calibration/finalize")
    assert r.status_code == 409 and "重新开放" in r.json()["detail"] and "(K01)" in r.json()["detail"]
    # The calibration page, its finalize page and the API say what finalizing waits for.
    assert [n for n in (await hr.get(f"/api/hr/cycles/{cid}/calibration")).json()["reopened"] if "(K01)" in n]
    assert 'id="reopened"' in (await hr.get(f"/hr/cycles/{cid}/calibration")).text
    confirm = await hr.get(f"/hr/cycles/{cid}/calibration/finalize")
    assert 'id="cannot"' in confirm.text and 'id="confirm-finalize"' not in confirm.text
    r = await m1.post(f"/api/manager/reviews/{cid}/K01/score", json={"ratings": ratings(3)})
    assert r.status_code == 200, r.text

    async def rescored() -> bool:
        return count(web.db_url, "SELECT count(*) FROM audit_log WHERE event_key = %s",
                     f"review.rescored:{cid}:K01:manager_scoring:2") == 1

    await eventually(rescored, timeout=30)
    page = await hr.get(f"/hr/cycles/{cid}/participants/K01")
    assert "重新计算" in page.text  # the audit trail names the rescore
    assert (await hr.get(f"/api/hr/cycles/{cid}/calibration")).json()["reopened"] == []
    r = await hr.post(f"/api/hr/cycles/{cid}/calibration/finalize")
    assert r.status_code == 200, r.text
    r = await hr.post(f"/api/hr/cycles/{cid}/participants/K01/reopen", json={**body, "task": "self_review"})
    assert r.status_code == 409 and "已定稿" in r.json()["detail"]
