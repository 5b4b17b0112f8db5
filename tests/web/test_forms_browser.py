"""The forms in a real browser at a phone's width (390 px): a KAM fills the self-review in Chinese, saves a draft,
comes back to it and submits; a customer answers the survey in English with thumb-sized buttons.

With KAMREVIEW_SHOTS=<dir>, the last test also saves screenshots of every form, both languages, 1280 and 390 px.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from tests.helpers import COMPETENCIES
from tests.web.helpers import db_value, open_live_cycle, password_of, wait_for
from tests.web.test_browser import browser, pytestmark, sign_in  # noqa: F401  (the module's browser fixture)

PHONE = {"width": 390, "height": 844}
DESK = {"width": 1280, "height": 900}


def phone_page(chromium: Any, base: str | None = None, lang: str | None = None, viewport: dict | None = None) -> Any:
    """A fresh browser (390 px wide unless told); with ``lang``, the reader chose that language at ``base``."""
    context = chromium.new_context(viewport=viewport or PHONE, device_scale_factor=1)
    context.set_default_timeout(20_000)
    if lang:
        context.add_cookies([{"name": "kr_lang", "value": lang, "url": base}])
    return context.new_page()


def smallest_target(page: Any, selector: str) -> float:
    """The smallest height and width (px) among the visible elements a thumb taps."""
    return page.evaluate(
        """(sel) => Math.min(...[...document.querySelectorAll(sel)].map(e => e.getBoundingClientRect())
                                   .map(r => Math.min(r.width, r.height)))""", selector)


def no_sideways_scroll(page: Any) -> bool:
    return page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")


def survey_links(live: Any, cid: str) -> dict[str, str]:
    with httpx.Client(base_url=live.url) as hr:
        r = hr.post("/api/session", json={"username": "HR1", "password": password_of("HR1")})
        hr.headers["X-CSRF-Token"] = r.json()["csrf_token"]
        return {link["contact_id"]: link["url"] for link in hr.post(f"/api/hr/cycles/{cid}/survey-links", json={}).json()}


def test_a_kam_fills_the_self_review_on_a_phone_in_chinese_with_a_draft(live, db_url, web_org, browser):  # noqa: F811
    cid = open_live_cycle(live, db_url, web_org)
    page = phone_page(browser)
    sign_in(page, live.url, "K01")
    page.goto(f"{live.url}/me/reviews/{cid}")
    page.wait_for_selector("#self-review-form")
    assert page.get_attribute("html", "lang") == "zh-CN"
    assert "通用能力" in page.inner_text("#self-review-form") and "耐心倾听客户需求" in page.inner_text("#self-review-form")
    assert smallest_target(page, "label.level") >= 44 and smallest_target(page, ".buttons button") >= 44
    assert no_sideways_scroll(page)
    # Half of it, then "保存草稿" (save draft): the page says so and nothing is submitted.
    page.locator("label[for='rating.communication-3']").click()
    page.locator("label[for='rating.logical_analysis-2']").click()
    page.fill("#evidence\\.communication", "续签了中石化年度框架协议")
    page.click("#save-draft")
    page.wait_for_selector("#flash")
    assert "草稿已于" in page.inner_text("#flash") and "尚未提交" in page.inner_text("#flash")
    assert db_value(db_url, "SELECT count(*) FROM self_review_answer") == 0
    # Later (a reload, a new visit): the draft is back where it was left.
    page.reload()
    page.wait_for_selector("#draft-note")
    assert page.is_checked("#rating\\.communication-3") and page.is_checked("#rating\\.logical_analysis-2")
    assert page.input_value("#evidence\\.communication") == "续签了中石化年度框架协议"
    # Submitting with one competency left out: the error stands beside it, in Chinese, and the rest is kept.
    for c in COMPETENCIES:
        if c not in ("communication", "logical_analysis", "sales_management"):
            page.locator(f"label[for='rating.{c}-2']").click()
    page.click("#submit")
    page.wait_for_selector("#error-summary")
    assert "请为“销售业务管理”选择等级" in page.inner_text("#err-rating\\.sales_management")
    assert page.get_attribute("#rating\\.sales_management-1", "aria-invalid") == "true"
    assert page.is_checked("#rating\\.communication-3")
    page.locator("label[for='rating.sales_management-1']").click()
    page.click("#submit")
    page.wait_for_selector("#flash")
    assert page.url.endswith("/me") and "自评已提交" in page.inner_text("#flash")
    assert db_value(db_url, "SELECT rating FROM self_review_answer WHERE item_id = 'communication'") == 3
    assert db_value(db_url, "SELECT comment FROM self_review_answer WHERE item_id = 'communication'") == \
        "续签了中石化年度框架协议"
    assert db_value(db_url, "SELECT count(*) FROM task_draft") == 0
    page.context.close()


def test_a_customer_answers_the_survey_on_a_phone_in_english(live, db_url, web_org, browser):  # noqa: F811
    contact = web_org["contacts"]["K02"][0]
    with psycopg.connect(db_url) as conn:
        conn.execute("UPDATE customer_contact SET locale = 'en-US' WHERE id = %s", (contact,))
    cid = open_live_cycle(live, db_url, web_org)
    page = phone_page(browser)
    page.goto(survey_links(live, cid)[contact])
    page.wait_for_selector("#survey-form")
    assert page.get_attribute("html", "lang") == "en"
    assert "How satisfied are you with KAM K02?" in page.inner_text("h1")
    # NPS 0..10 as a row of buttons, every one big enough for a thumb, on at most two rows, no sideways scrolling.
    assert page.locator("#nps label.pill").count() == 11
    assert smallest_target(page, "#nps label.pill span") >= 44 and smallest_target(page, "#satisfaction label.pill span") >= 44
    rows = page.evaluate("() => new Set([...document.querySelectorAll('#nps label.pill')].map(e => e.offsetTop)).size")
    assert rows <= 2 and no_sideways_scroll(page)
    page.click("#send")  # nothing chosen: the message is beside the question
    page.wait_for_selector("#err-satisfaction")
    assert "please choose how satisfied you are" in page.inner_text("#err-satisfaction")
    page.locator("label[for='nps-9']").click()
    page.locator("label[for='satisfaction-5']").click()
    page.fill("#comment", "Quick answers, good follow-up")
    page.click("#send")
    page.wait_for_selector("#thanks")
    assert "Thank you!" in page.inner_text("#thanks")
    assert db_value(db_url, "SELECT nps FROM survey_response WHERE invitation_id = %s",
                    f"{cid}:K02:customer_survey:{contact}") == 9
    page.context.close()


@pytest.mark.skipif(not os.environ.get("KAMREVIEW_SHOTS"), reason="screenshots only with KAMREVIEW_SHOTS=<dir>")
def test_screenshots_of_the_forms(live, db_url, web_org, browser):  # noqa: F811
    out = Path(os.environ["KAMREVIEW_SHOTS"])
    out.mkdir(parents=True, exist_ok=True)
    cid = open_live_cycle(live, db_url, web_org)
    links = survey_links(live, cid)
    for lang in ("zh", "en"):
        for name, viewport in (("1280", DESK), ("390", PHONE)):
            chosen = "en" if lang == "en" else "zh-CN"
            page = phone_page(browser, live.url, chosen, viewport)
            page.goto(f"{live.url}/login")
            page.screenshot(path=str(out / f"login-{lang}-{name}.png"), full_page=True)
            sign_in(page, live.url, "K01")
            page.goto(f"{live.url}/me/reviews/{cid}")
            page.screenshot(path=str(out / f"self-review-{lang}-{name}.png"), full_page=True)
            page.locator("label[for='rating.communication-2']").click()
            page.fill("#kpi\\.sales_attainment", "x" * 4001)
            page.click("#submit")
            page.wait_for_selector("#error-summary")
            page.screenshot(path=str(out / f"self-review-errors-{lang}-{name}.png"), full_page=True)
            page.context.close()
            page = phone_page(browser, live.url, chosen, viewport)
            sign_in(page, live.url, "M1")
            page.goto(f"{live.url}/manager/reviews/{cid}/K01")
            page.screenshot(path=str(out / f"score-{lang}-{name}.png"), full_page=True)
            page.context.close()
            page = phone_page(browser, live.url, chosen, viewport)
            contact = web_org["contacts"]["K02"][0 if name == "1280" else 1]
            page.goto(links[contact])
            page.wait_for_selector("#survey-form")
            page.locator("label[for='nps-8']").click()
            page.screenshot(path=str(out / f"survey-{lang}-{name}.png"), full_page=True)
            page.context.close()


def test_a_kam_picks_peers_by_name_with_the_filter(live, db_url, web_org, browser):  # noqa: F811
    """The nomination is ticked from the colleagues' names (teammates first); typing narrows the list."""
    import uuid

    from services.cycles import create_cycle, start_cycle
    from tests.test_peer_feedback import peer_cycle

    cid = f"PWP{uuid.uuid4().hex[:8]}"
    config = peer_cycle(cid).model_dump(mode="json")
    config["peer_feedback"]["due_after"] = "600s"
    from domain.cycle import CycleConfig

    live.call(lambda c: create_cycle(db_url, CycleConfig.model_validate(config)))
    live.call(lambda c: start_cycle(c, db_url, cid, live.task_queue))
    wait_for(lambda: db_value(db_url, "SELECT count(*) FROM task WHERE cycle_id = %s AND kind = 'peer_nomination'",
                              cid) == len(web_org["kams"]))
    page = phone_page(browser, live.url, lang="en")
    sign_in(page, live.url, "K01")
    page.goto(f"{live.url}/me/peers/{cid}")
    page.wait_for_selector("#peer-picker")
    page.fill("#peer-filter", "nobody like this")
    assert page.is_visible("#peer-none")
    page.fill("#peer-filter", "")
    page.check("#peer-K03")
    page.fill("#peer-filter", "k02")
    visible = page.eval_on_selector_all("#peer-picker li:not([hidden]) input", "els => els.map(e => e.value)")
    assert visible == ["K03", "K02"]  # the match, and the one already ticked
    assert not page.is_visible("#peer-none")
    page.check("#peer-K02")
    page.check("#peer-K04")
    assert no_sideways_scroll(page)
    page.click("#nominate button")
    page.wait_for_selector("#flash")
    assert "sent to your manager" in page.inner_text("#flash")
    nominated = db_value(db_url, "SELECT string_agg(peer_id, ',' ORDER BY peer_id) FROM peer_nomination "
                                 "WHERE review_id = %s", f"{cid}:K01")
    assert nominated == "K02,K03,K04"
