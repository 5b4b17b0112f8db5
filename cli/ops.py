"""`kamreview db upgrade`, `import`, `demo` and `servers …`: the schema, the data, and the embedded servers."""

import sys
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from cli.common import Actor, Context, command, exit_code

db_app = typer.Typer(help="the database schema", no_args_is_help=True)

CsvFile = Annotated[Path, typer.Argument(show_default=False)]


def upgrade(ctx: Context) -> int:
    """create or upgrade the database schema (idempotent; concurrent runs migrate once)"""
    ctx.db(upgrade=True)
    print("schema is up to date")
    return 0


command(db_app, "upgrade")(upgrade)


async def import_(
    ctx: Context, org: CsvFile, accounts: CsvFile, kpis: CsvFile,
    preview: Annotated[bool, typer.Option("--preview", help="say what would change, org changes and the running "
                                          "cycles they reach included, and write nothing")] = False,
    actor: Actor = None,
) -> int:
    """import the organisation, key accounts and KPI actuals (one transaction); org changes then reach running cycles"""
    from services.console import progress, working

    progress(f"validating {org.name}, {accounts.name}, {kpis.name} ...")
    db = ctx.db()
    if preview:
        from services.importer import preview_files
        from services.org_changes import describe

        with working(f"comparing {org.name}, {accounts.name}, {kpis.name} with the database"):
            result = preview_files(db, org, accounts, kpis)
            changes = await describe(db, result.org) if result.org else None
        return print_preview(result, changes)
    from services.importer import import_files

    with working(f"importing {org.name}, {accounts.name}, {kpis.name}"):
        summary = import_files(db, org, accounts, kpis, actor=_acting(ctx, actor))
    print_summary(summary, "the same files were imported before")
    await _sign_ins_after_import(ctx, db)
    return await apply_org_changes(ctx, db, actor)


async def import_org(
    ctx: Context,
    source: Annotated[Literal["hr"], typer.Argument(show_default=False, help="where the org comes from: hr = an HR "
                                                    "system's roster export (.xlsx or CSV)")],
    file: CsvFile,
    mapping: Annotated[Path | None, typer.Option("--mapping", help="YAML: which column means what and which job "
                                                 "titles are which role (docs/hr-exports.md)")] = None,
    preview: Annotated[bool, typer.Option("--preview", help="say what would change, org changes and the running "
                                          "cycles they reach included, and write nothing")] = False,
    actor: Actor = None,
) -> int:
    """import the organisation from an HR system's roster export; org changes then reach running cycles"""
    from services.console import progress, working
    from services.imports.hr_export import apply_hr_import, preview_hr_import

    progress(f"reading {file.name} ...")
    db = ctx.db()
    if preview:
        from services.org_changes import describe

        with working(f"comparing {file.name} with the database"):
            result = preview_hr_import(db, file, mapping)
            changes = await describe(db, result.org) if result.org else None
        return print_preview(result, changes)
    with working(f"importing {file.name}"):
        summary = apply_hr_import(db, file, mapping, actor=_acting(ctx, actor))
    c = summary.employee
    print(f"employee: {c.inserted} inserted, {c.updated} updated, {c.unchanged} unchanged")
    print("imported" if summary.changed else "nothing changed (the same file was imported before)")
    await _sign_ins_after_import(ctx, db)
    return await apply_org_changes(ctx, db, actor)


def print_preview(result: Any, changes: Any) -> int:
    """An import's preview (``ImportPreview``) and the org changes it would bring to running cycles; writes nothing."""
    print(result)
    if changes and changes.lines():  # joiners, leavers, moves: what they do to the running cycles
        print(changes)
    print("preview only: nothing was written" + ("" if result.changed else " (and nothing would change)"))
    return 0


def print_summary(summary: Any, unchanged: str) -> None:
    """What an import wrote, per table; ``unchanged`` says why nothing changed when nothing did."""
    from services.console import table

    rows = [(name, c.inserted, c.updated, c.unchanged) for name, c in summary.tables.items()]
    print(table(["table", "inserted", "updated", "unchanged"], rows, right=(1, 2, 3)))
    print("imported" if summary.changed else f"nothing changed ({unchanged})")


def _acting(ctx: Context, actor: str | None) -> str:
    """Who imports, for the audit log: --actor or the configured identity; "hr" when none is configured (as before)."""
    from services.errors import UserError

    try:
        return ctx.actor(actor)
    except UserError:
        return "hr"


async def apply_org_changes(ctx: Context, db: str, actor: str | None) -> int:
    """Org changes an import wrote (this one or an earlier one cut short) applied to the running cycles."""
    from services.errors import UserError
    from services.org_changes import apply_pending, has_pending

    if not await has_pending(db):
        return 0
    from services.console import working

    try:
        client = await ctx.client()
    except UserError as err:  # the import is written; its org changes wait for the next import
        print(f"the org changes were not applied to the running cycles yet: {err}; importing again (even the same "
              "files) applies them", file=sys.stderr)
        return exit_code(err)
    with working("applying the org changes to the running cycles"):
        report = await apply_pending(client, db, _acting(ctx, actor))
    if report.lines():
        print(report)
    return 0


async def _sign_ins_after_import(ctx: Context, db: str) -> None:
    """Roles of invited accounts follow the new org; with KAMREVIEW_WEB_INVITE_ON_IMPORT everyone new is invited."""
    from services.accounts import after_import

    client = await ctx.client() if ctx.settings.web.invite_on_import else None
    changed, invited = await after_import(db, ctx.settings.web, client, ctx.settings.task_queue)
    if changed:
        print(f"sign-in roles now following the org: {', '.join(changed)}")
    if invited is not None:
        print(f"invited to sign in: {', '.join(invited.done) if invited.done else 'nobody new'}"
              + (f" ({len(invited.skipped)} skipped: `kamreview people list`)" if invited.skipped else ""))


async def demo(
    ctx: Context,
    fast: Annotated[bool, typer.Option("--fast", help="shorter deadlines (used by the tests)")] = False,
    source: Annotated[Literal["csv", "zoho"], typer.Option(
        "--source", help="where the key accounts come from: the project's CSV file (demo/accounts.csv) or Zoho CRM's "
        "export files (demo/zoho/)")] = "csv",
) -> int:
    """run a whole review cycle with simulated people"""
    from services.demo import run_demo

    return await run_demo(ctx.settings, fast=fast, source=source)


def servers(ctx: Context, action: Annotated[Literal["start", "stop"], typer.Argument(show_default=False)]) -> int:
    """start or stop the embedded servers"""
    import asyncio

    from services.embedded import stop_all, temporal_ui_url

    if action == "stop":
        stopped = stop_all(ctx.settings)
        print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))
        return 0
    ctx.db()
    asyncio.run(ctx.client())
    print(f"PostgreSQL: {'configured' if ctx.settings.database_url else 'embedded, under ' + str(ctx.settings.data_path)}")
    print(f"Temporal Web UI: {temporal_ui_url(ctx.settings) or 'see your Temporal deployment'}")
    return 0
