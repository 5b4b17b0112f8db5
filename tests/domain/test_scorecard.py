"""Scorecard configuration: the documented YAML shape validates; every bad config names its field."""

from __future__ import annotations

import copy
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from domain.scorecard import BandsRule, CurveRule, Scorecard, default_scorecard

D = Decimal


def contract_example() -> dict[str, Any]:
    """The scorecard YAML from docs/domain-core.md, as yaml.safe_load would return it (floats included)."""
    return {
        "rating_scale": {"min": 1, "max": 5, "decimals": 2},
        "component_weights": {"kpis": 50, "competencies": 30, "csat": 20},
        "kpis": [
            {"id": "sales_attainment", "weight": 50, "rule": {"type": "curve", "points": [[0.8, 1], [1.0, 3], [1.2, 5]]}},
            {"id": "new_customer_acquisition", "weight": 30,
             "rule": {"type": "curve", "points": [[0.5, 1], [1.0, 3], [1.5, 5]]}},
            {"id": "complaint_rate", "weight": 20, "rule": {"type": "bands", "bands": [
                {"min": 0, "max": 0.01, "score": 5}, {"min": 0.01, "max": 0.03, "score": 3}, {"min": 0.03, "score": 1}]}},
        ],
        "competencies": {
            "scale": {"min": 1, "max": 3},
            "combine": {"mode": "manager_only"},
            "items": [
                {"id": "communication", "label_en": "Communication & expression", "label_zh": "沟通表达能力", "weight": 50},
                {"id": "customer_relationship", "label_en": "Customer relationship management",
                 "label_zh": "客户关系管理", "weight": 50},
            ],
        },
        "csat": {
            "rule": {"type": "curve", "points": [[50, 1], [80, 3], [95, 5]]},
            "min_responses": 3,
            "below_minimum": {"policy": "drop"},
            "revenue_weighted": False,
            "ask_nps": True,
        },
    }


def test_contract_example_validates_and_floats_become_exact_decimals() -> None:
    sc = Scorecard.model_validate(contract_example())
    rule = sc.kpis[0].rule
    assert isinstance(rule, CurveRule)
    assert rule.points[0] == (D("0.8"), D(1))  # not Decimal(0.8)'s binary expansion
    assert isinstance(sc.kpis[2].rule, BandsRule)
    assert sc.kpis[2].rule.bands[1].max == D("0.03")


def test_default_scorecard_has_all_kpis_and_seven_competencies() -> None:
    sc = default_scorecard()
    assert {k.id for k in sc.kpis} == {
        "sales_attainment", "new_customer_acquisition", "customer_retention", "complaint_rate", "customer_satisfaction"}
    assert sc.competencies is not None
    assert len(sc.competencies.items) == 7
    labels = {i.label_zh for i in sc.competencies.items}
    assert {"沟通表达能力", "逻辑分析能力", "协调推进能力", "市场信息分析", "产品技术知识", "客户关系管理", "销售业务管理"} == labels
    assert sum(k.weight for k in sc.kpis) == 100
    assert sum(i.weight for i in sc.competencies.items) == 100


@pytest.mark.parametrize("build", [default_scorecard, lambda: Scorecard.model_validate(contract_example())])
def test_scorecard_round_trips_through_json(build: Callable[[], Scorecard]) -> None:
    sc = build()
    assert Scorecard.model_validate_json(sc.model_dump_json()) == sc
    assert Scorecard.model_validate(sc.model_dump(mode="json")) == sc


def test_scorecard_is_frozen() -> None:
    sc = default_scorecard()
    with pytest.raises(ValidationError):
        sc.rating_scale = sc.rating_scale  # type: ignore[misc]


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """A mutation that sets a dotted path (list indices as numbers) in the example config."""
    def apply(cfg: dict[str, Any]) -> None:
        keys = path.split(".")
        node: Any = cfg
        for key in keys[:-1]:
            node = node[int(key)] if isinstance(node, list) else node[key]
        last = keys[-1]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value
    return apply


