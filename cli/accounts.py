"""`kamreview people list|invite|disable`: everyone's sign-in, from the command line."""

from typing import Annotated, Literal

import typer

from cli.common import Actor, Context, Json, command, emit_json, id_arg

app = typer.Typer(help="the employees' sign-ins: who has one, invitations, disabling", no_args_is_help=True)

Ids = Annotated[list[str] | None, typer.Argument(parser=id_arg, metavar="EMPLOYEE...", show_default=False,
                                                 help="employee ids")]
Status = Literal["none", "invited", "active", "disabled"]


def _report(result, verb: str) -> int:  # noqa: ANN001 - services.accounts.BulkResult
    for employee, why in result.skipped:
        print(f"skipped {employee}: {why}")
    print(f"{verb}: {', '.join(result.done) if result.done else 'nobody'}")
    return 0


@command(app, "list")
async def list_(
    ctx: Context,
    status: Annotated[Status | None, typer.Option("--status", show_default=False)] = None,
    json_output: Json = False,
) -> int:
    """every employee with their sign-in status (none, invited, active, disabled)"""
    from services.accounts import accounts

    rows = await accounts(ctx.db(), status)
    if json_output:
        emit_json({"people": rows})
        return 0
    from services.console import table

    print(table(["employee", "name", "e-mail", "sign-in", "status", "roles", "invitation e-mail"],
                [(a.employee_id, a.name, a.email or "", a.username or "", a.status, ",".join(a.roles),
                  a.invitation_delivery or "") for a in rows]))
    return 0


@command(app, "invite")
async def invite(
    ctx: Context,
    employees: Ids = None,
    all_: Annotated[bool, typer.Option("--all", help="everyone who has no sign-in yet")] = False,
    actor: Actor = None,
) -> int:
    """e-mail a set-password link (a new sign-in, or a new link for one not yet used)"""
    from services.errors import UserError

    if bool(employees) == all_:
        raise UserError("name the employees to invite, or pass --all (not both)")
    who = ctx.actor(actor)
    from services.accounts import invite as invite_people

    result = await invite_people(await ctx.client(), ctx.db(), ctx.settings.task_queue, ctx.settings.web, who,
                                 None if all_ else employees)
    return _report(result, "invited")


@command(app, "disable")
async def disable(ctx: Context, employees: Annotated[list[str], typer.Argument(
        parser=id_arg, metavar="EMPLOYEE...", show_default=False, help="employee ids")], actor: Actor = None) -> int:
    """disable sign-ins: sessions end at once (`people invite` enables one again)"""
    from services.accounts import disable as disable_people

    who = ctx.actor(actor)
    return _report(await disable_people(ctx.db(), who, employees), "disabled")
