"""A sign-in for everyone: invitations and resets by e-mail (real SMTP), single-use expiring links, bulk
invite/disable by HR, leavers shut out at their leaving date.

Real servers throughout: PostgreSQL, the Temporal dev server with a worker delivering through an aiosmtpd
SMTP server, the app in-process over httpx.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import date, timedelta
from typing import Any

import httpx
import psycopg
import pytest

from activities.delivery import DeliverySetup
from notify.channels import SmtpCourier
from notify.render import render
from services.settings import MailSettings
from services.users import fast_test_hasher, upsert_user
from tests.helpers import eventually, seed_org
from tests.notify.smtp_server import SmtpTestServer
from tests.web.helpers import settings_for_tests
from webapp.app import create_app
from worker import running_worker

HR_PASSWORD = "hr-password-2026"
LINK = re.compile(r"http://testserver/password#([A-Za-z0-9_-]+)")


def smtp_courier(server: SmtpTestServer) -> SmtpCourier:
    return SmtpCourier(MailSettings(smtp_host=server.host, smtp_port=server.port,
                                    mail_from="绩效考核 <hr@acme.example>", smtp_timeout_s=5))


def with_addresses(db_url: str) -> None:
    """E-mail addresses for everyone but K04, as the org import would set them; M2 reads English."""
    with psycopg.connect(db_url) as conn:
        conn.execute("UPDATE employee SET email = lower(id) || '@acme.example' WHERE id <> 'K04'")
        conn.execute("UPDATE employee SET locale = 'en', timezone = 'Europe/Berlin' WHERE id = 'M2'")


class World:
    def __init__(self, app: Any, db_url: str, smtp: SmtpTestServer) -> None:
        self.app, self.db_url, self.smtp = app, db_url, smtp
        self.clients: list[httpx.AsyncClient] = []

    def anon(self, lang: str = "en") -> httpx.AsyncClient:
        """A client reading ``lang`` (the header's language switch): the messages below are asserted in English."""
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url="http://testserver",
                                 cookies={"kr_lang": lang})
        self.clients.append(http)
        return http

    async def login(self, username: str, password: str) -> httpx.Response:
        return await self.anon().post("/api/session", json={"username": username, "password": password})

    async def session(self, username: str, password: str) -> httpx.AsyncClient:
        http = self.anon()
        r = await http.post("/api/session", json={"username": username, "password": password})
        assert r.status_code == 200, r.text
        http.headers["X-CSRF-Token"] = r.json()["csrf_token"]
        return http

    async def mail_to(self, address: str, n: int = 1) -> Any:
        """The n-th message to ``address`` (waits for the worker to deliver it)."""
        async def arrived() -> list:
            found = [m.message for m in self.smtp.received if address in m.rcpt_tos]
            return found if len(found) >= n else []

        return (await eventually(arrived, timeout=30))[n - 1]

    async def link_for(self, address: str, n: int = 1) -> str:
        mail = await self.mail_to(address, n)
        text = mail.get_body(preferencelist=("plain",)).get_content()
        return LINK.search(text).group(1)


@pytest.fixture
async def world(client, db_url: str, task_queue: str) -> AsyncIterator[World]:
    seed_org(db_url, kams=4, managers=2)
    with_addresses(db_url)
    upsert_user(db_url, "HR1", HR_PASSWORD, ["hr"], "HR1", hasher=fast_test_hasher())
    with SmtpTestServer() as smtp:
        setup = DeliverySetup(mail=smtp_courier(smtp), chat={}, render=render, base_url="http://testserver",
                              company="华东科技", retry_after_s=0.3, max_attempts=5)
        async with running_worker(client, db_url, task_queue, setup=setup):
            app = create_app(db_url, client, task_queue, settings_for_tests(reset_per_address_per_hour=3), pool_size=6)
            async with app.router.lifespan_context(app):
                w = World(app, db_url, smtp)
                try:
                    yield w
                finally:
                    for http in w.clients:
                        await http.aclose()


def db(db_url: str, sql: str, *params: Any) -> list[tuple]:
    with psycopg.connect(db_url) as conn:
        cur = conn.execute(sql, params)
        return cur.fetchall() if cur.description else []


