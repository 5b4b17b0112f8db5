"""`kamreview cycle …`: create, start, cancel and watch review cycles."""

from datetime import UTC
from pathlib import Path
from typing import Annotated

import typer

from cli.common import Actor, Context, Cycle, Json, command, emit_json, id_arg

app = typer.Typer(help="create, start and watch review cycles", no_args_is_help=True)

# What clears each kind of blocker, as a command of this CLI (the web app shows its own buttons).
BLOCKER_HINTS = {
    "incentives_blocked": "then: kamreview incentives retry {cycle}",
    "unrated": "kamreview calibration adjust {cycle} EMPLOYEE LEVEL --reason ...",
    "finalize": "kamreview calibration finalize {cycle}",
    "approve": "kamreview payouts approve {cycle}",
    "not_started": "kamreview cycle start {cycle}",
}


@command(app, "create")
async def create(
    ctx: Context,
    config: Annotated[Path, typer.Argument(show_default=False, help="the cycle's YAML configuration")],
    id: Annotated[str | None, typer.Option("--id", parser=id_arg, help="override the cycle id of the file")] = None,
    preview: Annotated[bool, typer.Option("--preview", help="say who would be reviewed and create nothing")] = False,
    actor: Actor = None,
) -> int:
    """create a cycle from a YAML configuration (validated, then frozen)"""
    from services.cycles import create_cycle, load_cycle_config, preview_participants

    config_ = load_cycle_config(config)
    if id:
        config_ = config_.model_copy(update={"id": id})  # id has passed the id grammar (id_arg)
    if preview:
        found = await preview_participants(ctx.db(), config_)
        more = " ..." if found.participants > len(found.employees) else ""
        print(f"cycle {found.cycle_id} would review {found.participants} participants: "
              f"{', '.join(found.employees)}{more}")
        for line in found.excluded:
            print(f"  excluded: {line}")
        print("preview only: nothing was created")
        return 0
    who = ctx.actor(actor)
    created = await create_cycle(ctx.db(), config_, actor=who)
    verb = "created" if created.created else "already exists (same configuration, nothing changed)"
    print(f"cycle {created.cycle_id} {verb}: {created.participants} participants")
    for line in created.excluded:
        print(f"  excluded: {line}")
    return 0


@command(app, "start")
async def start(ctx: Context, cycle: Cycle) -> int:
    """start a created cycle"""
    from services.cycles import start_cycle

    client = await ctx.client()
    wf = await start_cycle(client, ctx.db(), cycle, ctx.settings.task_queue)
    print(f"cycle {cycle} started (workflow {wf})")
    return 0


@command(app, "cancel")
async def cancel(
    ctx: Context,
    cycle: Cycle,
    reason: Annotated[str, typer.Option("--reason", help="why (kept in the audit log)", show_default=False)],
    actor: Actor = None,
) -> int:
    """cancel a cycle before its payouts are approved (open reviews end)"""
    from services.console import working
    from services.cycles import cancel_cycle

    who = ctx.actor(actor)
    client = await ctx.client()
    with working(f"cancelling {cycle}: waiting for its workflows to end"):
        status = await cancel_cycle(client, ctx.db(), cycle, who, reason)
    print(f"cycle {cycle}: {status}; open reviews were cancelled, what was submitted stays recorded")
    return 0


def _late_rows(report) -> list[dict]:
    return [{"kind": k, "assignee_id": a, "subject_employee_id": s, "task_id": t, "due_at": d}
            for k, a, s, t, d in report.late]


