"""The JSON API of KAMs, managers and customers, against the real workflows and database."""

from __future__ import annotations

import psycopg
import pytest

from tests.helpers import COMPETENCIES, count, ratings
from tests.web.english import english  # noqa: F401  (the fixture, for pytestmark)

pytestmark = pytest.mark.usefixtures("english")  # these tests read the English wording

KPIS = ["sales_attainment", "new_customer_acquisition", "customer_retention", "complaint_rate"]


async def test_self_review_round_trip_and_the_manager_sees_it(web):
    cid = await web.open_cycle()
    k1 = await web.login("K01")
    tasks = (await k1.get("/api/me/tasks")).json()
    assert [(t["kind"], t["employee_id"]) for t in tasks] == [("self_review", "K01")]
    body = {"ratings": ratings(2), "evidence": {"communication": "Won the 华为 tender <b>twice</b>"},
            "kpi_comments": {"sales_attainment": "Q4 pipeline slipped"}}
    r = await k1.post(f"/api/me/reviews/{cid}/self-review", json=body)
    assert r.status_code == 200 and r.json()["task_id"] == f"{cid}:K01:self_review"
    assert (await k1.get("/api/me/tasks")).json() == []
    mine = (await k1.get(f"/api/me/reviews/{cid}")).json()
    assert mine["self_review"]["status"] == "done" and mine["self_review"]["ratings"] == ratings(2)
    assert mine["self_review"]["evidence"]["communication"] == "Won the 华为 tender <b>twice</b>"  # verbatim
    m1 = await web.login("M1")
    seen = (await m1.get(f"/api/manager/reviews/{cid}/K01")).json()
    assert seen["self_review"]["kpi_comments"] == {"sales_attainment": "Q4 pipeline slipped"}
    assert {k["id"] for k in seen["kpis"]} >= set(KPIS) and seen["kpis"][0]["value"] is not None
    again = await k1.post(f"/api/me/reviews/{cid}/self-review", json=body)  # the same again: its first receipt
    assert again.status_code == 200 and again.json() == r.json()
    changed = await k1.post(f"/api/me/reviews/{cid}/self-review", json={**body, "ratings": ratings(3)})
    assert changed.status_code == 409 and "already submitted" in changed.json()["detail"]


async def test_manager_scores_a_direct_report_and_the_task_leaves_the_inbox(web):
    cid = await web.open_cycle()
    m1 = await web.login("M1")
    inbox = (await m1.get("/api/manager/inbox")).json()
    assert sorted(t["employee_id"] for t in inbox) == ["K01", "K03"]  # M1's direct reports only
    assert all(t["due_at"] and t["overdue"] is False for t in inbox)
    r = await m1.post(f"/api/manager/reviews/{cid}/K01/score",
                      json={"ratings": ratings(3), "comments": {"communication": "clear"}, "potential": 2})
    assert r.status_code == 200
    assert [t["employee_id"] for t in (await m1.get("/api/manager/inbox")).json()] == ["K03"]
    done = (await m1.get("/api/manager/inbox", params={"include_done": "true"})).json()
    assert {t["employee_id"]: t["status"] for t in done} == {"K01": "done", "K03": "open"}
    assert count(web.db_url, "SELECT count(*) FROM manager_score WHERE review_id = %s", f"{cid}:K01") == 8
    mine = (await m1.get(f"/api/manager/reviews/{cid}/K01")).json()
    assert mine["manager_score"]["ratings"] == ratings(3) and mine["manager_score"]["potential"] == 2


async def test_a_manager_cannot_see_or_score_someone_elses_report(web):
    cid = await web.open_cycle()
    m2 = await web.login("M2")
    for method, path, body in [("GET", f"/api/manager/reviews/{cid}/K01", None),
                               ("POST", f"/api/manager/reviews/{cid}/K01/score", {"ratings": ratings(1)}),
                               ("GET", f"/manager/reviews/{cid}/K01", None)]:
        r = await m2.request(method, path, json=body)
        assert r.status_code == 403, path
        assert "not the reviewer of K01" in r.text
    assert count(web.db_url, "SELECT count(*) FROM manager_score") == 0