async def test_invite_mail_link_password_and_sign_in(world: World) -> None:
    hr = await world.session("HR1", HR_PASSWORD)
    people = {p["employee_id"]: p for p in (await hr.get("/api/hr/people")).json()}
    assert people["K01"]["status"] == "none" and people["K01"]["roles"] == ["employee"]
    assert people["M1"]["roles"] == ["manager"] and people["PAY1"]["roles"] == ["payroll"]
    assert people["HR1"]["status"] == "active"

    r = await hr.post("/api/hr/people/invite", json={"employee_ids": ["K01", "M2", "K04", "HR1"]})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["done"] == ["K01", "M2"]
    reasons = {s["employee_id"]: s["reason"] for s in out["skipped"]}
    assert "no e-mail address" in reasons["K04"] and "already has an active sign-in" in reasons["HR1"]
    assert (await hr.get("/api/hr/people", params={"status": "invited"})).json()[0]["employee_id"] == "K01"

    # The invitation: in the recipient's language and zone, by e-mail only, with a single-use link.
    mail = await world.mail_to("k01@acme.example")
    assert "账号已开通" in mail["Subject"]
    text = mail.get_body(preferencelist=("plain",)).get_content()
    assert "用户名是 K01" in text and "北京时间" in text
    english = (await world.mail_to("m2@acme.example")).get_body(preferencelist=("plain",)).get_content()
    assert "Your user name is M2" in english and "Berlin" in english
    token = LINK.search(text).group(1)
    assert db(world.db_url, "SELECT count(*) FROM web_user_token WHERE token_hash = %s", token) == [(0,)]  # a hash only
    assert db(world.db_url, "SELECT channel FROM notification WHERE kind = 'account_invitation'") == [("email",)] * 2

    assert (await world.login("K01", "anything-at-all")).status_code == 401  # invited: no password yet
    anon = world.anon()
    opened = await anon.post("/api/password/open", json={"token": token})
    assert opened.status_code == 200 and opened.json()["username"] == "K01" and opened.json()["purpose"] == "invite"
    short = await anon.post("/api/password", json={"token": token, "password": "short"})
    assert short.status_code == 422 and "10 to 256 characters" in short.json()["detail"]
    assert (await anon.post("/api/password", json={"token": token, "password": "k01-chosen-pass"})).status_code == 200
    me = await world.login("K01", "k01-chosen-pass")
    assert me.status_code == 200 and me.json()["roles"] == ["employee"]

    again = await anon.post("/api/password", json={"token": token, "password": "someone-else-pw"})
    assert again.status_code == 410 and "already used" in again.json()["detail"]
    chinese = await world.anon("zh-CN").post("/api/password", json={"token": token, "password": "someone-else-pw"})
    assert "此链接已于" in chinese.json()["detail"] and "每个链接仅可使用一次" in chinese.json()["detail"]
    people = {p["employee_id"]: p for p in (await hr.get("/api/hr/people")).json()}
    assert people["K01"]["status"] == "active" and people["M2"]["status"] == "invited"
    assert people["K01"]["invitation_delivery"] == "sent"
    actions = [a for (a,) in db(world.db_url, "SELECT action FROM audit_log WHERE entity_type = 'web_user' ORDER BY id")]
    assert actions == ["account.invited", "account.invited", "account.password_set"]


async def test_a_new_invitation_replaces_the_old_link_and_links_expire(world: World) -> None:
    hr = await world.session("HR1", HR_PASSWORD)
    assert (await hr.post("/api/hr/people/invite", json={"employee_ids": ["K02"]})).json()["done"] == ["K02"]
    first = await world.link_for("k02@acme.example")
    assert (await hr.post("/api/hr/people/invite", json={"employee_ids": ["K02"]})).json()["done"] == ["K02"]
    second = await world.link_for("k02@acme.example", 2)
    anon = world.anon()
    replaced = await anon.post("/api/password", json={"token": first, "password": "k02-chosen-pass"})
    assert replaced.status_code == 410 and "replaced by a newer one" in replaced.json()["detail"]
    db(world.db_url, "UPDATE web_user_token SET expires_at = now() - interval '1 minute' WHERE username = 'K02'"
                     " AND used_at IS NULL AND revoked_at IS NULL")
    expired = await anon.post("/api/password", json={"token": second, "password": "k02-chosen-pass"})
    assert expired.status_code == 410 and "expired" in expired.json()["detail"]
    bogus = await anon.post("/api/password", json={"token": "x" * 43, "password": "k02-chosen-pass"})
    assert bogus.status_code == 404 and "not valid" in bogus.json()["detail"]

    # A password set by hand (python -m webapp.users set) revokes the link still out.
    assert (await hr.post("/api/hr/people/invite", json={"employee_ids": ["K02"]})).json()["done"] == ["K02"]
    third = await world.link_for("k02@acme.example", 3)
    upsert_user(world.db_url, "K02", "k02-set-by-admin", ["employee"], "K02", hasher=fast_test_hasher())
    assert (await anon.post("/api/password", json={"token": third, "password": "k02-chosen-pass"})).status_code == 410


