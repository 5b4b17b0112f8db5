"""Every message kind renders in both languages with business wording, local times and escaped HTML."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from domain.errors import DomainError
from notify.message import KINDS, LOCALES
from notify.render import render, resolve_locale

NOW = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)
DUE = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)  # 18:00 in Beijing
BASE = "https://review.example.com"
CYCLE = {"name": "王芳", "cycle_name": "2026年第三季度大客户经理考核", "cycle_id": "2026-Q3"}

# One representative parameter set per kind (the tables in docs/notifications.md).
SAMPLES: dict[str, dict] = {
    "task_assigned": {**CYCLE, "phase": "self_review", "due": DUE, "link": f"{BASE}/me/reviews/2026-Q3"},
    "reviews_assigned": {
        **CYCLE, "phase": "manager_scoring", "due": DUE.isoformat(), "link": f"{BASE}/manager",
        "reports": [{"name": "李雷", "link": f"{BASE}/manager/reviews/2026-Q3/K01"}, {"name": "韩梅梅"}],
    },
    "survey_invitation": {
        "name": "Zhang Wei", "company": "华东科技", "kam_name": "李雷", "account_name": "上海宝信",
        "link": f"{BASE}/survey#tok", "expires": DUE + timedelta(days=30), "minutes": 2,
    },
    "reminder": {**CYCLE, "phase": "manager_scoring", "due": DUE, "link": f"{BASE}/manager", "items": ["李雷", "韩梅梅"]},
    "deadline_extended": {**CYCLE, "phase": "manager_scoring", "missed_due": DUE, "due": DUE + timedelta(days=2),
                          "link": f"{BASE}/manager"},
    "deadline_missed": {**CYCLE, "phase": "self_review", "missed_due": DUE, "link": f"{BASE}/me"},
    "escalation": {**CYCLE, "phase": "manager_scoring", "late_name": "赵敏", "missed_due": DUE, "outcome": "extended",
                   "due": DUE + timedelta(days=2), "link": f"{BASE}/hr/cycles/2026-Q3"},
    "reviewer_assigned": {**CYCLE, "phase": "manager_scoring", "employee_name": "李雷", "previous_reviewer": "赵敏",
                          "due": DUE, "link": f"{BASE}/manager/reviews/2026-Q3/K01"},
    "goal_check_in_due": {"name": "李雷", "period": "2026-Q3", "quiet_days": 14, "link": f"{BASE}/me/goals?period=2026-Q3",
                          "items": ["重点客户收入（万元）", "新签重点客户数"]},
    "reviewer_unassigned": {**CYCLE, "employee_name": "李雷", "new_reviewer": "赵敏", "link": f"{BASE}/manager"},
    "review_ended": {**CYCLE, "employee_name": "李雷", "left_on": "2026-11-20", "scoring_ended": True,
                     "link": f"{BASE}/manager"},
    "calibration_opened": {**CYCLE, "review_count": 120, "link": f"{BASE}/hr/cycles/2026-Q3/calibration"},
    "calibration_finalized": {**CYCLE, "review_count": 120, "link": f"{BASE}/hr/cycles/2026-Q3/calibration"},
    "payouts_awaiting_approval": {**CYCLE, "line_count": 240, "link": f"{BASE}/payroll",
                                  "totals": {"CNY": Decimal("1234567.5"), "JPY": Decimal("980000")}},
    "results_released": {**CYCLE, "link": f"{BASE}/me/results/2026-Q3"},
    "account_invitation": {"name": "王芳", "username": "K01", "company": "华东科技", "link": f"{BASE}/password#tok",
                           "expires": DUE},
    "task_reopened": {**CYCLE, "phase": "manager_scoring", "employee_name": "李雷", "due": DUE,
                      "reason": "评分时误用了上季度的数据", "link": f"{BASE}/manager/reviews/2026-Q3/K01"},
    "password_reset": {"name": "王芳", "username": "K01", "company": "华东科技", "link": f"{BASE}/password#tok",
                       "expires": DUE},
}
# The customer's variant of the deadline kinds (a contact is written to as a customer).
CONTACT = {"name": "Zhang Wei", "company": "华东科技", "kam_name": "李雷", "link": f"{BASE}/survey#tok", "phase": "customer_survey"}
CONTACT_SAMPLES = {
    "reminder": {**CONTACT, "due": DUE},
    "deadline_extended": {**CONTACT, "missed_due": DUE, "due": DUE + timedelta(days=2)},
    "deadline_missed": {**{k: v for k, v in CONTACT.items() if k != "link"}, "missed_due": DUE},  # nothing to do
    "task_reopened": {**CONTACT, "due": DUE, "reason": "我们希望了解本季度第二次交付后的情况"},
}
URL = re.compile(r"https?://\S+")
IDENTIFIER = re.compile(r"\b[a-z]+_[a-z_]+\b")


def _all_cases() -> list[tuple[str, str, dict]]:
    cases = [(kind, locale, SAMPLES[kind]) for kind in KINDS for locale in LOCALES]
    cases += [(kind, locale, params) for kind, params in CONTACT_SAMPLES.items() for locale in LOCALES]
    return cases


def test_every_kind_has_a_sample() -> None:
    assert set(SAMPLES) == set(KINDS)


@pytest.mark.parametrize(("kind", "locale", "params"), _all_cases())
def test_renders_as_a_business_message(kind: str, locale: str, params: dict) -> None:
    r = render(kind, locale, params, "Asia/Shanghai", now=NOW)
    for part in (r.subject, r.text, r.html):
        assert part.strip()
        assert "{{" not in part and "{%" not in part and "None" not in part
        assert "UTC" not in part and "+00:00" not in part
        assert not IDENTIFIER.findall(URL.sub("", part)), part  # no snake_case such as self_review
    assert "\n" not in r.subject and len(r.subject) < 120
    if "link" in params:
        assert params["link"] in r.text and f'href="{params["link"]}"' in r.html
    assert params["name"] in r.text
    has_time = any(k in params for k in ("due", "missed_due", "expires"))
    if has_time and locale == "zh-CN":
        assert "（北京时间 Asia/Shanghai）" in r.text
    elif has_time:
        assert "(Asia/Shanghai)" in r.text
    if locale == "zh-CN":
        assert re.search(r"[\u4e00-\u9fff]", r.subject)
    else:
        assert r.subject.isascii() or any(v in r.subject for v in ("李雷", "赵敏", "华东科技", CYCLE["cycle_name"]))
    assert r.html.startswith("<!doctype html>") and f'lang="{locale}"' in r.html


def test_due_time_is_in_the_recipients_zone_with_the_zone_named() -> None:
    zh = render("task_assigned", "zh-CN", SAMPLES["task_assigned"], "Asia/Shanghai", now=NOW)
    assert "2026年12月3日 18:00（北京时间 Asia/Shanghai）" in zh.text
    assert "（还剩 3 天）" in zh.text
    assert zh.subject.startswith("请于12月3日前完成自评")
    en = render("task_assigned", "en", SAMPLES["task_assigned"], "Europe/Berlin", now=NOW)
    assert "3 Dec 2026, 11:00 (Europe/Berlin), 3 days from now" in en.text
    assert "self-review" in en.text
    # An ISO string is the same instant.
    iso = render("task_assigned", "en", {**SAMPLES["task_assigned"], "due": "2026-12-03T10:00:00Z"}, "Europe/Berlin", now=NOW)
    assert iso.text == en.text


def test_survey_invitation_says_who_it_is_about_how_long_and_until_when() -> None:
    zh = render("survey_invitation", "zh-CN", SAMPLES["survey_invitation"], "Asia/Shanghai", now=NOW)
    assert "尊敬的Zhang Wei，您好" in zh.text and "李雷" in zh.subject and "华东科技" in zh.subject
    assert "约需" in zh.text or "大约需要 2 分钟" in zh.text
    assert "有效期至 2027年1月2日 18:00（北京时间 Asia/Shanghai）" in zh.text
    en = render("survey_invitation", "en", SAMPLES["survey_invitation"], "Asia/Shanghai", now=NOW)
    assert "about 2 minutes" in en.text and "valid until 2 Jan 2027, 18:00 (Asia/Shanghai)" in en.text
    assert "李雷, your key account manager at 华东科技 for 上海宝信" in en.text


def test_reviews_assigned_lists_the_reports_with_their_links() -> None:
    r = render("reviews_assigned", "zh-CN", SAMPLES["reviews_assigned"], "Asia/Shanghai", now=NOW)
    assert "  · 李雷：https://review.example.com/manager/reviews/2026-Q3/K01\n  · 韩梅梅\n" in r.text
    assert '<a href="https://review.example.com/manager/reviews/2026-Q3/K01"' in r.html and "<li>韩梅梅</li>" in r.html
    en = render("reviews_assigned", "en", SAMPLES["reviews_assigned"], "Asia/Shanghai", now=NOW)
    assert "for 2 people by 3 Dec" in en.subject and "manager scoring for the 2 people below" in en.text


def test_payout_totals_have_grouping_and_the_currencys_minor_unit() -> None:
    zh = render("payouts_awaiting_approval", "zh-CN", SAMPLES["payouts_awaiting_approval"], "Asia/Shanghai", now=NOW)
    assert "共 240 条" in zh.text and "人民币 1,234,567.50 元" in zh.text and "JPY 980,000\n" in zh.text
    en = render("payouts_awaiting_approval", "en", SAMPLES["payouts_awaiting_approval"], "Asia/Shanghai", now=NOW)
    assert "Lines: 240" in en.text and "CNY 1,234,567.50" in en.text and "(240 lines)" in en.subject


def test_html_escapes_user_text_and_plain_text_keeps_it() -> None:
    params = {**SAMPLES["reviews_assigned"], "name": "<b>王</b>", "reports": [{"name": "<script>x</script>"}]}
    r = render("reviews_assigned", "zh-CN", params, "Asia/Shanghai", now=NOW)
    assert "&lt;b&gt;王&lt;/b&gt;" in r.html and "<b>王</b>" not in r.html
    assert "&lt;script&gt;" in r.html and "<script>" not in r.html
    assert r.text.startswith("<b>王</b>，您好")


def test_an_unknown_locale_falls_back_to_english() -> None:
    for locale in ("fr", "de-DE", "", "zh-TW"):
        assert render("results_released", locale, SAMPLES["results_released"], "Asia/Shanghai") == render(
            "results_released", "en", SAMPLES["results_released"], "Asia/Shanghai"
        )
    assert resolve_locale("zh_CN") == resolve_locale("zh") == "zh-CN"


def test_a_missing_parameter_is_a_clear_error() -> None:
    params = dict(SAMPLES["task_assigned"])
    del params["due"]
    with pytest.raises(DomainError, match="task_assigned message .*needs the parameter 'due'"):
        render("task_assigned", "en", params, "Asia/Shanghai")
    with pytest.raises(DomainError, match="kam_name"):  # the customer branch needs who it is about
        render("reminder", "zh-CN", {k: v for k, v in CONTACT_SAMPLES["reminder"].items() if k != "kam_name"}, "Asia/Shanghai")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"cycle_name": None}, "None"),
        ({"due": datetime(2026, 12, 3, 18, 0)}, "no time zone"),
        ({"due": "next Friday"}, "ISO 8601"),
    ],
)
def test_bad_values_are_refused_not_printed(change: dict, message: str) -> None:
    with pytest.raises(DomainError, match=message):
        render("task_assigned", "zh-CN", {**SAMPLES["task_assigned"], **change}, "Asia/Shanghai")


def test_unknown_kind_and_zone_are_refused() -> None:
    with pytest.raises(DomainError, match="unknown message kind"):
        render("birthday", "en", {}, "Asia/Shanghai")
    with pytest.raises(DomainError, match="not a time zone"):
        render("results_released", "en", SAMPLES["results_released"], "Mars/Olympus")


def test_punctuation_holds_for_names_ending_in_a_full_stop_and_for_optional_parameters() -> None:
    """A company such as "Huadong Tech Ltd." ends an English sentence once; a left-out count leaves a whole sentence."""
    ltd = {"company": "Huadong Tech Ltd.", "account_name": "Acme Trading Co., Ltd."}
    for kind, params in (("survey_invitation", {**SAMPLES["survey_invitation"], **ltd}),
                         ("reminder", {**CONTACT_SAMPLES["reminder"], **ltd})):
        for locale in LOCALES:
            r = render(kind, locale, params, "Asia/Shanghai", now=NOW)
            assert ".." not in r.text and ".." not in r.html and ".。" not in r.text
    en = render("survey_invitation", "en", {**SAMPLES["survey_invitation"], **ltd}, "Asia/Shanghai", now=NOW)
    assert "Thank you for working with Huadong Tech Ltd. To keep" in en.text
    zh = render("calibration_finalized", "zh-CN", {k: v for k, v in SAMPLES["calibration_finalized"].items()
                                                    if k != "review_count"}, "Asia/Shanghai", now=NOW)
    assert "的校准已完成，最终评级已确定。" in zh.text
    for kind, params in (*SAMPLES.items(), *CONTACT_SAMPLES.items()):
        text = render(kind, "zh-CN", params, "Asia/Shanghai", now=NOW).text
        assert "）（" not in text and not re.search(r"[ \t][，。：；！？）”]|。。", text), (kind, text)
