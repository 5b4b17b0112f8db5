"""The KAM's pages (my review, my results) and the manager's inbox, in Chinese and in English.

Results are written straight to PostgreSQL, as the cycle would leave them after HR releases them (a scored,
calibrated review with locked payout lines), so each test sees known figures without running a whole cycle.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest

from domain.cycle import CycleConfig
from domain.incentives import IncentiveInput, compute_payouts
from domain.scoring import ReviewInputs, SurveyAnswer, preliminary_score
from services.cycles import create_cycle
from tests.helpers import cycle_config, ratings
from tests.web.helpers import password_of

D = Decimal
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]")


def new_config() -> CycleConfig:
    return cycle_config(f"RES{uuid.uuid4().hex[:8]}")


def release(db_url: str, config: CycleConfig, kam: str = "K01") -> None:
    """K01's review as released: scored, rated 4 (Exceeds), manager comments, a bonus and a commission locked."""
    result = preliminary_score(config.scorecard, ReviewInputs(
        kpi_actuals={"sales_attainment": D("0.675"), "new_customer_acquisition": D("1.1"),
                     "customer_retention": D("0.92"), "complaint_rate": D("0.02")},
        manager_ratings=ratings(2), self_ratings=ratings(3),
        survey=[SurveyAnswer(account_id="A", satisfaction=s) for s in (5, 4, 3)]))
    lines = compute_payouts(config.incentive_plan, config.period.start, config.period.end, config.id, [IncentiveInput(
        employee_id=kam, grade="K2", currency="CNY", rating_level=4, revenue=D("1200000"),
        attainment={"sales_attainment": D("1.05"), "customer_retention": D("0.92"), "new_customer_acquisition": D("0.8")},
        employment_start=date(2026, 8, 1))])
    review_id = f"{config.id}:{kam}"
    with psycopg.connect(db_url) as conn:
        conn.execute("""UPDATE review SET status = 'closed', closed_at = now(), preliminary_score = %s,
                        score_breakdown = %s WHERE id = %s""",
                     (result.score, json.dumps(result.model_dump(mode="json")), review_id))
        conn.execute("""INSERT INTO calibrated_rating (review_id, cycle_id, employee_id, preliminary_score,
                        suggested_level, final_level, finalized) VALUES (%s, %s, %s, %s, 4, 4, true)""",
                     (review_id, config.id, kam, result.score))
        for item, level in ratings(2).items():
            conn.execute("""INSERT INTO manager_score (review_id, item_id, rating, comment, scored_by, submitted_at)
                            VALUES (%s, %s, %s, %s, 'M1', now())""",
                         (review_id, item, level, "客户拜访记录详实" if item == "communication" else None))
        for ln in lines:
            conn.execute("""INSERT INTO payout_line (idempotency_key, cycle_id, employee_id, line_type, amount, currency,
                            period, plan_id, plan_version, revision, explanation, inputs, status)
                            VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, 0, %s, %s, 'computed')""",
                         (ln.idempotency_key, config.id, kam, ln.line_type, ln.amount, ln.currency, config.period.label,
                          ln.plan_id, ln.plan_version, ln.explanation, json.dumps(ln.inputs)))
        conn.execute("""UPDATE payout_line SET status = 'locked', approved_by = 'HR1', locked_at = now()
                        WHERE cycle_id = %s""", (config.id,))  # approval: the only way a line is locked
        conn.execute("UPDATE review_cycle SET results_released_at = now() WHERE id = %s", (config.id,))


def outside_details(html: str) -> str:
    return re.sub(r"<details.*?</details>", "", html, flags=re.S)


async def released_for(web: Any, lang: str) -> tuple[Any, str]:
    config = new_config()
    await create_cycle(web.db_url, config)
    release(web.db_url, config)
    k1 = await web.login("K01")
    k1.cookies.set("kr_lang", lang)
    return k1, config.id


async def test_results_page_in_english(web):
    k1, cid = await released_for(web, "en")
    page = await k1.get(f"/me/results/{cid}")
    assert page.status_code == 200 and '<html lang="en">' in page.text
    text = page.text.replace("&amp;", "&").replace("&#39;", "'")
    assert "Final rating: 4 · <span id=\"final-label\">Exceeds</span>" in text
    assert "Sales target attainment: 67.5% of target → score 1 of 5, weight 27%" in text
    assert "Communication & expression: manager's rating 2 of 3 → score 3 of 5" in text
    assert "Customer satisfaction: 66.7% of customers satisfied (3 answers)" in text
    assert ("Bonus: target bonus CN¥30,000.00 × company factor 110% × rating multiplier 120% (final rating 4, Exceeds)"
            " × KPI payout 102.5% × 61 of 92 days employed = CN¥26,912.93") in text
    assert "Commission: revenue CN¥1,200,000.00, each part at its tier's rate" in text
    assert "客户拜访记录详实" in text
    shown = outside_details(text)
    assert "HALF_UP" not in shown and "on curve" not in shown and "on 1..3" not in shown
    assert "HALF_UP" in text and "on curve (0.8→1, 1→3, 1.2→5)" in text  # one click away
    assert not PLACEHOLDER.search(text)


