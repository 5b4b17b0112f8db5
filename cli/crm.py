"""`kamreview crm import zoho|fxiaoke FILES…`: the CRM's own export files, previewed before anything is written."""

from pathlib import Path
from typing import Annotated, Literal

import typer

from cli.common import Actor, Context, command

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
    from services.console import progress, table, working
    from services.imports.crm import apply_crm_import, preview_crm_import
    from services.org_changes import describe

    names = ", ".join(f.name for f in files)
    progress(f"reading {names} ...")
    db = ctx.db()
    if preview:
        with working(f"comparing {names} with the database"):
            result = preview_crm_import(db, source, files, mapping)
            changes = await describe(db, result.org) if result.org else None
        print(result)
        if changes and changes.lines():  # accounts reassigned: the running cycles' survey invitations move
            print(changes)
        print("preview only: nothing was written" + ("" if result.changed else " (and nothing would change)"))
        return 0
    who = ctx.actor(actor)
    with working(f"importing {names}"):
        summary = apply_crm_import(db, source, files, mapping, actor=who)
    rows = [(name, c.inserted, c.updated, c.unchanged) for name, c in summary.tables.items()]
    print(table(["table", "inserted", "updated", "unchanged"], rows, right=(1, 2, 3)))
    print("imported" if summary.changed else "nothing changed (the same files were imported before)")
    from cli.ops import apply_org_changes

    return await apply_org_changes(ctx, db, who)


command(app, "import")(import_)
