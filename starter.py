"""kamreview command line for HR (and for trying the people's tasks by hand).

Every command prints a clear message and exits non-zero on a user mistake, never a traceback.
Run `python starter.py --help` for the commands.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import traceback
from collections.abc import Callable
from datetime import UTC
from pathlib import Path

ROOT = Path(__file__).resolve().parent


class Context:
    """Lazily resolves servers, so a command starts only what it needs."""

    def __init__(self) -> None:
        from services.settings import get_settings

        self.settings = get_settings()
        self._db: str | None = None
        self._client = None

    def db(self) -> str:
        if self._db is None:
            from services.embedded import database_url

            self._db = database_url(self.settings)
        return self._db

    async def client(self, need_worker: bool = True):
        if self._client is None:
            from services.embedded import ensure_worker, temporal_address
            from services.temporal import connect_client

            address = temporal_address(self.settings)
            try:
                self._client = await connect_client(address, self.settings.temporal_namespace)
            except RuntimeError as err:
                from services.errors import UserError

                raise UserError(f"cannot reach Temporal at {address}: {err}") from None
            if need_worker:
                self.db()
                ensure_worker(self.settings)
        return self._client


def _parse_pairs(text: str, what: str) -> dict[str, int]:
    from domain.inputs import parse_whole
    from services.errors import UserError

    out: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        if not sep:
            raise UserError(f"{what}: write id=level pairs separated by commas, e.g. communication=2 (got {part!r})")
        try:
            out[key.strip()] = parse_whole(value)
        except ValueError:
            raise UserError(f"{what}: {key.strip()} must be a whole number in ASCII digits (got {value.strip()!r})") from None
    return out


def _id_arg(value: str) -> str:
    """An argument that is an id (cycle, employee, contact, actor): the one id grammar, checked before anything runs."""
    from domain.inputs import id_problem

    problem = id_problem(value)
    if problem is not None:
        raise argparse.ArgumentTypeError(problem)
    return value


def _whole_arg(value: str) -> int:
    """A whole number in ASCII digits (``int()`` would also take full-width ones such as "３")."""
    from domain.inputs import parse_whole

    try:
        return parse_whole(value)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


# -- commands ---------------------------------------------------------------------------------------

# What clears each kind of blocker, as a command of this CLI (the web app shows its own buttons).
BLOCKER_HINTS = {
    "incentives_blocked": "then: starter.py incentives retry {cycle}",
    "unrated": "starter.py calibration adjust {cycle} EMPLOYEE LEVEL --reason ...",
    "finalize": "starter.py calibration finalize {cycle}",
    "approve": "starter.py payouts approve {cycle}",
    "not_started": "starter.py cycle start {cycle}",
}


def cmd_migrate(ctx: Context, args: argparse.Namespace) -> int:
    ctx.db()
    print("schema is up to date")
    return 0


def cmd_import(ctx: Context, args: argparse.Namespace) -> int:
    from services.console import progress, table
    from services.importer import import_files

    progress(f"validating {args.org.name}, {args.accounts.name}, {args.kpis.name} ...")
    summary = import_files(ctx.db(), args.org, args.accounts, args.kpis)
    rows = [(name, c.inserted, c.updated, c.unchanged) for name, c in summary.tables.items()]
    print(table(["table", "inserted", "updated", "unchanged"], rows, right=(1, 2, 3)))
    print("imported" if summary.changed else "nothing changed (the same files were imported before)")
    return 0


async def cmd_cycle_create(ctx: Context, args: argparse.Namespace) -> int:
    from services.cycles import create_cycle, load_cycle_config

    config = load_cycle_config(args.config)
    if args.id:
        config = config.model_copy(update={"id": args.id})  # args.id has passed the id grammar (_id_arg)
    created = await create_cycle(ctx.db(), config, actor=args.actor)
    verb = "created" if created.created else "already exists (same configuration, nothing changed)"
    print(f"cycle {created.cycle_id} {verb}: {created.participants} participants")
    for line in created.excluded:
        print(f"  excluded: {line}")
    return 0


async def cmd_cycle_start(ctx: Context, args: argparse.Namespace) -> int:
    from services.cycles import start_cycle

    client = await ctx.client()
    wf = await start_cycle(client, ctx.db(), args.cycle, ctx.settings.task_queue)
    print(f"cycle {args.cycle} started (workflow {wf})")
    return 0


async def cmd_cycle_cancel(ctx: Context, args: argparse.Namespace) -> int:
    from services.cycles import cancel_cycle

    client = await ctx.client()
    status = await cancel_cycle(client, ctx.db(), args.cycle, args.actor, args.reason)
    print(f"cycle {args.cycle}: {status}; open reviews were cancelled, what was submitted stays recorded")
    return 0


async def cmd_cycle_status(ctx: Context, args: argparse.Namespace) -> int:
    from services.console import table
    from services.cycles import cycle_report

    client = await ctx.client()
    r = await cycle_report(client, ctx.db(), args.cycle)
    phase = r.workflow.phase if r.workflow else r.status
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


async def cmd_cycle_list(ctx: Context, args: argparse.Namespace) -> int:
    from services.console import table
    from services.db import DirectDatabase
    from services.hr_views import cycles

    async with DirectDatabase(ctx.db()).connection() as conn:
        rows = await cycles(conn)
    print(table(["cycle", "name", "status", "participants", "created"],
                [(c.cycle_id, c.name, c.status, c.participants, c.created_at.strftime("%Y-%m-%d %H:%M")) for c in rows],
                right=(3,)))
    return 0


async def cmd_tasks(ctx: Context, args: argparse.Namespace) -> int:
    from services.console import table
    from services.db import DirectDatabase
    from services.people import tasks_of

    async with DirectDatabase(ctx.db()).connection() as conn:
        tasks = await tasks_of(conn, args.assignee, include_done=args.all)
    if not tasks:
        print(f"no {'' if args.all else 'open '}tasks for {args.assignee}")
        return 0
    print(table(["task", "kind", "for", "due (UTC)", "status"],
                [(t.task_id, t.kind, f"{t.subject_employee_id} {t.subject_name}",
                  t.due_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M"), t.status + (" (late)" if t.overdue else ""))
                 for t in tasks]))
    return 0


async def cmd_submit(ctx: Context, args: argparse.Namespace) -> int:
    from services import tasks
    from workflows.payloads import ManagerScoreSubmission, SelfReviewSubmission, SurveySubmission

    pairs = _parse_pairs(args.ratings, "--ratings") if args.what != "survey" else {}  # refused before connecting
    client = await ctx.client()
    if args.what == "self-review":
        receipt = await tasks.submit_self_review(client, ctx.db(), args.cycle, SelfReviewSubmission(args.employee, pairs))
    elif args.what == "score":
        receipt = await tasks.submit_manager_score(
            client, ctx.db(), args.cycle, args.employee,
            ManagerScoreSubmission(args.actor, pairs, potential=args.potential))
    else:
        receipt = await tasks.submit_survey(
            client, ctx.db(), args.cycle, args.employee,
            SurveySubmission(args.contact, args.satisfaction, args.nps, args.comment or ""))
    print(f"accepted: task {receipt.task_id} at {receipt.accepted_at.isoformat(timespec='seconds')}")
    return 0


async def cmd_calibration_report(ctx: Context, args: argparse.Namespace) -> int:
    from services.console import calibration_text
    from services.db import DirectDatabase
    from services.hr_views import calibration_view

    async with DirectDatabase(ctx.db()).connection() as conn:
        print(calibration_text(await calibration_view(conn, args.cycle)))
    return 0


async def cmd_calibration_adjust(ctx: Context, args: argparse.Namespace) -> int:
    from services.cycles import adjust_rating

    n = await adjust_rating(await ctx.client(), ctx.db(), args.cycle, args.employee, args.level, args.reason, args.actor,
                            args.request_id)
    print(f"{args.employee} set to level {args.level} ({n} adjustment(s) in this cycle)")
    return 0


async def cmd_calibration_correct(ctx: Context, args: argparse.Namespace) -> int:
    from services.cycles import correct_rating_after_lock

    before = await correct_rating_after_lock(ctx.db(), args.cycle, args.employee, args.level, args.reason, args.actor)
    if before == args.level:
        print(f"{args.employee} is already at level {args.level}; nothing changed")
    else:
        print(f"{args.employee}: level {before} -> {args.level} recorded; run `starter.py payouts recompute "
              f"{args.cycle}` to compute the delta lines")
    return 0


async def cmd_calibration_finalize(ctx: Context, args: argparse.Namespace) -> int:
    from services.cycles import finalize_calibration

    summary = await finalize_calibration(await ctx.client(), ctx.db(), args.cycle, args.actor)
    print(f"calibration of {args.cycle} finalized: {summary.ratings} ratings"
          + ("" if summary.within_guideline else " (outside the guideline: " + "; ".join(summary.violations) + ")"))
    return 0


async def cmd_payouts_approve(ctx: Context, args: argparse.Namespace) -> int:
    from services.cycles import approve_payouts

    locked = await approve_payouts(await ctx.client(), ctx.db(), args.cycle, args.actor)
    print(f"approved and locked {locked} payout line(s) of cycle {args.cycle}")
    return 0


async def cmd_incentives_retry(ctx: Context, args: argparse.Namespace) -> int:
    from services.cycles import retry_incentives

    print(await retry_incentives(await ctx.client(), args.cycle, args.actor))
    return 0


async def cmd_notifications_list(ctx: Context, args: argparse.Namespace) -> int:
    from services.console import table
    from services.notifications import deliveries

    rows = await deliveries(ctx.db(), args.cycle, args.status)
    if not rows:
        print(f"no {args.status + ' ' if args.status else ''}messages for cycle {args.cycle}")
        return 0
    print(table(["message", "kind", "to", "channel", "status", "attempts", "sent (UTC)", "error"],
                [(n.id, n.kind, f"{n.recipient_id} {n.recipient_name or ''}".strip(), n.channel, n.status, n.attempts,
                  n.sent_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if n.sent_at else "", (n.last_error or "")[:80])
                 for n in rows], right=(5,)))
    return 0


async def cmd_notifications_resend(ctx: Context, args: argparse.Namespace) -> int:
    from services.notifications import resend

    batch = await resend(await ctx.client(), ctx.db(), ctx.settings.task_queue, args.message, args.actor)
    print(f"message {args.message} is being sent again ({batch})")
    return 0


async def cmd_payouts_recompute(ctx: Context, args: argparse.Namespace) -> int:
    from services.cycles import recompute_incentives

    outcome = await recompute_incentives(await ctx.client(), ctx.db(), args.cycle, ctx.settings.task_queue)
    if outcome.delta_lines == 0:
        print(f"no change: the locked payouts of {args.cycle} still match their inputs; no new line")
    else:
        print(f"{outcome.delta_lines} delta line(s) await approval (starter.py payouts approve {args.cycle})")
    return 0


def cmd_incentives_preview(ctx: Context, args: argparse.Namespace) -> int:
    import csv

    from services.console import table
    from services.payroll import format_amount
    from services.preview import preview

    result = preview(args.plan, args.inputs)
    if args.format == "csv":
        writer = csv.writer(sys.stdout)
        writer.writerow(["employee_id", "line_type", "amount", "currency", "plan_id", "plan_version", "explanation"])
        for line in result.lines:
            writer.writerow([line.employee_id, line.line_type, format_amount(line.amount, line.currency),
                             line.currency, line.plan_id, line.plan_version, line.explanation])
        return 0
    print(f"plan {result.plan.id} version {result.plan.version} ({result.plan.rounding})")
    print(table(["employee", "line", "amount", "currency"],
                [(ln.employee_id, ln.line_type, f"{ln.amount:,}", ln.currency) for ln in result.lines], right=(2,)))
    print()
    for line in result.lines:
        print(f"- {line.explanation}")
    return 0


def cmd_review_show(ctx: Context, args: argparse.Namespace) -> int:
    from services.console import table
    from services.explain import explain_review

    r = explain_review(ctx.db(), args.cycle, args.employee)
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
    for note in b.get("notes", []):
        print(f"note: {note}")
    if r.final_level is not None or r.suggested_level is not None:
        print(f"calibration: normalized {r.normalized_score}, suggested level {r.suggested_level}, "
              f"final level {r.final_level}, 9-box {r.nine_box or '-'}" + (f" ({r.calibration_note})" if r.calibration_note else ""))
    for frm, to, reason, actor, at in r.adjustments:
        print(f"  adjusted {frm} -> {to} by {actor} at {at:%Y-%m-%d %H:%M %Z}: {reason}")
    return 0


def cmd_payroll_statement(ctx: Context, args: argparse.Namespace) -> int:
    from services.explain import payout_statement
    from services.payroll import format_amount

    st = payout_statement(ctx.db(), args.cycle, args.employee)
    print(f"statement for {st.employee_id} {st.name}, cycle {st.cycle_id}")
    for line_type, amount, currency, status, revision, key, why in st.lines:
        print(f"  {line_type:<10} {format_amount(amount, currency):>14} {currency} [{status}, rev {revision}] {key}")
        print(f"      {why}")
    for currency, total in st.totals.items():
        print(f"  total {format_amount(total, currency)} {currency}")
    return 0


def cmd_payroll_export(ctx: Context, args: argparse.Namespace) -> int:
    from services.payroll import export_payroll_csv

    out = args.out or ROOT / "out" / f"payroll-{args.cycle}.csv"
    n = export_payroll_csv(ctx.db(), args.cycle, out)
    print(f"{n} payout line(s) written")
    print(out)
    return 0


async def cmd_demo(ctx: Context, args: argparse.Namespace) -> int:
    from services.demo import run_demo

    return await run_demo(ctx.settings, fast=args.fast)


def cmd_servers(ctx: Context, args: argparse.Namespace) -> int:
    from services.embedded import stop_all, temporal_ui_url

    if args.action == "stop":
        stopped = stop_all(ctx.settings)
        print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))
        return 0
    ctx.db()
    asyncio.run(ctx.client())
    print(f"PostgreSQL: {'configured' if ctx.settings.database_url else 'embedded, under ' + str(ctx.settings.data_path)}")
    print(f"Temporal Web UI: {temporal_ui_url(ctx.settings) or 'see your Temporal deployment'}")
    return 0


# -- parser and runner ------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="starter.py", description="kamreview: review cycles for Key Account Managers")
    sub = p.add_subparsers(dest="command", required=True)

    def add(name: str, fn: Callable, help_: str, parent=sub) -> argparse.ArgumentParser:
        sp = parent.add_parser(name, help=help_, description=help_)
        sp.set_defaults(fn=fn)
        return sp

    add("migrate", cmd_migrate, "create or upgrade the database schema")
    sp = add("import", cmd_import, "import the organisation, key accounts and KPI actuals (one transaction)")
    sp.add_argument("org", type=Path)
    sp.add_argument("accounts", type=Path)
    sp.add_argument("kpis", type=Path)

    cycle = sub.add_parser("cycle", help="create, start and watch review cycles").add_subparsers(dest="sub", required=True)
    sp = add("create", cmd_cycle_create, "create a cycle from a YAML configuration (validated, then frozen)", cycle)
    sp.add_argument("config", type=Path)
    sp.add_argument("--id", type=_id_arg, help="override the cycle id of the file")
    sp.add_argument("--actor", type=_id_arg, default="hr")
    sp = add("start", cmd_cycle_start, "start a created cycle", cycle)
    sp.add_argument("cycle", type=_id_arg)
    sp = add("cancel", cmd_cycle_cancel, "cancel a cycle before its payouts are approved (open reviews end)", cycle)
    sp.add_argument("cycle", type=_id_arg)
    sp.add_argument("--reason", required=True, help="why (kept in the audit log)")
    sp.add_argument("--actor", type=_id_arg, default="hr")
    sp = add("status", cmd_cycle_status, "counts per phase, who is late, what is blocking", cycle)
    sp.add_argument("cycle", type=_id_arg)
    add("list", cmd_cycle_list, "list cycles", cycle)

    review = sub.add_parser("review", help="look at one review").add_subparsers(dest="sub", required=True)
    sp = add("show", cmd_review_show, "a review's score explained line by line, and its calibration", review)
    sp.add_argument("cycle", type=_id_arg)
    sp.add_argument("employee", type=_id_arg)

    sp = add("tasks", cmd_tasks, "a person's inbox of tasks")
    sp.add_argument("assignee", type=_id_arg, help="employee id or contact id")
    sp.add_argument("--all", action="store_true", help="include done and missed tasks")

    submit = sub.add_parser("submit", help="submit a task by hand").add_subparsers(dest="what", required=True)
    for what, help_ in (("self-review", "a KAM's self-review"), ("score", "a manager's scoring"),
                        ("survey", "a customer contact's survey answer")):
        sp = add(what, cmd_submit, help_, submit)
        sp.add_argument("cycle", type=_id_arg)
        sp.add_argument("employee", type=_id_arg, help="the KAM reviewed")
        if what != "survey":
            sp.add_argument("--ratings", required=True, help="competency=level pairs, e.g. communication=2,...")
        if what == "score":
            sp.add_argument("--actor", type=_id_arg, required=True, help="the manager's employee id")
            sp.add_argument("--potential", type=_whole_arg)
        if what == "survey":
            sp.add_argument("--contact", type=_id_arg, required=True)
            sp.add_argument("--satisfaction", type=_whole_arg, required=True, help="1 to 5")
            sp.add_argument("--nps", type=_whole_arg, help="0 to 10")
            sp.add_argument("--comment")

    cal = sub.add_parser("calibration", help="calibrate ratings").add_subparsers(dest="sub", required=True)
    sp = add("report", cmd_calibration_report, "distribution against the guideline, per manager", cal)
    sp.add_argument("cycle", type=_id_arg)
    sp = add("adjust", cmd_calibration_adjust, "set a participant's rating level, with a reason", cal)
    sp.add_argument("cycle", type=_id_arg)
    sp.add_argument("employee", type=_id_arg)
    sp.add_argument("level", type=_whole_arg)
    sp.add_argument("--reason", required=True)
    sp.add_argument("--actor", type=_id_arg, default="HR1")
    sp.add_argument("--request-id", type=_id_arg, help="make a retried command apply once")
    sp = add("correct", cmd_calibration_correct, "after lock: correct a final rating (a reopened review)", cal)
    sp.add_argument("cycle", type=_id_arg)
    sp.add_argument("employee", type=_id_arg)
    sp.add_argument("level", type=_whole_arg)
    sp.add_argument("--reason", required=True)
    sp.add_argument("--actor", type=_id_arg, default="HR1")
    sp = add("finalize", cmd_calibration_finalize, "finalize calibration (then incentives are computed)", cal)
    sp.add_argument("cycle", type=_id_arg)
    sp.add_argument("--actor", type=_id_arg, default="HR1")

    pay = sub.add_parser("payouts", help="approve payouts").add_subparsers(dest="sub", required=True)
    sp = add("approve", cmd_payouts_approve, "approve and lock the cycle's payout lines", pay)
    sp.add_argument("cycle", type=_id_arg)
    sp.add_argument("--actor", type=_id_arg, default="PAY1")

    sp = add("recompute", cmd_payouts_recompute,
             "after lock: recompute from current inputs; differences become delta lines", pay)
    sp.add_argument("cycle", type=_id_arg)

    inc = sub.add_parser("incentives", help="incentive plans").add_subparsers(dest="sub", required=True)
    sp = add("preview", cmd_incentives_preview, "what-if: a plan's payouts for given inputs, no cycle needed", inc)
    sp.add_argument("plan", type=Path, help="YAML with period: and incentive_plan:")
    sp.add_argument("inputs", type=Path, help="CSV, one row per employee")
    sp.add_argument("--format", choices=["table", "csv"], default="table")
    sp = add("retry", cmd_incentives_retry, "compute a blocked cycle's incentives again, after fixing what blocked them",
             inc)
    sp.add_argument("cycle", type=_id_arg)
    sp.add_argument("--actor", type=_id_arg, default="HR1")

    notes = sub.add_parser("notifications", help="messages sent to people").add_subparsers(dest="sub", required=True)
    sp = add("list", cmd_notifications_list, "a cycle's messages: to whom, on which channel, delivered or not", notes)
    sp.add_argument("cycle", type=_id_arg)
    sp.add_argument("--status", choices=["queued", "claimed", "sending", "sent", "retry", "failed", "uncertain"])
    sp = add("resend", cmd_notifications_resend, "send one message again (failed, uncertain, or not received)", notes)
    sp.add_argument("message", help="the message id, as `notifications list` shows it")
    sp.add_argument("--actor", type=_id_arg, default="HR1")

    payroll = sub.add_parser("payroll", help="what payroll reads").add_subparsers(dest="sub", required=True)
    sp = add("statement", cmd_payroll_statement, "one employee's payout lines with their explanations", payroll)
    sp.add_argument("cycle", type=_id_arg)
    sp.add_argument("employee", type=_id_arg)
    sp = add("export", cmd_payroll_export, "write the approved payout lines as CSV", payroll)
    sp.add_argument("cycle", type=_id_arg)
    sp.add_argument("--out", type=Path)

    sp = add("demo", cmd_demo, "run a whole review cycle with simulated people")
    sp.add_argument("--fast", action="store_true", help="shorter deadlines (used by the tests)")
    sp = add("servers", cmd_servers, "start or stop the embedded servers")
    sp.add_argument("action", choices=["start", "stop"])
    return p


def main(argv: list[str] | None = None) -> int:
    from services.errors import UserError

    args = build_parser().parse_args(argv)
    try:
        ctx = Context()
        result = args.fn(ctx, args)
        if asyncio.iscoroutine(result):
            result = asyncio.run(result)
        return int(result or 0)
    except UserError as err:
        print(f"error: {err}" if "\n" not in str(err) else f"error:\n{err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and closed: not an error
        return 0
    except Exception as err:  # noqa: BLE001 - the last line of defence: a message, the details in a log
        message = _known_failure(err)
        if message:
            print(f"error: {message}", file=sys.stderr)
            return 3
        log = _error_log()
        try:
            log.parent.mkdir(parents=True, exist_ok=True)
            with log.open("a", encoding="utf-8") as fh:
                fh.write(traceback.format_exc() + "\n")
            where = f"; details in {log}"
        except OSError:
            where = ""
        print(f"internal error ({type(err).__name__}: {err}){where}", file=sys.stderr)
        return 1


def _error_log() -> Path:
    """The error log under the configured data directory, even when the settings themselves cannot load."""
    try:
        from services.settings import get_settings

        return get_settings().data_path / "kamreview-errors.log"
    except Exception:  # noqa: BLE001 - a broken install or settings: fall back to the environment
        return Path(os.environ.get("KAMREVIEW_DATA_DIR", "data")).expanduser().resolve() / "kamreview-errors.log"


def _known_failure(err: Exception) -> str | None:
    """Failures of the surroundings (a server down), said plainly; None for anything else."""
    try:
        import psycopg

        from services.embedded import EmbeddedServerError
    except Exception:  # noqa: BLE001 - a half-finished install: nothing is known about the failure
        return None
    if isinstance(err, EmbeddedServerError):
        return str(err)
    if isinstance(err, psycopg.OperationalError):
        return f"cannot reach PostgreSQL: {str(err).strip().splitlines()[0]}"
    return None


def _worker_log() -> None:
    """The embedded worker's diagnostics (an activity attempt that failed and is retried, with its traceback) go to a
    log file beside the error log, not between the command's own lines; what fails for good reaches the person as a
    refusal or a blocked cycle, said in one line."""
    path = _error_log().with_name("kamreview-worker.log")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(path, encoding="utf-8")
    except OSError:
        return
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    temporal = logging.getLogger("temporalio")
    temporal.addHandler(handler)
    temporal.propagate = False


def run() -> int:
    """The process entry of `starter.py` and of the `kamreview` console script: runs a command and exits."""
    logging.basicConfig(level=logging.WARNING)
    _worker_log()
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # temporal-notes: skip interpreter finalization, which can abort after a client was used


if __name__ == "__main__":
    run()
