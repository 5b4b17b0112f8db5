"""`kamreview db upgrade`, `import`, `demo` and `servers …`: the schema, the data, and the embedded servers."""

from pathlib import Path
from typing import Annotated, Literal

import typer

from cli.common import Context, command

db_app = typer.Typer(help="the database schema", no_args_is_help=True)

CsvFile = Annotated[Path, typer.Argument(show_default=False)]


def upgrade(ctx: Context) -> int:
    """create or upgrade the database schema (idempotent; concurrent runs migrate once)"""
    ctx.db(upgrade=True)
    print("schema is up to date")
    return 0


command(db_app, "upgrade")(upgrade)


def import_(ctx: Context, org: CsvFile, accounts: CsvFile, kpis: CsvFile) -> int:
    """import the organisation, key accounts and KPI actuals (one transaction)"""
    from services.console import progress, working
    from services.importer import import_files

    progress(f"validating {org.name}, {accounts.name}, {kpis.name} ...")
    db = ctx.db()
    with working(f"importing {org.name}, {accounts.name}, {kpis.name}"):
        summary = import_files(db, org, accounts, kpis)
    from services.console import table

    rows = [(name, c.inserted, c.updated, c.unchanged) for name, c in summary.tables.items()]
    print(table(["table", "inserted", "updated", "unchanged"], rows, right=(1, 2, 3)))
    print("imported" if summary.changed else "nothing changed (the same files were imported before)")
    return 0


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
