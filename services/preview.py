"""What-if preview for HR: a plan's payouts for given inputs, without running a cycle.

The same pure calculation the cycle uses (domain.incentives.compute_payouts), so a preview and
the real payout agree to the cent. With a deals CSV, or a plan with deal commission, a draw or clawbacks, the
preview runs the plan year period by period through the pure settlement (domain.settlement.settle_period):
each period's payouts and deal lines, the plan-year true-up, the draw top-up or recovery, the clawbacks of
deals paid in earlier periods, and the ledger (earned, drawn, recovered, clawed back, balance) carried on.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from domain.clawbacks import DealEvent, PaidDeal
from domain.deals import DealCredit, credit_deal
from domain.errors import DomainError
from domain.incentives import IncentiveInput, IncentivePlan, PayoutLine, compute_payouts
from domain.inputs import Id
from domain.money import to_decimal
from domain.settlement import Settlement, settle_period
from domain.text import Text, tr
from domain.validation import error_text
from services.cycles import ConfigError, format_validation_error, parse_yaml_mapping, read_yaml_file
from services.errors import UserError

if TYPE_CHECKING:
    from services.imports.deals import DealRow

BASE_COLUMNS = ["employee_id", "grade", "currency", "rating", "employment_start", "employment_end", "revenue",
                "annual_quota"]


class PreviewPeriod(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    start: date
    end: date


class PreviewCyclePeriod(PreviewPeriod):
    """One period (cycle) of the plan year; its id names its lines (``P1`` … when not given)."""

    id: Id | None = None


class PreviewPlanFile(BaseModel):
    """PLAN.yaml: the incentive plan and the period it pays for (proration needs it); ``periods`` splits the
    plan year into the cycles that pay it (deals, draws and clawbacks settle period by period)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    period: PreviewPeriod
    periods: list[PreviewCyclePeriod] | None = Field(default=None, min_length=1, max_length=53)
    incentive_plan: IncentivePlan

    @model_validator(mode="after")
    def _periods_in_order(self) -> PreviewPlanFile:
        for i, p in enumerate(self.periods or []):
            if p.end < p.start:
                raise DomainError(tr("%(period_end)s is before period_start %(period_start)s", period_end=p.end,
                                     period_start=p.start), f"periods.{i}.end")
            if i and p.start <= (self.periods or [])[i - 1].end:
                raise DomainError(tr("period %(period)s must start after the previous one ends", period=i + 1),
                                  f"periods.{i}.start")
        year = self.incentive_plan.plan_year
        if year is not None and len(self.periods or [self.period]) > year.periods:
            raise DomainError(tr("%(count)s periods for a plan year of %(periods)s", count=len(self.periods or []),
                                 periods=year.periods), "periods")
        return self

    def cycle_periods(self) -> list[PreviewCyclePeriod]:
        if self.periods:
            return [p if p.id else p.model_copy(update={"id": f"P{i}"}) for i, p in enumerate(self.periods, start=1)]
        return [PreviewCyclePeriod(start=self.period.start, end=self.period.end, id="P1")]


@dataclass
class LedgerRow:
    """One person's period as the statement shows it: earned, drawn, recovered, clawed back, balance, net."""

    employee_id: str
    period: int
    earned: Decimal
    drawn: Decimal
    recovered: Decimal
    clawed_back: Decimal
    balance: Decimal
    net: Decimal
    currency: str


@dataclass
class PeriodPreview:
    """One period: the plan's payout lines (compute_payouts) and each person's settlement."""

    number: int
    cycle_id: str
    start: date
    end: date
    payouts: list[PayoutLine]
    settlements: list[Settlement]
    ledger: list[LedgerRow]


