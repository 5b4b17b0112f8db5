"""The calibration view HR works from: distribution against the guideline, per manager, 9-box."""

from __future__ import annotations

import psycopg

from domain.calibration import distribution_report
from domain.cycle import CycleConfig
from services.console import table
from services.db import libpq_url
from services.errors import NotFound


def calibration_report_text(database_url: str, cycle_id: str) -> str:
    with psycopg.connect(libpq_url(database_url)) as conn:
        row = conn.execute("SELECT config FROM review_cycle WHERE id = %s", (cycle_id,)).fetchone()
        if row is None:
            raise NotFound(f"cycle {cycle_id} does not exist")
        config = CycleConfig.model_validate(row[0])
        ratings = conn.execute(
            """SELECT employee_id, coalesce(manager_id, '-'), final_level, nine_box FROM calibrated_rating
               WHERE cycle_id = %s ORDER BY employee_id""", (cycle_id,)).fetchall()
    if not ratings:
        return f"cycle {cycle_id}: calibration has not opened yet"
    cal = config.calibration
    rated = [(e, m, lvl) for e, m, lvl, _ in ratings if lvl is not None]
    report = distribution_report(rated, cal)
    lines = [f"rating distribution of {cycle_id} ({report.total} rated, guideline tolerance {cal.tolerance_pct} pp):"]
    lines.append(table(
        ["level", "label", "actual", "actual %", "guideline %", "guideline n", "diff", ""],
        [(lv.level, lv.label, lv.actual, lv.actual_pct, lv.guideline_pct, lv.guideline_count,
          f"{lv.difference:+d}", "#" * lv.actual) for lv in report.levels],
        right=(2, 3, 4, 5, 6)))
    lines.append("per manager:")
    lines.append(table(
        ["manager", "n", "mean level", "company", "diff", "flags"],
        [(m.manager_id, m.count, m.mean_level, m.company_mean, m.difference, ", ".join(m.flags) or "-")
         for m in report.managers], right=(1, 2, 3, 4)))
    boxes: dict[str, int] = {}
    for *_, box in ratings:
        if box:
            boxes[box] = boxes.get(box, 0) + 1
    if boxes:
        lines.append("9-box: " + ", ".join(f"{k} {v}" for k, v in sorted(boxes.items())))
    unrated = [e for e, _, lvl, _ in ratings if lvl is None]
    if unrated:
        lines.append(f"without a rating (adjust before finalizing): {', '.join(unrated)}")
    lines.append("within the guideline" if report.within_guideline else
                 "outside the guideline: " + "; ".join(report.violations))
    return "\n".join(lines)


def print_calibration_report(database_url: str, cycle_id: str) -> None:
    print(calibration_report_text(database_url, cycle_id))
