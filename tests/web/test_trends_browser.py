"""The trend pages in real headless Chromium, in Chinese and English, at desktop and phone width.

A KAM follows the link from /me to their trend; a manager opens their team from the header and a report's trend
from the team; HR reads the drift list, changes a threshold and opens any employee's trend. Every page passes
axe-core without a serious or critical finding. With ``KR_SHOTS=<dir>`` the pages are saved as screenshots.
"""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from services.users import fast_test_hasher, seed_demo_users
from tests.trends_world import trends_world
from tests.web.test_browser import browser, page_for, sign_in  # noqa: F401 - fixtures

pytestmark = pytest.mark.skipif(os.environ.get("KAMREVIEW_SKIP_BROWSER") == "1", reason="KAMREVIEW_SKIP_BROWSER=1")
SHOTS = Path(os.environ["KR_SHOTS"]) if os.environ.get("KR_SHOTS") else None


@pytest.fixture
def web_org(db_url: str) -> dict[str, Any]:  # the trends world's org (tests/web/conftest.py's has four KAMs)
    from tests.helpers import seed_org

    org = seed_org(db_url, kams=6, managers=2)
    seed_demo_users(db_url, hasher=fast_test_hasher())
    with ThreadPoolExecutor(1) as pool:  # this fixture may run inside the test run's event loop
        pool.submit(asyncio.run, trends_world(db_url, seed=False)).result()
    return org


def check(page: Any, name: str) -> None:
    """No serious or critical axe finding; nothing wider than a phone's screen; a screenshot when asked."""
    from axe_playwright_python.sync_playwright import Axe

    from tests.web.test_accessibility import WIDER_THAN_SCREEN

    bad = [f"{v['id']}: {v['help']} {[n['target'] for n in v['nodes']][:3]}"
           for v in Axe().run(page).response["violations"] if v["impact"] in ("serious", "critical")]
    assert not bad, f"{name}: {bad}"
    for width, height, label in ((1280, 800, "desktop"), (390, 844, "phone")):
        page.set_viewport_size({"width": width, "height": height})
        if label == "phone":
            assert not page.evaluate(WIDER_THAN_SCREEN), f"{name}: wider than the phone's screen"
            # and nothing (screen-reader text in a scrolling table, say) makes the page itself scroll sideways
            assert page.evaluate("document.documentElement.scrollWidth") <= width, f"{name}: the page scrolls sideways"
        if SHOTS is not None:
            SHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SHOTS / f"{name}-{label}.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 800})


def test_a_kam_follows_their_trend_from_me_in_both_languages(live, page_for):  # noqa: F811
    page = page_for(live.url)
    sign_in(page, live.url, "K01")
    page.click("#my-trend-link")
    page.wait_for_selector("#trend-quarterly")
    row = page.locator("#trend-quarterly tr[data-row=final_level] td")
    assert [row.nth(i).inner_text().split("\n")[0].strip() for i in range(1, 5)] == [
        "3 Meets", "4 Exceeds", "4 Exceeds", "5 Outstanding"]
    assert page.locator("#trend-quarterly tr[data-row=final_level] [data-direction]").evaluate_all(
        "els => els.map(e => e.dataset.direction)") == ["none", "up", "same", "up"]
    assert page.locator("svg.spark").first.get_attribute("aria-label") == "Final rating across cycles: 3, 4, 4, 5"
    assert "CN¥2,500.00" in page.inner_text("#trend-quarterly tr[data-row='payout:CNY']")
    assert page.locator("#trend-half_yearly").count() == 1
    check(page, "trend-kam-en")
    page.click("header .langs a[lang=zh]")
    page.wait_for_selector("html[lang=zh-CN]")
    assert "我的趋势" in page.inner_text("h1")
    assert "季度考核" in page.inner_text("main") and "最终评级" in page.inner_text("#trend-quarterly")
    check(page, "trend-kam-zh")


def test_a_manager_opens_the_team_and_a_reports_trend(live, page_for):  # noqa: F811
    page = page_for()
    sign_in(page, live.url, "M1")
    page.click("header nav a[href='/trends/teams/M1']")
    page.wait_for_selector("#team-quarterly")
    assert "我的团队趋势" in page.inner_text("h1")
    assert page.locator("#members-quarterly tr[data-employee]").count() == 3
    check(page, "trend-team-zh")
    page.click("#members-quarterly tr[data-employee=K03] a")
    page.wait_for_selector("#trend-quarterly")
    assert "KAM K03" in page.inner_text("h1")
    check(page, "trend-report-zh")


def test_hr_reads_the_drift_list_and_opens_anyone(live, page_for):  # noqa: F811
    page = page_for(live.url)
    sign_in(page, live.url, "HR1")
    page.click("header nav a[href='/trends']")
    page.wait_for_selector("#drift")
    assert page.locator("#drift tr[data-flagged]").count() == 2
    assert "more generous" in page.inner_text("#drift tr[data-manager=M1]")
    check(page, "trend-drift-en")
    page.fill("#mean_threshold", "1")
    page.fill("#share_threshold", "0.4")
    page.click("#drift-controls button")
    page.wait_for_selector("#drift")
    assert page.locator("#drift tr[data-flagged]").count() == 0
    assert "0 managers flagged of 2." in page.inner_text("#drift-summary")
    page.fill("#employee", "K06")
    page.click("#find-employee button")
    page.wait_for_selector("#trend-quarterly")
    assert page.url.endswith("/trends/employees/K06")
    page.click("header .langs a[lang=zh]")
    page.wait_for_selector("html[lang=zh-CN]")
    page.goto(f"{live.url}/trends")
    assert "偏宽松" in page.inner_text("#drift tr[data-manager=M1]")
    check(page, "trend-drift-zh")
