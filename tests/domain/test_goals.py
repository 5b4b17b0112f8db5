"""Goal attainment, "linear to target, capped": properties of the rule and the goals scorecard component."""

from __future__ import annotations

from decimal import Decimal as D
from decimal import localcontext

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from domain.errors import DomainError
from domain.goals import (
    KeyResultIn,
    KeyResultProgress,
    ObjectiveProgress,
    goals_attainment,
    key_result_attainment,
)
from domain.money import calc_context
from domain.scorecard import Scorecard, default_scorecard
from domain.scoring import ReviewInputs, preliminary_score
from domain.sentences import score_line_text

values = st.decimals(min_value=-10**6, max_value=10**6, places=3, allow_nan=False, allow_infinity=False)
caps = st.sampled_from([D(1), D("1.2"), D("1.5"), D(2)])


def kr(start, target, current, weight=D(1), kid="k"):
    return KeyResultProgress(kid, kid, start, target, current, weight)


@given(values, values, values, values, caps)
def test_attainment_is_monotone_in_progress(start, target, a, b, cap):
    if start == target:
        return
    low, high = sorted((a, b)) if target > start else sorted((a, b), reverse=True)
    # "More progress" is towards the target: higher values when it is above the start, lower when below.
    assert key_result_attainment(kr(start, target, low), cap).attainment <= key_result_attainment(
        kr(start, target, high), cap).attainment


@given(values, values, values, caps)
def test_attainment_is_capped_between_zero_and_the_cap(start, target, current, cap):
    if start == target:
        return
    assert D(0) <= key_result_attainment(kr(start, target, current), cap).attainment <= cap


@given(values, values, caps)
def test_start_is_zero_target_is_one_and_no_progress_counts_as_start(start, target, cap):
    if start == target:
        return
    assert key_result_attainment(kr(start, target, start), cap).attainment == 0
    assert key_result_attainment(kr(start, target, target), cap).attainment == 1
    assert key_result_attainment(kr(start, target, None), cap).attainment == 0


@given(st.lists(st.tuples(st.decimals(min_value=0, max_value=1, places=4), st.integers(1, 10)), min_size=1, max_size=6))
def test_overall_is_the_weighted_mean_and_lies_between_the_objectives(parts):
    objectives = [ObjectiveProgress(str(i), "o", (kr(D(0), D(1), a),), D(w)) for i, (a, w) in enumerate(parts)]
    result = goals_attainment(objectives)
    with localcontext(calc_context()):
        expected = sum(a * w for a, w in parts) / sum(D(w) for _, w in parts)
    assert result.attainment == expected
    assert min(a for a, _ in parts) <= result.attainment <= max(a for a, _ in parts)


def test_a_worked_example_both_directions_and_exact():
    revenue = kr(D(0), D(3_000_000), D(2_250_000), D(2), "revenue")  # 0.75
    complaints = kr(D("0.03"), D("0.01"), D("0.015"), D(1), "complaints")  # fell 3 % → 1.5 %: 0.75
    accounts = kr(D(0), D(4), D(6), D(1), "accounts")  # 6 of 4: capped at 1
    result = goals_attainment([ObjectiveProgress("grow", "Grow", (revenue, complaints), D(3)),
                               ObjectiveProgress("win", "Win", (accounts,), D(1))])
    assert [o.attainment for o in result.objectives] == [D("0.75"), D(1)]
    assert result.attainment == D("0.8125")  # (3 × 0.75 + 1 × 1) / 4
    assert "capped to 1" in result.explanation
    third = goals_attainment([ObjectiveProgress("o", "o", (kr(D(0), D(3), D(1)),))])
    assert third.attainment * 3 == 1  # exact context: 1/3 is not a float


def test_bad_inputs_name_the_field():
    with pytest.raises(DomainError, match="target"):
        key_result_attainment(kr(D(1), D(1), D(1)))
    with pytest.raises(DomainError, match="cap"):
        key_result_attainment(kr(D(0), D(1), D(1)), D(0))
    with pytest.raises(ValidationError, match="target_value"):
        KeyResultIn(metric="Revenue", unit="CNY", start_value=5, target_value=5, due_date="2026-09-30")
    with pytest.raises(ValidationError, match="metric"):
        KeyResultIn(metric="", unit="CNY", start_value=0, target_value=5, due_date="2026-09-30")


def with_goals(weights: dict, **extra) -> Scorecard:
    data = default_scorecard().model_dump(mode="json")
    data["component_weights"] = weights
    data.update(extra)
    return Scorecard.model_validate(data)


def test_a_scorecard_without_goals_serializes_as_before():
    data = default_scorecard().model_dump(mode="json")
    assert "goals" not in data and "goals" not in data["component_weights"]
    again = Scorecard.model_validate(data)
    assert again == default_scorecard() and again.model_dump(mode="json") == data


def test_component_weights_with_goals_still_sum_to_100():
    with pytest.raises(ValidationError, match="must be exactly 100"):
        with_goals({"kpis": 60, "competencies": 25, "csat": 15, "goals": 10})
    card = with_goals({"kpis": 50, "competencies": 25, "csat": 15, "goals": 10}, goals={"cap": "1.2"})
    assert card.component_weights.goals == 10 and card.goals_section().cap == D("1.2")
    with pytest.raises(ValidationError, match="cap"):
        with_goals({"kpis": 50, "competencies": 25, "csat": 15, "goals": 10}, goals={"cap": 0})


def test_goals_component_contributes_and_is_explained():
    card = with_goals({"kpis": 50, "competencies": 25, "csat": 15, "goals": 10})
    goals = (ObjectiveProgress("1", "Grow key accounts", (kr(D(0), D(100), D(50), kid="Revenue"),)),)
    without = preliminary_score(card, ReviewInputs(kpi_actuals={"sales_attainment": D(1)}))
    result = preliminary_score(card, ReviewInputs(kpi_actuals={"sales_attainment": D(1)}, goals=goals))
    line = next(line for line in result.lines if line.component == "goals")
    assert line.actual == D("0.5") and line.item_score == 3  # 1 + 0.5 × (5 − 1)
    assert line.weight_pct == D("16.6667")  # 10 of the 60 that have inputs
    assert "(50 − 0) / (100 − 0) = 0.5" in line.explanation
    assert "goals" in without.missing and "goals" not in result.missing
    assert result.score == D(3)  # 3 and 3
    text = score_line_text(line, card)
    assert "50" in str(text) and "weight" in str(text)


def test_no_goals_weight_scores_exactly_as_before():
    card = default_scorecard()
    goals = (ObjectiveProgress("1", "o", (kr(D(0), D(1), D(1)),)),)
    inputs = ReviewInputs(kpi_actuals={"sales_attainment": D("1.1")}, manager_ratings={"communication": 3})
    assert preliminary_score(card, inputs) == preliminary_score(card, inputs.model_copy(update={"goals": goals}))