@dataclass
class Preview:
    plan: IncentivePlan
    lines: list[PayoutLine]
    #: Set when the preview settles the plan year period by period (deals, plan year, draw or clawbacks).
    periods: list[PeriodPreview] | None = None
    notes: list[Text] = field(default_factory=list)

    def totals(self) -> dict[str, LedgerRow]:
        """Per person over every period: what the ledger adds up to (balance: the last period's)."""
        out: dict[str, LedgerRow] = {}
        for period in self.periods or []:
            for row in period.ledger:
                t = out.get(row.employee_id)
                if t is None:
                    out[row.employee_id] = LedgerRow(row.employee_id, 0, row.earned, row.drawn, row.recovered,
                                                     row.clawed_back, row.balance, row.net, row.currency)
                else:
                    t.earned += row.earned
                    t.drawn += row.drawn
                    t.recovered += row.recovered
                    t.clawed_back += row.clawed_back
                    t.balance = row.balance
                    t.net += row.net
        return out


def load_plan_file(path: Path) -> PreviewPlanFile:
    data = parse_yaml_mapping(read_yaml_file(path), str(path))
    try:
        return PreviewPlanFile.model_validate(data)
    except ValidationError as err:
        raise ConfigError(format_validation_error(err, str(path), plan=True)) from None


