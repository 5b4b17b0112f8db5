"""`kamreview kpi compute PERIOD…` and `kamreview kpi targets FILE`: KPI figures from the stored CRM records, and the
targets they are measured against (docs/kpis.md)."""

from pathlib import Path
from typing import Annotated

import typer

from cli.common import Actor, Context, Json, command, emit_json

app = typer.Typer(help="KPI figures computed from the CRM records, and their targets", no_args_is_help=True)

Preview = Annotated[bool, typer.Option("--preview", help="say what would change and write nothing")]


@command(app, "compute")
async def compute(
    ctx: Context,
    periods: Annotated[list[str], typer.Argument(metavar="PERIOD...", show_default=False,
                                                 help="e.g. 2026-Q3, 2026-H1, 2026 or 2026-09")],
    preview: Preview = False,
    actor: Actor = None,
    json_output: Json = False,
) -> int:
    """compute every KAM's KPI figures of a period from the CRM records (each figure keeps its records)"""
    from services.kpis import compute_kpis, period_of

    for label in periods:  # every period is checked before anything is computed
        period_of(label)
    who = "preview" if preview else ctx.actor(actor)
    db = ctx.db()
    runs = [await compute_kpis(db, label, who, write=not preview, all_records=json_output) for label in periods]
    if json_output:
        emit_json([{"period": r.period.label, "written": r.written, "changes": r.changes,
                    "locked_cycles": r.locked_cycles,
                    "figures": [{"employee_id": f.figure.employee_id, "kpi_id": f.figure.kpi_id,
                                 "value": f.figure.value, "numerator": f.figure.numerator,
                                 "denominator": f.figure.denominator, "reason": f.figure.reason,
                                 "records": f.record_list()} for f in r.figures]} for r in runs])
        return 0
    for run in runs:
        print(f"{run.period.label} ({run.period.start} to {run.period.end}):")
        for line in run.lines():
            print(f"  {line}")
        if preview:
            print("preview only: nothing was written")
    return 0


@command(app, "targets")
def targets(
    ctx: Context,
    file: Annotated[Path, typer.Argument(metavar="FILE.csv", show_default=False,
                                         help="employee_id,period,kpi_id,target,currency")],
    preview: Preview = False,
    actor: Actor = None,
) -> int:
    """import KPI targets per KAM and period (sales amount, number of new accounts)"""
    from services.imports.kpi_targets import import_targets, preview_targets

    db = ctx.db()
    if preview:
        result = preview_targets(db, file)
        print(result)
        print("preview only: nothing was written" + ("" if result.changed else " (and nothing would change)"))
        return 0
    summary = import_targets(db, file, ctx.actor(actor))
    c = summary.kpi_target
    print(f"kpi_target: {c.inserted} inserted, {c.updated} updated, {c.unchanged} unchanged")
    print("imported; run `kamreview kpi compute PERIOD` for the figures" if summary.changed
          else "nothing changed (the same file was imported before)")
    return 0
