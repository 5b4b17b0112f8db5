"""`kamreview goals remind --period 2026-Q3`: remind KAMs whose approved key results have had no check-in for a while."""

from typing import Annotated

import typer

from cli.common import Context, Json, command, emit_json

app = typer.Typer(help="goals (OKRs): check-in reminders", no_args_is_help=True)


@command(app, "remind")
async def remind(
    ctx: Context,
    period: Annotated[str, typer.Option("--period", help="the period label, e.g. 2026-Q3", show_default=False)],
    quiet_days: Annotated[int, typer.Option("--quiet-days", help="remind after this many days without a check-in")] = 14,
    json_output: Json = False,
) -> int:
    """queue a reminder to each KAM whose approved key results have had no recent check-in (once a day)"""
    from services.goals import queue_check_in_reminders

    run = await queue_check_in_reminders(await ctx.client(), ctx.db(), ctx.settings.task_queue, period, quiet_days)
    if json_output:
        emit_json({"batch": run.batch, "people": run.people, "messages": run.messages})
        return 0
    print(f"{run.people} KAM(s) to remind for {period}; {run.messages} new message(s) queued ({run.batch})")
    return 0
