"""Calibration: z-score normalization, levels, Hamilton head counts, distribution report, 9-box."""

from __future__ import annotations

import copy
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from domain.calibration import (
    CalibrationConfig,
    CalibrationEntry,
    distribution_report,
    guideline_headcounts,
    mean_sigma,
    nine_box,
    normalize,
    rating_level,
    zscore_rescale,
)
from domain.errors import DomainError
from domain.scorecard import RatingScale

D = Decimal
SCALE = RatingScale()

CONTRACT_YAML: dict[str, Any] = {
    "normalize": True,
    "min_team_size": 3,
    "levels": [
        {"level": 5, "label": "Outstanding", "min": 4.5},
        {"level": 4, "label": "Exceeds", "min": 3.5},
        {"level": 3, "label": "Meets", "min": 2.5},
        {"level": 2, "label": "Partially meets", "min": 1.5},
        {"level": 1, "label": "Below", "min": 0},
    ],
    "guideline": {5: 10, 4: 20, 3: 40, 2: 20, 1: 10},
    "enforce": False,
    "tolerance_pct": 5,
}


def cfg(**changes: Any) -> CalibrationConfig:
    return CalibrationConfig.model_validate({**copy.deepcopy(CONTRACT_YAML), **changes})


def entries(rows: list[tuple[str, str]]) -> list[CalibrationEntry]:
    return [CalibrationEntry(employee_id=f"e{i}", manager_id=m, score=D(s)) for i, (m, s) in enumerate(rows)]


def test_contract_yaml_validates_and_round_trips() -> None:
    c = cfg()
    assert c.level_numbers() == [5, 4, 3, 2, 1]
    assert CalibrationConfig.model_validate_json(c.model_dump_json()) == c
    assert CalibrationConfig() == c  # the defaults are the documented example


def test_zscore_public_example() -> None:
    assert zscore_rescale(D("3.5"), D("4.2"), D("0.7"), D("3.8"), D("0.6"), SCALE) == D("3.2")


def test_normalize_public_example_end_to_end() -> None:
    # Team A: 3.5, 4.9 (mean 4.2, sigma 0.7); company of six: mean 3.8, sigma 0.6.
    rows = [("A", "3.5"), ("A", "4.9"), ("B", "4.3"), ("B", "3.2"), ("B", "3.4"), ("B", "3.5")]
    assert mean_sigma([D(s) for _, s in rows]) == (D("3.8"), D("0.6"))
    result = normalize(entries(rows), cfg(min_team_size=2), SCALE)
    assert [r.employee_id for r in result] == [f"e{i}" for i in range(6)]
    first = result[0]
    assert (first.original, first.normalized) == (D("3.5"), D("3.20"))
    assert first.note is not None
    for fragment in ("company mean 3.8", "company sigma 0.6", "team mean 4.2", "team sigma 0.7", "→ 3.20"):
        assert fragment in first.note
    assert result[1].normalized == D("4.40")


def test_small_teams_and_flat_teams_are_left_alone() -> None:
    rows = [("A", "4.0"), ("A", "4.6"), ("B", "3.0"), ("B", "3.0"), ("B", "3.0"), ("C", "2.0"), ("C", "3.0"),
            ("C", "4.0")]
    result = {r.employee_id: r for r in normalize(entries(rows), cfg(), SCALE)}
    assert result["e0"].normalized == D("4.00") and "smaller than min_team_size 3" in (result["e0"].note or "")
    assert result["e2"].normalized == D("3.00") and "sigma 0" in (result["e2"].note or "")
    assert result["e5"].normalized != D("2.00")  # team C is normalized


def test_normalize_off_keeps_scores() -> None:
    rows = [("A", "1.5"), ("A", "2.5"), ("A", "4.5")]
    result = normalize(entries(rows), cfg(normalize=False), SCALE)
    assert [r.normalized for r in result] == [D("1.50"), D("2.50"), D("4.50")]
    assert all(r.note == "normalization is off" for r in result)


def test_normalize_clamps_to_the_scale() -> None:
    # A harsh team (mean 1.4) in a lenient company: the top of the team would land above 5.
    rows = [("A", "1.0"), ("A", "1.0"), ("A", "2.2")] + [("B", s) for s in ("4.9", "5.0", "4.8", "5.0", "4.95")]
    result = normalize(entries(rows), cfg(), SCALE)
    assert all(SCALE.min <= r.normalized <= SCALE.max for r in result)
    assert any("clamped" in (r.note or "") for r in result)


def test_normalize_rejects_duplicates() -> None:
    dup = [CalibrationEntry(employee_id="x", manager_id="A", score=D(3))] * 2
    with pytest.raises(DomainError, match=r"entries\.1\.employee_id"):
        normalize(dup, cfg(), SCALE)


