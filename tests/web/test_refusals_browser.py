"""Refusals on real pages, in Chinese and in English: a second, different score and a cycle configuration with
several problems. Screenshots at 1280 and 390 px go to /work/shots/refusals/ (or KAMREVIEW_SHOTS)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from i18n import Formatter
from services import tasks
from tests.helpers import ratings
from tests.web.helpers import config_yaml, open_live_cycle
from tests.web.test_browser import browser, page_for, sign_in  # noqa: F401 - the browser fixtures, reused
from workflows.payloads import ManagerScoreSubmission

pytestmark = pytest.mark.skipif(os.environ.get("KAMREVIEW_SKIP_BROWSER") == "1", reason="KAMREVIEW_SKIP_BROWSER=1")
SHOTS = Path(os.environ.get("KAMREVIEW_SHOTS", "/work/shots/refusals"))


def _shoot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(SHOTS / f"{name}-{width}.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})


def _stale_form(live: Any, page: Any, db_url: str, web_org: dict[str, Any]) -> tuple[str, Any]:
    """The form open in one tab while the score goes in from another: the stale form is refused on submit."""
    cid = open_live_cycle(live, db_url, web_org)
    page.goto(f"{live.url}/manager/reviews/{cid}/K01")
    for item in page.locator("#score-form fieldset[data-competency]").all():
        item.locator("input[type=radio][value='3']").check()
    receipt = live.call(lambda c: tasks.submit_manager_score(c, db_url, cid, "K01", ManagerScoreSubmission("M1", ratings(2))))
    page.click("#score-form button[value=submit]")
    page.wait_for_selector("#form-error")
    return page.inner_text("#form-error"), receipt.accepted_at


def test_a_refusal_only_the_workflow_knows_reads_in_the_managers_language(live, db_url, web_org, page_for):  # noqa: F811
    page = page_for()
    sign_in(page, live.url, "M1")  # M1 reads Chinese (the org import says zh-CN)
    shown, at = _stale_form(live, page, db_url, web_org)
    assert shown == (f"经理评分已由 M1 于 {Formatter('zh-CN', 'Asia/Shanghai').when(at)} 提交，"
                     "不能用不同的内容替换"), shown
    _shoot(page, "score-refused-zh")
    page.context.add_cookies([{"name": "kr_lang", "value": "en", "url": live.url}])
    shown, at = _stale_form(live, page, db_url, web_org)
    assert shown == (f"the manager scoring was already submitted on {Formatter('en', 'Asia/Shanghai').when(at)} "
                     "by M1; a different submission cannot replace it"), shown
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