@command(app, "status")
async def status(ctx: Context, cycle: Cycle, json_output: Json = False) -> int:
    """counts per phase, who is late, what is blocking"""
    from services.cycles import cycle_report

    client = await ctx.client()
    r = await cycle_report(client, ctx.db(), cycle)
    phase = r.workflow.phase if r.workflow else r.status
    if json_output:
        emit_json({
            "cycle_id": r.cycle_id, "name": r.name, "status": r.status, "phase": phase, "period": r.period,
            "participants": r.participants, "workflow": r.workflow, "reviews": r.reviews, "tasks": r.tasks,
            "late": _late_rows(r),
            "blockers": [{"kind": b.kind, "message": b.message,
                          "hint": BLOCKER_HINTS[b.kind].format(cycle=r.cycle_id) if b.kind in BLOCKER_HINTS else None}
                         for b in r.blockers],
        })
        return 0
    from services.console import table

    print(f"cycle {r.cycle_id} ({r.name}), period {r.period}: phase {phase}, {r.participants} participants")
    if r.workflow:
        w = r.workflow
        closed = (f"; {w.reviews_with_missing} of {w.reviews_closed} reviews closed with something missing"
                  if w.reviews_closed else "")
        print(f"  review batches started {w.batches_done}/{w.batches_total}{closed}; adjustments {w.adjustments};"
              f" payout lines {w.payout_lines}")
    print("  reviews: " + ", ".join(f"{k} {v}" for k, v in sorted(r.reviews.items())))
    if r.tasks:
        statuses = ["open", "done", "missed"] + (["cancelled"] if any("cancelled" in c for c in r.tasks.values()) else [])
        rows = [(kind, *(c.get(s, 0) for s in statuses)) for kind, c in sorted(r.tasks.items())]
        print(table(["task", *statuses], rows, right=tuple(range(1, len(statuses) + 1))))
    if r.late:
        print("late (open past the due time):")
        print(table(["task", "assignee", "for", "due"],
                    [(k, a, s, d.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")) for k, a, s, _, d in r.late]))
    for b in r.blockers:
        hint = BLOCKER_HINTS.get(b.kind)
        print(f"blocking: {b.message}" + (f" ({hint.format(cycle=r.cycle_id)})" if hint else ""))
    return 0


@command(app, "list")
async def list_(ctx: Context, json_output: Json = False) -> int:
    """list cycles"""
    from services.db import DirectDatabase
    from services.hr_views import cycles

    async with DirectDatabase(ctx.db()).connection() as conn:
        rows = await cycles(conn)
    if json_output:
        emit_json({"cycles": rows})
        return 0
    from services.console import table

    print(table(["cycle", "name", "status", "participants", "created"],
                [(c.cycle_id, c.name, c.status, c.participants, c.created_at.strftime("%Y-%m-%d %H:%M")) for c in rows],
                right=(3,)))
    return 0


# -- recurring cycles ------------------------------------------------------------------------------------

schedule_app = typer.Typer(help="recurring cycles: a Temporal Schedule opens each period's cycle",
                           no_args_is_help=True)
app.add_typer(schedule_app, name="schedule")
ScheduleName = Annotated[str, typer.Argument(parser=id_arg, show_default=False, help="the schedule's name")]


def _date_arg(value: str):
    from datetime import date

    from domain.text import tr
    from services.errors import Rejected

    try:
        return date.fromisoformat(value)
    except ValueError:
        raise Rejected(tr("--first: %(value)s is not a date (YYYY-MM-DD)", value=repr(value))) from None


@command(schedule_app, "create")
async def schedule_create(
    ctx: Context,
    template: Annotated[Path, typer.Argument(show_default=False,
                                             help="a cycle configuration whose id and name may say {period}")],
    cadence: Annotated[str, typer.Option("--cadence", help="quarterly, half_yearly or annual", show_default=False)],
    first: Annotated[str, typer.Option("--first", help="the first period's start, YYYY-MM-DD (day 1-28)",
                                       show_default=False)],
    name: Annotated[str | None, typer.Option("--name", parser=id_arg,
                                             help="the schedule's name (default: the template's id)")] = None,
    actor: Actor = None,
) -> int:
    """make a schedule that creates and starts the cycle of every period, at midnight of its first day"""
    from services.cycles import read_yaml_file
    from services.schedules import create_cycle_schedule

    who = ctx.actor(actor)
    made = await create_cycle_schedule(await ctx.client(), ctx.db(), read_yaml_file(template), cadence,
                                       _date_arg(first), who, ctx.settings.task_queue, name=name, source=str(template))
    when = made.next_runs[0].isoformat() if made.next_runs else "never"
    print(f"schedule {made.name}: {made.cadence} from {made.first}; next run {when} ({made.timezone}) "
          f"opens {made.next_cycle}")
    return 0


@command(schedule_app, "list")
async def schedule_list(ctx: Context, json_output: Json = False) -> int:
    """list the cycle schedules with their next runs"""
    from services.schedules import list_cycle_schedules

    rows = await list_cycle_schedules(await ctx.client())
    if json_output:
        emit_json({"schedules": rows})
        return 0
    from services.console import table

    print(table(["schedule", "cadence", "first", "state", "next run", "next cycle"],
                [(s.name, s.cadence, s.first.isoformat(), "paused" if s.paused else "active",
                  s.next_runs[0].isoformat() if s.next_runs else "-", s.next_cycle or "-") for s in rows]))
    return 0


@command(schedule_app, "pause")
async def schedule_pause(ctx: Context, name: ScheduleName,
                         note: Annotated[str, typer.Option("--note", help="why (shown in the Web UI)")] = "",
                         actor: Actor = None) -> int:
    """pause a schedule: no cycle opens until it is resumed"""
    from services.schedules import pause_cycle_schedule

    await pause_cycle_schedule(await ctx.client(), ctx.db(), name, ctx.actor(actor), note)
    print(f"schedule {name} paused")
    return 0


@command(schedule_app, "resume")
async def schedule_resume(ctx: Context, name: ScheduleName, actor: Actor = None) -> int:
    """resume a paused schedule"""
    from services.schedules import resume_cycle_schedule

    await resume_cycle_schedule(await ctx.client(), ctx.db(), name, ctx.actor(actor))
    print(f"schedule {name} resumed")
    return 0


@command(schedule_app, "run")
async def schedule_run(ctx: Context, name: ScheduleName, actor: Actor = None) -> int:
    """run a schedule now: it opens today's period (nothing if that cycle exists)"""
    from services.schedules import run_cycle_schedule_now

    await run_cycle_schedule_now(await ctx.client(), ctx.db(), name, ctx.actor(actor))
    print(f"schedule {name}: a run was started")
    return 0


@command(schedule_app, "delete")
async def schedule_delete(ctx: Context, name: ScheduleName, actor: Actor = None) -> int:
    """delete a schedule (the cycles it created stay)"""
    from services.schedules import delete_cycle_schedule

    await delete_cycle_schedule(await ctx.client(), ctx.db(), name, ctx.actor(actor))
    print(f"schedule {name} deleted; the cycles it created stay")
    return 0
