"""Refusals on real pages, in Chinese and in English: a score off the scale and a cycle configuration with
several problems. Screenshots at 1280 and 390 px go to /work/shots/refusals/ (or KAMREVIEW_SHOTS)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.web.helpers import config_yaml, open_live_cycle
from tests.web.test_browser import browser, page_for, sign_in  # noqa: F401 - the browser fixtures, reused

pytestmark = pytest.mark.skipif(os.environ.get("KAMREVIEW_SKIP_BROWSER") == "1", reason="KAMREVIEW_SKIP_BROWSER=1")
SHOTS = Path(os.environ.get("KAMREVIEW_SHOTS", "/work/shots/refusals"))


def _shoot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(SHOTS / f"{name}-{width}.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})


def _score_off_the_scale(page: Any, base: str, cid: str) -> str:
    page.goto(f"{base}/manager/reviews/{cid}/K01")
    for select in page.locator("#score-form select[name^='rating.']").all():
        select.select_option("2")
    page.evaluate("""() => { const s = document.getElementById('rating.communication');
                             s.add(new Option('7', '7')); s.value = '7'; }""")  # as a tampered form would send
    page.click("#score-form button[type=submit]")
    page.wait_for_selector("#form-error")
    return page.inner_text("#form-error")


def test_a_refused_score_reads_in_the_managers_language(live, db_url, web_org, page_for):  # noqa: F811
    cid = open_live_cycle(live, db_url, web_org)
    page = page_for()
    sign_in(page, live.url, "M1")  # M1 reads Chinese (the org import says zh-CN)
    assert _score_off_the_scale(page, live.url, cid) == "经理评分：communication 的评分为 7，评分范围是 1 至 3"
    _shoot(page, "score-refused-zh")
    page.context.add_cookies([{"name": "kr_lang", "value": "en", "url": live.url}])
    assert _score_off_the_scale(page, live.url, cid) == "manager scoring: rating for communication is 7; the scale is 1 to 3"
    _shoot(page, "score-refused-en")


def test_a_cycle_configuration_with_problems_lists_each_with_its_field(live, page_for):  # noqa: F811
    data = yaml.safe_load(config_yaml("PWCONF1"))
    data["calibration"]["guideline"] = {5: 10, 4: 25, 3: 40, 2: 15, 1: 5}
    data["phases"]["self_review"]["due_after"] = -172800
    del data["cadence"]
    page = page_for()
    sign_in(page, live.url, "HR1")
    page.goto(f"{live.url}/hr")
    page.fill("textarea[name=config_yaml]", yaml.safe_dump(data, allow_unicode=True))
    page.click("textarea[name=config_yaml] >> xpath=ancestor::form//button[@type='submit']")
    page.wait_for_selector("#form-error")
    shown = page.inner_text("#form-error")
    assert "考核周期配置有误（共 3 处问题）" in shown and "cadence：此项为必填项" in shown
    assert "calibration.guideline：百分比合计为 95，必须正好为 100" in shown and "时长不能为负数" in shown
    _shoot(page, "config-refused-zh")
    page.context.add_cookies([{"name": "kr_lang", "value": "en", "url": live.url}])
    page.goto(f"{live.url}/hr")
    page.fill("textarea[name=config_yaml]", yaml.safe_dump(data, allow_unicode=True))
    page.click("textarea[name=config_yaml] >> xpath=ancestor::form//button[@type='submit']")
    page.wait_for_selector("#form-error")
    shown = page.inner_text("#form-error")
    assert "the cycle configuration is invalid (3 problem(s))" in shown and "cadence: Field required" in shown
    _shoot(page, "config-refused-en")
