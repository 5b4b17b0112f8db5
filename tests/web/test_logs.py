"""No password, session token, CSRF token or survey link reaches the logs, uvicorn's access log included."""

from __future__ import annotations

import logging
import re

import httpx

from services.users import DEMO_PASSWORDS
from tests.web.helpers import open_live_cycle, password_of
from webapp.logs import REDACTED, RedactSecrets, redact, uvicorn_log_config


def test_no_secret_in_any_log_record(live, db_url, web_org, caplog):
    caplog.set_level(logging.DEBUG)
    secrets: list[str] = list(DEMO_PASSWORDS.values()) + ["typed-my-password-as-user-name"]
    cid = open_live_cycle(live, db_url, web_org)
    with httpx.Client(base_url=live.url) as hr, httpx.Client(base_url=live.url) as web, \
            httpx.Client(base_url=live.url) as customer:
        r = hr.post("/api/session", json={"username": "HR1", "password": password_of("HR1")})
        csrf = r.json()["csrf_token"]
        hr.headers["X-CSRF-Token"] = csrf
        secrets += [csrf, hr.cookies["kr_session"]]
        links = hr.post(f"/api/hr/cycles/{cid}/survey-links", json={}).json()
        tokens = [link["url"].split("#", 1)[1] for link in links]
        secrets += tokens
        # People's usual mistakes: a wrong password, the password typed into the user name field.
        web.post("/api/session", json={"username": "M1", "password": "wrong-password-123"})
        web.post("/api/session", json={"username": "typed-my-password-as-user-name", "password": "x" * 12})
        secrets.append("wrong-password-123")
        page = web.get("/login")
        login_csrf = re.search(r'name="login_csrf" value="([^"]+)"', page.text).group(1)
        web.post("/login", data={"username": "M1", "password": password_of("M1"), "login_csrf": login_csrf})
        secrets += [login_csrf, web.cookies["kr_session"]]
        # Customers: open and answer by API and by form; then reuse (refused) and a bad answer.
        customer.post("/api/survey/open", json={"token": tokens[0]})
        customer.post("/api/survey/answer", json={"token": tokens[0], "satisfaction": 5})
        customer.post("/api/survey/answer", json={"token": tokens[0], "satisfaction": 5})
        customer.post("/survey", data={"token": tokens[1]})
        customer.post("/survey/answer", data={"token": tokens[1], "satisfaction": "9"})
        customer.post("/survey/answer", data={"token": tokens[1], "satisfaction": "4"})
        hr.delete("/api/session")
    # Everything the server process logs (uvicorn, the app, Temporal, psycopg), at DEBUG; the test's own
    # HTTP client library (httpx/httpcore) is the customer's side, not the server's, and is left out.
    server_side = [rec for rec in caplog.records if not rec.name.startswith(("httpx", "httpcore"))]
    text = "\n".join(f"{rec.name} {rec.getMessage()} {rec.args!r}" for rec in server_side)
    assert '"POST /api/survey/answer HTTP/1.1" 200' in text and '"POST /login HTTP/1.1" 303' in text  # logs captured
    assert "failed sign-in" in text
    leaked = [s[:6] + "..." for s in secrets if s in text]
    assert not leaked, f"secrets in the logs: {leaked}"


def test_the_redaction_filter_masks_secrets_that_slip_into_a_message():
    line = '127.0.0.1:5 - "GET /api/x?token=abcDEF123&password=hunter2&page=2 HTTP/1.1" 200'
    assert redact(line) == f'127.0.0.1:5 - "GET /api/x?token={REDACTED}&password={REDACTED}&page=2 HTTP/1.1" 200'
    assert redact("see http://h/survey#AbC_dEf-123 now") == f"see http://h/survey#{REDACTED} now"
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s" %d',
                               ("127.0.0.1:5", "GET /login?next=/&session=s3cr3t HTTP/1.1", 200), None)
    assert RedactSecrets().filter(record) and "s3cr3t" not in record.getMessage()
    config = uvicorn_log_config()
    assert all("redact" in handler["filters"] for handler in config["handlers"].values())
