"""What-if preview for HR: a plan's payouts for given inputs, without running a cycle.

The same pure calculation the cycle uses (domain.incentives.compute_payouts), so a preview and
the real payout agree to the cent.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from domain.errors import DomainError
from domain.incentives import IncentiveInput, IncentivePlan, PayoutLine, compute_payouts
from domain.money import to_decimal
from domain.text import tr
from domain.validation import error_text
from services.cycles import ConfigError, format_validation_error, parse_yaml_mapping, read_yaml_file
from services.errors import UserError

BASE_COLUMNS = ["employee_id", "grade", "currency", "rating", "employment_start", "employment_end", "revenue"]


class PreviewPeriod(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    start: date
    end: date


class PreviewPlanFile(BaseModel):
    """PLAN.yaml: the incentive plan and the period it pays for (proration needs it)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    period: PreviewPeriod
    incentive_plan: IncentivePlan


@dataclass
class Preview:
    plan: IncentivePlan
    lines: list[PayoutLine]


def load_plan_file(path: Path) -> PreviewPlanFile:
    data = parse_yaml_mapping(read_yaml_file(path), str(path))
    try:
        return PreviewPlanFile.model_validate(data)
    except ValidationError as err:
        raise ConfigError(format_validation_error(err, str(path), plan=True)) from None


def load_inputs(path: Path, measures: list[str]) -> list[IncentiveInput]:
    """INPUTS.csv: one row per employee; a column per bonus measure holds its attainment (1.0 = 100 %)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise UserError(tr("%(file)s: no such file", file=str(path))) from None
    except UnicodeDecodeError:
        raise UserError(tr("%(file)s: not UTF-8 text", file=str(path))) from None
    name = path.name
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in (reader.fieldnames or [])]
    if not header:
        raise UserError(tr("%(file)s:1: empty file; expected a header row", file=name))
    required = {"employee_id", "currency"}
    problems = [tr("%(file)s:1:%(column)s: missing required column", file=name, column=c)
                for c in sorted(required - set(header))]
    unknown = [c for c in header if c not in BASE_COLUMNS and c not in measures]
    problems += [tr("%(file)s:1:%(column)s: unknown column (expected %(expected)s)", file=name, column=c,
                    expected=", ".join(BASE_COLUMNS + measures)) for c in unknown]
    if problems:
        raise UserError(tr("%(problems)s", problems=problems))
    inputs: list[IncentiveInput] = []
    for line_no, raw in enumerate(reader, start=2):
        row = {k.strip(): (v or "").strip() for k, v in raw.items() if k is not None}

        def num(col: str, row: dict[str, str] = row, line_no: int = line_no):
            if not row.get(col):
                return None
            try:
                value = to_decimal(row[col])
            except DomainError:
                raise UserError(tr("%(file)s:%(line)s:%(column)s: %(value)s is not a number", file=name,
                                   line=str(line_no), column=col, value=repr(row[col]))) from None
            if value < 0:
                raise UserError(tr("%(file)s:%(line)s:%(column)s: %(value)s must not be negative", file=name,
                                   line=str(line_no), column=col, value=row[col]))
            return value

        def day(col: str, row: dict[str, str] = row, line_no: int = line_no):
            if not row.get(col):
                return None
            try:
                return date.fromisoformat(row[col])
            except ValueError:
                raise UserError(tr("%(file)s:%(line)s:%(column)s: %(value)s is not a date (YYYY-MM-DD)", file=name,
                                   line=str(line_no), column=col, value=repr(row[col]))) from None

        rating = num("rating")
        if rating is not None and rating != int(rating):
            raise UserError(tr("%(file)s:%(line)s:rating: %(value)s must be a whole level", file=name, line=str(line_no),
                               value=row["rating"]))
        try:
            inputs.append(IncentiveInput(
                employee_id=row.get("employee_id", ""), grade=row.get("grade") or None,
                currency=row.get("currency", ""), rating_level=None if rating is None else int(rating),
                attainment={m: v for m in measures if (v := num(m)) is not None}, revenue=num("revenue"),
                employment_start=day("employment_start"), employment_end=day("employment_end"),
            ))
        except ValidationError as err:
            first = err.errors()[0]
            col = str(first["loc"][0]) if first["loc"] else "row"
            raise UserError(tr("%(file)s:%(line)s:%(column)s: %(problem)s", file=name, line=str(line_no), column=col,
                               problem=error_text(first))) from None
    if not inputs:
        raise UserError(tr("%(file)s: no employee rows after the header", file=name))
    return inputs


def preview(plan_path: Path, inputs_path: Path) -> Preview:
    plan_file = load_plan_file(plan_path)
    plan = plan_file.incentive_plan
    measures = [m.id for m in plan.bonus.measures] if plan.bonus else []
    inputs = load_inputs(inputs_path, measures)
    try:
        lines = compute_payouts(plan, plan_file.period.start, plan_file.period.end, "preview", inputs)
    except DomainError as err:
        raise UserError(tr("%(file)s: %(problem)s", file=inputs_path.name, problem=err.as_text())) from None
    return Preview(plan, lines)
