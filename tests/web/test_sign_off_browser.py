"""Reopen and sign-off in real headless Chromium, in Chinese and in English (screenshots with KR_SHOTS=<dir>)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

from services import tasks
from tests.helpers import ratings
from tests.web.helpers import db_value, open_live_cycle
from tests.web.test_browser import browser, page_for, pytestmark, sign_in  # noqa: F401 - the fixtures, the skip mark
from tests.web.test_permissions import released_cycle
from workflows.payloads import SelfReviewSubmission

SHOTS = Path(os.environ["KR_SHOTS"]) if os.environ.get("KR_SHOTS") else None


def shot(page: Any, name: str) -> None:
    if SHOTS is not None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_manager_records_the_conversation_kam_disagrees_hr_sees_it(live, db_url, web_org, page_for):  # noqa: F811
    cid = f"SB{uuid.uuid4().hex[:8]}"
    live.call(lambda c: released_cycle(db_url, cid))
    # The manager, in English: K01 and K03 are theirs; the conversation date is saved.
    manager = page_for(live.url)
    sign_in(manager, live.url, "M1")
    manager.goto(f"{live.url}/manager/results/{cid}")
    assert manager.locator("#team tr[data-employee]").count() == 2
    manager.click("#team tr[data-employee=K01] button")
    manager.wait_for_selector("#flash")
    assert "the results conversation with KAM K01 is recorded" in manager.inner_text("#flash")
    shot(manager, "manager-results-conversations-en")
    # The KAM, in Chinese (the default): the conversation shows; a disagreement without a comment is refused.
    kam = page_for()
    sign_in(kam, live.url, "K01")
    kam.goto(f"{live.url}/me/results/{cid}")
    assert "绩效面谈" in kam.inner_text("#sign-off-title")
    assert "完成绩效面谈" in kam.inner_text("#conversation")
    kam.check("#response-disagree")
    kam.click("#respond button")
    kam.wait_for_selector("#form-error")
    assert "提出异议时请填写意见" in kam.inner_text("#form-error")
    kam.check("#response-disagree")
    kam.fill("#response-comment", "客户流失是因为产品停产")
    kam.click("#respond button")
    kam.wait_for_selector("#flash")
    assert "您的异议已记录" in kam.inner_text("#flash")
    assert "已提出异议" in kam.inner_text("#response")
    shot(kam, "kam-results-disagreed-zh")
    # K03 acknowledges through the page too.
    other = page_for(live.url)
    sign_in(other, live.url, "K03")
    other.goto(f"{live.url}/me/results/{cid}")
    assert "Results conversation and acknowledgment" in other.inner_text("#sign-off-title")
    other.click("#respond button")
    other.wait_for_selector("#flash")
    assert "your acknowledgment is recorded" in other.inner_text("#flash")
    # HR, in both languages: counts on the dashboard and the list of disagreements.
    for english, label in ((False, "有异议"), (True, "disagreed")):
        hr = page_for(live.url if english else None)
        sign_in(hr, live.url, "HR1")
        hr.goto(f"{live.url}/hr/cycles/{cid}")
        assert label in hr.inner_text("#sign-off-summary")
        hr.goto(f"{live.url}/hr/cycles/{cid}/sign-off")
        counts = {c: hr.inner_text(f"#sign-off-counts [data-count={c}]") for c in
                  ("held", "acknowledged", "disagreed", "pending")}
        assert counts == {"held": "1", "acknowledged": "1", "disagreed": "1", "pending": "2"}
        assert "客户流失是因为产品停产" in hr.inner_text("#disagreements tr[data-employee=K01]")
        shot(hr, f"hr-sign-off-{'en' if english else 'zh'}")
    assert db_value(db_url, "SELECT response FROM results_acknowledgment WHERE review_id = %s", f"{cid}:K01") == "disagreed"


def test_hr_reopens_a_self_review_on_the_participant_page(live, db_url, web_org, page_for):  # noqa: F811
    cid = open_live_cycle(live, db_url, web_org)
    live.call(lambda c: tasks.submit_self_review(c, db_url, cid, SelfReviewSubmission("K01", ratings(2))))
    for english in (False, True):
        page = page_for(live.url if english else None)
        sign_in(page, live.url, "HR1")
        page.goto(f"{live.url}/hr/cycles/{cid}/participants/K01")
        page.wait_for_selector("#reopen")
        if not english:
            # Without a reason (the browser's own check taken away, as a script could): refused, in Chinese.
            page.evaluate("document.getElementById('reopen-reason').removeAttribute('required')")
            page.click("#reopen button")
            page.wait_for_selector("#form-error")
            assert "重新开放任务必须填写原因" in page.inner_text("#form-error")
            shot(page, "hr-reopen-refused-zh")
            continue
        page.select_option("#reopen-task", "self_review")
        page.fill("#reopen-reason", "Please add evidence for the Sinopec renewal")
        page.click("#reopen button")
        page.wait_for_selector("#flash")
        assert "reopened; the person has been told" in page.inner_text("#flash")
        assert "self-review reopened by HR" in page.inner_text("#audit")
        assert page.locator("#versions tr[data-task]").count() == 1
        shot(page, "hr-participant-reopened-en")
    assert db_value(db_url, "SELECT status || ':' || version FROM task WHERE id = %s", f"{cid}:K01:self_review") == "open:2"
    assert db_value(db_url, "SELECT count(*) FROM notification WHERE kind = 'task_reopened' AND recipient_id = 'K01'") >= 1
