"""HR's dashboard and audit log in a real browser, in Chinese and in English, wide and narrow.

With KAMREVIEW_SHOTS=<folder> the pages are also saved as screenshots (1280 px and 390 px wide).
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

from services.cycles import create_cycle, start_cycle
from tests.helpers import cycle_config
from tests.web.helpers import db_value, wait_for
from tests.web.test_browser import browser, page_for, pytestmark, sign_in  # noqa: F401 - fixtures and the skip mark

OPEN = {"due_after": "600s", "reminders_before": [], "on_deadline": {"action": "close"}}
SHOTS = os.environ.get("KAMREVIEW_SHOTS")


def missed_self_reviews(live: Any, db_url: str) -> str:
    """A running cycle whose self-reviews were all missed (a 2 s deadline); scoring and surveys still open."""
    cid = f"PWL{uuid.uuid4().hex[:8]}"
    live.call(lambda c: create_cycle(db_url, cycle_config(cid, due="2s", manager_scoring=OPEN, customer_survey=OPEN)))
    live.call(lambda c: start_cycle(c, db_url, cid, live.task_queue))
    wait_for(lambda: db_value(db_url, "SELECT count(*) FROM task WHERE cycle_id = %s AND kind = 'self_review' "
                                      "AND status = 'missed'", cid) == 4)
    return cid


def shoot(page: Any, name: str) -> None:
    if not SHOTS:
        return
    Path(SHOTS).mkdir(parents=True, exist_ok=True)
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(Path(SHOTS) / f"{name}-{width}.png"), full_page=True)
        if width == 390:  # the narrow page in slices, to read it at full size
            height = page.evaluate("document.documentElement.scrollHeight")
            for i, top in enumerate(range(0, min(height, 4800), 1200)):
                page.screenshot(path=str(Path(SHOTS) / f"{name}-{width}-part{i + 1}.png"), full_page=True,
                                clip={"x": 0, "y": top, "width": 390, "height": min(1200, height - top)})
    page.set_viewport_size({"width": 1280, "height": 900})


def test_dashboard_and_audit_log_in_chinese_and_english(live, db_url, web_org, page_for):  # noqa: F811
    cid = missed_self_reviews(live, db_url)
    for lang in ("zh-CN", "en"):
        page = page_for()
        page.context.add_cookies([{"name": "kr_lang", "value": lang, "url": live.url}])
        sign_in(page, live.url, "HR1")
        page.goto(f"{live.url}/hr/cycles/{cid}")
        late = page.locator("#late")
        assert late.locator("tr[data-state=missed]").count() == 4
        assert page.locator("#nobody-late").count() == 0
        assert "KAM K01" in late.inner_text() and "Manager M1" in page.inner_text("#late-managers")
        if lang == "zh-CN":
            assert page.get_attribute("html", "lang") == "zh-CN"
            assert "逾期人员" in page.inner_text("main") and "自评" in late.inner_text()
            assert "已错过" in late.inner_text() and "年" in page.inner_text("#progress")
        else:
            assert "Who is late" in page.inner_text("main") and "self-review" in late.inner_text()
        shoot(page, f"dashboard-{lang}")
        # the late person's name leads to their participant page
        href = late.locator("a", has_text="KAM K01").first.get_attribute("href")
        assert href == f"/hr/cycles/{cid}/participants/K01"

        page.click(f"a[href='/hr/cycles/{cid}/audit']")
        page.wait_for_selector("#audit")
        assert page.locator("#audit tr[data-event]").count() >= 8
        page.select_option("#event", "self_review.closed")
        page.click("#audit-filter button")
        page.wait_for_selector("#audit")
        rows = page.locator("#audit tr[data-event]")
        assert rows.count() == 4 and all(e == "self_review.closed" for e in
                                         rows.evaluate_all("rs => rs.map(r => r.dataset.event)"))
        words = "自评：已过截止时间，已关闭" if lang == "zh-CN" else "self-review: deadline passed, closed"
        assert words in page.inner_text("#audit")
        assert "event=self_review.closed" in page.get_attribute("#csv", "href")
        page.click("a[href$='/audit']")  # clear the filters
        page.wait_for_selector("#audit")
        shoot(page, f"audit-{lang}")

        page.goto(f"{live.url}/hr/cycles/{cid}/cancel")
        page.wait_for_selector("#summary")
        shoot(page, f"cancel-{lang}")
        page.goto(f"{live.url}/hr")
        page.wait_for_selector("#cycles")
        shoot(page, f"cycles-{lang}")