async def test_reassigned_review_moves_to_the_new_manager(web):
    cid = await web.open_cycle()
    hr, m1, m2 = await web.login("HR1"), await web.login("M1"), await web.login("M2")
    missing_reason = await hr.post(f"/api/hr/cycles/{cid}/reassign",
                                   json={"employee_id": "K01", "new_reviewer_id": "M2", "reason": "  "})
    assert missing_reason.status_code == 422 and missing_reason.json()["detail"] == "a reassignment needs a reason"
    r = await hr.post(f"/api/hr/cycles/{cid}/reassign",
                      json={"employee_id": "K01", "new_reviewer_id": "M2", "reason": "M1 on parental leave"})
    assert r.status_code == 200 and r.json() == {"employee_id": "K01", "reviewer_id": "M2"}
    assert "K01" in [t["employee_id"] for t in (await m2.get("/api/manager/inbox")).json()]
    assert "K01" not in [t["employee_id"] for t in (await m1.get("/api/manager/inbox")).json()]
    assert (await m1.get(f"/api/manager/reviews/{cid}/K01")).status_code == 403
    assert (await m2.post(f"/api/manager/reviews/{cid}/K01/score", json={"ratings": ratings(2)})).status_code == 200
    assert count(web.db_url, "SELECT count(DISTINCT scored_by) FROM manager_score WHERE scored_by = 'M2'") == 1


async def test_an_employee_never_sees_manager_scores_before_release(web):
    cid = await web.open_cycle()
    m1, k1 = await web.login("M1"), await web.login("K01")
    await m1.post(f"/api/manager/reviews/{cid}/K01/score",
                  json={"ratings": ratings(3), "comments": {"communication": "SECRET-MANAGER-NOTE"}, "potential": 3})
    for path in ("/api/me/reviews", f"/api/me/reviews/{cid}", "/api/me/tasks", "/me", f"/me/reviews/{cid}"):
        r = await k1.get(path)
        assert r.status_code == 200, path
        assert "SECRET-MANAGER-NOTE" not in r.text and "manager_score" not in r.text
    k1.cookies.delete("kr_lang")  # this module reads English (pytestmark); here K01 reads as the org import says
    for path in (f"/api/me/results/{cid}", f"/me/results/{cid}"):
        r = await k1.get(path)  # K01 reads Chinese (the org import's default language)
        assert r.status_code == 403 and f"人力资源部尚未发布考核周期 {cid} 的结果" in r.text
        assert "SECRET-MANAGER-NOTE" not in r.text
    k1.cookies.set("kr_lang", "en")
    for path in (f"/api/me/results/{cid}", f"/me/results/{cid}"):
        r = await k1.get(path)
        assert r.status_code == 403 and "has not released the results" in r.text
        assert "SECRET-MANAGER-NOTE" not in r.text
    # No URL names another employee: K02 asking for "their" review of this cycle gets only their own.
    k2 = await web.login("K02")
    assert (await k2.get(f"/api/me/reviews/{cid}")).json()["employee_id"] == "K02"


