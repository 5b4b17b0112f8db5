"""Sign-in: argon2 hashes, server-side sessions that expire, CSRF on every write, lockout, safe redirects."""

from __future__ import annotations

import re

import psycopg

from services.users import token_hash
from tests.helpers import count
from tests.web.helpers import password_of


async def test_sign_in_sets_an_httponly_cookie_and_returns_a_csrf_token(web):
    http = web.anon()
    r = await http.post("/api/session", json={"username": "m1", "password": password_of("M1")})  # case-insensitive
    assert r.status_code == 200
    body = r.json()
    assert body["username"] == "M1" and body["roles"] == ["manager"] and body["employee_id"] == "M1"
    cookie = r.headers["set-cookie"]
    assert "kr_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    token = http.cookies["kr_session"]
    # Only hashes are stored: the password as argon2id, the session token as SHA-256.
    with psycopg.connect(web.db_url) as conn:
        stored = conn.execute("SELECT password_hash FROM web_user WHERE username = 'M1'").fetchone()[0]
        sessions = [r[0] for r in conn.execute("SELECT token_hash FROM web_session WHERE username = 'M1'")]
    assert stored.startswith("$argon2id$") and password_of("M1") not in stored
    assert sessions == [token_hash(token)] and token not in sessions
    me = await http.get("/api/session")
    assert me.status_code == 200 and me.json()["username"] == "M1"


async def test_wrong_password_and_unknown_user_get_the_same_answer(web):
    http = web.anon()
    wrong = await http.post("/api/session", json={"username": "M1", "password": "not-the-password"})
    unknown = await http.post("/api/session", json={"username": "nobody", "password": "whatever-it-is"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["detail"] == unknown.json()["detail"] == "wrong user name or password"
    assert "kr_session" not in http.cookies


async def test_repeated_failures_lock_the_user_for_a_while(web):
    http = web.anon()
    for _ in range(10):
        r = await http.post("/api/session", json={"username": "K02", "password": "guess-guess"})
        assert r.status_code == 401
    locked = await http.post("/api/session", json={"username": "K02", "password": password_of("K02")})
    assert locked.status_code == 429 and "too many failed sign-ins" in locked.json()["detail"]


async def test_sessions_expire_absolutely_and_when_idle(web):
    http = await web.login("K01")
    assert (await http.get("/api/me/reviews")).status_code == 200
    with psycopg.connect(web.db_url) as conn:
        conn.execute("UPDATE web_session SET expires_at = now() - interval '1 second' WHERE username = 'K01'")
    r = await http.get("/api/me/reviews")
    assert r.status_code == 401 and "sign in" in r.json()["detail"]
    assert count(web.db_url, "SELECT count(*) FROM web_session WHERE username = 'K01'") == 0  # removed
    http = await web.login("K01")
    with psycopg.connect(web.db_url) as conn:
        conn.execute("UPDATE web_session SET last_seen_at = now() - interval '2 hours' WHERE username = 'K01'")
    assert (await http.get("/api/me/reviews")).status_code == 401
    page = await http.get("/me")
    assert page.status_code == 303 and page.headers["location"] == "/login?next=/me"


async def test_sign_out_ends_the_session(web):
    http = await web.login("HR1")
    r = await http.delete("/api/session")
    assert r.status_code == 200
    assert count(web.db_url, "SELECT count(*) FROM web_session WHERE username = 'HR1'") == 0
    http.cookies.clear()
    assert (await http.get("/api/hr/cycles")).status_code == 401


async def test_writes_need_the_csrf_token(web):
    http = await web.login("HR1")
    token = http.headers.pop("X-CSRF-Token")
    r = await http.post("/api/hr/cycles/NOPE/reminders", json={})
    assert r.status_code == 403 and "X-CSRF-Token" in r.json()["detail"]
    r = await http.post("/api/hr/cycles/NOPE/reminders", json={}, headers={"X-CSRF-Token": token[:-2] + "xx"})
    assert r.status_code == 403
    r = await http.post("/api/hr/cycles/NOPE/reminders", json={}, headers={"X-CSRF-Token": token})
    assert r.status_code == 404 and r.json()["detail"] == "考核周期 NOPE 不存在"  # HR1 reads Chinese
    http.cookies.set("kr_lang", "en")
    r = await http.post("/api/hr/cycles/NOPE/reminders", json={}, headers={"X-CSRF-Token": token})
    assert r.status_code == 404 and r.json()["detail"] == "cycle NOPE does not exist"
    # A form post without the hidden field is refused too (a cross-site form cannot know it).
    page = await http.post("/hr/cycles/NOPE/reminders", data={})
    assert page.status_code == 403 and "did not come from this site" in page.text


async def test_sign_in_form_uses_a_double_submit_token_and_redirects_home(web):
    http = web.anon()
    form = await http.get("/login?next=/manager")
    token = re.search(r'name="login_csrf" value="([^"]+)"', form.text).group(1)
    forged = await http.post("/login", data={"username": "M1", "password": password_of("M1"), "login_csrf": "forged"})
    assert forged.status_code == 403 and "expired" in forged.text
    form = await http.get("/login?next=/manager")
    token = re.search(r'name="login_csrf" value="([^"]+)"', form.text).group(1)
    bad = await http.post("/login", data={"username": "M1", "password": "nope-nope-nope", "login_csrf": token,
                                          "next": "/manager"})
    assert bad.status_code == 401 and "wrong user name or password" in bad.text
    assert 'value="M1"' in bad.text and "nope-nope-nope" not in bad.text  # the form again, never the password
    token = re.search(r'name="login_csrf" value="([^"]+)"', bad.text).group(1)
    ok = await http.post("/login", data={"username": "M1", "password": password_of("M1"), "login_csrf": token,
                                         "next": "/manager"})
    assert ok.status_code == 303 and ok.headers["location"] == "/manager"
    assert (await http.get("/manager")).status_code == 200
    home = await http.get("/")
    assert home.status_code == 303 and home.headers["location"] == "/manager"


async def test_no_open_redirect_after_sign_in(web):
    http = web.anon()
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        form = await http.get("/login")
        token = re.search(r'name="login_csrf" value="([^"]+)"', form.text).group(1)
        r = await http.post("/login", data={"username": "K01", "password": password_of("K01"), "login_csrf": token,
                                            "next": target})
        assert r.status_code == 303 and r.headers["location"] == "/me"


async def test_missing_or_odd_sign_in_fields_are_4xx_with_a_message(web):
    http = web.anon()
    cases = [
        ({}, 422), ({"username": "M1"}, 422), ({"username": "", "password": "x"}, 422),
        ({"username": "M1\x00", "password": "x"}, 422), ('{"username": "M1", "password": "\\ud800"}', 422),
        ('{"username": "M1", "password": NaN}', 422),
        ({"username": "M1", "password": "p" * 10_000}, 422), ({"username": ["M1"], "password": "x"}, 422),
        ({"username": "M1' OR '1'='1", "password": "' OR '1'='1"}, 401),
    ]
    for body, status in cases:
        if isinstance(body, str):  # raw JSON (a lone surrogate escape, NaN: json.dumps would not write them)
            r = await http.post("/api/session", content=body, headers={"Content-Type": "application/json"})
        else:
            r = await http.post("/api/session", json=body)
        assert r.status_code == status, (body, r.text)
        assert r.json()["detail"]
        assert "p" * 100 not in r.text  # submitted values are not echoed