async def test_results_page_in_chinese(web):
    k1, cid = await released_for(web, "zh-CN")
    page = await k1.get(f"/me/results/{cid}")
    assert page.status_code == 200 and '<html lang="zh-CN">' in page.text
    text = page.text.replace("&amp;", "&")
    assert "我的考核结果" in text and "最终评级：4 · <span id=\"final-label\">超出预期</span>" in text
    assert "销售目标达成率：完成目标的 67.5% → 得分 1（满分 5），权重 27%" in text
    assert "沟通表达能力：上级评分 2（满分 3）→ 得分 3（满分 5）" in text
    assert "客户满意度：66.7% 的客户表示满意（共 3 份回答）" in text
    assert ("绩效奖金：目标奖金 ¥30,000.00 × 公司系数 110% × 绩效系数 120%（最终评级 4，超出预期） × 业绩兑现比例 102.5%"
            " × 在职 61 / 92 天 = ¥26,912.93") in text
    assert "提成：收入 ¥1,200,000.00，各段按所在档位的提成比例计算" in text
    assert re.search(r"发布于 <time datetime=\"[^\"]+\" title=\"北京时间 \(Asia/Shanghai\)\">\d{4}年\d{1,2}月\d{1,2}日", text)
    shown = outside_details(text)
    assert "HALF_UP" not in shown and "Sales target attainment" not in shown and "My results" not in shown
    assert "精确数值" in text and "详细计算过程" in text
    assert not PLACEHOLDER.search(text)


async def test_results_api_keeps_the_exact_figures_and_adds_the_sentences(web):
    k1, cid = await released_for(web, "zh-CN")
    body = (await k1.get(f"/api/me/results/{cid}")).json()
    sales = next(ln for ln in body["lines"] if ln["item"] == "sales_attainment")
    assert sales["actual"] == "0.68" and sales["score"] == "1.00" and sales["weight_pct"] == "27.00"
    assert sales["sentence"] == "销售目标达成率：完成目标的 67.5% → 得分 1（满分 5），权重 27%"
    assert "on curve (0.8→1, 1→3, 1.2→5)" in sales["detail"]
    bonus = next(p for p in body["payouts"] if p["line_type"] == "bonus")
    assert D(bonus["amount"]) == D("26912.93") and "HALF_UP" in bonus["explanation"]
    assert bonus["sentence"].endswith("= ¥26,912.93")
    assert bonus["measures"][0] == "销售目标达成率：完成目标的 105% → 兑现比例 110%，权重 60%"
    k1.cookies.set("kr_lang", "en")
    body = (await k1.get(f"/api/me/results/{cid}")).json()
    assert body["lines"][0]["sentence"].startswith("Sales target attainment: 67.5% of target")


async def test_results_before_release_are_refused_in_the_readers_language(web):
    config = new_config()
    await create_cycle(web.db_url, config)
    k1 = await web.login("K01")
    k1.cookies.set("kr_lang", "zh-CN")
    r = await k1.get(f"/me/results/{config.id}")
    assert r.status_code == 403 and f"人力资源部尚未发布考核周期 {config.id} 的结果" in r.text
    k1.cookies.set("kr_lang", "en")
    r = await k1.get(f"/api/me/results/{config.id}")
    assert r.status_code == 403 and f"HR has not released the results of cycle {config.id} yet" in r.json()["detail"]


async def test_my_review_and_the_inbox_in_both_languages(web):
    cid = await web.open_cycle()
    k1, m1 = await web.login("K01"), await web.login("M1")
    for http, lang in ((k1, "en"), (m1, "en")):
        http.cookies.set("kr_lang", lang)
    me = (await k1.get("/me")).text
    assert "My tasks" in me and "Write my self-review" in me and re.search(r"due in [45] minutes", me)
    assert f'href="/me/reviews/{cid}"' in me and "in progress" in me and "not released yet" in me
    inbox = (await m1.get("/manager")).text
    assert "Inbox: reviews to score" in inbox and "2 reviews are waiting for your score." in inbox
    assert re.search(r"due in [45] minutes", inbox)
    for http in (k1, m1):
        http.cookies.set("kr_lang", "zh-CN")
    me = (await k1.get("/me")).text
    assert "我的待办" in me and "填写自评" in me and "进行中" in me and "尚未发布" in me
    assert re.search(r"[45]分钟后到期", me) and re.search(r"\d{4}年\d{1,2}月\d{1,2}日 \d\d:\d\d", me)
    assert "My tasks" not in me and not PLACEHOLDER.search(me)
    inbox = (await m1.get("/manager")).text
    assert "待办：待评分的考核" in inbox and "2 份考核等待您评分。" in inbox and re.search(r"[45]分钟后到期", inbox)
    assert "Score</a>" not in inbox and "评分</a>" in inbox and not PLACEHOLDER.search(inbox)


