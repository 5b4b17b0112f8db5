"""`kamreview crm import zoho|fxiaoke FILES…`: the CRM's own export files, previewed before anything is written;
`kamreview crm pull zoho|fxiaoke`: the same through the CRM's API (credentials from the settings, never arguments)."""

from pathlib import Path
from typing import Annotated, Literal

import typer

from cli.common import Actor, Context, command

app = typer.Typer(help="key accounts, contacts, deals and cases from a CRM's exports", no_args_is_help=True)

Files = Annotated[list[Path], typer.Argument(show_default=False, help="the export files (Zoho: CSV; Fxiaoke: .xlsx)")]


def import_(
    ctx: Context,
    source: Annotated[Literal["zoho", "fxiaoke"], typer.Argument(show_default=False, help="which CRM wrote the files")],
    files: Files,
    mapping: Annotated[Path | None, typer.Option("--mapping", help="YAML: which CRM field means what "
                                                 "(defaults: a standard setup; docs/crm-imports.md)")] = None,
    preview: Annotated[bool, typer.Option("--preview", help="say what would change and write nothing")] = False,
    actor: Actor = None,
) -> int:
    """import a CRM's export files (validated completely, then written in one transaction)"""
    from services.console import progress, table, working
    from services.imports.crm import apply_crm_import, preview_crm_import

    names = ", ".join(f.name for f in files)
    progress(f"reading {names} ...")
    db = ctx.db()
    if preview:
        with working(f"comparing {names} with the database"):
            result = preview_crm_import(db, source, files, mapping)
        print(result)
        print("preview only: nothing was written" + ("" if result.changed else " (and nothing would change)"))
        return 0
    who = ctx.actor(actor)
    with working(f"importing {names}"):
        summary = apply_crm_import(db, source, files, mapping, actor=who)
    rows = [(name, c.inserted, c.updated, c.unchanged) for name, c in summary.tables.items()]
    print(table(["table", "inserted", "updated", "unchanged"], rows, right=(1, 2, 3)))
    print("imported" if summary.changed else "nothing changed (the same files were imported before)")
    return 0


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
    from services.console import progress, table
    from services.imports.crm import apply_crm_pull, preview_crm_pull

    progress(f"pulling from {source} ...")
    db = ctx.db()
    if preview:
        result = await preview_crm_pull(db, source, mapping)
        print(result)
        print("preview only: nothing was written" + ("" if result.changed else " (and nothing would change)"))
        return 0
    who = ctx.actor(actor)
    summary = await apply_crm_pull(db, source, mapping, actor=who)
    rows = [(name, c.inserted, c.updated, c.unchanged) for name, c in summary.tables.items()]
    print(table(["table", "inserted", "updated", "unchanged"], rows, right=(1, 2, 3)))
    print("imported" if summary.changed else "nothing changed (the same records were imported before)")
    return 0


command(app, "pull")(pull)
