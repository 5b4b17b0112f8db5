"""`kamreview tasks`, `kamreview submit …` and `kamreview review show`: a person's work, by hand."""

from datetime import UTC
from typing import Annotated

import typer

from cli.common import Context, Cycle, Employee, Json, command, emit_json, id_arg, parse_pairs, whole_arg

submit_app = typer.Typer(help="submit a task by hand", no_args_is_help=True)
review_app = typer.Typer(help="look at one review", no_args_is_help=True)

Kam = Annotated[str, typer.Argument(parser=id_arg, metavar="EMPLOYEE", help="the KAM reviewed", show_default=False)]
Ratings = Annotated[str, typer.Option("--ratings", help="competency=level pairs, e.g. communication=2,...",
                                      show_default=False)]


async def tasks(
    ctx: Context,
    assignee: Annotated[str, typer.Argument(parser=id_arg, metavar="ASSIGNEE", help="employee id or contact id", show_default=False)],
    all: Annotated[bool, typer.Option("--all", help="include done and missed tasks")] = False,
    json_output: Json = False,
) -> int:
    """a person's inbox of tasks"""
    from services.db import DirectDatabase
    from services.inbox import tasks_of

    async with DirectDatabase(ctx.db()).connection() as conn:
        rows = await tasks_of(conn, assignee, include_done=all)
    if json_output:
        emit_json({"assignee": assignee, "tasks": rows})
        return 0
    if not rows:
        print(f"no {'' if all else 'open '}tasks for {assignee}")
        return 0
    from services.console import table

    print(table(["task", "kind", "for", "due (UTC)", "status"],
                [(t.task_id, t.kind, f"{t.subject_employee_id} {t.subject_name}",
                  t.due_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M"), t.status + (" (late)" if t.overdue else ""))
                 for t in rows]))
    return 0


def _accepted(receipt) -> int:
    print(f"accepted: task {receipt.task_id} at {receipt.accepted_at.isoformat(timespec='seconds')}")
    return 0


@command(submit_app, "self-review")
async def self_review(ctx: Context, cycle: Cycle, employee: Kam, ratings: Ratings) -> int:
    """a KAM's self-review"""
    from services import tasks as task_service
    from workflows.payloads import SelfReviewSubmission

    pairs = parse_pairs(ratings, "--ratings")  # refused before connecting
    client = await ctx.client()
    return _accepted(await task_service.submit_self_review(client, ctx.db(), cycle,
                                                           SelfReviewSubmission(employee, pairs)))


@command(submit_app, "score")
async def score(
    ctx: Context,
    cycle: Cycle,
    employee: Kam,
    ratings: Ratings,
    actor: Annotated[str | None, typer.Option(
        "--actor", parser=id_arg, show_default=False,
        help="the manager's employee id, if not the configured one (KAMREVIEW_ACTOR)")] = None,
    potential: Annotated[int | None, typer.Option("--potential", parser=whole_arg, show_default=False)] = None,
) -> int:
    """a manager's scoring"""
    from services import tasks as task_service
    from workflows.payloads import ManagerScoreSubmission

    pairs = parse_pairs(ratings, "--ratings")  # refused before connecting
    manager = ctx.actor(actor)
    client = await ctx.client()
    return _accepted(await task_service.submit_manager_score(
        client, ctx.db(), cycle, employee, ManagerScoreSubmission(manager, pairs, potential=potential)))


@command(submit_app, "survey")
async def survey(
    ctx: Context,
    cycle: Cycle,
    employee: Kam,
    contact: Annotated[str, typer.Option("--contact", parser=id_arg, show_default=False)],
    satisfaction: Annotated[int, typer.Option("--satisfaction", parser=whole_arg, help="1 to 5", show_default=False)],
    nps: Annotated[int | None, typer.Option("--nps", parser=whole_arg, help="0 to 10", show_default=False)] = None,
    comment: Annotated[str | None, typer.Option("--comment", show_default=False)] = None,
) -> int:
    """a customer contact's survey answer"""
    from services import tasks as task_service
    from workflows.payloads import SurveySubmission

    client = await ctx.client()
    return _accepted(await task_service.submit_survey(client, ctx.db(), cycle, employee,
                                                      SurveySubmission(contact, satisfaction, nps, comment or "")))


@command(submit_app, "task")
async def task(
    ctx: Context,
    cycle: Cycle,
    employee: Kam,
    phase: Annotated[str, typer.Option("--phase", parser=id_arg, show_default=False,
                                       help="the phase's key (a phase defined only in the registry, domain/phases.py)")],
    ratings: Annotated[str, typer.Option("--ratings", help="question=level pairs, e.g. clarity=3,follow_up=4",
                                         show_default=False)],
    comment: Annotated[list[str] | None, typer.Option(
        "--comment", show_default=False, help="question=text, a comment on one question (repeat for more)")] = None,
    actor: Annotated[str | None, typer.Option(
        "--actor", parser=id_arg, show_default=False,
        help="who answers (the phase's assignee), if not the configured one (KAMREVIEW_ACTOR)")] = None,
) -> int:
    """the answers to a phase defined only in the registry (its generic form's questions)"""
    from services import tasks as task_service
    from workflows.payloads import TaskSubmission

    pairs = parse_pairs(ratings, "--ratings")  # refused before connecting
    comments = _comments(comment or [])
    who = ctx.actor(actor)
    client = await ctx.client()
    return _accepted(await task_service.submit_task(client, ctx.db(), cycle, employee,
                                                    TaskSubmission(phase, who, pairs, comments)))


def _comments(given: list[str]) -> dict[str, str]:
    from services.errors import UserError

    out: dict[str, str] = {}
    for part in given:
        key, sep, text = part.partition("=")
        if not sep or not key.strip():
            raise UserError(f"--comment: write question=text, e.g. clarity=\"goals agreed\" (got {part!r})")
        out[key.strip()] = text.strip()
    return out


@command(review_app, "show")
def show(ctx: Context, cycle: Cycle, employee: Employee, json_output: Json = False) -> int:
    """a review's score explained line by line, and its calibration"""
    from services.explain import explain_review

    r = explain_review(ctx.db(), cycle, employee)
    if json_output:
        emit_json({**{k: v for k, v in vars(r).items() if k != "adjustments"},  # kpis: with every record
                   "adjustments": [{"from_level": f, "to_level": t, "reason": why, "actor": who, "at": at}
                                   for f, t, why, who, at in r.adjustments]})
        return 0
    from services.console import table

    print(f"review of {r.employee_id} {r.name} in {r.cycle_id} (reviewer {r.reviewer_id or '-'}, {r.status})")
    print(f"preliminary score: {r.preliminary_score if r.preliminary_score is not None else '-'}"
          + (f"; missing: {', '.join(r.missing)}" if r.missing else ""))
    b = r.breakdown or {}
    if b.get("lines"):
        print(table(["component", "item", "actual", "score", "weight %", "contribution"],
                    [(ln["component"], ln["label"], ln["actual"], ln["item_score"], ln["weight_pct"], ln["contribution"])
                     for ln in b["lines"]], right=(2, 3, 4, 5)))
        for ln in b["lines"]:
            print(f"  - {ln['explanation']}")
    if c := b.get("csat"):
        print(f"CSAT {c['csat_pct']} % of {c['responses']} responses (95 % interval {c['ci_low']}-{c['ci_high']} %)"
              + (f", NPS {c['nps']}" if c.get("nps") is not None else ""))
    if r.nps is not None and r.nps.responses:
        from services.survey_stats import nps_line

        print(nps_line(r.nps))
    for note in b.get("notes", []):
        print(f"note: {note}")
    _kpi_sources(r.kpis)
    if r.final_level is not None or r.suggested_level is not None:
        print(f"calibration: normalized {r.normalized_score}, suggested level {r.suggested_level}, "
              f"final level {r.final_level}, 9-box {r.nine_box or '-'}"
              + (f" ({r.calibration_note})" if r.calibration_note else ""))
    for frm, to, reason, actor, at in r.adjustments:
        print(f"  adjusted {frm} -> {to} by {actor} at {at:%Y-%m-%d %H:%M %Z}: {reason}")
    return 0


SHOWN_RECORDS = 10


def _kpi_sources(kpis) -> None:
    """Each KPI figure now, the one the score used when it differs (a late correction), and where it came from."""
    if not kpis:
        return
    print("KPI figures and where they came from:")
    for k in kpis:
        now = "-" if k.value is None else _plain(k.value)
        used = f" (the score used {_plain(k.scored_value)} when the review closed)" if k.corrected else ""
        if not k.computed:
            print(f"  {k.kpi_id}: {now}{used}; entered by hand (KPIS.csv), no CRM records")
            continue
        print(f"  {k.kpi_id}: {now}{used} = {_plain(k.numerator)} / {_plain(k.denominator)} "
              f"from {len(k.records)} records")
        for rec in k.records[:SHOWN_RECORDS]:
            parts = [rec["id"], rec["role"], _plain(rec.get("amount")), rec.get("currency"), rec.get("on"),
                     f"via {rec['via']}" if rec.get("via") else None, rec.get("reason")]
            print("    " + " ".join(str(p) for p in parts if p))
        if len(k.records) > SHOWN_RECORDS:
            print(f"    ... and {len(k.records) - SHOWN_RECORDS} more (--json lists them all)")


def _plain(value) -> str | None:
    """A number as written by a person: 2300000, 0.92 (no trailing zeros)."""
    from decimal import Decimal

    if value is None:
        return None
    number = Decimal(str(value)).normalize()
    return format(number, "f")


@command(review_app, "reopen")
async def reopen(
    ctx: Context,
    cycle: Cycle,
    employee: Kam,
    task: Annotated[str, typer.Option("--task", help="self_review | manager_scoring | survey", show_default=False)],
    reason: Annotated[str, typer.Option("--reason", help="why it is reopened (the person is told)", show_default=False)],
    contact: Annotated[str | None, typer.Option("--contact", parser=id_arg, show_default=False,
                                                help="the contact whose survey answer is reopened")] = None,
    due: Annotated[str, typer.Option("--due", help="time to submit again, e.g. 3d, 12h")] = "3d",
    actor: Annotated[str | None, typer.Option(
        "--actor", parser=id_arg, show_default=False,
        help="HR's employee id, if not the configured one (KAMREVIEW_ACTOR)")] = None,
    json_output: Json = False,
) -> int:
    """HR reopens a submitted self-review, manager score or survey answer (before calibration is finalized)"""
    from services.reopen import reopen_task
    from workflows.payloads import CUSTOMER_SURVEY

    phase = CUSTOMER_SURVEY if task in ("survey", CUSTOMER_SURVEY) else task
    who = ctx.actor(actor)
    client = await ctx.client()
    version = await reopen_task(client, ctx.db(), cycle, employee, phase, actor_id=who, reason=reason, due=due,
                                contact_id=contact)
    if json_output:
        emit_json({"cycle": cycle, "employee": employee, "task": phase, "contact": contact, "version": version})
        return 0
    print(f"reopened: {phase}{f' of {contact}' if contact else ''} for {employee} in {cycle}; "
          f"the resubmission will be version {version}, due in {due}")
    return 0