def load_inputs(path: Path, measures: list[str], quotas: dict[str, Decimal] | None = None) -> list[IncentiveInput]:
    """INPUTS.csv: one row per employee; a column per bonus measure holds its attainment (1.0 = 100 %)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise UserError(tr("%(file)s: no such file", file=str(path))) from None
    except UnicodeDecodeError:
        raise UserError(tr("%(file)s: not UTF-8 text", file=str(path))) from None
    name = path.name
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in (reader.fieldnames or [])]
    if not header:
        raise UserError(tr("%(file)s:1: empty file; expected a header row", file=name))
    required = {"employee_id", "currency"}
    problems = [tr("%(file)s:1:%(column)s: missing required column", file=name, column=c)
                for c in sorted(required - set(header))]
    unknown = [c for c in header if c not in BASE_COLUMNS and c not in measures]
    problems += [tr("%(file)s:1:%(column)s: unknown column (expected %(expected)s)", file=name, column=c,
                    expected=", ".join(BASE_COLUMNS + measures)) for c in unknown]
    if problems:
        raise UserError(tr("%(problems)s", problems=problems))
    inputs: list[IncentiveInput] = []
    for line_no, raw in enumerate(reader, start=2):
        row = {k.strip(): (v or "").strip() for k, v in raw.items() if k is not None}

        def num(col: str, row: dict[str, str] = row, line_no: int = line_no):
            if not row.get(col):
                return None
            try:
                value = to_decimal(row[col])
            except DomainError:
                raise UserError(tr("%(file)s:%(line)s:%(column)s: %(value)s is not a number", file=name,
                                   line=str(line_no), column=col, value=repr(row[col]))) from None
            if value < 0:
                raise UserError(tr("%(file)s:%(line)s:%(column)s: %(value)s must not be negative", file=name,
                                   line=str(line_no), column=col, value=row[col]))
            return value

        def day(col: str, row: dict[str, str] = row, line_no: int = line_no):
            if not row.get(col):
                return None
            try:
                return date.fromisoformat(row[col])
            except ValueError:
                raise UserError(tr("%(file)s:%(line)s:%(column)s: %(value)s is not a date (YYYY-MM-DD)", file=name,
                                   line=str(line_no), column=col, value=repr(row[col]))) from None

        rating = num("rating")
        if rating is not None and rating != int(rating):
            raise UserError(tr("%(file)s:%(line)s:rating: %(value)s must be a whole level", file=name, line=str(line_no),
                               value=row["rating"]))
        quota = num("annual_quota")
        if quotas is not None and quota is not None:
            quotas[row.get("employee_id", "")] = quota
        try:
            inputs.append(IncentiveInput(
                employee_id=row.get("employee_id", ""), grade=row.get("grade") or None,
                currency=row.get("currency", ""), rating_level=None if rating is None else int(rating),
                attainment={m: v for m in measures if (v := num(m)) is not None}, revenue=num("revenue"),
                employment_start=day("employment_start"), employment_end=day("employment_end"),
            ))
        except ValidationError as err:
            first = err.errors()[0]
            col = str(first["loc"][0]) if first["loc"] else "row"
            raise UserError(tr("%(file)s:%(line)s:%(column)s: %(problem)s", file=name, line=str(line_no), column=col,
                               problem=error_text(first))) from None
    if not inputs:
        raise UserError(tr("%(file)s: no employee rows after the header", file=name))
    return inputs


def preview(plan_path: Path, inputs_path: Path, deals_path: Path | None = None) -> Preview:
    plan_file = load_plan_file(plan_path)
    plan = plan_file.incentive_plan
    measures = [m.id for m in plan.bonus.measures] if plan.bonus else []
    quotas: dict[str, Decimal] = {}
    inputs = load_inputs(inputs_path, measures, quotas)
    sales = deals_path is not None or plan_file.periods is not None or any(
        getattr(plan, name) is not None for name in ("deal_commission", "plan_year", "draw", "clawback"))
    if not sales:
        try:
            lines = compute_payouts(plan, plan_file.period.start, plan_file.period.end, "preview", inputs)
        except DomainError as err:
            raise UserError(tr("%(file)s: %(problem)s", file=inputs_path.name, problem=err.as_text())) from None
        return Preview(plan, lines)
    from services.imports.deals import load_deals

    rows = load_deals(deals_path) if deals_path is not None else []
    return _settle_year(plan_file, inputs, quotas, rows, deals_path.name if deals_path else "", inputs_path.name)


def _settle_year(plan_file: PreviewPlanFile, inputs: list[IncentiveInput], quotas: dict[str, Decimal],
                 rows: list[DealRow], deals_name: str, inputs_name: str) -> Preview:
    """Every period of the plan year in order, each person's state (YTD, balance, paid deals) carried on."""
    from services.imports.issues import Issues

    plan = plan_file.incentive_plan
    periods = plan_file.cycle_periods()
    people = {inp.employee_id: inp for inp in inputs}
    issues = Issues([deals_name])
    credits: dict[int, dict[str, list[DealCredit]]] = {}
    events: dict[int, list[DealEvent]] = {}
    notes: list[Text] = []

    def period_of(day: date) -> int | None:
        return next((i for i, p in enumerate(periods) if p.start <= day <= p.end), None)

    if rows and plan.deal_commission is None and plan.plan_year is None:
        raise UserError(tr("%(file)s: deals are given but the plan has no deal_commission", file=deals_name))
    for row in rows:
        deal = row.deal
        k = period_of(deal.closed_on)
        if k is None:
            issues.add(deals_name, row.line, "closed_on", tr(
                "%(day)s is outside the preview's periods (%(start)s to %(end)s)", day=deal.closed_on.isoformat(),
                start=periods[0].start.isoformat(), end=periods[-1].end.isoformat()))
            continue
        bad = False
        for credit in deal.credits:
            person = people.get(credit.employee_id)
            if person is None:
                issues.add(deals_name, row.line, "employee_id", tr(
                    "employee %(employee)s is not in %(inputs)s", employee=credit.employee_id, inputs=inputs_name))
                bad = True
            elif person.currency != deal.currency:
                issues.add(deals_name, row.line, "currency", tr(
                    "the deal is in %(currency)s but %(employee)s is paid in %(paid)s; convert it first",
                    currency=deal.currency, employee=credit.employee_id, paid=person.currency))
                bad = True
        if bad:
            continue
        for c in credit_deal(deal):
            credits.setdefault(k, {}).setdefault(c.employee_id, []).append(c)
        if row.event is not None:
            j = period_of(row.event.on)
            if j is not None and j <= k:
                j = k + 1  # the commission is paid when the period locks: the clawback comes in the next one
            if j is None or j >= len(periods):
                notes.append(tr("deal %(deal)s %(kind)s on %(on)s: its clawback falls in a period after the preview's "
                                "last one", deal=deal.id, kind=row.event.kind, on=row.event.on.isoformat()))
                continue
            if plan.clawback is None:
                notes.append(tr("deal %(deal)s %(kind)s on %(on)s: the plan has no clawback rules, so its "
                                "commission stays paid", deal=deal.id, kind=row.event.kind,
                                on=row.event.on.isoformat()))
                continue
            events.setdefault(j, []).append(row.event)
    if issues:
        raise issues.failure()
    closed = {row.deal.id: row.deal.closed_on for row in rows}
    state = {e: _PersonState() for e in people}
    out: list[PeriodPreview] = []
    all_lines: list[PayoutLine] = []
    for k, p in enumerate(periods):
        assert p.id is not None
        try:
            payouts = compute_payouts(plan, p.start, p.end, p.id, inputs)
        except DomainError as err:
            raise UserError(tr("%(file)s: %(problem)s", file=inputs_name, problem=err.as_text())) from None
        if plan.plan_year is not None:  # its target is the annual one, paid by the plan year's true-up instead
            payouts = [line for line in payouts if line.line_type != "bonus"]
        all_lines.extend(payouts)
        other: dict[str, Decimal] = {}
        for line in payouts:
            other[line.employee_id] = other.get(line.employee_id, Decimal(0)) + line.amount
        settlements: list[Settlement] = []
        ledger: list[LedgerRow] = []
        for inp in inputs:
            e = inp.employee_id
            st = state[e]
            mine = credits.get(k, {}).get(e, [])
            st.actuals.append(sum((c.amount for c in mine), Decimal(0)))
            paid = [d for d in st.paid.values()]
            my_events = [ev for ev in events.get(k, []) if ev.deal_id in st.paid]
            try:
                s = settle_period(
                    employee_id=e, cycle_id=p.id, index=k, currency=inp.currency, rounding=plan.rounding,
                    deal_cfg=plan.deal_commission, credits=mine if plan.deal_commission else (),
                    ytd_credited_before=st.ytd,
                    **_plan_year_args(plan, inp, quotas, st, inputs_name),
                    draw=plan.draw, draw_balance=st.balance, other_earned=other.get(e, Decimal(0)),
                    clawback=plan.clawback if my_events else None, paid_deals=paid if my_events else (),
                    events=my_events, clawed_before=st.clawed, clawback_sequence_start=st.sequence)
            except DomainError as err:
                raise UserError(tr("%(file)s: %(employee)s, period %(period)s: %(problem)s", file=inputs_name,
                                   employee=e, period=p.id, problem=err.as_text())) from None
            _carry(st, s, closed)
            settlements.append(s)
            ledger.append(_ledger_row(s))
        out.append(PeriodPreview(k + 1, p.id, p.start, p.end, payouts, settlements, ledger))
    return Preview(plan, all_lines, out, notes)


