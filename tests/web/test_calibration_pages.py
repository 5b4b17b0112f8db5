"""The calibration page and its finalize confirmation, in Chinese and English: names instead of ids, percentages
per locale, times in the cycle's zone, and finalizing only after a summary and a confirmation."""

from __future__ import annotations

import os
import re
import uuid
from html import unescape
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.helpers import count, eventually, ratings
from tests.web.calibration_world import calibration_cycle
from tests.web.helpers import db_value
from tests.web.test_browser import browser, page_for, sign_in  # noqa: F401 (fixtures)


def csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


async def _hr(web, lang: str):
    http = await web.login("HR1")
    http.cookies.set("kr_lang", lang)
    return http


async def test_the_page_names_people_and_links_them_in_both_languages(web):
    cid = await calibration_cycle(web.db_url, f"CP{uuid.uuid4().hex[:8]}")
    en = unescape((await (await _hr(web, "en")).get(f"/hr/cycles/{cid}/calibration")).text)
    # Names where ids were: the 9-box, the ratings (linked to the participant page), the managers, the adjustments.
    box = re.search(r'data-box="moderate/moderate">(.*?)</td>', en, re.S).group(1)
    assert "Core player" in box and "KAM K01" in box and "KAM K03" in box
    assert f'href="/hr/cycles/{cid}/participants/K01"' in en
    managers = re.search(r'id="managers">(.*?)</table>', en, re.S).group(1)
    assert "Manager M1" in managers and "Manager M2" in managers
    adjustments = re.search(r'id="adjustments">(.*?)</table>', en, re.S).group(1)
    assert "KAM K01" in adjustments and "Hannah HR" in adjustments and "10 Oct 2026, 10:30" in adjustments
    assert "3 Meets" in en  # the level names as the cycle configures them
    assert 'title="Not normalized: a team of 2 is smaller than 3 people."' in en  # how normalization treated it
    # 4 rated against the guideline 10/25/40/15/10 with a tolerance of 10 points: level 2 holds 25 % (1 of 4).
    assert "actual: 1 (25%)" in en and "Per manager" in en
    zh = unescape((await (await _hr(web, "zh-CN")).get(f"/hr/cycles/{cid}/calibration")).text)
    assert "校准" in zh and "九宫格（绩效 × 潜力）" in zh and "中坚骨干" in zh and "按经理统计" in zh
    assert "2026年10月10日 10:30" in zh and "实际：1 人（25%）" in zh and "Hannah HR" in zh
    assert 'title="未做标准化：团队仅 2 人，少于 3 人。"' in zh
    assert 'id="finalize-form"' in zh and 'method="get"' in zh  # finalizing starts with a summary, not a POST


async def test_flags_and_violations_read_as_sentences_in_both_languages(web):
    cid = await calibration_cycle(web.db_url, f"CV{uuid.uuid4().hex[:8]}")
    with psycopg.connect(web.db_url) as conn:  # teams of 2 count; K04 drops to level 1, which the guideline has 0 of
        conn.execute("""UPDATE review_cycle SET config = jsonb_set(config, '{calibration,min_team_size}', '2')
                        WHERE id = %s""", (cid,))
        conn.execute("UPDATE calibrated_rating SET final_level = 1 WHERE cycle_id = %s AND employee_id = 'K04'", (cid,))
    en = unescape((await (await _hr(web, "en")).get(f"/hr/cycles/{cid}/calibration")).text)
    m1 = re.search(r'data-manager="M1">(.*?)</tr>', en, re.S).group(1)
    assert "central tendency" in m1 and "Most of this team's ratings are at the middle level(s)." in m1
    m2 = re.search(r'data-manager="M2">(.*?)</tr>', en, re.S).group(1)
    assert ">-0.25<" in m2 and "badge" not in m2  # 0.25 below the mean is within the threshold of 0.5: no flag
    violations = re.search(r'<ul class="overdue" id="violations">(.*?)</ul>', en, re.S).group(1)
    assert ("Level 1 (Below): 1 of 4 rated (25%), the guideline is 0 (10%): +1 people, beyond the tolerance of "
            "10 percentage points.") in violations
    zh = unescape((await (await _hr(web, "zh-CN")).get(f"/hr/cycles/{cid}/calibration")).text)
    assert "趋中倾向" in zh and "该团队的评级大多集中在中间等级。" in zh
    assert "等级 1（Below）：4 名已评级人员中有 1 人（25%），指导人数为 0 人（10%），相差 +1 人，超出允许偏差 10 个百分点。" in zh


async def test_the_confirmation_summarizes_and_warns_before_finalizing(web):
    cid = await calibration_cycle(web.db_url, f"CF{uuid.uuid4().hex[:8]}")
    en = await _hr(web, "en")
    page = unescape((await en.get(f"/hr/cycles/{cid}/calibration/finalize")).text)
    assert "1 rating was adjusted." in page and "4 people have a final rating." in page
    assert "Everyone has a final rating." in page and "This cannot be undone." in page
    assert 'id="distribution-table"' in page and 'id="confirm-finalize"' in page and 'name="csrf_token"' in page
    zh = unescape((await (await _hr(web, "zh-CN")).get(f"/hr/cycles/{cid}/calibration/finalize")).text)
    assert "此操作无法撤销。" in zh and "已调整 1 人的评级。" in zh and "立即确认校准结果" in zh
    # Someone without a final rating: the summary names them and offers no button (finalizing would be refused).
    with psycopg.connect(web.db_url) as conn:
        conn.execute("UPDATE calibrated_rating SET final_level = NULL WHERE cycle_id = %s AND employee_id = 'K04'",
                     (cid,))
    page = unescape((await en.get(f"/hr/cycles/{cid}/calibration/finalize")).text)
    assert "Without a final rating: KAM K04" in page and 'id="confirm-finalize"' not in page
    assert "give them a level on the calibration page first" in page
    # Outside calibration there is nothing to confirm, and a way back.
    other = unescape((await en.get(f"/hr/cycles/{await web.open_cycle()}/calibration/finalize")).text)
    assert "nothing to finalize yet" in other and 'id="confirm-finalize"' not in other and "Calibration" in other