def _delete(path: str) -> Callable[[dict[str, Any]], None]:
    def apply(cfg: dict[str, Any]) -> None:
        keys = path.split(".")
        node: Any = cfg
        for key in keys[:-1]:
            node = node[int(key)] if isinstance(node, list) else node[key]
        del node[keys[-1]]
    return apply


BANDS = "kpis.2.rule.bands"

INVALID: list[tuple[str, Callable[[dict[str, Any]], None], list[str]]] = [
    ("component weights not 100", _set("component_weights.csat", 15),
     ["component_weights: weights sum to 95, must be exactly 100"]),
    ("kpi weights not 100", _set("kpis.2.weight", 15), ["kpis: weights sum to 95, must be exactly 100"]),
    ("unknown kpi", _set("kpis.0.id", "profit_margin"), ["kpis.0.id", "sales_attainment"]),
    ("duplicate kpi", _set("kpis.1.id", "sales_attainment"), ["kpis: duplicate id 'sales_attainment'"]),
    ("overlapping bands", _set(f"{BANDS}.1.min", 0.005), ["bands.1.min", "overlaps band 0"]),
    ("unordered bands", _set(BANDS, [{"min": 0.01, "max": 0.03, "score": 3}, {"min": 0, "max": 0.01, "score": 5}]),
     ["bands.1.min", "ordered by min"]),
    ("gap between bands", _set(f"{BANDS}.1.min", 0.02), ["bands.1.min", "gap between band 0"]),
    ("open band not last", _set(f"{BANDS}.0.max", None), ["bands.0.max", "only the last band"]),
    ("band max below min", _set(f"{BANDS}.0.max", 0), ["bands.0", "max not above min"]),
    ("unordered curve points", _set("kpis.0.rule.points", [[1.0, 3], [0.8, 1], [1.2, 5]]),
     ["kpis.0.rule", "points", "strictly increasing"]),
    ("repeated curve x", _set("kpis.0.rule.points", [[0.8, 1], [0.8, 3]]), ["points", "strictly increasing"]),
    ("single curve point", _set("kpis.0.rule.points", [[0.8, 1]]), ["kpis.0.rule.curve.points", "at least 2"]),
    ("unknown rule type", _set("kpis.0.rule.type", "table"), ["kpis.0.rule", "curve", "bands"]),
    ("kpi score above scale", _set("kpis.0.rule.points.2", [1.2, 6]),
     ["kpis.0.rule.points.2: score 6 is outside rating_scale 1..5"]),
    ("band score below scale", _set(f"{BANDS}.2.score", 0), ["kpis.2.rule.bands.2.score: score 0 is outside"]),
    ("csat score outside scale", _set("csat.rule.points.0", [50, 0.5]), ["csat.rule.points.0", "outside rating_scale"]),
    ("neutral value outside scale", _set("csat.below_minimum", {"policy": "neutral", "value": 7}),
     ["csat.below_minimum.value", "outside rating_scale"]),
    ("unknown below_minimum policy", _set("csat.below_minimum", {"policy": "ignore"}), ["csat.below_minimum"]),
    ("negative min_responses", _set("csat.min_responses", -1), ["csat.min_responses"]),
    ("competency scale min >= max", _set("competencies.scale", {"min": 3, "max": 3}),
     ["competencies.scale", "min 3 must be below max 3"]),
    ("competency weights not 100", _set("competencies.items.1.weight", 40),
     ["competencies", "items: weights sum to 90, must be exactly 100"]),
    ("duplicate competency", _set("competencies.items.1.id", "communication"), ["items: duplicate id 'communication'"]),
    ("combine weights not 100", _set("competencies.combine", {"mode": "weighted", "self": 30, "manager": 80}),
     ["competencies.combine", "self 30 + manager 80 = 110, must be exactly 100"]),
    ("unknown combine mode", _set("competencies.combine", {"mode": "average"}), ["competencies.combine"]),
    ("rating scale min >= max", _set("rating_scale", {"min": 5, "max": 1}), ["rating_scale", "min 5 must be below"]),
    ("rating scale decimals", _set("rating_scale.decimals", 9), ["rating_scale.decimals"]),
    ("typo in a key", _set("kpis.0.weigth", 50), ["kpis.0.weigth", "Extra inputs are not permitted"]),
    ("NaN weight", _set("kpis.0.weight", float("nan")), ["kpis.0.weight", "finite"]),
    ("infinite weight", _set("kpis.0.weight", float("inf")), ["kpis.0.weight", "finite"]),
    ("NaN string weight", _set("kpis.0.weight", "NaN"), ["kpis.0.weight"]),
    ("boolean weight", _set("kpis.0.weight", True), ["kpis.0.weight", "expected a number"]),
    ("negative weight", _set("kpis.0.weight", -10), ["kpis.0.weight"]),
    ("non-numeric point", _set("kpis.0.rule.points.0", ["high", 1]), ["kpis.0.rule.curve.points.0.0"]),
    ("kpis missing but weighted", _set("kpis", []), ["kpis: component weight 50 but no KPIs are defined"]),
    ("csat missing but weighted", _delete("csat"), ["csat: component weight 20 but no csat section"]),
    ("competencies missing but weighted", _delete("competencies"), ["competencies: component weight 30"]),
    ("bad competency id", _set("competencies.items.0.id", "bad id!"), ["competencies.items.0.id"]),
    ("reserved competency id", _set("competencies.items.0.id", "potential"), ["competencies.items.0.id", "reserved"]),
]