@dataclass
class _PersonState:
    ytd: Decimal = Decimal(0)
    balance: Decimal = Decimal(0)
    year_paid: Decimal = Decimal(0)
    actuals: list[Decimal] = field(default_factory=list)
    paid: dict[str, PaidDeal] = field(default_factory=dict)
    clawed: dict[tuple[str, str], Decimal] = field(default_factory=dict)
    sequence: int = 1


def _plan_year_args(plan: IncentivePlan, inp: IncentiveInput, quotas: dict[str, Decimal], st: _PersonState,
                    inputs_name: str) -> dict[str, object]:
    """The plan year's arguments: annual target from the plan, quota from INPUTS.csv, actuals from the deals."""
    year = plan.plan_year
    if year is None:
        return {}
    if year.measure != "revenue":
        raise UserError(tr("the preview takes plan-year actuals from the deals: plan_year.measure must be revenue, "
                           "not %(measure)s", measure=year.measure))
    ti = plan.target_incentive
    target = ti.by_employee.get(inp.employee_id)
    if target is None and inp.grade is not None:
        target = ti.by_grade.get(inp.grade)
    quota = quotas.get(inp.employee_id)
    if target is None or quota is None:
        raise UserError(tr("%(file)s: %(employee)s needs an annual target (target_incentive) and an annual_quota "
                           "for the plan year", file=inputs_name, employee=inp.employee_id))
    return {"plan_year": year, "annual_target": target, "annual_quota": quota, "actuals": list(st.actuals),
            "plan_year_paid_before": st.year_paid}