@pytest.mark.parametrize(("score", "level"), [("5", 5), ("4.5", 5), ("4.49", 4), ("3.5", 4), ("2.5", 3), ("2.49", 2),
                                              ("1.5", 2), ("1", 1), ("0", 1), ("-1", 1)])
def test_rating_level(score: str, level: int) -> None:
    assert rating_level(D(score), cfg()) == level


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        (10, {5: 1, 4: 2, 3: 4, 2: 2, 1: 1}),
        (7, {5: 1, 4: 1, 3: 3, 2: 1, 1: 1}),  # remainders .7 .4 .8 .4 .7: 3 gets one, then the tie 1 vs 5 → 1 first
        (3, {5: 0, 4: 1, 3: 1, 2: 1, 1: 0}),
        (1, {5: 0, 4: 0, 3: 1, 2: 0, 1: 0}),
        (0, {5: 0, 4: 0, 3: 0, 2: 0, 1: 0}),
        (23, {5: 2, 4: 5, 3: 9, 2: 5, 1: 2}),
    ],
)
def test_guideline_headcounts_hamilton(n: int, expected: dict[int, int]) -> None:
    guideline = {k: D(v) for k, v in CONTRACT_YAML["guideline"].items()}
    assert guideline_headcounts(n, guideline) == expected
    reversed_order = dict(reversed(list(guideline.items())))
    assert guideline_headcounts(n, reversed_order) == expected  # tie-break does not depend on dict order


@pytest.mark.parametrize(("n", "guideline", "field"), [
    (10, {5: D(10), 4: D(85)}, "guideline: percents sum to 95, must be exactly 100"),
    (10, {5: D(110), 4: D(-10)}, "guideline.4"),
    (-1, {5: D(100)}, "n: "),
])
def test_guideline_headcounts_rejects(n: int, guideline: dict[int, Decimal], field: str) -> None:
    with pytest.raises(DomainError, match=field):
        guideline_headcounts(n, guideline)


def ratings_for(levels_by_manager: dict[str, list[int]]) -> list[tuple[str, str, int]]:
    out = []
    for manager, levels in levels_by_manager.items():
        out += [(f"{manager}-{i}", manager, lv) for i, lv in enumerate(levels)]
    return out


def test_distribution_report_flags_and_violations() -> None:
    report = distribution_report(ratings_for({"A": [3, 3, 3, 3, 3], "B": [5, 5, 5, 5, 5]}), cfg(enforce=True))
    assert report.total == 10 and not report.within_guideline and report.blocking
    level5 = report.levels[0]
    assert (level5.level, level5.actual, level5.guideline_count, level5.difference) == (5, 5, 1, 4)
    assert level5.actual_pct == D("50.00")
    assert report.violations[0] == (
        "level 5 (Outstanding): 5 of 10 rated (50 %) vs guideline 1 (10 %): +4 people, +40 pp beyond the tolerance "
        "of 5 pp")
    managers = {m.manager_id: m for m in report.managers}
    assert managers["A"].flags == ["severity", "central_tendency"]
    assert managers["B"].flags == ["leniency"]
    assert (managers["A"].mean_level, managers["A"].company_mean, managers["A"].difference) == (
        D("3.00"), D("4.00"), D("-1.00"))


def test_distribution_within_guideline() -> None:
    report = distribution_report(ratings_for({"A": [5, 4, 3, 2, 3], "B": [4, 3, 3, 2, 1]}), cfg(enforce=True))
    assert report.within_guideline and report.violations == [] and not report.blocking
    assert all(m.flags == [] for m in report.managers)
    assert [lv.difference for lv in report.levels] == [0, 0, 0, 0, 0]


def test_distribution_small_team_not_flagged_and_unknown_level_rejected() -> None:
    report = distribution_report(ratings_for({"A": [5, 5], "B": [3, 3, 3, 2, 1, 4, 3, 2]}), cfg())
    small = next(m for m in report.managers if m.manager_id == "A")
    assert small.flags == [] and "smaller than min_team_size" in small.notes[0]
    with pytest.raises(DomainError, match=r"ratings\.0"):
        distribution_report([("x", "A", 7)], cfg())
    assert distribution_report([], cfg()).within_guideline


@pytest.mark.parametrize(("level", "potential", "box"), [
    (5, 3, "high/high"), (4, 1, "high/low"), (3, 2, "moderate/moderate"), (2, 3, "low/high"), (1, 1, "low/low"),
    (5, None, None),
])
def test_nine_box(level: int, potential: int | None, box: str | None) -> None:
    assert nine_box(level, potential, cfg()) == box


