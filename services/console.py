"""Plain-text tables and progress lines for the CLI (wide characters such as 王芳 count double)."""

from __future__ import annotations

import sys
import unicodedata
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from services.hr_views import CalibrationView


def width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def pad(text: str, size: int, right: bool = False) -> str:
    gap = " " * max(0, size - width(text))
    return gap + text if right else text + gap


def table(headers: Sequence[str], rows: Sequence[Sequence[object]], right: Sequence[int] = ()) -> str:
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in row] for row in rows]
    sizes = [max(width(r[i]) for r in cells) for i in range(len(headers))]
    lines = []
    for n, row in enumerate(cells):
        lines.append("  ".join(pad(c, sizes[i], i in right) for i, c in enumerate(row)).rstrip())
        if n == 0:
            lines.append("  ".join("-" * s for s in sizes))
    return "\n".join(lines)


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def calibration_text(view: CalibrationView) -> str:
    """The calibration view as the CLI prints it: distribution against the guideline, per manager, 9-box."""
    report = view.report
    if not view.ratings or report is None:
        return f"cycle {view.cycle_id}: calibration has not opened yet"
    lines = [f"rating distribution of {view.cycle_id} ({report.total} rated, guideline tolerance {view.tolerance_pct} pp):"]
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
    boxes = {cell.key: len(cell.employees) for row in view.grid for cell in row if cell.employees}
    if boxes:
        lines.append("9-box: " + ", ".join(f"{k} {v}" for k, v in sorted(boxes.items())))
    if view.unrated:
        lines.append(f"without a rating (adjust before finalizing): {', '.join(view.unrated)}")
    lines.append("within the guideline" if report.within_guideline else
                 "outside the guideline: " + "; ".join(report.violations))
    return "\n".join(lines)
