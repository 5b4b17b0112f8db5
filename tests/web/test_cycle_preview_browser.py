"""The cycle participant preview in real headless Chromium, in Chinese and English (screenshots with KAMREVIEW_SHOTS)."""

from __future__ import annotations

from tests.web.test_browser import browser, page_for, pytestmark, sign_in  # noqa: F401 - fixtures and the skip mark
from tests.web.test_cycle_preview import with_participants


def test_preview_participants_in_the_browser(live, web_org, page_for) -> None:  # noqa: F811
    from tests.web.test_hr_browser import shoot

    for lang, said in (("zh-CN", "共有 2 人符合参评人员筛选条件。"), ("en", "2 people match the participant selection.")):
        page = page_for()
        page.context.add_cookies([{"name": "kr_lang", "value": lang, "url": live.url}])
        sign_in(page, live.url, "HR1")
        page.goto(f"{live.url}/hr")
        page.fill("#config_yaml", with_participants("PVB", {"under": ["M1"], "grades": ["K2"]}))
        page.click("#preview-participants")
        assert said in page.inner_text("#participant-preview") and "K01, K03" in page.inner_text("#participant-preview")
        assert "under:" in page.input_value("#config_yaml")  # kept as typed
        shoot(page, f"hr-cycle-preview-{lang}")
