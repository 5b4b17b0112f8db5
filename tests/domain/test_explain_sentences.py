"""Score and payout lines as sentences: the figures a KAM reads are the structured line's, in both languages."""

from __future__ import annotations

import re
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.incentives import IncentiveInput, compute_payouts, delta_lines
from domain.scoring import ReviewInputs, SurveyAnswer, preliminary_score
from domain.sentences import (
    measure_texts,
    payout_line_text,
    rating_label_text,
    score_line_text,
    score_total_text,
)
from domain.text import Text
from i18n import Formatter
from tests.helpers import cycle_config, ratings

D = Decimal
CONFIG = cycle_config("S1")
SCORECARD, PLAN = CONFIG.scorecard, CONFIG.incentive_plan
EN, ZH = Formatter("en"), Formatter("zh-CN")
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]|%\(|\)s\b")

ratios = st.decimals(min_value=D("0"), max_value=D("2.5"), places=6, allow_nan=False, allow_infinity=False)
levels = st.integers(min_value=1, max_value=3)


def shown_pct(ratio: Decimal) -> str:
    """What a reader must see for a ratio: percent rounded half up to 0.1, grouped, no trailing .0."""
    q = (ratio * 100).quantize(D("0.1"), rounding=ROUND_HALF_UP)
    text = f"{q:,.1f}"
    return (text[:-2] if text.endswith(".0") else text) + "%"


def both(text: Text) -> tuple[str, str]:
    en, zh = EN.text(text), ZH.text(text)
    for rendered in (en, zh, str(text)):
        assert not PLACEHOLDER.search(rendered), rendered
    return en, zh


def test_a_kpi_line_reads_as_a_sentence_with_the_configured_names() -> None:
    result = preliminary_score(SCORECARD, ReviewInputs(kpi_actuals={"sales_attainment": D("0.675")},
                                                       manager_ratings=ratings(2)))
    sales = next(ln for ln in result.lines if ln.item == "sales_attainment")
    en, zh = both(score_line_text(sales, SCORECARD, result.csat))
    assert en == f"Sales target attainment: 67.5% of target → score 1 of 5, weight {shown_pct(sales.weight_pct / 100)}"
    assert zh.startswith("销售目标达成率：完成目标的 67.5% → 得分 1（满分 5），权重 ")
    assert "curve" not in en and "HALF_UP" not in en
    comm = next(ln for ln in result.lines if ln.item == "communication")
    en, zh = both(score_line_text(comm, SCORECARD, result.csat))
    assert en.startswith("Communication & expression: manager's rating 2 of 3 → score 3 of 5")
    assert zh.startswith("沟通表达能力：上级评分 2（满分 3）→ 得分 3（满分 5）")


def test_csat_line_says_how_many_customers_were_satisfied() -> None:
    answers = [SurveyAnswer(account_id="A", satisfaction=s) for s in (5, 4, 3)]
    result = preliminary_score(SCORECARD, ReviewInputs(manager_ratings=ratings(2), survey=answers))
    line = next(ln for ln in result.lines if ln.component == "csat")
    en, zh = both(score_line_text(line, SCORECARD, result.csat))
    assert "66.7% of customers satisfied (2 of 3 answers rated 4 or 5)" in en
    assert "66.7% 的客户表示满意（3 份回答中有 2 份评为 4 分或 5 分）" in zh


def test_total_and_rating_label_in_both_languages() -> None:
    assert both(score_total_text(D("3.4500"), SCORECARD)) == ("3.45 of 5", "3.45（满分 5）")
    assert both(rating_label_text("Exceeds")) == ("Exceeds", "超出预期")
    assert both(rating_label_text("Sterling")) == ("Sterling", "Sterling")  # a label HR made up: as configured


@settings(max_examples=60, deadline=None)
@given(sales=ratios, acquisition=ratios, retention=ratios, complaints=st.decimals(min_value=D(0), max_value=D("0.1"),
       places=4), level=levels)
def test_score_sentences_show_the_lines_rounded_figures(sales, acquisition, retention, complaints, level) -> None:
    inputs = ReviewInputs(kpi_actuals={"sales_attainment": sales, "new_customer_acquisition": acquisition,
                                       "customer_retention": retention, "complaint_rate": complaints},
                          manager_ratings=ratings(level))
    result = preliminary_score(SCORECARD, inputs)
    for line in result.lines:
        en, zh = both(score_line_text(line, SCORECARD, result.csat))
        weight = shown_pct(line.weight_pct / 100)
        score = line.item_score.quantize(D("0.01"), rounding=ROUND_HALF_UP).normalize()
        for rendered in (en, zh):
            assert rendered.endswith(weight), rendered
            assert f" {score:f}" in rendered, rendered
        if line.component == "kpis":
            assert line.actual is not None
            assert f": {shown_pct(line.actual)}" in en and shown_pct(line.actual) in zh
        assert en != zh


@settings(max_examples=60, deadline=None)
@given(sales=ratios, acquisition=ratios, retention=ratios, level=st.integers(min_value=1, max_value=5),
       revenue=st.decimals(min_value=D(0), max_value=D("5000000"), places=2), start_day=st.integers(1, 92))