async def test_password_reset_by_mail_ends_sessions_and_reveals_nothing(world: World) -> None:
    hr = await world.session("HR1", HR_PASSWORD)
    await hr.post("/api/hr/people/invite", json={"employee_ids": ["K03"]})
    anon = world.anon()
    await anon.post("/api/password", json={"token": await world.link_for("k03@acme.example"),
                                           "password": "k03-first-pass"})
    old = await world.session("K03", "k03-first-pass")

    known = await anon.post("/api/password/forgot", json={"login": "K03@ACME.example"})
    unknown = await anon.post("/api/password/forgot", json={"login": "nobody@acme.example"})
    assert known.status_code == unknown.status_code == 200 and known.json() == unknown.json()
    mail = await world.mail_to("k03@acme.example", 2)
    assert "重置" in mail["Subject"]
    token = LINK.search(mail.get_body(preferencelist=("plain",)).get_content()).group(1)
    assert (await anon.post("/api/password", json={"token": token, "password": "k03-second-pass"})).status_code == 200
    assert (await old.get("/api/session")).status_code == 401  # every session of the account ended
    assert (await world.login("K03", "k03-first-pass")).status_code == 401
    assert (await world.login("K03", "k03-second-pass")).status_code == 200
    assert not [m for m in world.smtp.received if "nobody@acme.example" in m.rcpt_tos]

    # Rate limited per address (3 an hour here), counted for unknown addresses too: the answer says nothing.
    for _ in range(2):
        assert (await anon.post("/api/password/forgot", json={"login": "nobody@acme.example"})).status_code == 200
    limited = await anon.post("/api/password/forgot", json={"login": "nobody@acme.example"})
    assert limited.status_code == 429 and "too many password-reset requests" in limited.json()["detail"]


async def test_hr_disables_in_bulk_and_invites_again(world: World) -> None:
    hr = await world.session("HR1", HR_PASSWORD)
    upsert_user(world.db_url, "K01", "k01-long-password", ["employee"], "K01", hasher=fast_test_hasher())
    k01 = await world.session("K01", "k01-long-password")
    r = await hr.post("/api/hr/people/disable", json={"employee_ids": ["K01", "K02", "HR1"]})
    assert r.json()["done"] == ["K01"]
    reasons = {s["employee_id"]: s["reason"] for s in r.json()["skipped"]}
    assert "has no sign-in" in reasons["K02"] and "your own sign-in" in reasons["HR1"]
    assert (await k01.get("/api/session")).status_code == 401
    assert (await world.login("K01", "k01-long-password")).status_code == 401
    unknown = await hr.post("/api/hr/people/disable", json={"employee_ids": ["NOSUCH"]})
    assert unknown.status_code == 404 and "NOSUCH" in unknown.json()["detail"]

    # Everyone without a sign-in in one go; the disabled K01 is invited again by name and must choose a new password.
    everyone = (await hr.post("/api/hr/people/invite", json={"all": True})).json()
    assert set(everyone["done"]) == {"K02", "K03", "M1", "M2", "PAY1"}
    assert [s["employee_id"] for s in everyone["skipped"]] == ["K04"]
    assert (await hr.post("/api/hr/people/invite", json={"employee_ids": ["K01"]})).json()["done"] == ["K01"]
    assert (await world.login("K01", "k01-long-password")).status_code == 401
    statuses = {p["employee_id"]: p["status"] for p in (await hr.get("/api/hr/people")).json()}
    assert statuses["K01"] == "invited" and statuses["K04"] == "none"
    audit = db(world.db_url, "SELECT actor, action, entity_id FROM audit_log WHERE action = 'account.disabled'")
    assert audit == [("HR1", "account.disabled", "K01")]

    # The HR page: the same, with checkboxes; a manager may not see it.
    page = await hr.get("/hr/people")
    assert page.status_code == 200 and 'value="K04"' in page.text and 'data-account="invited"' in page.text
    events = page.text[page.text.index('id="account-events"'):]
    assert "sign-in disabled" in events and "Hannah HR" in events  # who did what to whom, newest first
    form = {"csrf_token": hr.headers["X-CSRF-Token"], "action": "disable", "employee": ["K02", "K03"]}
    done = await hr.post("/hr/people", data=form)
    assert done.status_code == 200 and 'id="bulk-result"' in done.text
    assert {p["employee_id"] for p in (await hr.get("/api/hr/people", params={"status": "disabled"})).json()} == {
        "K02", "K03"}