BAD_SCORES = [
    # (body, status, words in the message) — the workflow's validator speaks for the cycle's own rules.
    ({"ratings": {**ratings(2), "communication": 7}}, 422, "rating for communication is 7; the scale is 1 to 3"),
    ({"ratings": {**ratings(2), "communication": 0}}, 422, "the scale is 1 to 3"),
    ({"ratings": {**ratings(2), "communication": -1}}, 422, "the scale is 1 to 3"),
    ({"ratings": {c: 2 for c in COMPETENCIES[1:]}}, 422, "missing rating for communication"),
    ({"ratings": {**ratings(2), "golf": 2}}, 422, "unknown competency golf"),
    ({"ratings": ratings(2), "potential": 9}, 422, "potential is 9"),
    ({"ratings": ratings(2), "comments": {"communication": "x" * 4001}}, 422, "at most 4,000 characters"),
    ({"ratings": ratings(2), "comments": {"nonsense": "hello"}}, 422, "comment on unknown item 'nonsense'"),
    ({"ratings": {**ratings(2), "communication": 2.5}}, 422, "ratings.communication: Input should be a valid integer"),
    ({"ratings": {**ratings(2), "communication": "2"}}, 422, "Input should be a valid integer"),
    ({"ratings": {**ratings(2), "communication": True}}, 422, "Input should be a valid integer"),
    ({"ratings": {**ratings(2), "communication": 10**12}}, 422, "less than or equal to 1,000"),
    ({"ratings": {**ratings(2), "communication": None}}, 422, "Input should be a valid integer"),
    ({}, 422, "ratings: Field required"),
    ({"ratings": ratings(2), "extra": 1}, 422, "extra: Extra inputs are not permitted"),
    ({"ratings": ratings(2), "comments": {"communication": "nul\x00byte"}}, 422, "NUL"),
    ({"ratings": {"<script>": 1}}, 422, "ratings.<script>.[key]"),
    ([1, 2], 422, "Input should be a valid dictionary"),
]
RAW_BAD = [
    ('{"ratings": {"communication": NaN}}', "ratings.communication: Input should be a valid integer"),
    ('{"ratings": {"communication": -Infinity}}', "ratings.communication: Input should be a valid integer"),
    ('{"ratings": {"communication": 1e999}}', "ratings.communication: Input should be a valid integer"),
    ('{"ratings": ', "JSON decode error"),
    ('{"ratings": {}, "comments": {"communication": "\\udc00"}}', "comments.communication: Input should be a valid string"),
]


@pytest.fixture
async def scoring(web):
    cid = await web.open_cycle()
    return web, cid, await web.login("M1")


async def test_bad_scores_get_a_4xx_saying_what_is_wrong_and_nothing_is_stored(scoring):
    """One open task, every kind of bad input in turn; a refusal uses nothing up, so a good score still goes in."""
    web, cid, m1 = scoring
    url = f"/api/manager/reviews/{cid}/K01/score"
    wrong = []
    for body, status, message in BAD_SCORES:
        r = await m1.post(url, json=body)
        if r.status_code != status or r.headers["content-type"] != "application/json" or message not in r.json()["detail"]:
            wrong.append(f"{body!r:.80}: {r.status_code} {r.text[:200]}")
    for raw, message in RAW_BAD:
        r = await m1.post(url, content=raw, headers={"Content-Type": "application/json"})
        if r.status_code != 422 or message not in r.json()["detail"]:
            wrong.append(f"{raw}: {r.status_code} {r.text[:200]}")
    assert not wrong, "\n".join(wrong)
    assert count(web.db_url, "SELECT count(*) FROM manager_score") == 0
    assert count(web.db_url, "SELECT count(*) FROM task WHERE status = 'done'") == 0
    ok = await m1.post(url, json={"ratings": ratings(2)})
    assert ok.status_code == 200, ok.text


async def test_html_and_sql_looking_text_is_stored_verbatim_and_harmless(scoring):
    web, cid, m1 = scoring
    evil = "<script>alert('x')</script>'; DROP TABLE review; -- \" OR 1=1"
    r = await m1.post(f"/api/manager/reviews/{cid}/K01/score",
                      json={"ratings": ratings(2), "comments": {"communication": evil}})
    assert r.status_code == 200
    with psycopg.connect(web.db_url) as conn:
        stored = conn.execute("SELECT comment FROM manager_score WHERE item_id = 'communication'").fetchone()[0]
    assert stored == evil
    assert count(web.db_url, "SELECT count(*) FROM review") == 4  # the table is still there
    page = await m1.get(f"/manager/reviews/{cid}/K01")
    assert "<script>alert" not in page.text and "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page.text


async def test_oversized_bodies_and_paths_are_refused(scoring):
    web, cid, m1 = scoring
    huge = {"ratings": ratings(2), "comments": {"communication": "x" * 600_000}}
    r = await m1.post(f"/api/manager/reviews/{cid}/K01/score", json=huge)
    assert r.status_code == 413 and "larger than" in r.json()["detail"]
    r = await m1.get("/api/manager/reviews/" + "x" * 500 + "/K01")
    assert r.status_code == 422 and "cycle_id" in r.json()["detail"]
    r = await m1.get(f"/api/manager/reviews/{cid}/K01%00")
    assert r.status_code == 422
    assert count(web.db_url, "SELECT count(*) FROM manager_score") == 0


