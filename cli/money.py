"""`kamreview payouts …`, `incentives …` and `payroll …`: approving, recomputing, previewing and reading payouts."""

import sys
from pathlib import Path
from typing import Annotated, Literal

import typer

from cli.common import ROOT, Actor, Context, Cycle, Employee, Json, command, emit_json

payouts_app = typer.Typer(help="approve payouts", no_args_is_help=True)
incentives_app = typer.Typer(help="incentive plans", no_args_is_help=True)
payroll_app = typer.Typer(help="what payroll reads", no_args_is_help=True)


@command(payouts_app, "approve")
async def approve(ctx: Context, cycle: Cycle, actor: Actor = None) -> int:
    """approve and lock the cycle's payout lines"""
    from services.cycles import approve_payouts

    who = ctx.actor(actor)
    locked = await approve_payouts(await ctx.client(), ctx.db(), cycle, who)
    print(f"approved and locked {locked} payout line(s) of cycle {cycle}")
    return 0


@command(payouts_app, "recompute")
async def recompute(ctx: Context, cycle: Cycle) -> int:
    """after lock: recompute from current inputs; differences become delta lines"""
    from services.console import working
    from services.cycles import recompute_incentives

    client = await ctx.client()
    with working(f"recomputing the payouts of {cycle}"):
        outcome = await recompute_incentives(client, ctx.db(), cycle, ctx.settings.task_queue)
    if outcome.delta_lines == 0:
        print(f"no change: the locked payouts of {cycle} still match their inputs; no new line")
    else:
        print(f"{outcome.delta_lines} delta line(s) await approval (kamreview payouts approve {cycle})")
    return 0


@command(incentives_app, "preview")
def preview(
    ctx: Context,
    plan: Annotated[Path, typer.Argument(help="YAML with period: and incentive_plan:", show_default=False)],
    inputs: Annotated[Path, typer.Argument(help="CSV, one row per employee", show_default=False)],
    deals: Annotated[Path | None, typer.Option("--deals", show_default=False, help=(
        "CSV of deals: deal_id, employee_id (or K01:60;K02:40), amount, currency, closed_on, status, "
        "cancelled_on"))] = None,
    format: Annotated[Literal["table", "csv"], typer.Option("--format")] = "table",
    lang: Annotated[Literal["en", "zh-CN"], typer.Option("--lang", help="language of the explanations")] = "en",
    json_output: Json = False,
) -> int:
    """what-if: a plan's payouts for given inputs (and deals), no cycle needed"""
    from services.payroll import format_amount
    from services.preview import preview as compute

    result = compute(plan, inputs, deals)
    if result.periods is not None:
        return _print_settled(result, format, lang, json_output)
    if json_output:
        emit_json({
            "plan": {"id": result.plan.id, "version": result.plan.version, "rounding": result.plan.rounding},
            "lines": [{"employee_id": ln.employee_id, "line_type": ln.line_type,
                       "amount": format_amount(ln.amount, ln.currency), "currency": ln.currency,
                       "plan_id": ln.plan_id, "plan_version": ln.plan_version, "explanation": ln.explanation}
                      for ln in result.lines],
        })
        return 0
    if format == "csv":
        from services.csv_text import csv_text

        sys.stdout.write(csv_text(
            ["employee_id", "line_type", "amount", "currency", "plan_id", "plan_version", "explanation"],
            ([line.employee_id, line.line_type, format_amount(line.amount, line.currency), line.currency,
              line.plan_id, line.plan_version, line.explanation] for line in result.lines), bom=False))
        return 0
    from services.console import table

    print(f"plan {result.plan.id} version {result.plan.version} ({result.plan.rounding})")
    print(table(["employee", "line", "amount", "currency"],
                [(ln.employee_id, ln.line_type, f"{ln.amount:,}", ln.currency) for ln in result.lines], right=(2,)))
    print()
    for line in result.lines:
        print(f"- {line.explanation}")
    return 0


def _print_settled(result: object, format: str, lang: str, json_output: bool) -> int:
    """A preview settled period by period: lines with their explanation steps, then the ledger and totals."""
    from i18n.format import Formatter
    from services.console import table
    from services.payroll import format_amount
    from services.preview import Preview, kind_text, ledger_headers, preview_json

    assert isinstance(result, Preview)
    if json_output:
        emit_json(preview_json(result, lang))
        return 0
    fmt = Formatter(locale=lang)
    data = preview_json(result, lang)
    if format == "csv":
        from services.csv_text import csv_text

        sys.stdout.write(csv_text(
            ["period", "employee_id", "kind", "amount", "currency", "deal_id", "idempotency_key", "explanation"],
            ([p["cycle_id"], ln["employee_id"], ln["kind"], ln["amount"], ln["currency"], ln["deal_id"] or "",
              ln["idempotency_key"], "; ".join(ln["explanation"])]
             for p in data["periods"] for ln in p["lines"]), bom=False))  # type: ignore[union-attr]
        return 0
    plan = result.plan
    print(f"plan {plan.id} version {plan.version} ({plan.rounding})")
    names = {"bonus": "bonus", "commission": "commission", "adjustment": "adjustment"}
    for period in result.periods or []:
        print()
        print(f"== {period.cycle_id} ({period.start} – {period.end})")
        rows = [(ln.employee_id, names.get(ln.line_type, ln.line_type), "", f"{ln.amount:,}", ln.currency)
                for ln in period.payouts]
        rows += [(s.employee_id, fmt.text(kind_text(ln.kind)), ln.deal_id or "", f"{ln.amount:,}", ln.currency)
                 for s in period.settlements for ln in s.lines]
        if rows:
            print(table(["employee", "line", "deal", "amount", "currency"], rows, right=(3,)))
        for line in period.payouts:
            print(f"- {line.employee_id} {line.line_type}: {line.explanation}")
        for s in period.settlements:
            for sl in s.lines:
                print(f"- {s.employee_id} {fmt.text(kind_text(sl.kind))}" + (f" {sl.deal_id}" if sl.deal_id else ""))
                for step in sl.steps:
                    print(f"    {fmt.text(step)}")
        print(table([fmt.text(h) for h in ledger_headers()],
                    [(r.employee_id, period.cycle_id, *(format_amount(getattr(r, k), r.currency) for k in
                      ("earned", "drawn", "recovered", "clawed_back", "balance", "net")), r.currency)
                     for r in period.ledger], right=(2, 3, 4, 5, 6, 7)))
    print()
    totals = result.totals().values()
    print(table([fmt.text(h) for h in ledger_headers()],
                [(r.employee_id, "Σ", *(format_amount(getattr(r, k), r.currency) for k in
                  ("earned", "drawn", "recovered", "clawed_back", "balance", "net")), r.currency) for r in totals],
                right=(2, 3, 4, 5, 6, 7)))
    for note in result.notes:
        print(f"note: {fmt.text(note)}")
    return 0