@pytest.mark.parametrize(("case", "mutate", "expected"), INVALID, ids=[c[0] for c in INVALID])
def test_invalid_scorecard_names_the_field(case: str, mutate: Callable[[dict[str, Any]], None],
                                           expected: list[str]) -> None:
    cfg = copy.deepcopy(contract_example())
    mutate(cfg)
    with pytest.raises(ValidationError) as info:
        Scorecard.model_validate(cfg)
    message = str(info.value)
    for fragment in expected:
        assert fragment in message, f"{case}: {fragment!r} not in {message}"


def test_error_loc_points_at_nested_field() -> None:
    cfg = contract_example()
    cfg["kpis"][0]["id"] = "profit_margin"
    with pytest.raises(ValidationError) as info:
        Scorecard.model_validate(cfg)
    assert info.value.errors()[0]["loc"] == ("kpis", 0, "id")


def test_zero_weight_components_may_be_omitted() -> None:
    sc = Scorecard.model_validate({
        "component_weights": {"kpis": 100, "competencies": 0, "csat": 0},
        "kpis": [{"id": "sales_attainment", "weight": 100, "rule": {"type": "curve", "points": [[0, 1], [1, 5]]}}],
    })
    assert sc.competencies is None and sc.csat is None


@pytest.mark.parametrize(
    ("actual", "score"),
    [("0.5", "1"), ("0.8", "1"), ("0.9", "2"), ("1.0", "3"), ("1.1", "4"), ("1.2", "5"), ("2", "5")],
)
def test_curve_rule_is_linear_between_points_and_flat_outside(actual: str, score: str) -> None:
    rule = Scorecard.model_validate(contract_example()).kpis[0].rule
    assert rule.apply(D(actual))[0] == D(score)


@pytest.mark.parametrize(
    ("actual", "score", "how"),
    [("0", "5", "[0, 0.01)"), ("0.0099", "5", "[0, 0.01)"), ("0.01", "3", "[0.01, 0.03)"),
     ("0.03", "1", "[0.03, ∞)"), ("0.5", "1", "[0.03, ∞)"), ("-0.01", "5", "below the lowest band")],
)
def test_bands_rule_min_inclusive_max_exclusive(actual: str, score: str, how: str) -> None:
    rule = Scorecard.model_validate(contract_example()).kpis[2].rule
    value, text = rule.apply(D(actual))
    assert value == D(score)
    assert how in text
