"""The domain core stays pure: allowed imports only, no global decimal context changes, and its
models survive Temporal's pydantic data converter unchanged."""

from __future__ import annotations

import ast
import decimal
import subprocess
import sys
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from temporalio.contrib.pydantic import pydantic_data_converter

from domain.calibration import CalibrationConfig, normalize
from domain.calibration import CalibrationEntry as Entry
from domain.incentives import IncentiveInput, IncentivePlan, PayoutLine, compute_payouts
from domain.money import allocate, round_money
from domain.scorecard import RatingScale, Scorecard, default_scorecard
from domain.scoring import ReviewInputs, ScoreResult, SurveyAnswer, preliminary_score

ROOT = Path(__file__).resolve().parents[2]
CORE = ["__init__", "errors", "inputs", "money", "scorecard", "scoring", "calibration", "incentives", "phases",
        "sentences", "kpis"]
ALLOWED = {"__future__", "collections", "contextvars", "dataclasses", "datetime", "decimal", "functools", "math", "re", "typing",
           "pydantic", "domain"}
PLAN = {
    "id": "kam-bonus", "version": 2, "rounding": "HALF_EVEN",
    "target_incentive": {"by_grade": {"K1": 20000}},
    "bonus": {"measures": [{"id": "sales_attainment", "weight": 100,
                            "curve": {"points": [[0.5, 0], [1, 1], [1.5, 2]]}}]},
    "rating_multipliers": {3: 1},
    "commission": {"mode": "marginal", "boundary": "lower", "tiers": [{"from": 0, "rate": "0.01"}]},
}


@pytest.mark.parametrize("module", CORE)
def test_only_stdlib_and_pydantic_imports_and_no_top_level_code(module: str) -> None:
    tree = ast.parse((ROOT / "domain" / f"{module}.py").read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        else:
            continue
        for name in names:
            assert name.split(".")[0] in ALLOWED, f"domain/{module}.py imports {name}"
    allowed_statements = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.ClassDef, ast.Assign, ast.AnnAssign)
    for stmt in tree.body:
        is_docstring = isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant)
        assert is_docstring or isinstance(stmt, allowed_statements), f"domain/{module}.py runs code at import"


def test_importing_the_core_pulls_in_no_infrastructure() -> None:
    code = (
        "import sys\n"
        "import domain.money, domain.scorecard, domain.scoring, domain.calibration, domain.incentives\n"
        "heavy = {'temporalio', 'sqlalchemy', 'sqlmodel', 'psycopg', 'yaml', 'services', 'models', 'workflows'}\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_global_decimal_context_is_untouched() -> None:
    before = decimal.getcontext().copy()
    round_money(Decimal("2.665"), "USD", "HALF_EVEN")
    allocate(Decimal("8.00"), [1, 1, 1], "USD")
    preliminary_score(default_scorecard(), ReviewInputs(kpi_actuals={"sales_attainment": Decimal("0.93")}))
    normalize([Entry(employee_id=str(i), manager_id="m", score=Decimal(i)) for i in range(1, 5)], CalibrationConfig(),
              RatingScale())
    compute_payouts(IncentivePlan.model_validate(PLAN), date(2023, 1, 1), date(2023, 3, 31), "q1",
                    [IncentiveInput(employee_id="E1", grade="K1", currency="USD", rating_level=3,
                                    attainment={"sales_attainment": Decimal("1.13")}, revenue=Decimal(5))])
    after = decimal.getcontext()
    assert (after.prec, after.rounding, after.traps, after.flags) == (before.prec, before.rounding, before.traps,
                                                                       before.flags)


def _roundtrip(value: object, type_: type) -> object:
    payload = pydantic_data_converter.payload_converter.to_payload(value)
    return pydantic_data_converter.payload_converter.from_payload(payload, type_)


def test_models_survive_the_temporal_pydantic_converter() -> None:
    plan = IncentivePlan.model_validate(PLAN)
    scorecard = default_scorecard()
    calibration = CalibrationConfig()
    lines = compute_payouts(plan, date(2023, 1, 1), date(2023, 3, 31), "q1",
                            [IncentiveInput(employee_id="E1", grade="K1", currency="USD", rating_level=3,
                                            attainment={"sales_attainment": Decimal("1.13")}, revenue=Decimal(5))])
    result = preliminary_score(scorecard, ReviewInputs(
        kpi_actuals={"sales_attainment": Decimal("0.93")}, manager_ratings={"communication": 2},
        survey=[SurveyAnswer(account_id="a", satisfaction=5, nps=9)] * 3))
    assert _roundtrip(plan, IncentivePlan) == plan
    assert _roundtrip(scorecard, Scorecard) == scorecard
    assert _roundtrip(calibration, CalibrationConfig) == calibration
    assert _roundtrip(result, ScoreResult) == result
    for line in lines:
        assert _roundtrip(line, PayoutLine) == line


def _golden_values() -> list[object]:
    plan = IncentivePlan.model_validate(PLAN)
    lines = compute_payouts(plan, date(2023, 1, 1), date(2023, 12, 31), "y",
                            [IncentiveInput(employee_id="E1", grade="K1", currency="USD", rating_level=3,
                                            attainment={"sales_attainment": Decimal("1.13")},
                                            revenue=Decimal("123456789012345678.91"),
                                            employment_start=date(2023, 10, 1))])
    score = preliminary_score(default_scorecard(), ReviewInputs(
        kpi_actuals={"sales_attainment": Decimal("0.93"), "complaint_rate": Decimal("0.02")},
        manager_ratings={"communication": 2, "coordination": 3},
        survey=[SurveyAnswer(account_id="a", satisfaction=s) for s in (5, 4, 3, 2, 1, 5, 5)]))
    team = ("1.17", "2.33", "2.9", "3.41", "4.05", "4.66", "3.3", "2.75", "1.99")
    norm = normalize([Entry(employee_id=str(i), manager_id="m" if i % 3 else "n", score=Decimal(s))
                      for i, s in enumerate(team)], CalibrationConfig(), RatingScale())
    return [
        [ln.amount for ln in lines],
        score.score, [ln.contribution for ln in score.lines],
        [n.normalized for n in norm],
        allocate(Decimal("1000000000000000000000000000.01"), [1, 2, 3], "USD"),
        round_money(Decimal("2.665"), "USD", "HALF_EVEN"),
    ]


def test_results_do_not_depend_on_the_callers_decimal_context() -> None:
    expected = _golden_values()
    with decimal.localcontext(decimal.Context(prec=3, rounding=decimal.ROUND_DOWN, traps=[])):
        assert _golden_values() == expected
