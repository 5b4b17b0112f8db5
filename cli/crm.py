"""`kamreview crm import zoho|fxiaoke FILES…`: the CRM's own export files, previewed before anything is written;
`kamreview crm pull zoho|fxiaoke`: the same through the CRM's API (credentials from the settings, never arguments)."""

from pathlib import Path
from typing import Annotated, Literal

import typer

from cli.common import Actor, Context, Json, command, emit_json
from cli.ops import print_preview, print_summary

app = typer.Typer(help="key accounts, contacts, deals and cases from a CRM's exports", no_args_is_help=True)

Files = Annotated[list[Path], typer.Argument(show_default=False, help="the export files (Zoho: CSV; Fxiaoke: .xlsx)")]


async def import_(
    ctx: Context,
    source: Annotated[Literal["zoho", "fxiaoke"], typer.Argument(show_default=False, help="which CRM wrote the files")],
    files: Files,
    mapping: Annotated[Path | None, typer.Option("--mapping", help="YAML: which CRM field means what "
                                                 "(defaults: a standard setup; docs/crm-imports.md)")] = None,
    preview: Annotated[bool, typer.Option("--preview", help="say what would change and write nothing")] = False,
    actor: Actor = None,
) -> int:
    """import a CRM's export files (validated completely, then written in one transaction)"""
    from services.console import progress, working
    from services.imports.crm import apply_crm_import, preview_crm_import
    from services.org_changes import describe

    names = ", ".join(f.name for f in files)
    progress(f"reading {names} ...")
    db = ctx.db()
    if preview:
        with working(f"comparing {names} with the database"):
            result = preview_crm_import(db, source, files, mapping)
            changes = await describe(db, result.org) if result.org else None
        return print_preview(result, changes)
    who = ctx.actor(actor)
    with working(f"importing {names}"):
        summary = apply_crm_import(db, source, files, mapping, actor=who)
    print_summary(summary, "the same files were imported before")
    if summary.kpi_dates:  # deals or cases changed: say which KPI figures to recompute
        from services.kpis import stale_periods

        periods = await stale_periods(db, summary.kpi_dates)
        for period in periods:
            print(f"deals or cases of {period} changed: run `kamreview kpi compute {period}`")
        if not periods:
            print("deals or cases changed: `kamreview kpi compute PERIOD` computes the KPI figures from them")
    from cli.ops import apply_org_changes

    return await apply_org_changes(ctx, db, who)


command(app, "import")(import_)


Mapping = Annotated[Path | None, typer.Option("--mapping", help="YAML: which CRM field means what "
                                              "(defaults: a standard setup; docs/crm-imports.md)")]


async def pull(
    ctx: Context,
    source: Annotated[Literal["zoho", "fxiaoke"], typer.Argument(show_default=False, help="which CRM to pull from")],
    mapping: Mapping = None,
    preview: Annotated[bool, typer.Option("--preview", help="say what would change and write nothing")] = False,
    actor: Actor = None,
) -> int:
    """pull accounts, contacts, deals, orders and cases through the CRM's API (KAMREVIEW_ZOHO_* or
    KAMREVIEW_FXIAOKE_* settings), then validate and write them like `crm import` (or only preview); exit 5 when
    the CRM is unreachable or keeps refusing for load, 4 when it refuses the credentials' rights"""
    from services.console import progress
    from services.imports.crm import apply_crm_pull, preview_crm_pull

    progress(f"pulling from {source} ...")
    db = ctx.db()
    if preview:
        from services.org_changes import describe

        result = await preview_crm_pull(db, source, mapping)
        changes = await describe(db, result.org) if result.org else None
        return print_preview(result, changes)
    who = ctx.actor(actor)
    summary = await apply_crm_pull(db, source, mapping, actor=who)
    print_summary(summary, "the same records were imported before")
    from cli.ops import apply_org_changes

    return await apply_org_changes(ctx, db, who)


command(app, "pull")(pull)


