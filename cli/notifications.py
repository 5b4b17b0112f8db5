"""`kamreview notifications …`: what was sent to whom, and sending one message again."""

from datetime import UTC
from typing import Annotated, Literal

import typer

from cli.common import Actor, Context, Cycle, Json, command, emit_json

app = typer.Typer(help="messages sent to people", no_args_is_help=True)

Status = Literal["queued", "claimed", "sending", "sent", "retry", "failed", "uncertain"]


@command(app, "list")
async def list_(
    ctx: Context,
    cycle: Cycle,
    status: Annotated[Status | None, typer.Option("--status", show_default=False)] = None,
    json_output: Json = False,
) -> int:
    """a cycle's messages: to whom, on which channel, delivered or not"""
    from services.notifications import deliveries

    rows = await deliveries(ctx.db(), cycle, status)
    if json_output:
        emit_json({"cycle_id": cycle, "messages": rows})
        return 0
    if not rows:
        print(f"no {status + ' ' if status else ''}messages for cycle {cycle}")
        return 0
    from services.console import table

    print(table(["message", "kind", "to", "channel", "status", "attempts", "sent (UTC)", "error"],
                [(n.id, n.kind, f"{n.recipient_id} {n.recipient_name or ''}".strip(), n.channel, n.status, n.attempts,
                  n.sent_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if n.sent_at else "", (n.last_error or "")[:80])
                 for n in rows], right=(5,)))
    return 0


@command(app, "resend")
async def resend(
    ctx: Context,
    message: Annotated[str, typer.Argument(help="the message id, as `notifications list` shows it", show_default=False)],
    actor: Actor = None,
) -> int:
    """send one message again (failed, uncertain, or not received)"""
    from services.notifications import resend as resend_message

    who = ctx.actor(actor)
    batch = await resend_message(await ctx.client(), ctx.db(), ctx.settings.task_queue, message, who)
    print(f"message {message} is being sent again ({batch})")
    return 0
