"""`kamreview trends …`: a KAM's or a team's figures across released cycles, and managers whose ratings drift.

The CLI runs as the operator (it has the database), so it reads every employee and team, as HR does on the pages.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

import typer

from cli.common import Context, Json, emit_json, id_arg

ARROW = {"up": "↑", "down": "↓", "same": "→", None: " "}


def _fig(f: Any, fmt: str = "num") -> str:
    """A figure and its change against the previous cycle: ``4 ↑+1``."""
    if f is None or f.value is None:
        return "-"
    plain = (lambda d: f"{d:f}") if fmt == "money" else _num  # money keeps its minor unit: 2500.00
    value = f"{f.value * 100:.1f}%" if fmt == "pct" else plain(f.value)
    if f.change is None:
        return value
    delta = f"{f.change * 100:+.1f}pp" if fmt == "pct" else ("+" if f.change > 0 else "") + plain(f.change)
    return f"{value} {ARROW[f.direction]}{delta if f.direction != 'same' else ''}"


def _num(d: Decimal) -> str:
    """A decimal without trailing zeros (1700.0000 → 1700), never in exponent notation."""
    text = f"{d:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _signed(d: Decimal | None) -> str:
    return "-" if d is None else ("+" if d > 0 else "") + _num(d)


async def trends(
    ctx: Context,
    employee: Annotated[str | None, typer.Argument(parser=id_arg, metavar="EMPLOYEE", show_default=False,
                                                   help="the KAM whose trend to show")] = None,
    team: Annotated[str | None, typer.Option("--team", parser=id_arg, metavar="MANAGER", show_default=False,
                                             help="a manager's team instead of one KAM")] = None,
    drift: Annotated[bool, typer.Option("--drift", help="managers whose ratings drift (docs/trends.md)")] = False,
    cadence: Annotated[str | None, typer.Option("--cadence", show_default=False,
                                                help="with --drift: quarterly, half_yearly or annual")] = None,
    json_output: Json = False,
) -> int:
    """ratings, scores, KPIs and incentives across released cycles (one KAM, --team MANAGER, or --drift)"""
    from services.errors import UserError

    chosen = [x for x in (employee, team, drift or None) if x]
    if len(chosen) != 1:
        raise UserError("name one of: an EMPLOYEE, --team MANAGER, or --drift")
    if cadence is not None and cadence not in ("quarterly", "half_yearly", "annual"):
        raise UserError(f"--cadence: {cadence!r} is not one of quarterly, half_yearly, annual")
    from services.db import DirectDatabase
    from services.trends import drift_report, employee_trend, team_trend

    async with DirectDatabase(ctx.db()).connection() as conn:
        if employee:
            view: Any = await employee_trend(conn, employee, None)
        elif team:
            view = await team_trend(conn, team, None)
        else:
            view = await drift_report(conn, cadence)
    if json_output:
        emit_json(view)
        return 0
    from services.console import table

    if employee:
        print(f"{view.employee_id} {view.name}" + (f" (manager {view.manager_id} {view.manager_name})"
                                                   if view.manager_id else ""))
        for c in view.cadences():
            rows = view.series(c)
            kpis = list(dict.fromkeys(k.kpi_id for p in rows for k in p.kpis))
            currencies = list(dict.fromkeys(f.currency for p in rows for f in p.payouts))
            print(f"\n{c}")
            print(table(["period", "level", "label", "preliminary", "normalized", *kpis, *currencies],
                        [(p.period, _fig(p.final_level), (p.final_label or "") + (" (adjusted)" if p.adjustments else ""),
                          _fig(p.preliminary_score), _fig(p.normalized_score),
                          *(next((_fig(k, "pct" if k.ratio else "num") for k in p.kpis if k.kpi_id == kid), "-")
                            for kid in kpis),
                          *(next((_fig(f, "money") for f in p.payouts if f.currency == cur), "-") for cur in currencies))
                         for p in rows]))
        if not view.cycles:
            print("no released cycle yet")
    elif team:
        print(f"team of {view.manager_id} {view.name}: {len(view.reports)} direct report(s)")
        for c in view.cadences():
            rows = view.series(c)
            levels = [lv for lv, _ in rows[-1].levels]
            print(f"\n{c}")
            print(table(["period", "rated", *(f"L{lv}" for lv in levels), "mean level", "mean score"],
                        [(p.period, p.rated, *(next((d.count for d in p.distribution if d.level == lv), 0)
                                               for lv in levels), _fig(p.mean_level), _fig(p.mean_score))
                         for p in rows], right=range(1, 2 + len(levels))))
        if not view.cycles:
            print("no released cycle yet")
    else:
        r = view.rule
        if not view.cycles:
            print("no released cycle yet")
            return 0
        print(f"{view.cadence}: {view.cycles[0][2]} .. {view.cycles[-1][2]}; flagged when the team's mean level moves "
              f"more than {r.mean_threshold} levels, or its top/bottom share more than {_num(r.share_threshold * 100)} "
              f"points, faster than the company's (teams of {r.min_team} or more)")
        print(table(["manager", "name", "team change", "company change", "drift", "top", "bottom", "flag"],
                    [(m.manager_id, m.name, *(_signed(x) for x in (m.drift.team_mean_change, m.drift.company_mean_change,
                                                                   m.drift.mean_drift, m.drift.top_drift,
                                                                   m.drift.bottom_drift)),
                      f"{m.drift.leaning}: {', '.join(m.drift.flags)}" if m.drift.flagged else "")
                     for m in view.managers], right=range(2, 7)))
    return 0
