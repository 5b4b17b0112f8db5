"""Sign-ins in a real headless Chromium: HR invites from the People page, the invitation arrives over real SMTP,
its link is followed in the browser, the password is set, sign-in works; the link cannot be used twice; a
forgotten password is reset from the sign-in page; HR disables the account and its open page loses access.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from notify.channels import SmtpCourier
from services.settings import MailSettings
from services.users import fast_test_hasher, upsert_user
from tests.helpers import seed_org
from tests.notify.smtp_server import SmtpTestServer
from tests.web.helpers import wait_for
from tests.web.live import LiveServer
from tests.web.test_browser import browser, page_for  # noqa: F401 - the browser fixtures

pytestmark = pytest.mark.skipif(os.environ.get("KAMREVIEW_SKIP_BROWSER") == "1", reason="KAMREVIEW_SKIP_BROWSER=1")
HR_PASSWORD = "hr-password-2026"


class Mailed:
    def __init__(self, live: LiveServer, smtp: SmtpTestServer) -> None:
        self.live, self.smtp = live, smtp

    def link(self, address: str, n: int = 1) -> str:
        """The set-password link of the n-th message to ``address``."""
        found: list[str] = []

        def arrived() -> bool:
            mails = [m.message for m in self.smtp.received if address in m.rcpt_tos]
            if len(mails) < n:
                return False
            text = mails[n - 1].get_body(preferencelist=("plain",)).get_content()
            found.append(re.search(rf"{re.escape(self.live.url)}/password#[A-Za-z0-9_-]+", text).group(0))
            return True

        wait_for(arrived, timeout=30)
        return found[-1]


@pytest.fixture
def mailed(temporal_env, db_url: str) -> Iterator[Mailed]:
    seed_org(db_url, kams=3, managers=1)
    with psycopg.connect(db_url) as conn:
        conn.execute("UPDATE employee SET email = lower(id) || '@acme.example'")
    upsert_user(db_url, "HR1", HR_PASSWORD, ["hr"], "HR1", hasher=fast_test_hasher())
    with SmtpTestServer() as smtp:
        courier = SmtpCourier(MailSettings(smtp_host=smtp.host, smtp_port=smtp.port,
                                           mail_from="绩效考核 <hr@acme.example>", smtp_timeout_s=5))
        live = LiveServer(db_url, temporal_env.client.service_client.config.target_host,
                          f"kr-signin-{uuid.uuid4().hex[:8]}", mail=courier)
        live.start()
        try:
            yield Mailed(live, smtp)
        finally:
            live.stop()


def sign_in(page: Any, base: str, username: str, password: str) -> None:
    page.goto(f"{base}/login")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("button[type=submit]")
    page.wait_for_selector("#whoami")


def choose_password(page: Any, link: str, password: str) -> None:
    page.goto(link)
    page.wait_for_selector("#password-form")
    assert "#" not in page.url  # the token left the address bar
    page.fill("#password", password)
    page.fill("#password_again", password)
    page.click("#set-password")
    page.wait_for_selector("#flash")


def test_invited_by_hr_sets_a_password_from_the_mail_and_signs_in(mailed: Mailed, page_for) -> None:  # noqa: F811
    base = mailed.live.url
    hr = page_for()
    sign_in(hr, base, "HR1", HR_PASSWORD)
    hr.click("text=员工")  # the header's People page
    hr.wait_for_selector("#people")
    hr.check("#pick-K01")
    hr.check("#pick-M1")
    hr.click("#invite-selected")
    hr.wait_for_selector("#bulk-result")
    assert "已邀请 2 人" in hr.inner_text("#bulk-result")
    assert hr.get_attribute("tr[data-employee=K01] [data-account]", "data-account") == "invited"

    link = mailed.link("k01@acme.example")
    kam = page_for()
    choose_password(kam, link, "k01-chosen-pass")
    assert "/login" in kam.url and kam.input_value("#username") == "K01"
    assert "密码已设置" in kam.inner_text("#flash")
    kam.fill("#password", "k01-chosen-pass")
    kam.click("button[type=submit]")
    kam.wait_for_selector("#whoami")
    assert kam.url.endswith("/me")

    # The same link again: refused, saying why, in the reader's language.
    again = page_for(english_at=base)
    again.goto(link)
    again.wait_for_selector("#form-error")
    assert "already used" in again.inner_text("#form-error") and again.is_visible("#new-link")

    # A forgotten password, from the sign-in page (in English): the answer, the mail, a new password.
    forgot = page_for(english_at=base)
    forgot.goto(f"{base}/login")
    forgot.click("#forgot-link")
    forgot.fill("#login", "k01@acme.example")
    forgot.click("button[type=submit]")
    forgot.wait_for_selector("#reset-sent")
    assert "if that user name or e-mail address belongs to a sign-in" in forgot.inner_text("#reset-sent").lower()
    choose_password(forgot, mailed.link("k01@acme.example", 2), "k01-second-pass")
    assert "your password is set" in forgot.inner_text("#flash").lower()
    kam.reload()  # the reset ended the session the KAM had open
    assert "/login" in kam.url
    sign_in(forgot, base, "K01", "k01-second-pass")

    # HR disables the KAM: the open page loses access at its next request.
    hr.goto(f"{base}/hr/people")
    hr.check("#pick-K01")
    hr.click("#disable-selected")
    hr.wait_for_selector("#bulk-result")
    assert hr.get_attribute("tr[data-employee=K01] [data-account]", "data-account") == "disabled"
    forgot.goto(f"{base}/me")
    assert "/login" in forgot.url