@pytest.mark.parametrize(("level", "potential", "field"), [(6, 2, "performance_level"), (3, 4, "potential"),
                                                           (3, 0, "potential")])
def test_nine_box_rejects(level: int, potential: int, field: str) -> None:
    with pytest.raises(DomainError, match=field):
        nine_box(level, potential, cfg())


def _mutate(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def apply(c: dict[str, Any]) -> None:
        keys = path.split(".")
        node: Any = c
        for key in keys[:-1]:
            node = node[int(key)] if isinstance(node, list) else node[key]
        node[int(keys[-1]) if isinstance(node, list) else keys[-1]] = value
    return apply


INVALID = [
    ("guideline not 100", _mutate("guideline", {5: 10, 4: 20, 3: 40, 2: 20, 1: 5}),
     ["guideline: percents sum to 95, must be exactly 100"]),
    ("guideline unknown level", _mutate("guideline", {6: 10, 4: 20, 3: 40, 2: 20, 1: 10}),
     ["guideline.6: level 6 is not defined in levels"]),
    ("guideline missing a level", _mutate("guideline", {5: 10, 4: 30, 3: 40, 2: 20}), ["guideline: no percent for level 1"]),
    ("levels not best first", _mutate("levels.1.level", 6), ["levels.1.level", "best first"]),
    ("level mins not decreasing", _mutate("levels.2.min", 3.6), ["levels.2.min", "must be below min 3.5"]),
    ("negative tolerance", _mutate("tolerance_pct", -1), ["tolerance_pct"]),
    ("tiny min team", _mutate("min_team_size", 1), ["min_team_size"]),
    ("typo", _mutate("normalise", True), ["normalise", "Extra inputs"]),
    ("nine box order", _mutate("nine_box", {"high_min_level": 3, "moderate_min_level": 3}), ["nine_box"]),
    ("NaN guideline", _mutate("guideline", {5: float("nan"), 4: 20, 3: 40, 2: 20, 1: 10}), ["guideline.5", "finite"]),
]


@pytest.mark.parametrize(("case", "mutate", "expected"), INVALID, ids=[c[0] for c in INVALID])
def test_invalid_calibration_config_names_the_field(case: str, mutate: Callable[[dict[str, Any]], None],
                                                    expected: list[str]) -> None:
    data = copy.deepcopy(CONTRACT_YAML)
    mutate(data)
    with pytest.raises(ValidationError) as info:
        CalibrationConfig.model_validate(data)
    for fragment in expected:
        assert fragment in str(info.value), f"{case}: {fragment!r} not in {info.value}"


scores = st.decimals(min_value=1, max_value=5, places=2)


@given(teams=st.dictionaries(st.sampled_from(["M1", "M2", "M3", "M4"]),
                             st.lists(scores, min_size=1, max_size=8), min_size=1),
       min_team=st.integers(min_value=2, max_value=4))
@settings(max_examples=150, deadline=None)
def test_normalization_keeps_team_order_and_stays_on_the_scale(teams: dict[str, list[Decimal]], min_team: int) -> None:
    rows = [(m, str(s)) for m, team in teams.items() for s in team]
    result = normalize(entries(rows), cfg(min_team_size=min_team), SCALE)
    by_manager: dict[str, list[tuple[Decimal, Decimal]]] = {}
    for r in result:
        assert SCALE.min <= r.normalized <= SCALE.max
        by_manager.setdefault(r.manager_id, []).append((r.original, r.normalized))
    for pairs in by_manager.values():
        for a_orig, a_norm in pairs:
            for b_orig, b_norm in pairs:
                if a_orig < b_orig:
                    assert a_norm <= b_norm
                if a_orig == b_orig:
                    assert a_norm == b_norm


@given(n=st.integers(min_value=0, max_value=500),
       pcts=st.lists(st.integers(min_value=0, max_value=100), min_size=1, max_size=6))
@settings(max_examples=150, deadline=None)
def test_headcounts_sum_to_n(n: int, pcts: list[int]) -> None:
    total = sum(pcts)
    if total == 0:
        return
    # Scale the percents to sum to exactly 100 by putting the rounding slack on the last level.
    scaled = [D(p * 100) / D(total) for p in pcts]
    scaled = [s.quantize(D("0.01"), rounding="ROUND_DOWN") for s in scaled]
    scaled[-1] += D(100) - sum(scaled)
    guideline = {level: pct for level, pct in enumerate(scaled, start=1)}
    counts = guideline_headcounts(n, guideline)
    assert sum(counts.values()) == n
    for level, pct in guideline.items():
        assert abs(D(counts[level]) - D(n) * pct / 100) < 1  # Hamilton: each within one of its quota
