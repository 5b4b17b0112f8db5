"""Goals in a real browser: the KAM drafts in Chinese, the manager returns them in English with a comment, the KAM
fixes and resubmits, the manager approves, the KAM checks in and sees the attainment and the history."""

from __future__ import annotations

from typing import Any

from tests.web.test_browser import browser, page_for, pytestmark, sign_in  # noqa: F401 - fixtures and the skip mark
from tests.web.test_hr_browser import shoot

PERIOD = "2026-Q3"


def add_key_result(page: Any, objective: str, metric: str, start: str, target: str, kpi: str = "") -> None:
    section = page.locator(f"#{objective}")
    section.locator("details summary").last.click()
    section.get_by_label("衡量指标" if page.locator("html").get_attribute("lang") == "zh-CN" else "Metric").fill(metric)
    form = section.locator("form[id^=add-kr]")
    form.locator("[name=unit]").fill("万元")
    form.locator("[name=start_value]").fill(start)
    form.locator("[name=target_value]").fill(target)
    form.locator("[name=due_date]").fill("2026-09-30")
    if kpi:
        form.locator("[name=kpi_id]").select_option(kpi)
    form.locator("button").click()


def test_goals_from_draft_to_check_in_in_both_languages(live: Any, db_url: str, web_org: Any, page_for: Any) -> None:  # noqa: F811
    kam = page_for()
    kam.context.add_cookies([{"name": "kr_lang", "value": "zh-CN", "url": live.url}])
    sign_in(kam, live.url, "K01")
    kam.click("#my-goals-link")
    kam.goto(f"{live.url}/me/goals?period={PERIOD}")
    assert kam.inner_text("h1") == "我的目标" and "本期尚未设定目标" in kam.inner_text("main")
    kam.fill("#objective-title", "扩大重点客户收入")
    kam.fill("#objective-weight", "3")
    kam.click("#add-objective button")
    assert "目标已添加" in kam.inner_text("#flash")
    objective = kam.locator("section.objective").first.get_attribute("id")
    add_key_result(kam, objective, "重点客户收入", "0", "0")  # the same start and target: refused beside the field
    assert "目标值不能与起始值相同" in kam.inner_text(f"#{objective}")
    assert kam.locator("[name=target_value][aria-invalid=true]").count() == 1
    assert kam.locator(f"#{objective} [name=metric]").input_value() == "重点客户收入"  # what was typed stays
    kam.locator(f"#{objective} [name=target_value]").fill("300")
    kam.locator(f"#{objective} form[id^=add-kr] button").click()
    assert "关键结果已添加" in kam.inner_text("#flash")
    add_key_result(kam, objective, "销售目标达成率", "0.8", "1.2", kpi="sales_attainment")
    kam.click("#submit-goals button")
    assert "待上级审批" in kam.inner_text("#goal-status")

    boss = page_for(live.url)  # English
    sign_in(boss, live.url, "M1")
    boss.click("#team-goals-link")
    boss.goto(f"{live.url}/manager/goals?period={PERIOD}")
    row = boss.locator("#team-goals tr[data-employee=K01]")
    assert "Waiting for your approval" in row.inner_text()
    row.locator("a").click()
    boss.fill("#return-comment-text", "Please add a key result for new accounts")
    boss.click("#return-goals button")
    assert "returned" in boss.inner_text("#flash")

    kam.goto(f"{live.url}/me/goals?period={PERIOD}")
    assert "Please add a key result for new accounts" in kam.inner_text("#return-comment")
    kam.click("#submit-goals button")
    boss.goto(f"{live.url}/manager/goals/K01?period={PERIOD}")
    boss.click("#approve-goals button")
    assert "goals approved" in boss.inner_text("#flash")

    kam.goto(f"{live.url}/me/goals?period={PERIOD}")
    first_kr = kam.locator(f"#{objective} .kr").first
    first_kr.locator("[name=value]").fill("150")
    first_kr.locator("[name=comment]").fill("两个续约已签")
    first_kr.locator("button").first.click()
    assert "进展已保存" in kam.inner_text("#flash")
    first_kr = kam.locator(f"#{objective} .kr").first
    assert "50%" in first_kr.inner_text().replace(" ", "").replace("\u00a0", "")  # 150 of 300
    first_kr.locator("details summary").click()
    assert "两个续约已签" in first_kr.locator("table.check-ins").inner_text()
    linked = kam.locator(f"#{objective} .kr").nth(1)
    assert "来自 KPI 数据" in linked.inner_text()  # 0.9 from K01's KPI actual
    shoot(kam, "goals-kam-zh")
    boss.goto(f"{live.url}/manager/goals?period={PERIOD}")
    assert "Approved" in boss.locator("#team-goals tr[data-employee=K01]").inner_text()
    shoot(boss, "goals-team-en")
