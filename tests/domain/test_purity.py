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
        "sentences", "peers", "tiers", "deals", "planyear", "draws", "clawbacks", "nps", "settlement", "kpis"]
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


def test_sales_compensation_results_survive_the_temporal_pydantic_converter() -> None:
    """Their explanation steps travel as Text details (figures tagged, so they are formatted for the reader later)."""
    from domain.clawbacks import ClawbackConfig, ClawbackLine, DealEvent, PaidDeal, clawback_lines
    from domain.deals import Deal, DealCommissionConfig, DealCommissionResult, credit_deal, deal_commission
    from domain.draws import DrawConfig, LedgerPeriod, draw_ledger
    from domain.nps import NpsInterval, nps_adjusted_wald
    from domain.planyear import PeriodResult, PlanYearConfig, plan_year_schedule

    deal = Deal(id="D1", closed_on=date(2024, 1, 1), amount=Decimal("2500"), currency="USD",
                credits=({"employee_id": "K1", "percent": 60}, {"employee_id": "K2", "percent": 40}))
    cfg = DealCommissionConfig.model_validate({"application": "cumulative", "table": {
        "mode": "marginal", "boundary": "upper", "tiers": [{"from": 0, "rate": "0.01"}, {"from": 1000, "rate": "0.02"}]}})
    results: list[tuple[object, type]] = [
        (deal_commission(cfg, credit_deal(deal)[:1], "HALF_UP", Decimal(500)), DealCommissionResult),
        (plan_year_schedule(PlanYearConfig.model_validate({"periods": 2, "curve": [[0, 0], [1, 1]]}), Decimal(100),
                            Decimal(1000), [Decimal(400)], "USD", "HALF_UP")[0], PeriodResult),
        (draw_ledger(DrawConfig(kind="recoverable", amount=Decimal(100)), [Decimal(40)], "USD", "HALF_UP")[0],
         LedgerPeriod),
        (clawback_lines(ClawbackConfig(mode="full"), [PaidDeal(deal_id="D1", employee_id="K1", closed_on=date(2024, 1, 1),
                                                              paid=Decimal(30), currency="USD")],
                        [DealEvent(deal_id="D1", kind="cancelled", on=date(2024, 2, 1))], "Q2", "HALF_UP")[0],
         ClawbackLine),
        (nps_adjusted_wald(5, 3, 2), NpsInterval),
    ]
    for value, type_ in results:
        assert _roundtrip(value, type_) == value  # Money and Percent parameters come back as themselves


def _sales_golden() -> list[object]:
    from domain.clawbacks import ClawbackConfig, DealEvent, PaidDeal, clawback_lines
    from domain.deals import Deal, DealCommissionConfig, credits_by_employee, deal_commission
    from domain.draws import DrawConfig, draw_ledger
    from domain.nps import nps_adjusted_wald
    from domain.planyear import PlanYearConfig, plan_year_schedule

    deals = [Deal(id=f"D{i}", closed_on=date(2024, 1, i + 1), amount=Decimal(a), currency="USD",
                  credits=({"employee_id": "K1", "percent": "33.3333"}, {"employee_id": "K2", "percent": "66.6667"}))
             for i, a in enumerate(("1234.57", "999.99", "5000.01"))]
    cfg = DealCommissionConfig.model_validate({"application": "cumulative", "table": {
        "kind": "amount", "mode": "interpolated", "to": 9000,
        "tiers": [{"from": 0, "amount": 10}, {"from": 1000, "amount": 40}, {"from": 3000, "amount": 100}]}})
    year = PlanYearConfig.model_validate({"periods": 3, "curve": [[0, 0], [1, 1], [2, 3]]})
    return [
        [ln.unrounded for ln in deal_commission(cfg, credits_by_employee(deals)["K2"], "HALF_EVEN").lines],
        [r.amount for r in plan_year_schedule(year, Decimal("33333.33"), Decimal(1000), [Decimal(77), Decimal(401)],
                                              "USD", "HALF_EVEN")],
        [r.paid for r in draw_ledger(DrawConfig(kind="recoverable", amount=Decimal(1000), recovery_pct=Decimal("33.33")),
                                     [Decimal(10), Decimal("4000.01")], "USD", "HALF_EVEN")],
        [ln.amount for ln in clawback_lines(ClawbackConfig(mode="percent", percent=Decimal("33.33")),
                                            [PaidDeal(deal_id="D1", employee_id="K1", closed_on=date(2024, 1, 1),
                                                      paid=Decimal("100.01"), currency="USD")],
                                            [DealEvent(deal_id="D1", kind="cancelled", on=date(2024, 2, 1))],
                                            "Q", "HALF_EVEN")],
        nps_adjusted_wald(7, 5, 3).ci_low,
    ]


def test_sales_results_do_not_depend_on_the_callers_decimal_context() -> None:
    before = decimal.getcontext().copy()
    expected = _sales_golden()
    after = decimal.getcontext()
    assert (after.prec, after.rounding, after.flags) == (before.prec, before.rounding, before.flags)
    with decimal.localcontext(decimal.Context(prec=3, rounding=decimal.ROUND_DOWN, traps=[])):
        assert _sales_golden() == expected
