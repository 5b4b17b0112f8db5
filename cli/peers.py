"""`kamreview peers nominate|approve|answer|show`: peer feedback (360) by hand, through services.peers."""

from typing import Annotated

import typer

from cli.common import Actor, Context, Cycle, Json, command, emit_json, id_arg, parse_pairs

app = typer.Typer(help="peer feedback (360): nominate, approve, answer, show the aggregate", no_args_is_help=True)

Kam = Annotated[str, typer.Argument(parser=id_arg, metavar="EMPLOYEE", help="the KAM reviewed", show_default=False)]
Peers = Annotated[str, typer.Option("--peers", help="employee ids, comma-separated, e.g. K02,K03,K04",
                                    show_default=False)]


def _ids(text: str | None) -> list[str] | None:
    return None if text is None else [id_arg(p.strip()) for p in text.split(",") if p.strip()]


def _accepted(receipt) -> int:
    print(f"accepted: task {receipt.task_id} at {receipt.accepted_at.isoformat(timespec='seconds')}")
    return 0


@command(app, "nominate")
async def nominate(ctx: Context, cycle: Cycle, employee: Kam, peers: Peers, actor: Actor = None) -> int:
    """the KAM nominates colleagues for peer feedback (the reviewer approves next)"""
    from services import peers as service

    ids = _ids(peers) or []
    return _accepted(await service.nominate(await ctx.client(), ctx.db(), cycle, employee, ctx.actor(actor), ids))


@command(app, "approve")
async def approve(
    ctx: Context, cycle: Cycle, employee: Kam,
    peers: Annotated[str | None, typer.Option("--peers", help="approve only these (default: the whole nomination)",
                                              show_default=False)] = None,
    actor: Actor = None,
) -> int:
    """the reviewing manager approves the nomination; each approved colleague gets a short form"""
    from services import peers as service

    return _accepted(await service.approve(await ctx.client(), ctx.db(), cycle, employee, ctx.actor(actor),
                                           _ids(peers)))


@command(app, "answer")
async def answer(
    ctx: Context, cycle: Cycle, employee: Kam,
    ratings: Annotated[str, typer.Option("--ratings", help="question=rating pairs, e.g. collaboration=4,...",
                                         show_default=False)],
    actor: Actor = None,
) -> int:
    """a colleague answers the peer feedback form about EMPLOYEE"""
    from services import peers as service

    pairs = parse_pairs(ratings, "--ratings")  # refused before connecting
    return _accepted(await service.answer(await ctx.client(), ctx.db(), cycle, employee, ctx.actor(actor), pairs))


@command(app, "show")
async def show(ctx: Context, cycle: Cycle, employee: Kam, actor: Actor = None, json_output: Json = False) -> int:
    """the aggregate (averages per question) when enough colleagues answered; otherwise nothing about the answers"""
    from services import peers as service

    view = await service.peer_view(ctx.db(), cycle, employee, ctx.actor(actor))
    if json_output:
        emit_json(view)
        return 0
    if view.asked is not None:
        print(f"answered: {view.answered} of {view.asked} (shown from {view.min_answers})")
    if not view.shown:
        print(view.explanation)
        return 0
    print(f"{view.answers} colleagues answered; averages per question:")
    for qid, text in view.questions:
        if qid in view.averages:
            print(f"  {qid:<20} {view.averages[qid]}  {text}")
    print(f"  {'overall':<20} {view.overall}")
    return 0