@command(incentives_app, "retry")
async def retry(ctx: Context, cycle: Cycle, actor: Actor = None) -> int:
    """compute a blocked cycle's incentives again, after fixing what blocked them"""
    from services.cycles import retry_incentives

    who = ctx.actor(actor)
    print(await retry_incentives(await ctx.client(), cycle, who))
    return 0


@command(payroll_app, "statement")
def statement(ctx: Context, cycle: Cycle, employee: Employee, json_output: Json = False) -> int:
    """one employee's payout lines with their explanations"""
    from services.explain import payout_statement
    from services.payroll import format_amount

    st = payout_statement(ctx.db(), cycle, employee)
    if json_output:
        emit_json({
            "cycle_id": st.cycle_id, "employee_id": st.employee_id, "name": st.name,
            "lines": [{"line_type": t, "amount": format_amount(a, c), "currency": c, "status": s, "revision": rev,
                       "idempotency_key": key, "explanation": why} for t, a, c, s, rev, key, why in st.lines],
            "totals": {c: format_amount(total, c) for c, total in st.totals.items()},
            **({"ledger": _ledger_json(st.ledger, format_amount)} if st.ledger else {}),
        })
        return 0
    print(f"statement for {st.employee_id} {st.name}, cycle {st.cycle_id}")
    for line_type, amount, currency, status, revision, key, why in st.lines:
        print(f"  {line_type:<10} {format_amount(amount, currency):>14} {currency} [{status}, rev {revision}] {key}")
        print(f"      {why}")
    for currency, total in st.totals.items():
        print(f"  total {format_amount(total, currency)} {currency}")
    if st.ledger:  # deals, a draw or clawbacks: what the cycle moved in the person's balance ledger
        led, cur = st.ledger, str(st.ledger["currency"])
        print(f"  ledger, plan year {led['plan_year']} ({cur}):")
        for kind, label in _LEDGER_LABELS:
            print(f"    {label:<12} {format_amount(led[kind], cur):>14}")  # type: ignore[arg-type]
    return 0


_LEDGER_LABELS = (("earned", "earned"), ("drawn", "drawn"), ("recovered", "recovered"),
                  ("clawed_back", "clawed back"), ("written_off", "written off"), ("balance", "balance owed"))


def _ledger_json(ledger: dict[str, object], money: object) -> dict[str, object]:
    cur = str(ledger["currency"])
    return {"plan_year": ledger["plan_year"], "currency": cur,
            **{k: money(ledger[k], cur) for k, _ in _LEDGER_LABELS}}  # type: ignore[operator]


@command(payroll_app, "ledger")
async def ledger(
    ctx: Context,
    cycle: Cycle,
    out: Annotated[Path | None, typer.Option("--out", show_default=False,
                                             help="write the ledger as CSV to this file instead of printing it")] = None,
    json_output: Json = False,
) -> int:
    """the cycle's balance ledger: earned, drawn, recovered, clawed back, written off, net, balance owed"""
    from services.console import table
    from services.payroll import format_amount
    from services.statements import cycle_ledger, ledger_csv

    rows = await cycle_ledger(ctx.db(), cycle)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(ledger_csv(rows), encoding="utf-8")
        print(f"{len(rows)} ledger row(s) written")
        print(out)
        return 0
    kinds = ("earned", "drawn", "recovered", "clawed_back", "written_off", "net", "balance")
    if json_output:
        emit_json([{"employee_id": r.employee_id, "plan_year": r.plan_year, "currency": r.currency,
                    **{k: format_amount(getattr(r, k), r.currency) for k in kinds}} for r in rows])
        return 0
    if not rows:
        print(f"cycle {cycle} has no ledger entries (its plan has no deals, draw or clawbacks)")
        return 0
    print(table(["employee", "plan year", "earned", "drawn", "recovered", "clawed back", "written off", "net",
                 "balance owed", "currency"],
                [(r.employee_id, r.plan_year, *(format_amount(getattr(r, k), r.currency) for k in kinds), r.currency)
                 for r in rows], right=(2, 3, 4, 5, 6, 7, 8)))
    return 0


@command(payroll_app, "export")
def export(
    ctx: Context,
    cycle: Cycle,
    out: Annotated[Path | None, typer.Option("--out", show_default=False,
                                             help="the CSV file (default out/payroll-CYCLE.csv)")] = None,
) -> int:
    """write the approved payout lines as CSV"""
    from services.payroll import export_payroll_csv

    path = out or ROOT / "out" / f"payroll-{cycle}.csv"
    n = export_payroll_csv(ctx.db(), cycle, path)
    print(f"{n} payout line(s) written")
    print(path)
    return 0
