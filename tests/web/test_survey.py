"""Customers answer through signed links: one survey per link, single use, expiring, token stored hashed."""

from __future__ import annotations

import asyncio
import re

import psycopg

from services.users import token_hash
from tests.helpers import count, eventually


async def issue(web, cid: str, reissue: bool = False) -> dict[str, str]:
    """contact id -> token, from HR's one-time answer."""
    hr = await web.login("HR1")
    r = await hr.post(f"/api/hr/cycles/{cid}/survey-links", json={"reissue": reissue})
    assert r.status_code == 200, r.text
    return {link["contact_id"]: link["url"].split("#", 1)[1] for link in r.json()}


async def test_links_are_issued_once_per_open_invitation_and_stored_hashed(web):
    cid = await web.open_cycle()
    links = await issue(web, cid)
    assert sorted(links) == sorted(c for cs in web.org["contacts"].values() for c in cs)
    with psycopg.connect(web.db_url) as conn:
        stored = {r[0] for r in conn.execute("SELECT token_hash FROM survey_link")}
    assert stored == {token_hash(t) for t in links.values()}
    assert not stored & set(links.values())
    assert await issue(web, cid) == {}  # every invitation already has a usable link


async def test_a_link_opens_its_own_survey_and_answers_exactly_once(web):
    cid = await web.open_cycle()
    links = await issue(web, cid)
    contact = web.org["contacts"]["K02"][1]
    anon = web.anon()
    opened = await anon.post("/api/survey/open", json={"token": links[contact]})
    assert opened.status_code == 200
    assert opened.json()["employee_name"] == "KAM K02" and opened.json()["contact_name"] == f"Contact {contact}"
    r = await anon.post("/api/survey/answer", json={"token": links[contact], "satisfaction": 4, "nps": 8,
                                                     "comment": "<img src=x onerror=alert(1)> fine"})
    assert r.status_code == 200 and r.json()["task_id"] == f"{cid}:K02:customer_survey:{contact}"
    with psycopg.connect(web.db_url) as conn:
        rows = conn.execute("SELECT invitation_id, satisfaction, nps, comment FROM survey_response").fetchall()
    assert rows == [(f"{cid}:K02:customer_survey:{contact}", 4, 8, "<img src=x onerror=alert(1)> fine")]
    reused = await anon.post("/api/survey/answer", json={"token": links[contact], "satisfaction": 1})
    assert reused.status_code == 410 and "already used" in reused.json()["detail"]
    reopened = await anon.post("/api/survey/open", json={"token": links[contact]})
    assert reopened.status_code == 410
    assert count(web.db_url, "SELECT count(*) FROM survey_response") == 1


async def test_two_answers_racing_on_one_link_store_one(web):
    cid = await web.open_cycle()
    token = next(iter((await issue(web, cid)).values()))
    anon = web.anon()
    answers = await asyncio.gather(*(anon.post("/api/survey/answer", json={"token": token, "satisfaction": s})
                                     for s in (2, 5)))
    assert sorted(a.status_code for a in answers) == [200, 410]
    assert count(web.db_url, "SELECT count(*) FROM survey_response") == 1


async def test_bad_answers_are_refused_and_leave_the_link_usable(web):
    cid = await web.open_cycle()
    token = next(iter((await issue(web, cid)).values()))
    anon = web.anon()
    cases = [
        ({"satisfaction": 6}, 422, "satisfaction is 6; answer 1 (very dissatisfied) to 5 (very satisfied)"),
        ({"satisfaction": 0}, 422, "satisfaction is 0"),
        ({"satisfaction": 4, "nps": 11}, 422, "likelihood to recommend is 11; answer 0 to 10"),
        ({}, 422, "satisfaction: Field required"),
        ({"satisfaction": 4.5}, 422, "satisfaction: Input should be a valid integer"),
        ({"satisfaction": 4, "comment": "c" * 4001}, 422, "comment: String should have at most 4,000 characters"),
        ({"satisfaction": 4, "contact_id": "somebody-else"}, 422, "contact_id: Extra inputs are not permitted"),
    ]
    for extra, status, message in cases:
        r = await anon.post("/api/survey/answer", json={"token": token, **extra})
        assert r.status_code == status and message in r.json()["detail"], (extra, r.text)
    assert count(web.db_url, "SELECT count(*) FROM survey_response") == 0
    assert count(web.db_url, "SELECT count(*) FROM survey_link WHERE used_at IS NOT NULL") == 0
    ok = await anon.post("/api/survey/answer", json={"token": token, "satisfaction": 3})
    assert ok.status_code == 200