# -- the browser ----------------------------------------------------------------------------------------------

@pytest.mark.skipif(os.environ.get("KAMREVIEW_SKIP_BROWSER") == "1", reason="KAMREVIEW_SKIP_BROWSER=1")
def test_results_page_in_a_browser_in_chinese_and_english(live, db_url, tmp_path):
    from playwright.sync_api import sync_playwright

    from tests.web.test_browser import ARGS, CHROMIUM

    config = new_config()
    live.call(lambda c: create_cycle(db_url, config))
    release(db_url, config)
    shots = Path(os.environ.get("KAMREVIEW_SHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            for lang, width in (("zh-CN", 1280), ("zh-CN", 390), ("en", 1280), ("en", 390)):
                context = browser.new_context(viewport={"width": width, "height": 900})
                context.set_default_timeout(20_000)
                context.add_cookies([{"name": "kr_lang", "value": lang, "url": live.url}])
                page = context.new_page()
                page.goto(f"{live.url}/login")
                page.fill("#username", "K01")
                page.fill("#password", password_of("K01"))
                page.click("button[type=submit]")
                page.wait_for_selector("#whoami")
                page.click(f"a[href='/me/results/{config.id}']")
                page.wait_for_selector("#final-rating")
                rating = page.inner_text("#final-rating")
                exact = page.locator("#score-lines-exact table")
                assert not exact.is_visible()  # the exact figures are one click away
                if lang == "zh-CN":
                    assert "最终评级：4 · 超出预期" in rating and "66.7% 的客户表示满意" in rating
                    assert "销售目标达成率：完成目标的 67.5%" in page.inner_text("#score-lines")
                    assert page.inner_text("#payouts .payout[data-line=bonus] .amount strong") == "¥26,912.93"
                    page.click("#score-lines-exact summary")
                else:
                    assert "Final rating: 4 · Exceeds" in rating
                    assert "Sales target attainment: 67.5% of target" in page.inner_text("#score-lines")
                    assert page.inner_text("#payouts .payout[data-line=bonus] .amount strong") == "CN¥26,912.93"
                    page.click("#score-lines-exact summary")
                assert exact.is_visible()
                assert page.evaluate("document.documentElement.scrollWidth") <= width  # nothing runs off the page
                page.screenshot(path=str(shots / f"results-{lang}-{width}.png"), full_page=True)
                context.close()
        finally:
            browser.close()


@pytest.mark.skipif(os.environ.get("KAMREVIEW_SKIP_BROWSER") == "1", reason="KAMREVIEW_SKIP_BROWSER=1")
def test_my_review_and_the_inbox_in_a_browser(live, db_url, web_org, tmp_path):
    from playwright.sync_api import sync_playwright

    from tests.web.helpers import open_live_cycle
    from tests.web.test_browser import ARGS, CHROMIUM

    open_live_cycle(live, db_url, web_org)
    shots = Path(os.environ.get("KAMREVIEW_SHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    expected = {("K01", "zh-CN"): ("我的待办", "填写自评"), ("K01", "en"): ("My tasks", "Write my self-review"),
                ("M1", "zh-CN"): ("待办：待评分的考核", "2 份考核等待您评分。"),
                ("M1", "en"): ("Inbox: reviews to score", "2 reviews are waiting for your score.")}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            for (who, lang), (heading, words) in expected.items():
                for width in (1280, 390):
                    context = browser.new_context(viewport={"width": width, "height": 700})
                    context.set_default_timeout(20_000)
                    context.add_cookies([{"name": "kr_lang", "value": lang, "url": live.url}])
                    page = context.new_page()
                    page.goto(f"{live.url}/login")
                    page.fill("#username", who)
                    page.fill("#password", password_of(who))
                    page.click("button[type=submit]")
                    page.wait_for_selector("#whoami")
                    body = page.inner_text("main")
                    assert heading in page.inner_text("h1") and words in body, body
                    assert re.search(r"(due in \d+ minutes|\d+分钟后到期)", body), body
                    assert page.evaluate("document.documentElement.scrollWidth") <= width
                    page.screenshot(path=str(shots / f"{'me' if who == 'K01' else 'inbox'}-{lang}-{width}.png"),
                                    full_page=True)
                    context.close()
        finally:
            browser.close()
