"""Scoring: CSAT/NPS golden values, the preliminary score and how missing parts renormalize."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.errors import DomainError
from domain.scorecard import Scorecard, default_scorecard
from domain.scoring import ReviewInputs, SurveyAnswer, csat, preliminary_score

D = Decimal


def answers(counts: dict[int, int], nps: list[int] | None = None) -> list[SurveyAnswer]:
    out = [SurveyAnswer(account_id=f"A{s}", satisfaction=s) for s, c in counts.items() for _ in range(c)]
    if nps is not None:
        out = [a.model_copy(update={"nps": n}) for a, n in zip(out, nps, strict=True)]
    return out


PUBLIC_CSAT = {5: 42, 4: 32, 3: 10, 2: 9, 1: 14}


def test_csat_public_example() -> None:
    result = csat(answers(PUBLIC_CSAT))
    assert (result.responses, result.satisfied) == (107, 74)
    assert result.csat_pct == D("69.16")
    assert (result.ci_low, result.ci_high) == (D("59.87"), D("77.12"))  # Wilson 95 %
    assert result.nps is None


def test_nps_public_example() -> None:
    # 30 % promoters (9-10), 20 % detractors (0-6), 50 % passives → +10
    result = csat(answers({5: 3, 4: 5, 2: 2}, nps=[9, 10, 9, 7, 8, 7, 8, 7, 0, 6]))
    assert result.nps == D(10)
    assert result.nps_responses == 10


@pytest.mark.parametrize(
    ("counts", "pct"),
    [({5: 1}, "100.00"), ({3: 4}, "0.00"), ({4: 1, 3: 2}, "33.33"), ({4: 2, 1: 1}, "66.67"), ({5: 1, 1: 7}, "12.50")],
)
def test_csat_percent_table(counts: dict[int, int], pct: str) -> None:
    assert csat(answers(counts)).csat_pct == D(pct)


def test_csat_revenue_weighted() -> None:
    survey = [
        SurveyAnswer(account_id="big", satisfaction=5, nps=10, account_revenue=D(300)),
        SurveyAnswer(account_id="small", satisfaction=2, nps=3, account_revenue=D(100)),
    ]
    plain = csat(survey)
    weighted = csat(survey, revenue_weighted=True)
    assert plain.csat_pct == D("50.00") and plain.nps == D(0)
    assert weighted.weighted and weighted.csat_pct == D("75.00") and weighted.nps == D(50)


def test_csat_revenue_weighting_needs_every_revenue() -> None:
    survey = [SurveyAnswer(account_id="a", satisfaction=5, account_revenue=D(10)),
              SurveyAnswer(account_id="b", satisfaction=1)]
    result = csat(survey, revenue_weighted=True)
    assert not result.weighted and result.csat_pct == D("50.00")
    assert "revenue weighting skipped" in result.notes[0]


def test_csat_empty_and_low_sample() -> None:
    empty = csat([], min_responses=3)
    assert empty.csat_pct is None and empty.responses == 0 and empty.below_minimum
    assert csat(answers({5: 2}), min_responses=3).below_minimum
    assert not csat(answers({5: 3}), min_responses=3).below_minimum


@pytest.mark.parametrize("field", [{"satisfaction": 0}, {"satisfaction": 6}, {"nps": 11}, {"nps": -1},
                                   {"account_revenue": -5}])
def test_survey_answer_ranges(field: dict[str, int]) -> None:
    with pytest.raises(ValueError, match=next(iter(field))):
        SurveyAnswer.model_validate({"account_id": "a", "satisfaction": 4, **field})


def card(**overrides: Any) -> Scorecard:
    """Components 50/30/20; KPIs sales 50 / new customers 30 / complaints 20; two competencies 50/50."""
    cfg: dict[str, Any] = {
        "rating_scale": {"min": 1, "max": 5, "decimals": 2},
        "component_weights": {"kpis": 50, "competencies": 30, "csat": 20},
        "kpis": [
            {"id": "sales_attainment", "weight": 50, "rule": {"type": "curve", "points": [[0.8, 1], [1.0, 3], [1.2, 5]]}},
            {"id": "new_customer_acquisition", "weight": 30,
             "rule": {"type": "curve", "points": [[0.5, 1], [1.0, 3], [1.5, 5]]}},
            {"id": "complaint_rate", "weight": 20, "rule": {"type": "bands", "bands": [
                {"min": 0, "max": 0.01, "score": 5}, {"min": 0.01, "max": 0.03, "score": 3}, {"min": 0.03, "score": 1}]}},
        ],
        "competencies": {"scale": {"min": 1, "max": 3}, "combine": {"mode": "manager_only"}, "items": [
            {"id": "communication", "label_en": "Communication & expression", "label_zh": "沟通表达能力", "weight": 50},
            {"id": "customer_relationship", "label_en": "Customer relationship management", "label_zh": "客户关系管理",
             "weight": 50},
        ]},
        "csat": {"rule": {"type": "curve", "points": [[50, 1], [80, 3], [95, 5]]}, "min_responses": 3,
                 "below_minimum": {"policy": "drop"}},
    }
    for path, value in overrides.items():
        node = cfg
        keys = path.split("__")
        for key in keys[:-1]:
            node = node[key]
        node[keys[-1]] = value
    return Scorecard.model_validate(copy.deepcopy(cfg))


FULL = {
    "kpi_actuals": {"sales_attainment": D("0.9"), "new_customer_acquisition": D("1.25"), "complaint_rate": D("0.005")},
    "manager_ratings": {"communication": 2, "customer_relationship": 3},
    "self_ratings": {"communication": 3},
    "survey": answers(PUBLIC_CSAT),
}


def inputs(**changes: Any) -> ReviewInputs:
    data = {**FULL, **changes}
    return ReviewInputs.model_validate(data)


# KPI section = (50×2 + 30×4 + 20×5)/100 = 3.2; competencies (3 + 5)/2 = 4; CSAT 69.16 → 1 + 2×19.16/30 = 2.27733…
SCORING_CASES: list[tuple[str, Scorecard, ReviewInputs, str | None, list[str]]] = [
    ("everything present", card(), inputs(), "3.26", []),
    ("no manager ratings", card(), inputs(manager_ratings={}), "2.94", ["competencies"]),
    ("one KPI actual missing", card(), inputs(kpi_actuals={"new_customer_acquisition": "1.25", "complaint_rate": "0.005"}),
     "3.86", ["kpis.sales_attainment"]),
    ("csat below minimum, drop", card(), inputs(survey=answers({5: 2})), "3.50", ["csat"]),
    ("csat below minimum, neutral 3", card(csat__below_minimum={"policy": "neutral", "value": 3}),
     inputs(survey=answers({5: 2})), "3.40", []),
    ("no survey at all", card(), inputs(survey=[]), "3.50", ["csat"]),
    ("weighted combine 20/80", card(competencies__combine={"mode": "weighted", "self": 20, "manager": 80}),
     inputs(), "3.32", []),
    ("one competency unrated", card(), inputs(manager_ratings={"customer_relationship": 3}), "3.56",
     ["competencies.communication"]),
    ("nothing at all", card(), ReviewInputs(), None, ["kpis.sales_attainment", "kpis.new_customer_acquisition",
                                                      "kpis.complaint_rate", "competencies", "csat"]),
]


@pytest.mark.parametrize(("case", "scorecard", "review", "score", "missing"), SCORING_CASES,
                         ids=[c[0] for c in SCORING_CASES])
def test_preliminary_score_golden(case: str, scorecard: Scorecard, review: ReviewInputs, score: str | None,
                                  missing: list[str]) -> None:
    result = preliminary_score(scorecard, review)
    assert result.score == (D(score) if score is not None else None), case
    assert result.missing == missing
    if result.lines:
        total = sum((line.contribution for line in result.lines), D(0))
        assert abs(total - result.score) <= D("0.005") + D("0.0001") * len(result.lines)  # type: ignore[operator]
        assert sum((line.weight_pct for line in result.lines), D(0)) == pytest.approx(D(100), abs=D("0.001"))


def test_score_lines_explain_inputs_weights_and_curve() -> None:
    result = preliminary_score(card(), inputs())
    by_item = {line.item: line for line in result.lines}
    sales = by_item["sales_attainment"]
    assert (sales.actual, sales.item_score, sales.weight_pct, sales.contribution) == (
        D("0.9"), D("2.0000"), D("25.0000"), D("0.5000"))
    for fragment in ("actual 0.9", "curve (0.8→1, 1→3, 1.2→5)", "between 0.8→1 and 1→3", "item weight 50/100",
                     "component weight 50/100", "contribution 0.5"):
        assert fragment in sales.explanation
    comm = by_item["communication"]
    assert (comm.manager_rating, comm.self_rating, comm.item_score) == (2, 3, D("3.0000"))
    assert "self 3, shown, not scored" in comm.explanation and "level 2 on 1..3 → 3 on 1..5" in comm.explanation
    csat_line = by_item["csat"]
    assert csat_line.actual == D("69.16")
    assert "74 of 107" in csat_line.explanation and "95 % CI 59.87–77.12" in csat_line.explanation
    assert result.component_scores == {"kpis": D("3.2000"), "competencies": D("4.0000"), "csat": D("2.2773")}
    assert result.csat is not None and result.csat.csat_pct == D("69.16")


def test_renormalization_is_explained() -> None:
    result = preliminary_score(card(), inputs(manager_ratings={}))
    assert any("component weights renormalized" in n and "kpis 50 → 71.4286 %" in n for n in result.notes)
    line = next(ln for ln in result.lines if ln.item == "sales_attainment")
    assert "component weight 50/70 of total" in line.explanation


def test_score_rounds_once_half_up() -> None:
    sc = Scorecard.model_validate({
        "component_weights": {"kpis": 100, "competencies": 0, "csat": 0},
        "kpis": [{"id": "sales_attainment", "weight": 100, "rule": {"type": "curve", "points": [[0, 1], [1, 5]]}}],
    })
    assert preliminary_score(sc, ReviewInputs(kpi_actuals={"sales_attainment": D("0.53125")})).score == D("3.13")


def test_zero_weight_components_are_not_reported_missing() -> None:
    sc = card(component_weights={"kpis": 100, "competencies": 0, "csat": 0})
    result = preliminary_score(sc, inputs(manager_ratings={}, survey=[]))
    assert result.score == D("3.20") and result.missing == []
    assert {line.component for line in result.lines} == {"kpis"}


def test_rating_outside_competency_scale_is_rejected_with_its_path() -> None:
    with pytest.raises(DomainError, match=r"manager_ratings\.communication: rating 4 is outside"):
        preliminary_score(card(), inputs(manager_ratings={"communication": 4}))
    with pytest.raises(DomainError, match=r"self_ratings\.communication"):
        preliminary_score(card(), inputs(self_ratings={"communication": 0}))


def test_unknown_inputs_are_noted_not_scored() -> None:
    result = preliminary_score(card(), inputs(kpi_actuals={**FULL["kpi_actuals"], "profit": 3},
                                              manager_ratings={**FULL["manager_ratings"], "charisma": 3}))
    assert result.score == D("3.26")
    assert "kpi_actuals.profit ignored: not a KPI on this scorecard" in result.notes
    assert "manager_ratings.charisma ignored: not a competency on this scorecard" in result.notes


def test_customer_satisfaction_kpi_falls_back_to_the_survey() -> None:
    sc = default_scorecard()
    result = preliminary_score(sc, ReviewInputs(survey=answers(PUBLIC_CSAT)))
    line = next(ln for ln in result.lines if ln.item == "customer_satisfaction")
    assert line.actual == D("69.16") and "survey CSAT %" in line.explanation
    assert result.score is not None


def test_result_serialises_to_json() -> None:
    result = preliminary_score(default_scorecard(), inputs())
    assert type(result).model_validate_json(result.model_dump_json()) == result


ratings = st.integers(min_value=1, max_value=3)


@given(
    sales=st.none() | st.decimals(min_value=0, max_value=3, places=3),
    new=st.none() | st.decimals(min_value=0, max_value=3, places=3),
    complaints=st.none() | st.decimals(min_value=0, max_value=1, places=4),
    comm=st.none() | ratings, crm=st.none() | ratings, own=st.none() | ratings,
    survey=st.lists(st.integers(min_value=1, max_value=5), max_size=12),
)
@settings(max_examples=150, deadline=None)
def test_score_stays_on_the_scale(sales: Decimal | None, new: Decimal | None, complaints: Decimal | None,
                                  comm: int | None, crm: int | None, own: int | None, survey: list[int]) -> None:
    actuals = {k: v for k, v in (("sales_attainment", sales), ("new_customer_acquisition", new),
                                 ("complaint_rate", complaints)) if v is not None}
    mgr = {k: v for k, v in (("communication", comm), ("customer_relationship", crm)) if v is not None}
    review = ReviewInputs(kpi_actuals=actuals, manager_ratings=mgr,
                          self_ratings={"communication": own} if own else {},
                          survey=[SurveyAnswer(account_id="a", satisfaction=s) for s in survey])
    result = preliminary_score(card(), review)
    if result.score is None:
        assert not actuals and not mgr and len(survey) < 3
    else:
        assert D(1) <= result.score <= D(5)
        assert result.score.as_tuple().exponent == -2
    assert preliminary_score(card(), review) == result  # deterministic
