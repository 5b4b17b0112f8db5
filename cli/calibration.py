"""`kamreview calibration …`: the distribution against the guideline, adjustments, corrections, finalizing."""

from typing import Annotated

import typer

from cli.common import Actor, Context, Cycle, Employee, Json, command, emit_json, id_arg, whole_arg

app = typer.Typer(help="calibrate ratings", no_args_is_help=True)

Level = Annotated[int, typer.Argument(parser=whole_arg, metavar="LEVEL", show_default=False)]
Reason = Annotated[str, typer.Option("--reason", show_default=False, help="why (kept in the audit log)")]


@command(app, "report")
async def report(ctx: Context, cycle: Cycle, json_output: Json = False) -> int:
    """distribution against the guideline, per manager"""
    from services.db import DirectDatabase
    from services.hr_views import calibration_view

    async with DirectDatabase(ctx.db()).connection() as conn:
        view = await calibration_view(conn, cycle)
    if json_output:
        emit_json(view)
        return 0
    from services.console import calibration_text

    print(calibration_text(view))
    return 0


@command(app, "adjust")
async def adjust(
    ctx: Context,
    cycle: Cycle,
    employee: Employee,
    level: Level,
    reason: Reason,
    actor: Actor = None,
    request_id: Annotated[str | None, typer.Option("--request-id", parser=id_arg, show_default=False,
                                                   help="make a retried command apply once")] = None,
) -> int:
    """set a participant's rating level, with a reason"""
    from services.cycles import adjust_rating

    who = ctx.actor(actor)
    n = await adjust_rating(await ctx.client(), ctx.db(), cycle, employee, level, reason, who, request_id)
    print(f"{employee} set to level {level} ({n} adjustment(s) in this cycle)")
    return 0


@command(app, "correct")
async def correct(ctx: Context, cycle: Cycle, employee: Employee, level: Level, reason: Reason, actor: Actor = None) -> int:
    """after lock: correct a final rating (a reopened review)"""
    from services.cycles import correct_rating_after_lock

    who = ctx.actor(actor)
    before = await correct_rating_after_lock(ctx.db(), cycle, employee, level, reason, who)
    if before == level:
        print(f"{employee} is already at level {level}; nothing changed")
    else:
        print(f"{employee}: level {before} -> {level} recorded; run `kamreview payouts recompute "
              f"{cycle}` to compute the delta lines")
    return 0


@command(app, "finalize")
async def finalize(ctx: Context, cycle: Cycle, actor: Actor = None) -> int:
    """finalize calibration (then incentives are computed)"""
    from services.cycles import finalize_calibration

    who = ctx.actor(actor)
    summary = await finalize_calibration(await ctx.client(), ctx.db(), cycle, who)
    print(f"calibration of {cycle} finalized: {summary.ratings} ratings"
          + ("" if summary.within_guideline else " (outside the guideline: " + "; ".join(summary.violations) + ")"))
    return 0
