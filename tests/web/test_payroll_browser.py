"""Payroll approves in a real browser, in Chinese and in English; screenshots of the pages at 1280 and 390 px.

Screenshots go to /work/shots/payroll/ (or KAMREVIEW_SHOTS) for people to look at; the assertions are the test.
"""

from __future__ import annotations

import os
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from services.cycles import create_cycle, finalize_calibration, start_cycle
from tests.helpers import cycle_config
from tests.web.helpers import db_value, wait_for, workflow_phase
from tests.web.test_browser import browser, page_for, sign_in  # noqa: F401 - the browser fixtures, reused
from tests.web.test_payroll_approval import _config, _lines

pytestmark = pytest.mark.skipif(os.environ.get("KAMREVIEW_SKIP_BROWSER") == "1", reason="KAMREVIEW_SKIP_BROWSER=1")
SHOTS = Path(os.environ.get("KAMREVIEW_SHOTS", "/work/shots/payroll"))
WIDTHS = (1280, 390)


def _shoot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(SHOTS / f"{name}-{width}.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})


def _awaiting(live: Any, db_url: str) -> str:
    """A cycle whose reviews closed on short deadlines, finalized: its payouts await approval."""
    cid = f"PWPAY{uuid.uuid4().hex[:6]}"
    live.call(lambda c: create_cycle(db_url, cycle_config(cid, due="2s")))
    live.call(lambda c: start_cycle(c, db_url, cid, live.task_queue))
    return cid


def test_payroll_approves_in_chinese_and_in_english(live, db_url, web_org, page_for):  # noqa: F811
    # A locked previous quarter of the same plan, so the change per person shows.
    prev = f"PWQ2{uuid.uuid4().hex[:6]}"
    live.call(lambda c: create_cycle(db_url, _config(prev, "kam-incentive-2026", "2026-Q2", date(2026, 4, 1),
                                                      date(2026, 6, 30))))
    _lines(db_url, prev, [("K01", "bonus", "3000", "CNY"), ("K02", "bonus", "12500.5", "CNY"),
                          ("K03", "commission", "800", "CNY")], "locked")
    zh_cycle, en_cycle = _awaiting(live, db_url), _awaiting(live, db_url)
    for cid in (zh_cycle, en_cycle):
        wait_for(lambda cid=cid: workflow_phase(live, cid) == "calibration", timeout=90)
        live.call(lambda c, cid=cid: finalize_calibration(c, db_url, cid, "HR1"))
    for cid in (zh_cycle, en_cycle):
        wait_for(lambda cid=cid: workflow_phase(live, cid) == "awaiting_approval", timeout=90)

    hr = page_for()  # HR sees that payroll approves, not a button
    sign_in(hr, live.url, "HR1")
    hr.goto(f"{live.url}/hr/cycles/{zh_cycle}")
    assert hr.inner_text("#awaiting-payroll") == "待薪酬组审批发放" and hr.locator("#review-payouts").count() == 0
    _shoot(hr, "hr-dashboard-zh")
    hr.context.add_cookies([{"name": "kr_lang", "value": "en", "url": live.url}])
    hr.goto(f"{live.url}/hr/cycles/{en_cycle}")
    assert hr.inner_text("#awaiting-payroll") == "Awaiting payroll approval"
    _shoot(hr, "hr-dashboard-en")

    zh = page_for()  # PAY1 reads Chinese (employees default to zh-CN)
    sign_in(zh, live.url, "PAY1")
    assert zh.inner_text("#awaiting").count("核对并审批") == 2
    _shoot(zh, "payroll-home-zh")
    zh.click(f"#awaiting a[href='/payroll/cycles/{zh_cycle}/approval']")
    zh.wait_for_selector("#approve-form")
    lines = db_value(db_url, "SELECT count(*) FROM payout_line WHERE cycle_id = %s AND status = 'computed'", zh_cycle)
    assert zh.locator("#lines tbody tr").count() == lines
    assert zh.locator("#people tbody tr").count() == len(web_org["kams"])
    assert "同一激励方案的上一考核周期" in zh.inner_text("#previous-cycle")
    assert zh.inner_text("#person-K04 td.previous") == "上期未发放"  # K04 was not paid in the previous quarter
    assert zh.inner_text("#summary") == f"您即将审批 {len(web_org['kams'])} 人的 {lines} 条发放明细。"
    assert zh.inner_text("#summary-total").startswith("合计：¥")
    _shoot(zh, "approval-zh")
    zh.click("#approve")
    zh.wait_for_selector("#flash")
    assert zh.url.endswith(f"/payroll/statements/{zh_cycle}")
    assert f"已审批并锁定 {lines} 条发放明细" in zh.inner_text("#flash")
    _shoot(zh, "statement-zh")

    en = page_for()
    en.context.add_cookies([{"name": "kr_lang", "value": "en", "url": live.url}])
    sign_in(en, live.url, "PAY1")
    assert en.locator("#awaiting tbody tr").count() == 1  # the Chinese approval is done
    _shoot(en, "payroll-home-en")
    en.click(f"#awaiting a[href='/payroll/cycles/{en_cycle}/approval']")
    en.wait_for_selector("#approve-form")
    assert "Compared with" in en.inner_text("#previous-cycle")
    assert en.inner_text("#person-K04 td.previous") == "not paid then"
    assert en.inner_text("#summary-total").startswith("Total: CN¥")
    _shoot(en, "approval-en")
    en.click("#approve")
    en.wait_for_selector("#flash")
    assert f"{lines} payout lines approved and locked for payroll" in en.inner_text("#flash")
    _shoot(en, "statement-en")
    en.goto(f"{live.url}/payroll/cycles/{en_cycle}/approval")  # after approval: who approved, and the statement
    assert "approved by PAY1" in en.inner_text("#already-approved")
    assert db_value(db_url, "SELECT count(*) FROM audit_log WHERE action = 'payouts.approved'") == 2