async def test_expired_replaced_and_unknown_links_say_why(web):
    cid = await web.open_cycle()
    links = await issue(web, cid)
    (c1, t1), (c2, t2) = list(links.items())[:2]
    with psycopg.connect(web.db_url) as conn:
        conn.execute("UPDATE survey_link SET expires_at = now() - interval '1 minute' WHERE token_hash = %s",
                     (token_hash(t1),))
    anon = web.anon()
    r = await anon.post("/api/survey/answer", json={"token": t1, "satisfaction": 5})
    assert r.status_code == 410 and "expired" in r.json()["detail"]
    fresh = await issue(web, cid)  # HR re-issues: the expired link is replaced, the live ones are kept
    assert list(fresh) == [c1]
    assert (await anon.post("/api/survey/answer", json={"token": fresh[c1], "satisfaction": 5})).status_code == 200
    replaced = await issue(web, cid, reissue=True)
    assert c2 in replaced and c1 not in replaced  # answered invitations get no new link
    r = await anon.post("/api/survey/open", json={"token": t2})
    assert r.status_code == 410 and "replaced by a newer one" in r.json()["detail"]
    r = await anon.post("/api/survey/open", json={"token": "A" * 43})
    assert r.status_code == 404 and "not valid" in r.json()["detail"]
    r = await anon.post("/api/survey/open", json={"token": "short"})
    assert r.status_code == 422
    assert count(web.db_url, "SELECT count(*) FROM survey_response") == 1


async def test_a_closed_survey_refuses_its_link(web):
    cid = await web.open_cycle(due="3s")
    token = next(iter((await issue(web, cid)).values()))

    async def closed() -> bool:  # this link's invitation, closed at the deadline by its review workflow
        return count(web.db_url, """SELECT count(*) FROM survey_invitation i JOIN survey_link l ON l.invitation_id = i.id
                                    WHERE l.token_hash = %s AND i.status = 'expired'""", token_hash(token)) > 0

    await eventually(closed)
    r = await web.anon().post("/api/survey/answer", json={"token": token, "satisfaction": 5})
    assert r.status_code == 410 and "closed" in r.json()["detail"]
    assert count(web.db_url, "SELECT count(*) FROM survey_response") == 0


async def test_survey_pages_without_sign_in(web):
    cid = await web.open_cycle()
    token = next(iter((await issue(web, cid)).values()))
    anon = web.anon()
    anon.cookies.set("kr_lang", "en")
    shell = await anon.get("/survey")
    assert shell.status_code == 200 and "location.hash" in shell.text
    assert shell.headers["referrer-policy"] == "no-referrer" and shell.headers["cache-control"] == "no-store"
    form = await anon.post("/survey", data={"token": token})
    assert form.status_code == 200 and 'name="satisfaction"' in form.text and token in form.text
    bad = await anon.post("/survey/answer", data={"token": token, "nps": "7"})
    assert bad.status_code == 422 and "please choose how satisfied you are" in bad.text
    assert 'name="satisfaction"' in bad.text  # the form again
    assert re.search(r'value="7"\s+checked', bad.text)  # with the answer already given
    bad = await anon.post("/survey/answer", data={"token": token, "satisfaction": "9"})
    assert bad.status_code == 422 and "Overall satisfaction: choose a level from 1 to 5" in bad.text
    ok = await anon.post("/survey/answer", data={"token": token, "satisfaction": "5", "nps": "9", "comment": "好"})
    assert ok.status_code == 200 and "Thank you" in ok.text
    again = await anon.post("/survey", data={"token": token})
    assert again.status_code == 410 and "already used" in again.text
    nonsense = await anon.post("/survey", data={"token": "../../etc/passwd"})
    assert nonsense.status_code == 404 and "not valid" in nonsense.text