def _carry(st: _PersonState, s: Settlement, closed: dict[str, date]) -> None:
    """What the next period of this person reads: YTD credited, balance, paid deals, what was clawed back."""
    st.ytd = s.ytd_credited_after
    if s.ledger is not None:
        st.balance = s.ledger.closing_balance
    if s.plan_year is not None:
        st.year_paid += s.plan_year.amount
    for line in s.lines:
        if line.kind == "deal_commission" and line.deal_id is not None:
            before = st.paid.get(line.deal_id)
            st.paid[line.deal_id] = PaidDeal(deal_id=line.deal_id, employee_id=s.employee_id,
                                             closed_on=closed[line.deal_id], currency=line.currency,
                                             paid=line.amount + (before.paid if before else Decimal(0)))
        elif line.kind in ("clawback", "reinstatement") and line.deal_id is not None:
            key = (line.deal_id, s.employee_id)
            st.clawed[key] = st.clawed.get(key, Decimal(0)) - line.amount
            st.sequence += 1


def _ledger_row(s: Settlement) -> LedgerRow:
    clawed = -sum((ln.amount for ln in s.lines if ln.kind in ("clawback", "reinstatement")), Decimal(0))
    if s.ledger is not None:
        lp = s.ledger
        return LedgerRow(s.employee_id, s.period, lp.earned, lp.drawn, lp.recovered, clawed, lp.closing_balance,
                         s.net, s.currency)
    earned = s.net + clawed
    return LedgerRow(s.employee_id, s.period, earned, Decimal(0), Decimal(0), clawed, Decimal(0), s.net, s.currency)


def kind_text(kind: str) -> Text:
    """A settlement line's kind as the reader sees it (the same words the settlement's own steps use)."""
    from domain.settlement import KIND_TEXT

    return KIND_TEXT[kind]


def ledger_headers() -> list[Text]:
    """The ledger's columns, as statements show them."""
    return [tr("employee"), tr("period"), tr("earned"), tr("drawn"), tr("recovered"), tr("clawed back"),
            tr("balance"), tr("net"), tr("currency")]


def ledger_json(row: LedgerRow, money: object) -> dict[str, object]:
    """One ledger row for --json (``money(amount, currency)`` formats amounts in the minor unit)."""
    f = money  # payroll.format_amount: exact text in the currency's minor unit
    return {"employee_id": row.employee_id, **({"period": row.period} if row.period else {}),
            **{k: f(getattr(row, k), row.currency)  # type: ignore[operator]
               for k in ("earned", "drawn", "recovered", "clawed_back", "balance", "net")},
            "currency": row.currency}


def preview_json(result: Preview, locale: str = "en") -> dict[str, object]:
    """The settled preview as data: each period's lines with their explanation steps, the ledger and totals."""
    from i18n.format import Formatter
    from services.payroll import format_amount

    fmt = Formatter(locale=locale)
    periods = []
    for p in result.periods or []:
        lines: list[dict[str, object]] = [
            {"employee_id": ln.employee_id, "kind": ln.line_type, "amount": format_amount(ln.amount, ln.currency),
             "currency": ln.currency, "idempotency_key": ln.idempotency_key, "deal_id": None,
             "explanation": [ln.explanation]} for ln in p.payouts]
        for s in p.settlements:
            lines += [{"employee_id": s.employee_id, "kind": ln.kind, "amount": format_amount(ln.amount, ln.currency),
                       "currency": ln.currency, "idempotency_key": ln.idempotency_key, "deal_id": ln.deal_id,
                       "explanation": [fmt.text(step) for step in ln.steps]} for ln in s.lines]
        periods.append({"period": p.number, "cycle_id": p.cycle_id, "start": p.start.isoformat(),
                        "end": p.end.isoformat(), "lines": lines,
                        "ledger": [ledger_json(row, format_amount) for row in p.ledger],
                        "settlements": [{"employee_id": s.employee_id, "net": format_amount(s.net, s.currency),
                                         "currency": s.currency, "steps": [fmt.text(t) for t in s.steps],
                                         "ledger_steps": [fmt.text(t) for t in s.ledger.steps] if s.ledger else []}
                                        for s in p.settlements]})
    return {"plan": {"id": result.plan.id, "version": result.plan.version, "rounding": result.plan.rounding},
            "periods": periods,
            "totals": [ledger_json(row, format_amount) for row in result.totals().values()],
            "notes": [fmt.text(n) for n in result.notes]}
