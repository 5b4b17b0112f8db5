"""`starter.py incentives preview`: the worked example, CSV output, and every input mistake."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

import starter

ROOT = Path(__file__).resolve().parent.parent
PLAN, INPUTS = ROOT / "examples" / "plan.yaml", ROOT / "examples" / "inputs.csv"


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = starter.main(["incentives", "preview", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_worked_example_matches_the_public_formulas(capsys):
    code, out, _ = run(capsys, str(PLAN), str(INPUTS), "--format", "csv")
    assert code == 0
    rows = {(r["employee_id"], r["line_type"]): r for r in csv.DictReader(io.StringIO(out))}
    assert rows[("E1", "bonus")]["amount"] == "18750.00"  # 10,000 × 125 % × 150 %
    assert rows[("E2", "bonus")]["amount"] == "6301.37"  # 20,000 × 1.25 × 92/365, rounded once
    assert rows[("E3", "commission")]["amount"] == "1200.00"  # 60,000 marginal
    assert "proration 92/365 days" in rows[("E2", "bonus")]["explanation"]


def test_table_output_explains_every_line(capsys):
    code, out, _ = run(capsys, str(PLAN), str(INPUTS))
    assert code == 0 and "18,750.00" in out and out.count("\n- ") == 4


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


HEADER = "employee_id,grade,currency,rating,employment_start,employment_end,revenue,sales_attainment,customer_retention\n"


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ("E1,K1,CNY,5,,,,1.o,0.9\n", "INPUTS.csv:2:sales_attainment: '1.o' is not a number"),
        ("E1,K1,CNY,5,2026-13-01,,,1,0.9\n", "INPUTS.csv:2:employment_start: '2026-13-01' is not a date"),
        ("E1,K1,CNY,5,,,-5,1,0.9\n", "INPUTS.csv:2:revenue: -5 must not be negative"),
        ("E1,K1,CNY,4.5,,,,1,0.9\n", "INPUTS.csv:2:rating: 4.5 must be a whole level"),
        ("E1,K9,CNY,5,,,,1,0.9\n", "no target"),
        ("E1,K1,CNY,5,,,,1,\n", "customer_retention"),
    ],
)
def test_input_mistakes_name_line_and_column(capsys, tmp_path, rows, expected):
    code, _, err = run(capsys, str(PLAN), str(_write(tmp_path, "INPUTS.csv", HEADER + rows)))
    assert code == 2 and expected in err


def test_header_mistakes(capsys, tmp_path):
    code, _, err = run(capsys, str(PLAN), str(_write(tmp_path, "INPUTS.csv", "employee_id,bonus_pool\nE1,5\n")))
    assert code == 2
    assert "INPUTS.csv:1:currency: missing required column" in err
    assert "INPUTS.csv:1:bonus_pool: unknown column" in err


def test_invalid_plan_names_the_field(capsys, tmp_path):
    plan = PLAN.read_text(encoding="utf-8").replace("weight: 30", "weight: 20")
    code, _, err = run(capsys, str(_write(tmp_path, "plan.yaml", plan)), str(INPUTS))
    assert code == 2 and "incentive_plan.bonus.measures" in err and "90" in err
