"""Tables and progress for the CLI: Rich renders both (it measures wide characters such as 王芳 as two cells).

Rich is imported only when a table or a progress bar is drawn, so a command that prints neither does not pay
for it. Progress goes to stderr, and only when stderr is a terminal and the output is not ``--json``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from services.hr_views import CalibrationView

_quiet = False


def width(text: str) -> int:
    """Display width in terminal cells (Rich's measure: East Asian wide characters count two)."""
    from rich.cells import cell_len

    return cell_len(text)


def table(headers: Sequence[str], rows: Sequence[Sequence[object]], right: Sequence[int] = ()) -> str:
    """A plain table (no colour, no wrapping; trailing spaces trimmed), columns padded by display width."""
    from io import StringIO

    from rich import box
    from rich.console import Console
    from rich.table import Table

    utf = (getattr(sys.stdout, "encoding", None) or "utf-8").lower().replace("-", "").startswith("utf")
    grid = Table(box=box.SIMPLE_HEAD if utf else box.ASCII2, show_edge=False, pad_edge=False, header_style=None,
                 highlight=False, show_header=True)
    for i, header in enumerate(headers):
        grid.add_column(str(header), justify="right" if i in right else "left", no_wrap=True, overflow="crop")
    for row in rows:
        grid.add_row(*("" if c is None else str(c) for c in row))
    out = StringIO()
    Console(file=out, width=100_000, color_system=None, force_terminal=False, markup=False, emoji=False,
            highlight=False, legacy_windows=False).print(grid, crop=False)
    return "\n".join(line.rstrip() for line in out.getvalue().splitlines())


def quiet() -> None:
    """``--json``: stdout carries the JSON alone, and stderr no progress."""
    global _quiet
    _quiet = True


def progress(message: str) -> None:
    """A line saying what is happening, on stderr (kept out of ``--json`` output)."""
    if not _quiet:
        print(message, file=sys.stderr, flush=True)


def bars_shown() -> bool:
    return not _quiet and sys.stderr.isatty()


@contextmanager
def working(description: str, total: float | None = None) -> Iterator[Callable[..., None]]:
    """A progress bar (a spinner when ``total`` is None) on stderr while long work runs, gone when it ends.

    Yields ``update(completed=..., total=..., description=...)``. Without a terminal (a pipe, a test, ``--json``)
    nothing is drawn and ``update`` does nothing, so the output stays what a script can read.
    """
    if not bars_shown():
        yield _ignore
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    columns: list[Any] = [SpinnerColumn(), TextColumn("{task.description}")]
    if total is not None:
        columns += [BarColumn(), MofNCompleteColumn()]
    columns.append(TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(description, total=total)

        def update(**changes: Any) -> None:
            bar.update(task, **changes)

        yield update


def _ignore(**_: Any) -> None:
    return None


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
    if view.guideline_bias:
        source = "calibration.guideline_bias_pp" if view.guideline_bias_declared else "the default"
        lines.append(f"each team against the guideline (team % - guideline %, in points; flagged beyond "
                     f"{view.guideline_bias_pp} pp, {source}):")
        levels = [d.level for d in view.guideline_bias[0].deviations]
        lines.append(table(
            ["manager", "n", *(f"level {lv}" for lv in levels), "flags"],
            [(b.manager_id, b.count, *(f"{d.team_pct.normalize():f} % ({d.deviation_pp:+.2f}){' !' if d.flagged else ''}"
                                       for d in b.deviations), ", ".join(b.flags) or "-")
             for b in view.guideline_bias], right=tuple(range(1, len(levels) + 2))))
        for b in view.guideline_bias:
            for sentence in view.bias_sentences.get(b.manager_id, []):
                lines.append(f"  - {sentence}")
            if b.count < view.min_team_size:
                lines.append(f"  - {b.manager_id}: a team of {b.count} is smaller than {view.min_team_size}: not flagged")
    boxes = {cell.key: len(cell.employees) for row in view.grid for cell in row if cell.employees}
    if boxes:
        lines.append("9-box: " + ", ".join(f"{k} {v}" for k, v in sorted(boxes.items())))
    if view.unrated:
        lines.append(f"without a rating (adjust before finalizing): {', '.join(view.unrated)}")
    lines.append("within the guideline" if report.within_guideline else
                 "outside the guideline: " + "; ".join(report.violations))
    return "\n".join(lines)
