"""Drafts: a self-review or a score saved without submitting, resumed later, seen only by its author, gone once
the task is submitted or closes, and refused after that."""

from __future__ import annotations

import re
from html import unescape

from tests.helpers import COMPETENCIES, count, eventually, ratings, schema_drift


def csrf(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def drafts(web, cid: str) -> int:
    return count(web.db_url, "SELECT count(*) FROM task_draft WHERE task_id LIKE %s", f"{cid}:%")


async def test_a_self_review_draft_round_trip_through_the_api_and_the_page(web):
    cid = await web.open_cycle()
    k1 = await web.login("K01")
    k1.cookies.set("kr_lang", "en")
    url = f"/api/me/reviews/{cid}/self-review/draft"
    assert (await k1.get(url)).status_code == 404  # nothing saved yet
    body = {"ratings": {"communication": 3, "coordination": 1}, "evidence": {"communication": "Won the 中石化 renewal"},
            "kpi_comments": {"sales_attainment": "Q4 pipeline"}}
    saved = await k1.put(url, json=body)
    assert saved.status_code == 200, saved.text
    again = (await k1.get(url)).json()
    assert again["draft"]["ratings"] == body["ratings"] and again["draft"]["evidence"] == body["evidence"]
    assert again["draft"]["kpi_comments"] == body["kpi_comments"] and again["saved_at"] == saved.json()["saved_at"]
    # The page resumes it: the levels chosen are checked, the text typed is back, and it says it is a draft.
    page = await k1.get(f"/me/reviews/{cid}")
    assert 'id="draft-note"' in page.text and "Won the 中石化 renewal" in page.text and "Q4 pipeline" in page.text
    assert re.search(r'id="rating.communication-3"[^>]*value="3"\s+checked', page.text)
    assert not re.search(r'id="rating.communication-2"[^>]*value="2"\s+checked', page.text)
    # Nothing was submitted: the task is still open and no answer is stored.
    assert count(web.db_url, "SELECT count(*) FROM self_review_answer WHERE review_id = %s", f"{cid}:K01") == 0
    # Saving from the page (half the form filled) replaces the draft and comes back to the form.
    token = csrf(page.text)
    r = await k1.post(f"/me/reviews/{cid}", data={"rating.logical_analysis": "2", "evidence.logical_analysis": "CRM data",
                                                 "intent": "draft", "csrf_token": token})
    assert r.status_code == 303 and r.headers["location"] == f"/me/reviews/{cid}"
    assert (await k1.get(url)).json()["draft"]["ratings"] == {"logical_analysis": 2}
    resumed = await k1.get(f"/me/reviews/{cid}")
    assert "draft saved at" in resumed.text and "CRM data" in resumed.text
    assert (await k1.delete(url)).status_code == 200
    assert (await k1.get(url)).status_code == 404 and drafts(web, cid) == 0
    assert (await k1.delete(url)).status_code == 404  # twice: nothing left to discard


async def test_a_draft_is_visible_only_to_its_author(web):
    cid = await web.open_cycle()
    m1, k1 = await web.login("M1"), await web.login("K01")
    score_url = f"/api/manager/reviews/{cid}/K01/score/draft"
    saved = await m1.put(score_url, json={"ratings": {"communication": 1}, "comments": {"communication": "M1 private note"},
                                          "potential": 2})
    assert saved.status_code == 200, saved.text
    assert (await m1.get(score_url)).json()["draft"]["potential"] == 2
    # The KAM sees neither the draft nor its text; their own self-review has no draft.
    assert (await k1.get(f"/api/me/reviews/{cid}/self-review/draft")).status_code == 404
    assert "M1 private note" not in (await k1.get(f"/me/reviews/{cid}")).text
    # Another manager cannot reach it; HR moves the review to M2, who still does not see M1's draft.
    m2 = await web.login("M2")
    assert (await m2.get(score_url)).status_code == 403
    hr = await web.login("HR1")
    moved = await hr.post(f"/api/hr/cycles/{cid}/reassign", json={"employee_id": "K01", "new_reviewer_id": "M2",
                                                                  "reason": "matrix team"})
    assert moved.status_code == 200, moved.text
    assert (await m2.get(score_url)).status_code == 404
    assert count(web.db_url, "SELECT count(*) FROM task_draft WHERE author_id = 'M1'") == 0  # it left with M1
    page = await m2.get(f"/manager/reviews/{cid}/K01")
    assert page.status_code == 200 and "M1 private note" not in page.text and 'id="draft-note"' not in page.text
    assert (await m1.get(score_url)).status_code == 403  # no longer the reviewer
    # M2's own draft replaces it; M2 discarding never touches anyone else's.
    assert (await m2.put(score_url, json={"ratings": {"communication": 3}})).status_code == 200
    assert count(web.db_url, "SELECT count(*) FROM task_draft WHERE author_id = 'M2'") == 1
    assert count(web.db_url, "SELECT count(*) FROM task_draft WHERE author_id = 'M1'") == 0


async def test_drafts_are_discarded_when_the_task_is_submitted(web):
    cid = await web.open_cycle()
    k1, m1 = await web.login("K01"), await web.login("M1")
    assert (await k1.put(f"/api/me/reviews/{cid}/self-review/draft", json={"ratings": {"communication": 2}})).status_code == 200
    assert (await m1.put(f"/api/manager/reviews/{cid}/K01/score/draft", json={"ratings": {}})).status_code == 200
    assert drafts(web, cid) == 2
    # The submit goes through the workflow's Update as before; the draft goes with it.
    r = await k1.post(f"/api/me/reviews/{cid}/self-review", json={"ratings": ratings(3)})
    assert r.status_code == 200, r.text
    assert count(web.db_url, "SELECT count(*) FROM task_draft WHERE task_id = %s", f"{cid}:K01:self_review") == 0
    assert count(web.db_url, "SELECT count(*) FROM self_review_answer WHERE review_id = %s AND rating = 3",
                 f"{cid}:K01") == len(COMPETENCIES)
    # The page's submit (with the draft's values) does the same for the score.
    m1.cookies.set("kr_lang", "en")
    page = await m1.get(f"/manager/reviews/{cid}/K01")
    form = {f"rating.{c}": "2" for c in COMPETENCIES} | {"potential": "3", "intent": "submit", "csrf_token": csrf(page.text)}
    done = await m1.post(f"/manager/reviews/{cid}/K01", data=form)
    assert done.status_code == 303, unescape(done.text)[-800:]
    assert drafts(web, cid) == 0
    # Saving a draft of a submitted task is refused, saying why, and nothing is stored.
    late = await k1.put(f"/api/me/reviews/{cid}/self-review/draft", json={"ratings": {"communication": 1}})
    assert late.status_code == 409 and late.json()["detail"] == "已经提交，无法再保存草稿"  # K01 reads Chinese
    k1.cookies.set("kr_lang", "en")
    late = await k1.put(f"/api/me/reviews/{cid}/self-review/draft", json={"ratings": {"communication": 1}})
    assert late.status_code == 409 and "already submitted" in late.json()["detail"]
    assert drafts(web, cid) == 0


async def test_drafts_are_discarded_when_the_phase_closes_and_refused_after(web):
    cid = await web.open_cycle(due="12s")
    k1 = await web.login("K01")
    k1.cookies.set("kr_lang", "en")
    page = await k1.get(f"/me/reviews/{cid}")
    r = await k1.post(f"/me/reviews/{cid}", data={"rating.communication": "2", "evidence.communication": "half done",
                                                 "intent": "draft", "csrf_token": csrf(page.text)})
    assert r.status_code == 303
    assert drafts(web, cid) == 1

    async def closed() -> bool:
        return count(web.db_url, "SELECT count(*) FROM task WHERE id = %s AND status = 'missed'",
                     f"{cid}:K01:self_review") == 1

    await eventually(closed, timeout=90)
    await eventually(lambda: _none_left(web, cid), timeout=30)
    # After the close: the API and the page refuse a draft with a clear message, and store nothing.
    late = await k1.put(f"/api/me/reviews/{cid}/self-review/draft", json={"ratings": {"communication": 3}})
    assert late.status_code == 409
    assert late.json()["detail"] == "the self-review is closed, so a draft can no longer be saved"
    closed_page = await k1.get(f"/me/reviews/{cid}")
    assert "half done" not in closed_page.text and 'id="self-review-form"' not in closed_page.text
    again = await k1.post(f"/me/reviews/{cid}", data={"rating.communication": "2", "intent": "draft",
                                                     "csrf_token": csrf(page.text)})
    assert again.status_code == 409 and "the self-review is closed" in again.text
    k1.cookies.set("kr_lang", "zh-CN")
    late = await k1.put(f"/api/me/reviews/{cid}/self-review/draft", json={"ratings": {"communication": 3}})
    assert late.status_code == 409 and late.json()["detail"] == "自评已截止，无法再保存草稿"
    assert drafts(web, cid) == 0
    assert (await k1.get(f"/api/me/reviews/{cid}/self-review/draft")).status_code == 404


async def _none_left(web, cid: str) -> bool:
    return drafts(web, cid) == 0


def test_migration_0008_matches_the_model(db_url):
    assert schema_drift(db_url, {"task_draft"}) == []
