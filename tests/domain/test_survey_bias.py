"""Calibration bias against the guideline distribution, and the NPS adjusted-Wald interval.

Worked examples from public documentation:
- NovaCalculator, "Performance Review Calibration" (novacalculator.com/employeeperformancereviewcalibrationbias
  checkercalculator/): variance = actual % − target %, more than 5 points is a bias: 40 % rated Exceeds against
  a target of 20 % is leniency (+20); 90 % Meets against 70 % is central tendency (+20); 30 % Developing against
  10 % is severity (+20).
- MeasuringU, "Evaluating NPS Confidence Intervals with Real-World Data" (measuringu.com/nps-three-confidence-
  intervals/) and "NPS confidence intervals" (measuringu.com/nps-confidence-intervals/), after Rocks (2016, The
  American Statistician): the adjusted-Wald interval adds 3 to n and ¾ to promoters and to detractors, with the
  standard error of a difference of two proportions. The figures below are that recipe worked by hand (and
  checked against a float computation in the test).
"""

from __future__ import annotations

import math
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.calibration import CalibrationConfig, distribution_report, guideline_bias
from domain.errors import DomainError
from domain.nps import nps_adjusted_wald, nps_counts

D = Decimal
THREE = CalibrationConfig.model_validate({
    "levels": [{"level": 3, "label": "Exceeds", "min": 3.5}, {"level": 2, "label": "Meets", "min": 2.5},
               {"level": 1, "label": "Developing", "min": 0}],
    "guideline": {3: 20, 2: 70, 1: 10}, "guideline_bias_pp": 5})


def team(manager: str, levels: list[int]) -> list[tuple[str, str, int]]:
    return [(f"{manager}-{i}", manager, lv) for i, lv in enumerate(levels)]


def test_novacalculator_leniency_central_tendency_severity() -> None:
    ratings = (team("L", [3] * 4 + [2] * 5 + [1])        # 40 % Exceeds vs 20 %
               + team("C", [3] * 1 + [2] * 9)             # 90 % Meets vs 70 %
               + team("S", [3] * 2 + [2] * 5 + [1] * 3)   # 30 % Developing vs 10 %
               + team("OK", [3] * 2 + [2] * 7 + [1]))     # on the guideline
    result = {b.manager_id: b for b in guideline_bias(ratings, THREE)}
    assert result["L"].flags == ("leniency",)
    assert [d.deviation_pp for d in result["L"].deviations] == [D(20), D(-20), D(0)]
    assert result["C"].flags == ("central_tendency",)
    assert result["S"].flags == ("severity",)
    assert result["OK"].flags == ()
    assert str(result["L"].notes[0]) == ("leniency: 40 % of the team at level 3 (Exceeds) against a guideline of 20 %, "
                                         "20 points above it (threshold 5)")


def test_small_teams_are_shown_not_flagged_and_the_check_is_off_by_default() -> None:
    small = guideline_bias(team("T", [3, 3]), THREE)[0]
    assert small.flags == () and small.deviations[0].deviation_pp == D(80)
    assert "smaller than min_team_size" in str(small.notes[-1])
    with pytest.raises(DomainError, match="guideline_bias_pp"):
        guideline_bias(team("T", [3, 3, 3]), CalibrationConfig())
    # the existing report is unchanged by the new setting
    assert distribution_report(team("T", [3, 2, 2]), THREE) == distribution_report(
        team("T", [3, 2, 2]), THREE.model_copy(update={"guideline_bias_pp": None}))


def test_five_levels_middle_and_threshold_override() -> None:
    cfg = CalibrationConfig()  # 10/20/40/20/10, middle level 3
    ratings = team("M", [5, 5, 5, 5, 4, 4, 3, 3, 3, 3])
    bias = guideline_bias(ratings, cfg, threshold_pp=D(15))[0]
    assert bias.flags == ("leniency",)
    assert [(d.level, d.band) for d in bias.deviations] == [(5, "top"), (4, "top"), (3, "middle"), (2, "bottom"),
                                                            (1, "bottom")]


def test_nps_adjusted_wald_worked_example() -> None:
    """50 promoters, 30 passives, 20 detractors: n' = 103, p' = 50.75/103, d' = 20.75/103, NPS' = 29.13,
    SE = √((p' + d' − NPS'²)/n') = 0.0769, ±1.96 SE = ±15.08 → +14.05 to +44.20; the plain NPS is +30."""
    r = nps_adjusted_wald(50, 30, 20)
    assert (r.nps, r.adjusted_nps, r.ci_low, r.ci_high) == (D("30.00"), D("29.13"), D("14.05"), D("44.20"))
    n = 103
    p, d = 50.75 / n, 20.75 / n
    se = math.sqrt((p + d - (p - d) ** 2) / n)
    assert abs(float(r.ci_low) - 100 * (p - d - 1.96 * se)) < 0.006
    assert abs(float(r.ci_high) - 100 * (p - d + 1.96 * se)) < 0.006
    assert "interval 14.05 to 44.2" in str(r.steps[1])


def test_too_small_to_distinguish_from_the_company() -> None:
    small = nps_adjusted_wald(*nps_counts([10, 9, 9, 8, 3]), min_responses=10, company_nps=D(20))
    assert small.nps == D(40) and small.below_minimum is True and small.distinguishable is False
    assert any("too small to tell" in str(s) for s in small.steps)
    big = nps_adjusted_wald(600, 300, 100, company_nps=D(20))
    assert big.distinguishable is True and big.ci_low > 20
    empty = nps_adjusted_wald(0, 0, 0, min_responses=5)
    assert empty.nps is None and empty.below_minimum
    with pytest.raises(DomainError, match="0..10"):
        nps_counts([11])


@given(p=st.integers(min_value=0, max_value=500), m=st.integers(min_value=0, max_value=500),
       d=st.integers(min_value=0, max_value=500))
@settings(max_examples=300, deadline=None)
def test_nps_interval_is_inside_the_scale_and_around_the_adjusted_score(p: int, m: int, d: int) -> None:
    r = nps_adjusted_wald(p, m, d)
    if p + m + d == 0:
        assert r.ci_low is None
        return
    assert r.ci_low is not None and r.ci_high is not None and r.adjusted_nps is not None
    assert D(-100) <= r.ci_low <= r.adjusted_nps <= r.ci_high <= D(100)
    wider = nps_adjusted_wald(p, m, d, z=D("2.576"))
    assert wider.ci_low is not None and wider.ci_high is not None
    assert wider.ci_low <= r.ci_low and wider.ci_high >= r.ci_high


def test_an_existing_calibration_configuration_dumps_as_before() -> None:
    """A cycle's digest hashes this dump: the unset bias threshold stays out of it (demo/cycle.yaml keeps its digest)."""
    assert "guideline_bias_pp" not in CalibrationConfig().model_dump(mode="json")
    assert THREE.model_dump(mode="json")["guideline_bias_pp"] == "5"
    assert CalibrationConfig.model_validate(THREE.model_dump(mode="json")) == THREE