async def test_a_task_closed_at_its_deadline_is_refused_with_a_clear_message(web):
    cid = await web.open_cycle(due="2s")

    async def closed() -> bool:  # both of K01's tasks, closed at the deadline by its review workflow
        return count(web.db_url, "SELECT count(*) FROM task WHERE review_id = %s AND status = 'missed' "
                     "AND kind <> 'customer_survey'", f"{cid}:K01") == 2

    from tests.helpers import eventually

    await eventually(closed)
    m1 = await web.login("M1")
    r = await m1.post(f"/api/manager/reviews/{cid}/K01/score", json={"ratings": ratings(2)})
    assert r.status_code == 409 and "closed" in r.json()["detail"], r.text
    k1 = await web.login("K01")
    r = await k1.post(f"/api/me/reviews/{cid}/self-review", json={"ratings": ratings(2)})
    assert r.status_code == 409 and "closed" in r.json()["detail"]
    assert count(web.db_url, "SELECT count(*) FROM manager_score") == 0


async def test_unknown_endpoint_and_method_are_json_4xx(web):
    http = await web.login("HR1")
    r = await http.get("/api/nothing-here")
    assert r.status_code == 404 and r.json()["detail"] == "there is no page or endpoint at /api/nothing-here"
    r = await http.put("/api/hr/cycles")
    assert r.status_code == 405 and r.json()["detail"] == "PUT is not allowed here"


async def test_a_cycle_yaml_with_impossible_dates_nul_absurd_numbers_or_bad_ids_is_a_422_naming_the_field(web):
    """Issue 8, defects 4-6, through the API: every bad configuration of tests/test_input_limits.py is a 422 whose
    message names the field (never a 500, and never a 201 for a value that would stop the cycle later)."""
    from tests.test_input_limits import BAD_CONFIGURATIONS, demo_yaml

    hr = await web.login("HR1")
    wrong = []
    for old, new, field, fragment in BAD_CONFIGURATIONS:
        r = await hr.post("/api/hr/cycles", json={"config_yaml": demo_yaml(old, new)})
        detail = r.json()["detail"] if r.headers["content-type"] == "application/json" else r.text
        if r.status_code != 422 or f"  {field}" not in detail or fragment not in detail:
            wrong.append(f"{new.strip()!r:.60}: {r.status_code} {detail[:300]}")
    assert not wrong, "\n".join(wrong)
    assert count(web.db_url, "SELECT count(*) FROM review_cycle") == 0


@pytest.mark.parametrize(("user", "method", "path", "body", "field"), [
    ("M1", "GET", "/api/manager/reviews/C1/_K01", None, "employee_id"),
    ("M1", "POST", "/api/manager/reviews/C1/.K01/score", {"ratings": {"communication": 2}}, "employee_id"),
    ("HR1", "POST", "/api/hr/cycles/C1/reassign", {"employee_id": "-K01", "new_reviewer_id": "M2", "reason": "x"},
     "employee_id"),
    ("HR1", "POST", "/api/hr/cycles/C1/reassign", {"employee_id": "K01", "new_reviewer_id": "M2 ", "reason": "x"},
     "new_reviewer_id"),
    ("HR1", "POST", "/api/hr/cycles/C1/calibration/adjustments",
     {"employee_id": "../K01", "level": 3, "reason": "x"}, "employee_id"),
    ("HR1", "POST", "/api/hr/cycles/C1/calibration/adjustments",
     {"employee_id": "K01", "level": 3, "reason": "x", "request_id": "_r1"}, "request_id"),
])
async def test_ids_outside_the_one_grammar_are_a_422_in_paths_and_bodies(web, user, method, path, body, field):
    http = await web.login(user)
    r = await http.request(method, path, json=body)
    assert r.status_code == 422 and field in r.json()["detail"], r.text