def test_payout_sentences_end_in_the_lines_amount(sales, acquisition, retention, level, revenue, start_day) -> None:
    start = date.fromordinal(date(2026, 7, 1).toordinal() + start_day - 1)
    inp = IncentiveInput(employee_id="K1", grade="K2", currency="CNY", rating_level=level, revenue=revenue,
                         attainment={"sales_attainment": sales, "customer_retention": retention,
                                     "new_customer_acquisition": acquisition}, employment_start=start)
    lines = compute_payouts(PLAN, date(2026, 7, 1), date(2026, 9, 30), "S1", [inp])
    assert {ln.line_type for ln in lines} == {"bonus", "commission"}
    for line in lines:
        text = payout_line_text(line.line_type, line.amount, line.currency, line.inputs, "Exceeds")
        en, zh = both(text)
        amount = line.amount.quantize(D("0.01"), rounding=ROUND_HALF_UP)
        if line.inputs.get("gate") == "closed":
            assert en.startswith(f"Bonus: CN¥{amount:,}, because") and zh.startswith(f"绩效奖金：¥{amount:,}，"), en
        else:
            assert en.endswith(f"= CN¥{amount:,}") and zh.endswith(f"= ¥{amount:,}"), (en, zh)
        assert "HALF_UP" not in en and "rounded" not in en
        if line.line_type == "bonus" and line.inputs.get("gate") != "closed":
            assert "target bonus CN¥30,000.00" in en and "目标奖金 ¥30,000.00" in zh
            assert f"KPI payout {shown_pct(D(line.inputs['measure_factor']))}" in en
            assert ("days employed" in en) == (line.inputs["days"] != line.inputs["period_days"])
        for measure in measure_texts(line.inputs, SCORECARD):
            m_en, _ = both(measure)
            assert re.search(r"\d%", m_en)


def test_marginal_commission_shows_each_slice_and_a_closed_gate_says_why() -> None:
    inp = IncentiveInput(employee_id="K1", grade="K2", currency="CNY", rating_level=4, revenue=D("1200000"),
                         attainment={"sales_attainment": D("0.3"), "customer_retention": D("0.3"),
                                     "new_customer_acquisition": D("0.3")})
    bonus, commission = compute_payouts(PLAN, date(2026, 7, 1), date(2026, 9, 30), "S1", [inp])
    en, zh = both(payout_line_text(commission.line_type, commission.amount, "CNY", commission.inputs))
    assert en == ("Commission: revenue CN¥1,200,000.00, each part at its tier's rate: CN¥500,000.00 × 0.2% + "
                  "CN¥700,000.00 × 0.4% = CN¥3,800.00")
    assert zh.startswith("提成：收入 ¥1,200,000.00，各段按所在档位的提成比例计算：")
    en, zh = both(payout_line_text(bonus.line_type, bonus.amount, "CNY", bonus.inputs))
    assert en == ("Bonus: CN¥0.00, because the weighted attainment 30% is below what the plan needs for a bonus")
    assert "发放门槛" in zh


def test_a_correction_line_says_what_it_corrects() -> None:
    inp = IncentiveInput(employee_id="K1", grade="K2", currency="CNY", rating_level=4,
                         attainment={"sales_attainment": D(1), "customer_retention": D(1),
                                     "new_customer_acquisition": D(1)})
    (locked,) = compute_payouts(PLAN, date(2026, 7, 1), date(2026, 9, 30), "S1", [inp])
    (now,) = compute_payouts(PLAN, date(2026, 7, 1), date(2026, 9, 30), "S1", [inp.model_copy(update={"rating_level": 5})])
    (delta,) = delta_lines([now], [locked], 1)
    en, zh = both(payout_line_text(delta.line_type, delta.amount, delta.currency, delta.inputs))
    assert en.startswith("Correction to the bonus: recalculated CN¥") and en.endswith(f"= CN¥{delta.amount:,}")
    assert zh.startswith("绩效奖金更正：重新计算 ¥")


def test_the_engines_exact_explanations_are_unchanged() -> None:
    inp = IncentiveInput(employee_id="K1", grade="K2", currency="CNY", rating_level=4,
                         attainment={"sales_attainment": D("1.1"), "customer_retention": D(1),
                                     "new_customer_acquisition": D(1)})
    (line,) = compute_payouts(PLAN, date(2026, 7, 1), date(2026, 9, 30), "S1", [inp])
    assert "sales_attainment 60 % × 1.2 (attainment 1.1 on curve (0.8→0, 1→1, 1.5→2)" in line.explanation
    assert "HALF_UP" in line.explanation  # the exact figures stay for HR, payroll and the CLI


def test_configured_names_weighted_self_ratings_and_a_neutral_csat() -> None:
    data = CONFIG.scorecard.model_dump(mode="json")
    data["kpis"][0] |= {"label_en": "Revenue vs plan", "label_zh": "收入计划完成率"}
    data["competencies"]["combine"] = {"mode": "weighted", "self": 20, "manager": 80}
    data["csat"]["below_minimum"] = {"policy": "neutral", "value": 3}
    scorecard = type(CONFIG.scorecard).model_validate(data)
    result = preliminary_score(scorecard, ReviewInputs(
        kpi_actuals={"sales_attainment": D("1.2")}, manager_ratings=ratings(2), self_ratings=ratings(3),
        survey=[SurveyAnswer(account_id="A", satisfaction=5)]))
    texts = {ln.item: both(score_line_text(ln, scorecard, result.csat)) for ln in result.lines}
    assert texts["sales_attainment"][0].startswith("Revenue vs plan: 120% of target → score 5 of 5")
    assert texts["sales_attainment"][1].startswith("收入计划完成率：完成目标的 120% → 得分 5（满分 5）")
    assert texts["communication"][0].startswith(
        "Communication & expression: manager's rating 2 and self-rating 3 give level 2.2 of 3 → score 3.4 of 5")
    assert texts["csat"][0].startswith("Customer satisfaction (CSAT): only 1 of the 2 answers needed → neutral score 3")
    assert texts["csat"][1].startswith("客户满意度：仅收到 1 份回答（至少需要 2 份）→ 按中性分 3 计")