@command(app, "deals")
def deals(
    ctx: Context,
    file: Annotated[Path, typer.Argument(show_default=False, help=(
        "DEALS.csv: deal_id, employee_id (or K01:60;K02:40), amount, currency, closed_on, status, cancelled_on"))],
    preview: Annotated[bool, typer.Option("--preview", help="say what would change and write nothing")] = False,
    actor: Actor = None,
) -> int:
    """split credit of shared deals, and deals cancelled, refunded or churned after they were won (for clawbacks)"""
    from services.imports.deals import apply_deals_file

    s = apply_deals_file(ctx.db(), file, ctx.actor(actor), preview=preview)
    verb = "would add" if preview else "added"
    print(f"{file.name}: {s.deals} deal(s); {verb} {s.new_deals} new deal(s) and {s.new_events} event(s); "
          f"{s.shared} shared deal(s)")
    return 0


# -- the daily sync -------------------------------------------------------------------------------------

sync_app = typer.Typer(help="the daily CRM sync (a Temporal Schedule, off until enabled)", no_args_is_help=True)
app.add_typer(sync_app, name="sync")
SyncSource = Annotated[Literal["zoho", "fxiaoke"], typer.Argument(show_default=False, help="which CRM")]


@command(sync_app, "enable")
async def sync_enable(
    ctx: Context,
    source: SyncSource,
    at: Annotated[str, typer.Option("--at", help="local time of day, HH:MM")] = "02:00",
    timezone: Annotated[str, typer.Option("--timezone", help="IANA zone of --at")] = "Asia/Shanghai",
    mapping: Mapping = None,
    actor: Actor = None,
) -> int:
    """pull the CRM every day at --at and apply what changed (as `crm pull`); the mapping is kept with it"""
    from services.crm_sync import enable_crm_sync
    from services.cycles import read_yaml_file

    text = read_yaml_file(mapping) if mapping is not None else None
    sync = await enable_crm_sync(await ctx.client(), ctx.db(), source, ctx.actor(actor), ctx.settings.task_queue,
                                 at=at, timezone=timezone, mapping_text=text,
                                 mapping_name=str(mapping) if mapping else None)
    nxt = sync.next_runs[0].isoformat() if sync.next_runs else "-"
    print(f"{source} sync enabled: daily at {sync.at} ({sync.timezone}); next run {nxt}")
    return 0


@command(sync_app, "status")
async def sync_status(ctx: Context, json_output: Json = False) -> int:
    """which CRM syncs are enabled, and their next and last runs"""
    from services.crm_sync import crm_syncs

    rows = await crm_syncs(await ctx.client())
    if json_output:
        emit_json({"syncs": rows})
        return 0
    if not rows:
        print("no CRM sync is enabled (kamreview crm sync enable zoho|fxiaoke)")
        return 0
    from services.console import table

    print(table(["crm", "daily at", "zone", "state", "next run", "last run"],
                [(s.source, s.at, s.timezone, "paused" if s.paused else "active",
                  s.next_runs[0].isoformat() if s.next_runs else "-",
                  s.recent_runs[-1].isoformat() if s.recent_runs else "-") for s in rows]))
    return 0


@command(sync_app, "run")
async def sync_run(ctx: Context, source: SyncSource, actor: Actor = None) -> int:
    """run the enabled sync now (its run shows in the Temporal Web UI)"""
    from services.crm_sync import run_crm_sync_now

    await run_crm_sync_now(await ctx.client(), ctx.db(), source, ctx.actor(actor))
    print(f"{source} sync: a run was started")
    return 0


@command(sync_app, "disable")
async def sync_disable(ctx: Context, source: SyncSource, actor: Actor = None) -> int:
    """stop the daily sync (what it imported stays)"""
    from services.crm_sync import disable_crm_sync

    await disable_crm_sync(await ctx.client(), ctx.db(), source, ctx.actor(actor))
    print(f"{source} sync disabled")
    return 0
