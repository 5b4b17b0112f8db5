"""HR makes, pauses, resumes and deletes a recurring cycle's schedule in a real browser, in Chinese and English."""

from __future__ import annotations

import uuid
from typing import Any

from tests.web.test_browser import browser, page_for, pytestmark, sign_in  # noqa: F401 - fixtures and the skip mark
from tests.web.test_hr_browser import shoot


def test_hr_makes_and_steers_a_schedule_in_both_languages(live: Any, db_url: str, web_org: Any, page_for: Any) -> None:  # noqa: F811
    for lang, words in (("zh-CN", {"made": "已建立", "paused": "已暂停", "active": "运行中", "deleted": "已删除",
                                   "title": "周期性考核", "bad": "不能从每月 31 日开始"}),
                        ("en", {"made": "made", "paused": "paused", "active": "active", "deleted": "deleted",
                                "title": "Recurring cycles", "bad": "cannot start on day 31"})):
        name = f"w{uuid.uuid4().hex[:6]}"
        page = page_for()
        page.context.add_cookies([{"name": "kr_lang", "value": lang, "url": live.url}])
        sign_in(page, live.url, "HR1")
        page.goto(f"{live.url}/hr")
        page.click("#schedules-link")
        assert page.inner_text("h1") == words["title"]
        page.fill("#first", "2027-01-31")
        page.fill("#name", name)
        page.click("#schedule-form button[type=submit]")
        assert words["bad"] in page.inner_text("#form-error")  # refused, the form keeps what was typed
        assert page.input_value("#name") == name and page.locator(f"#schedule-{name}").count() == 0
        page.fill("#first", "2027-01-01")
        page.click("#schedule-form button[type=submit]")
        row = page.locator(f"#schedule-{name}")
        assert words["made"] in page.inner_text("main") and "kam-2027-Q1" in page.inner_text("main")
        assert "kam-2027-Q1" in row.inner_text() and words["active"] in row.inner_text()
        assert "2027" in row.inner_text()
        shoot(page, f"schedules-{lang}")
        row.locator("form[action$='/pause'] button").click()
        assert words["paused"] in page.locator(f"#schedule-{name}").inner_text()
        page.locator(f"#schedule-{name} form[action$='/resume'] button").click()
        assert words["active"] in page.locator(f"#schedule-{name}").inner_text()
        page.locator(f"#schedule-{name} form[action$='/delete'] button").click()
        assert words["deleted"] in page.inner_text("main") and page.locator(f"#schedule-{name}").count() == 0