async def test_finalizing_through_the_confirmation_page(web):
    cid = await web.open_cycle()
    for k in web.org["kams"]:
        mgr = await web.login(web.org["manager_of"][k])
        assert (await mgr.post(f"/api/manager/reviews/{cid}/{k}/score",
                               json={"ratings": ratings(2), "potential": 2})).status_code == 200
        kam = await web.login(k)
        await kam.post(f"/api/me/reviews/{cid}/self-review", json={"ratings": ratings(2)})
    hr = await _hr(web, "zh-CN")
    anon = web.anon()
    for link in (await hr.post(f"/api/hr/cycles/{cid}/survey-links", json={})).json():
        await anon.post("/api/survey/answer", json={"token": link["url"].split("#")[1], "satisfaction": 4})

    async def calibrating() -> bool:
        return (await hr.get(f"/api/hr/cycles/{cid}")).json()["phase"] == "calibration"

    await eventually(calibrating)
    confirm = await hr.get(f"/hr/cycles/{cid}/calibration/finalize")
    assert confirm.status_code == 200 and "立即确认校准结果" in confirm.text
    r = await hr.post(f"/hr/cycles/{cid}/calibration/finalize", data={"csrf_token": csrf(confirm.text)})
    assert r.status_code == 303 and r.headers["location"] == f"/hr/cycles/{cid}/calibration"
    page = await hr.get(r.headers["location"])
    assert "校准结果已确认，正在计算绩效奖金和提成" in unescape(page.text) and 'id="finalized"' in page.text
    assert count(web.db_url, "SELECT count(*) FROM audit_log WHERE action = 'calibration.finalized' AND entity_id = %s",
                 cid) == 1
    again = unescape((await hr.get(f"/hr/cycles/{cid}/calibration/finalize")).text)
    assert "本周期的校准已确认完成" in again and 'id="confirm-finalize"' not in again
    # Without the form's token nothing happens.
    forged = await hr.post(f"/hr/cycles/{cid}/calibration/finalize", data={})
    assert forged.status_code == 403


# -- in a real browser (the fixtures of test_browser: Debian's Chromium through Playwright) -------------------------

SHOTS = os.environ.get("KAMREVIEW_SHOTS")  # a folder: save screenshots of each page, both languages, both widths


def _shoot(page: Any, name: str) -> None:
    if not SHOTS:
        return
    Path(SHOTS).mkdir(parents=True, exist_ok=True)
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=f"{SHOTS}/{name}-{width}.png", full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})


@pytest.mark.skipif(os.environ.get("KAMREVIEW_SKIP_BROWSER") == "1", reason="KAMREVIEW_SKIP_BROWSER=1")
def test_calibration_to_participant_in_chinese_and_english(live, db_url, web_org, page_for):  # noqa: F811
    cid = f"CB{uuid.uuid4().hex[:8]}"
    live.call(lambda c: calibration_cycle(db_url, cid))
    for lang in ("zh-CN", "en"):
        page = page_for()
        page.context.add_cookies([{"name": "kr_lang", "value": lang, "url": live.url}])
        sign_in(page, live.url, "HR1")
        page.goto(f"{live.url}/hr/cycles/{cid}/calibration")
        page.wait_for_selector("svg#distribution")
        zh = lang == "zh-CN"
        assert page.inner_text("h1").startswith("校准" if zh else "Calibration")
        assert page.get_attribute("html", "lang") == lang
        assert ("中坚骨干" if zh else "Core player") in page.inner_text("#ninebox td[data-box='moderate/moderate']")
        assert "Manager M2" in page.inner_text("#managers")
        _shoot(page, f"calibration-{lang}")
        page.click("#finalize-form button")
        page.wait_for_selector("#confirm-finalize")
        assert ("此操作无法撤销。" if zh else "This cannot be undone.") in page.inner_text("#irreversible")
        _shoot(page, f"finalize-{lang}")
        page.click("#confirm-finalize a")  # changed their mind: back, nothing finalized
        page.wait_for_selector("#ratings")
        page.click("#rating-K01 a[data-employee=K01]")
        page.wait_for_selector("#audit")
        assert "KAM K01" in page.inner_text("h1")
        csat = page.inner_text("#csat")
        assert ("95% 置信区间为 20.65% 至 100%。" if zh else "95% confidence interval 20.65% to 100%.") in csat
        assert ("2026年10月10日 10:30" if zh else "10 Oct 2026, 10:30") in page.inner_text("#adjustments")
        _shoot(page, f"participant-{lang}")
    assert db_value(db_url, "SELECT count(*) FROM calibrated_rating WHERE cycle_id = %s AND finalized", cid) == 0
    # The committee: M1 reads a report's page (no way into HR's calibration page from there).
    m1 = page_for()
    m1.context.add_cookies([{"name": "kr_lang", "value": "en", "url": live.url}])
    sign_in(m1, live.url, "M1")
    m1.goto(f"{live.url}/hr/cycles/{cid}/participants/K03")
    m1.wait_for_selector("#audit")
    assert "KAM K03" in m1.inner_text("h1") and m1.locator(f"a[href='/hr/cycles/{cid}/calibration']").count() == 0