async def test_roles_follow_the_org(world: World) -> None:
    hr = await world.session("HR1", HR_PASSWORD)
    await hr.post("/api/hr/people/invite", json={"employee_ids": ["K02"]})
    db(world.db_url, "UPDATE employee SET manager_id = 'K02' WHERE id = 'K04'")  # K02 now leads K04
    from services.accounts import sync_org_roles

    assert await sync_org_roles(world.db_url, "import") == ["K02"]
    assert db(world.db_url, "SELECT roles FROM web_user WHERE username = 'K02'") == [(["employee", "manager"],)]
    assert await sync_org_roles(world.db_url, "import") == []


async def test_leavers_lose_access_after_their_leaving_date(world: World) -> None:
    upsert_user(world.db_url, "K03", "k03-long-password", ["employee"], "K03", hasher=fast_test_hasher())
    k03 = await world.session("K03", "k03-long-password")
    db(world.db_url, "UPDATE employee SET termination_date = %s WHERE id = 'K03'", date.today() + timedelta(days=1))
    assert (await k03.get("/api/session")).status_code == 200  # not yet
    db(world.db_url, "UPDATE employee SET termination_date = %s WHERE id = 'K03'", date.today() - timedelta(days=2))
    assert (await k03.get("/api/session")).status_code == 401  # the session ended at the leaving date
    refused = await world.login("K03", "k03-long-password")
    assert refused.status_code == 403 and "leaving date" in refused.json()["detail"]
    assert (await world.login("K03", "a-wrong-password")).status_code == 401  # a wrong password learns nothing
    anon = world.anon()
    assert (await anon.post("/api/password/forgot", json={"login": "K03"})).status_code == 200
    hr = await world.session("HR1", HR_PASSWORD)
    out = (await hr.post("/api/hr/people/invite", json={"employee_ids": ["K03"]})).json()
    assert out["done"] == [] and "has left" in out["skipped"][0]["reason"]
    people = {p["employee_id"]: p for p in (await hr.get("/api/hr/people")).json()}
    assert people["K03"]["status"] == "disabled"
    assert not [m for m in world.smtp.received if "k03@acme.example" in m.rcpt_tos]


async def test_reset_requests_are_limited_per_client_too(db_url: str) -> None:
    from services.accounts import TooManyRequests, check_reset_rate
    from services.settings import WebSettings

    web = WebSettings(reset_per_client_per_hour=2, reset_per_address_per_hour=5)
    for n in range(2):
        await check_reset_rate(db_url, f"person{n}@acme.example", "203.0.113.7", web)
    with pytest.raises(TooManyRequests, match="try again in 60 minute"):
        await check_reset_rate(db_url, "person9@acme.example", "203.0.113.7", web)
    await check_reset_rate(db_url, "person9@acme.example", "203.0.113.8", web)  # another client is not held up
    db(db_url, "UPDATE web_rate_limit SET window_start = now() - interval '61 minutes'")
    await check_reset_rate(db_url, "person9@acme.example", "203.0.113.7", web)  # a new hour, a new count
