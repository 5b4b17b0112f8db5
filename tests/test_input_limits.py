"""Input limits (issue 8, defects 4-6): impossible dates, NUL characters, absurd numbers and ids the API
cannot address are refused where they enter, with the field named; never a traceback, a 500, or a value
that breaks a cycle later (a payout that does not fit its column stops the cycle for ever).

The importer's and the web API's share of these tests is in tests/test_importer.py and tests/web/test_api.py.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import starter
from domain.incentives import (
    AMOUNT_LIMIT,
    MAX_ATTAINMENT,
    MAX_COMPANY_FACTOR,
    MAX_MULTIPLIER,
    MAX_PAYOUT_FACTOR,
    MAX_RATE,
    MAX_REVENUE,
    MAX_TARGET,
    IncentiveInput,
    IncentivePlan,
    compute_payouts,
    largest_payout,
)
from domain.inputs import id_problem, parse_whole
from services.cycles import ConfigError, parse_cycle_config
from services.errors import UserError
from services.settings import get_settings

ROOT = Path(__file__).resolve().parent.parent
DEMO_YAML = (ROOT / "demo" / "cycle.yaml").read_text(encoding="utf-8")
SELF_REVIEW = "  self_review:\n    due_after: 40s\n"
SCORING = "  manager_scoring:\n    due_after: 40s\n"
DATE_RANGE = "2000-01-01..2100-12-31"
NOT_AN_ID = "is not a valid id"
SPACES = "has a leading or trailing space"


def demo_yaml(old: str, new: str) -> str:
    """The demo configuration as text, with one edit (text, so YAML itself parses the value)."""
    assert old in DEMO_YAML, old
    return DEMO_YAML.replace(old, new, 1)


# (edit of the demo YAML, the field the message must name, a fragment of the message)
BAD_CONFIGURATIONS = [
    # defect 4: impossible dates, which PyYAML's timestamp resolver turns into a ValueError inside safe_load
    ("start: 2026-07-01", "start: 2026-02-30", "period.start", "day value is outside expected range"),
    ("end: 2026-09-30", "end: 2026-13-01", "period.end", "month value is outside expected range"),
    ("end: 2026-09-30", "end: 2026-06-31", "period.end", "day value is outside expected range"),
    (SELF_REVIEW, "  self_review:\n    due: 2026-02-30T09:00:00+08:00\n", "phases.self_review.due", "outside"),
    (SCORING, "  manager_scoring:\n    due: 2026-06-31 18:00:00+08:00\n", "phases.manager_scoring.due", "outside"),
    # defect 4: NUL characters (YAML escapes), which PostgreSQL refuses when the cycle is written
    ('name: "KAM review', 'name: "KAM\\0 review', "name", "NUL"),
    ("label: 2026-Q3", 'label: "2026\\0Q3"', "period.label", "NUL"),
    ("label: Outstanding", 'label: "Out\\x00standing"', "calibration.levels.0.label", "NUL"),
    ('label_zh: "沟通表达能力"', 'label_zh: "沟通\\0"', "scorecard.competencies.items.0.label_zh", "NUL"),
    ("K1: 20000", '"K\\01": 20000', "incentive_plan.target_incentive.by_grade", "NUL"),
    # defect 5: numbers outside their bounds (the message gives the allowed range)
    ("company_factor: 1.1", "company_factor: 99999999999999999999.99", "incentive_plan.company_factor",
     "allowed range 0 or 0.01..5"),
    ("company_factor: 1.1", "company_factor: 1e20", "incentive_plan.company_factor", "allowed range 0 or 0.01..5"),
    ("company_factor: 1.1", "company_factor: 0.001", "incentive_plan.company_factor", "allowed range 0 or 0.01..5"),
    ("K1: 20000", "K1: 0.001", "incentive_plan.target_incentive.by_grade.K1", "allowed range 0 or 1..1000000000000"),
    ("K1: 20000", "K1: 1e20", "incentive_plan.target_incentive.by_grade.K1", "allowed range 0 or 1..1000000000000"),
    ("5: 1.5, 4: 1.2", "5: 1000000, 4: 1.2", "incentive_plan.rating_multipliers.5", "allowed range 0..5"),
    ("payout_at_max: 2.0}, cap: 2.0}", "payout_at_max: 1e9}, cap: 2.0}",
     "incentive_plan.bonus.measures.0.curve.thresholds.payout_at_max", "allowed range 0..10"),
    ("    cap: 2.0\n", "    cap: 1e30\n", "incentive_plan.bonus.cap", "allowed range 0..10"),
    ("rate: 0.002", "rate: 2", "incentive_plan.commission.tiers.0.rate", "allowed range 0..1"),
    ("from: 1500000", "from: 1e20", "incentive_plan.commission.tiers.2.from", "allowed range 0..100000000000000"),
    ("version: 1", "version: true", "incentive_plan.version", "valid integer"),
    ("scale: {min: 1, max: 3}", "scale: {min: 1, max: 1e24}", "scorecard.competencies.scale.max", "valid integer"),
    ("scale: {min: 1, max: 3}", "scale: {min: 1, max: 1000000000000000000000000}",
     "scorecard.competencies.scale.max", "allowed range 0..100"),
    ("rating_scale: {min: 1, max: 5, decimals: 2}", "rating_scale: {min: 1, max: 1e24, decimals: 2}",
     "scorecard.rating_scale.max", "allowed range -1000..1000"),
    ("decimals: 2}", "decimals: 6}", "scorecard.rating_scale.decimals", "allowed range 0..4"),
    ("min_responses: 2", "min_responses: 1000000", "scorecard.csat.min_responses", "allowed range 0..1000"),
    ("min_team_size: 3", "min_team_size: 3.0", "calibration.min_team_size", "valid integer"),
    ("start: 2026-07-01", "start: 0001-01-01", "period.start", DATE_RANGE),
    ("end: 2026-09-30", "end: 9999-12-31", "period.end", DATE_RANGE),
    (SELF_REVIEW, "  self_review:\n    due: 1970-01-01T00:00:00+00:00\n", "phases.self_review.due", DATE_RANGE),
    ("batch_size: 100", "batch_size: true", "batch_size", "valid integer"),
    ("batch_size: 100", 'batch_size: "1_000"', "batch_size", "valid integer"),
    ("batch_size: 100", "batch_size: 100.0", "batch_size", "valid integer"),
    ("extend_by: 25s", "extend_by: 99999999999999999999d", "phases.manager_scoring.on_deadline.extend_by",
     "longer than a year"),
    ("K1: 20000", 'K1: "２0000"', "incentive_plan.target_incentive.by_grade.K1", "ASCII digits"),
    ("weight: 45,", 'weight: "４5",', "scorecard.kpis.0.weight", "ASCII digits"),
    # defect 6: ids outside the one id grammar
    ("participants: {all_kams: true}", 'participants: {employees: ["../E001"]}', "participants.employees.0", NOT_AN_ID),
    ("participants: {all_kams: true}", 'participants: {employees: ["%00"]}', "participants.employees.0", NOT_AN_ID),
    ("participants: {all_kams: true}", 'participants: {employees: [" E001"]}', "participants.employees.0", SPACES),
    ("participants: {all_kams: true}", 'participants: {employees: ["e001 "]}', "participants.employees.0", SPACES),
    ("participants: {all_kams: true}", 'participants: {managers: ["M1", "M 2"]}', "participants.managers.1",
     NOT_AN_ID),
    ("\nid: 2026-Q3\n", '\nid: "../2026-Q3"\n', "id", NOT_AN_ID),
    ("\nid: 2026-Q3\n", '\nid: "2026-Q3 "\n', "id", SPACES),
    ("by_grade: {K1: 20000, K2: 30000, K3: 45000}",
     'by_grade: {K1: 20000, K2: 30000, K3: 45000}\n    by_employee: {"../K01": 1000}',
     "incentive_plan.target_incentive.by_employee.../K01", NOT_AN_ID),
]


@pytest.mark.parametrize(("old", "new", "field", "fragment"), BAD_CONFIGURATIONS,
                         ids=[f"{c[2]}={c[1].strip()[:40]}" for c in BAD_CONFIGURATIONS])
def test_a_bad_configuration_is_refused_naming_the_field(old: str, new: str, field: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_cycle_config(demo_yaml(old, new), "cycle.yaml")
    message = str(info.value)
    problem = next((line for line in message.splitlines() if line.startswith(f"  {field}")), None)
    assert problem is not None, f"{field} is not named in:\n{message}"
    assert fragment in problem, message


def test_the_demo_configuration_and_its_extremes_within_bounds_are_accepted() -> None:
    parse_cycle_config(DEMO_YAML)
    edges = [("company_factor: 1.1", "company_factor: 0"), ("company_factor: 1.1", "company_factor: 5"),
             ("K1: 20000", "K1: 1000000000000"), ("K1: 20000", "K1: 0"),
             ("start: 2026-07-01, end: 2026-09-30", "start: 2000-01-01, end: 2000-03-31"),
             ("start: 2026-07-01, end: 2026-09-30", "start: 2100-10-01, end: 2100-12-31"),
             ("batch_size: 100", "batch_size: 1_000"), ("rate: 0.002", "rate: 1")]
    for old, new in edges:
        parse_cycle_config(demo_yaml(old, new))


def test_yaml_tags_that_do_not_fit_their_value_are_a_config_error() -> None:
    with pytest.raises(ConfigError, match="not valid YAML"):
        parse_cycle_config(demo_yaml("batch_size: 100", "batch_size: !!int ten"))
    with pytest.raises(ConfigError, match="not valid YAML"):
        parse_cycle_config("x: " + "[" * 5000)


# ------------------------------------------------------------------------- the one id grammar


@pytest.mark.parametrize("value", ["E001", "K01", "2026-Q3", "kam-incentive-2026", "A.1_b-2", "x" * 64, "e001"])
def test_ids_of_the_demo_and_the_tests_fit_the_grammar(value: str) -> None:
    assert id_problem(value) is None


@pytest.mark.parametrize("value", ["../E001", "%00", " E001", "e001 ", "", "E 001", "E:001", "E/001", "-E001",
                                   ".E001", "E\x00", "Ｅ001", "x" * 65, "E001\n"])
def test_ids_outside_the_grammar_are_refused(value: str) -> None:
    assert id_problem(value) is not None


@pytest.mark.parametrize(("text", "value"), [("3", 3), (" -2 ", -2), ("+7", 7)])
def test_whole_numbers_are_ascii_digits(text: str, value: int) -> None:
    assert parse_whole(text) == value


@pytest.mark.parametrize("text", ["３", "1_000", "2.0", "", "1e3", "٣", "true"])
def test_anything_else_is_not_a_whole_number(text: str) -> None:
    with pytest.raises(ValueError, match="not a whole number"):
        parse_whole(text)


# ------------------------------------------------------------------------------------- the CLI


@pytest.fixture
def cli(monkeypatch, tmp_path, capsys):
    """``starter.main`` in-process against servers that are not there: input must be refused before any is needed."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KAMREVIEW_DATABASE_URL", "postgresql://kamreview@127.0.0.1:9/nowhere?connect_timeout=1")
    monkeypatch.setenv("KAMREVIEW_TEMPORAL_ADDRESS", "127.0.0.1:9")
    monkeypatch.setenv("KAMREVIEW_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()

    def run(*args: str) -> tuple[int, str]:
        try:
            code = starter.main(list(args))
        except SystemExit as exit_:  # argparse refuses an argument
            code = int(exit_.code or 0)
        err = capsys.readouterr().err
        assert "Traceback" not in err and "internal error" not in err, err
        return code, err

    yield run
    get_settings.cache_clear()


def _file(tmp_path: Path, text: str) -> str:
    path = tmp_path / "cycle.yaml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_cycle_create_refuses_the_company_factor_that_stopped_a_cycle(cli, tmp_path) -> None:
    config = _file(tmp_path, demo_yaml("company_factor: 1.1", "company_factor: 99999999999999999999.99"))
    code, err = cli("cycle", "create", config)
    assert code == 2
    assert "incentive_plan.company_factor: 100000000000000000000 is outside the allowed range 0 or 0.01..5" in err


@pytest.mark.parametrize(("old", "new", "field"), [
    ("start: 2026-07-01", "start: 2026-02-30", "period.start"),
    ("end: 2026-09-30", "end: 2026-13-01", "period.end"),
    (SELF_REVIEW, "  self_review:\n    due: 2026-06-31T09:00:00+08:00\n", "phases.self_review.due"),
    ('name: "KAM review', 'name: "KAM\\0 review', "name"),
])
def test_cycle_create_refuses_impossible_dates_and_nul_with_exit_2(cli, tmp_path, old, new, field) -> None:
    code, err = cli("cycle", "create", _file(tmp_path, demo_yaml(old, new)))
    assert code == 2 and f"  {field}: " in err


@pytest.mark.parametrize(("args", "argument"), [
    (("cycle", "status", "../2026-Q3"), "cycle"),
    (("cycle", "start", "%00"), "cycle"),
    (("review", "show", "2026-Q3", " K01"), "employee"),
    (("tasks", "e001 "), "assignee"),
    (("payroll", "statement", "2026-Q3", "K01/../K02"), "employee"),
    (("calibration", "adjust", "2026-Q3", "K01", "4", "--reason", "x", "--actor", "HR 1"), "--actor"),
    (("cycle", "create", "cycle.yaml", "--id", "a/b"), "--id"),
    (("submit", "survey", "2026-Q3", "K01", "--contact", " C001", "--satisfaction", "5"), "--contact"),
])
def test_id_arguments_outside_the_grammar_are_refused(cli, args, argument) -> None:
    code, err = cli(*args)
    assert code == 2 and f"argument {argument}: " in err and ("not a valid id" in err or SPACES in err), err


@pytest.mark.parametrize(("args", "expected"), [
    (("submit", "score", "2026-Q3", "K01", "--ratings", "communication=３", "--actor", "M1"),
     "--ratings: communication must be a whole number"),
    (("submit", "self-review", "2026-Q3", "K01", "--ratings", "communication=1_0"),
     "--ratings: communication must be a whole number"),
    (("submit", "score", "2026-Q3", "K01", "--ratings", "communication=2", "--actor", "M1", "--potential", "３"),
     "argument --potential: '３' is not a whole number"),
    (("submit", "survey", "2026-Q3", "K01", "--contact", "C001", "--satisfaction", "５"),
     "argument --satisfaction: '５' is not a whole number"),
    (("calibration", "adjust", "2026-Q3", "K01", "４", "--reason", "x"), "argument level: '４' is not a whole number"),
])
def test_full_width_digits_are_not_scores(cli, args, expected) -> None:
    code, err = cli(*args)
    assert code == 2 and expected in err, err


def test_parse_pairs_takes_ascii_whole_numbers_only() -> None:
    assert starter._parse_pairs("communication=2, coordination = 3", "--ratings") == {"communication": 2,
                                                                                     "coordination": 3}
    with pytest.raises(UserError, match="coordination must be a whole number"):
        starter._parse_pairs("communication=2,coordination=３", "--ratings")


# ------------------------------------------------------------ every computable amount fits its column


def test_the_largest_payout_the_bounds_allow_fits_payout_line_amount() -> None:
    assert largest_payout() < AMOUNT_LIMIT  # Numeric(20,4): 16 digits before the point


def _fits_numeric_20_4(amount: Decimal) -> bool:
    return abs(amount) < AMOUNT_LIMIT and amount == amount.quantize(Decimal("0.0001"))


def _plan(target: Decimal, factor: Decimal, multiplier: Decimal, payout: Decimal, cap: Decimal | None,
          rate: Decimal, mode: str, rounding: str) -> IncentivePlan:
    return IncentivePlan.model_validate({
        "id": "max", "version": 1_000_000, "rounding": rounding,
        "target_incentive": {"by_grade": {"G": target}}, "company_factor": factor,
        "bonus": {"measures": [
            {"id": "sales_attainment", "weight": 60, "cap": cap,
             "curve": {"threshold": 0, "target": 1, "maximum": 2, "payout_at_max": payout}},
            {"id": "customer_retention", "weight": 40,
             "curve": {"points": [[-MAX_ATTAINMENT, 0], [0, 1], [MAX_ATTAINMENT, payout]]}},
        ], "cap": cap},
        "rating_multipliers": {1: 0, 5: multiplier},
        "commission": {"mode": mode, "boundary": "upper", "tiers": [{"from": 0, "rate": rate}, {"from": 1, "rate": rate}]},
    })


TOP_REVENUE = MAX_REVENUE - Decimal("0.000001")  # the largest value kpi_actual.value (Numeric(20,6)) holds
TOP_ATTAINMENT = MAX_ATTAINMENT - Decimal("0.000001")


@settings(max_examples=60, deadline=None)
@given(target=st.decimals(min_value=1, max_value=MAX_TARGET, places=2),
       factor=st.just(Decimal(0)) | st.decimals(min_value=Decimal("0.01"), max_value=MAX_COMPANY_FACTOR, places=4),
       multiplier=st.decimals(min_value=0, max_value=MAX_MULTIPLIER, places=4),
       payout=st.decimals(min_value=0, max_value=MAX_PAYOUT_FACTOR, places=6),
       cap=st.none() | st.decimals(min_value=0, max_value=MAX_PAYOUT_FACTOR, places=6),
       rate=st.decimals(min_value=0, max_value=MAX_RATE, places=6),
       mode=st.sampled_from(["retroactive", "marginal"]), rounding=st.sampled_from(["HALF_UP", "HALF_EVEN"]),
       currency=st.sampled_from(["JPY", "CNY", "KWD"]),
       attainment=st.decimals(min_value=-TOP_ATTAINMENT, max_value=TOP_ATTAINMENT, places=6),
       revenue=st.decimals(min_value=0, max_value=TOP_REVENUE, places=6))
@example(target=MAX_TARGET, factor=MAX_COMPANY_FACTOR, multiplier=MAX_MULTIPLIER, payout=MAX_PAYOUT_FACTOR,
         cap=None, rate=MAX_RATE, mode="retroactive", rounding="HALF_UP", currency="KWD", attainment=TOP_ATTAINMENT, revenue=TOP_REVENUE)
def test_every_payout_a_configuration_within_bounds_computes_fits_the_column(
        target, factor, multiplier, payout, cap, rate, mode, rounding, currency, attainment, revenue) -> None:
    plan = _plan(target, factor, multiplier, payout, cap, rate, mode, rounding)
    person = IncentiveInput(employee_id="E1", grade="G", currency=currency, rating_level=5,
                            attainment={"sales_attainment": attainment, "customer_retention": attainment},
                            revenue=revenue)
    lines = compute_payouts(plan, date(2026, 1, 1), date(2026, 12, 31), "c", [person])
    assert [line.line_type for line in lines] == ["bonus", "commission"]
    for line in lines:
        assert _fits_numeric_20_4(line.amount), line.explanation


@pytest.mark.parametrize(("cadence", "end", "expected"), [
    ("quarterly", "2026-12-31", "2026-09-30"), ("half_yearly", "2026-09-30", "2026-12-31"),
    ("annual", "2026-12-31", "2027-06-30")])
def test_a_cadence_that_does_not_fit_the_period_is_refused_naming_the_right_end(cadence: str, end: str,
                                                                              expected: str) -> None:
    text = demo_yaml("cadence: quarterly", f"cadence: {cadence}").replace("end: 2026-09-30", f"end: {end}")
    with pytest.raises(ConfigError) as err:
        parse_cycle_config(text)
    assert f"period.end: a {cadence} cycle starting 2026-07-01 ends {expected}" in str(err.value)


def test_a_cycle_pays_the_sales_blocks_and_names_its_plan_year() -> None:
    """A draw in a cycle's plan is paid by the cycle (issue 13): accepted, and the cycle belongs to a plan year."""
    text = demo_yaml("  company_factor: 1.1", "  company_factor: 1.1\n  draw: {kind: non_recoverable, amount: 1000}")
    config = parse_cycle_config(text)
    assert config.pays_sales() and config.plan_year_id() == "kam-incentive-2026-2026"
    named = parse_cycle_config(text.replace("timezone: Asia/Shanghai", "plan_year: FY2026\ntimezone: Asia/Shanghai", 1))
    assert named.plan_year_id() == "FY2026"
