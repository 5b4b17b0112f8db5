"""A cycle's sales compensation (issue 13): each person's settlement as the payout lines a cycle locks, and the
ledger movements the lock writes.

activities.cycle reads what the earlier cycles of the plan year locked, the period's deals and the deals' events,
and hands them here; nothing here reads or writes. The lines take the existing lock / delta-line path
(compute_incentives, delta_lines, lock_payouts), so a recomputation after lock adds delta lines like any other:
- one ``commission`` line per credited deal, naming the deal, its closing day and the credited amount;
- the plan year's true-up: a ``bonus`` line naming the plan year (it replaces the period bonus: its target is
  the annual one);
- the draw top-up ``draw`` and the recovery ``draw_recovery`` (negative), carrying the period's ledger figures;
- clawbacks (negative) and reinstatements: ``adjustment`` lines of commission naming the deal and the event.
A paid line is never edited: a clawback is a new line in the first cycle computed after the deal's commission
locked whose period reaches the event's day (the next open period).

Linking the plan year: a person's ``index`` is the number of earlier cycles of the plan year they took part in,
so their first cycle is period 1 of their draw and of the plan year's YTD shares.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from domain.clawbacks import DealEvent, PaidDeal
from domain.deals import DealCredit
from domain.draws import DrawConfig
from domain.errors import DomainError
from domain.incentives import IncentiveInput, IncentivePlan, PayoutLine
from domain.money import exact
from domain.settlement import Settlement, SettlementLine, settle_period
from domain.text import Text, explain, tr
from domain.trusted import trusted

#: The fields a line sets explicitly (as PayoutLine(...) would record them); adjusts too when given.
_LINE_FIELDS_SET = frozenset(("employee_id", "line_type", "amount", "currency", "plan_id", "plan_version",
                              "idempotency_key", "explanation", "inputs", "cycle_id"))
#: The same as the sets the lines record, shared by every line (a frozen model's fields set is never changed).
_LINE_SET, _ADJUSTING_LINE_SET = set(_LINE_FIELDS_SET), set(_LINE_FIELDS_SET) | {"adjusts"}

#: The kinds of ledger entry, in the order a period writes them.
LEDGER_KINDS = ("earned", "drawn", "recovered", "clawed_back", "written_off")


@dataclass(frozen=True)
class LockedLine:
    """A locked payout line of an earlier cycle of the plan year, as the person's year reads it."""

    line_type: str
    amount: Decimal
    inputs: Mapping[str, Any]


@dataclass(frozen=True)
class PersonYear:
    """What the earlier cycles of the plan year locked for one person: the state this cycle continues."""

    index: int = 0
    ytd_credited: Decimal = Decimal(0)
    plan_year_paid: Decimal = Decimal(0)
    actuals_before: tuple[Decimal, ...] = ()
    balance: Decimal = Decimal(0)
    paid_deals: tuple[PaidDeal, ...] = ()
    clawed: Mapping[tuple[str, str], Decimal] = field(default_factory=dict)
    applied_events: frozenset[tuple[str, str, date]] = frozenset()


def _event_of(inputs: Mapping[str, Any]) -> tuple[str, str, date] | None:
    deal, kind, on = inputs.get("deal_id"), inputs.get("event"), inputs.get("event_on")
    if not (isinstance(deal, str) and isinstance(kind, str) and isinstance(on, str)):
        return None
    return deal, kind, date.fromisoformat(on)


@exact
def person_year(employee_id: str, currency: str, locked: Iterable[LockedLine], *, index: int = 0,
                balance: Decimal = Decimal(0), actuals_before: Sequence[Decimal] = ()) -> PersonYear:
    """The person's plan year so far from the locked lines of its earlier cycles (adjustments included).

    YTD credited is the credited amount of every deal paid; the plan year's YTD paid every bonus line and bonus
    adjustment; a deal's paid commission its deal lines; what is clawed back the clawback lines net of
    reinstatements; the applied events those the clawback lines name (an event is applied once).
    """
    ytd = paid_year = Decimal(0)
    paid: dict[str, list[Any]] = {}
    clawed: dict[tuple[str, str], Decimal] = {}
    applied: set[tuple[str, str, date]] = set()
    for line in locked:
        data = line.inputs
        deal = data.get("deal_id")
        if line.line_type == "commission" and isinstance(deal, str):
            ytd += Decimal(str(data.get("credited", "0")))
            entry = paid.setdefault(deal, [Decimal(0), date.fromisoformat(str(data["closed_on"]))])
            entry[0] += line.amount
        elif line.line_type == "adjustment" and (event := _event_of(data)) is not None:
            clawed[(event[0], employee_id)] = clawed.get((event[0], employee_id), Decimal(0)) - line.amount
            applied.add(event)
        elif line.line_type == "bonus" or (line.line_type == "adjustment" and data.get("adjusts") == "bonus"):
            paid_year += line.amount
    deals = tuple(PaidDeal(deal_id=d, employee_id=employee_id, closed_on=closed, paid=amount, currency=currency)
                  for d, (amount, closed) in sorted(paid.items()) if amount > 0)
    return PersonYear(index=index, ytd_credited=ytd, plan_year_paid=paid_year, actuals_before=tuple(actuals_before),
                      balance=balance, paid_deals=deals, clawed=clawed, applied_events=frozenset(applied))


def pending_events(year: PersonYear, events: Iterable[DealEvent]) -> list[DealEvent]:
    """The events of deals this person was paid for that no earlier cycle applied, in the order they happened.

    A reinstatement older than the deal's last applied clawback is stale (it reinstated an earlier one).
    """
    paid = {p.deal_id for p in year.paid_deals}
    last_claw: dict[str, date] = {}
    for deal, kind, on in year.applied_events:
        if kind != "reinstated" and on > last_claw.get(deal, date.min):
            last_claw[deal] = on
    out = [e for e in events if e.deal_id in paid and (e.deal_id, e.kind, e.on) not in year.applied_events
           and not (e.kind == "reinstated" and e.on < last_claw.get(e.deal_id, date.min))]
    return sorted(out, key=lambda e: (e.on, e.deal_id, e.kind))


@dataclass(frozen=True)
class PersonPeriod:
    """One participant of the cycle: the incentive input, the plan year so far, the period's deals and events."""

    person: IncentiveInput
    year: PersonYear = PersonYear()
    credits: tuple[DealCredit, ...] = ()
    events: tuple[DealEvent, ...] = ()
    #: The plan year measure's actual for this period (plan_year plans), and the person's annual quota.
    period_actual: Decimal | None = None
    annual_quota: Decimal | None = None


def _explanation(steps: Sequence[Text]) -> str:
    """The steps in English, the line's exact calculation (payout_line.explanation). A reader's language gets the
    line as a sentence (domain.sentences.payout_line_text) from the figures in its inputs instead: rendering every
    step a second time as data would double the cost of a cycle's deal lines. ``explain`` says lazily built steps
    straight from their figures, without building them."""
    return explain(steps)


def annual_target(plan: IncentivePlan, person: IncentiveInput) -> Decimal | None:
    """The target incentive the plan gives the person (employee before grade): annual for a plan year."""
    ti = plan.target_incentive
    target = ti.by_employee.get(person.employee_id)
    if target is None and person.grade is not None:
        target = ti.by_grade.get(person.grade)
    return target


def _payout_line(plan: IncentivePlan, ln: SettlementLine, s: Settlement, credits: Mapping[str, DealCredit],
                 plan_year: str, events: Mapping[str, list[DealEvent]]) -> PayoutLine:
    explanation = _explanation(ln.steps)
    inputs: dict[str, Any] = {"plan_year": plan_year}
    line_type: str = ln.kind
    adjusts = None
    if ln.kind == "deal_commission":  # nearly every line: its inputs built as one dict (the same keys, same order)
        credit = credits[ln.deal_id or ""]
        line_type = "commission"
        inputs = {"plan_year": plan_year, "deal_id": ln.deal_id, "credited": str(credit.amount),
                  "percent": str(credit.percent), "closed_on": credit.closed_on.isoformat()}
    elif ln.kind == "plan_year_bonus":
        line_type = "bonus"
        year = s.plan_year
        if year is not None:
            inputs |= {"ytd_attainment": str(year.ytd_attainment), "ytd_earned": str(year.ytd_earned),
                       "paid_before": str(year.paid_before), "factor": str(year.factor)}
    elif ln.kind in ("draw", "draw_recovery"):
        lp = s.ledger
        assert lp is not None
        inputs |= {"draw_kind": plan.draw.kind if plan.draw else None, "opening_balance": str(lp.opening_balance),
                   "earned": str(lp.earned), "drawn": str(lp.drawn), "recovered": str(lp.recovered),
                   "written_off": str(lp.written_off), "closing_balance": str(lp.closing_balance)}
    else:  # clawback or reinstatement: the event it answers, so a later cycle never applies it again
        queue = events.get(ln.deal_id or "", [])
        takes = plan.clawback.applies_to if plan.clawback else ()
        reinstating = ln.kind == "reinstatement"
        event = next((e for e in queue if (e.kind == "reinstated" if reinstating else e.kind in takes)), None)
        if event is not None:  # the events of one deal produce their lines in the order they happened
            queue.remove(event)
        line_type, adjusts = "adjustment", "commission"
        inputs |= {"adjusts": "commission", "deal_id": ln.deal_id,
                   "event": event.kind if event else ("reinstated" if reinstating else "cancelled"),
                   "event_on": (event.on if event else date.min).isoformat()}
    return trusted(PayoutLine, {  # the settlement's own figures, already of the fields' types: not validated again
        "employee_id": ln.employee_id, "line_type": line_type, "amount": ln.amount, "currency": ln.currency,
        "plan_id": plan.id, "plan_version": plan.version, "idempotency_key": ln.idempotency_key,
        "explanation": explanation, "inputs": inputs, "cycle_id": ln.cycle_id, "revision": 0, "adjusts": adjusts,
    }, _ADJUSTING_LINE_SET if adjusts else _LINE_SET)


#: What becomes of one settlement line: _payout_line's arguments; a PayoutLine, or (activities.sales) its COPY row.
LineMaker = Callable[[IncentivePlan, SettlementLine, Settlement, Mapping[str, DealCredit], str,
                      Mapping[str, list[DealEvent]]], Any]


@exact
def settle_person(plan: IncentivePlan, plan_year: str, cycle_id: str, p: PersonPeriod,
                  other_earned: Decimal = Decimal(0), make: LineMaker = _payout_line) -> tuple[list[Any], Settlement]:
    """One participant's deal, plan-year, draw and clawback lines for the cycle (domain.settlement's order), each
    made by ``make`` (a PayoutLine; the first-lines COPY writes a row straight from the settlement line instead)."""
    person = p.person
    employee = person.employee_id
    for c in p.credits:
        if c.currency != person.currency:
            raise DomainError(tr("the deal is in %(currency)s but %(employee)s is paid in %(paid)s; convert it first",
                                 currency=c.currency, employee=employee, paid=person.currency),
                              f"deals.{c.deal_id}.currency")
    year = p.year
    events = pending_events(year, p.events) if plan.clawback is not None else []
    year_args: dict[str, Any] = {}
    if plan.plan_year is not None:
        year_args = {"plan_year": plan.plan_year, "annual_target": annual_target(plan, person),
                     "annual_quota": p.annual_quota,
                     "actuals": [*year.actuals_before, p.period_actual or Decimal(0)],
                     "plan_year_paid_before": year.plan_year_paid}
    s = settle_period(
        employee_id=employee, cycle_id=cycle_id, index=year.index, currency=person.currency, rounding=plan.rounding,
        deal_cfg=plan.deal_commission, credits=p.credits if plan.deal_commission is not None else (),
        ytd_credited_before=year.ytd_credited, **year_args,
        draw=plan.draw, draw_balance=year.balance, other_earned=other_earned,
        clawback=plan.clawback if events else None, paid_deals=year.paid_deals if events else (),
        events=events, clawed_before=dict(year.clawed))
    by_deal: dict[str, list[DealEvent]] = {}
    for e in events:
        by_deal.setdefault(e.deal_id, []).append(e)
    credits = {c.deal_id: c for c in p.credits}
    return [make(plan, ln, s, credits, plan_year, by_deal) for ln in s.lines], s


@exact
def settle_cycle(plan: IncentivePlan, plan_year: str, cycle_id: str, payouts: Sequence[PayoutLine],
                 people: Sequence[PersonPeriod], make: LineMaker = _payout_line) -> list[Any]:
    """The cycle's lines: compute_payouts' (its bonus dropped for a plan year) and every person's settlement (each
    settlement line made by ``make``, as settle_person)."""
    if plan.plan_year is not None:  # the plan year's true-up pays the annual target instead of the period bonus
        payouts = [line for line in payouts if line.line_type != "bonus"]
    other: dict[str, Decimal] = {}
    for line in payouts:
        other[line.employee_id] = other.get(line.employee_id, Decimal(0)) + line.amount
    out = list(payouts)
    for p in people:
        lines, _ = settle_person(plan, plan_year, cycle_id, p, other.get(p.person.employee_id, Decimal(0)), make)
        out.extend(lines)
    return out


def is_clawback(line_type: str, inputs: Mapping[str, Any] | None) -> bool:
    """A clawback or reinstatement line (an adjustment of commission answering a deal's event)."""
    return line_type == "adjustment" and bool(inputs) and _event_of(inputs or {}) is not None


@exact
def ledger_movements(lines: Iterable[LockedLine]) -> dict[str, Decimal]:
    """What one person's lines locked now move in the ledger: earned (bonus and commission, their corrections
    included), drawn (top-ups and draw corrections), recovered and clawed back (net of reinstatements); written
    off is the draw rules' (period_ledger)."""
    out = dict.fromkeys(LEDGER_KINDS, Decimal(0))
    for line in lines:
        data = line.inputs or {}
        if line.line_type == "draw" or (line.line_type == "adjustment" and data.get("adjusts") == "draw"):
            out["drawn"] += line.amount
        elif line.line_type == "draw_recovery":
            out["recovered"] -= line.amount
        elif is_clawback(line.line_type, data):
            out["clawed_back"] -= line.amount
        else:
            out["earned"] += line.amount
    return out


def write_off_due(draw: DrawConfig | None, index: int, balance: Decimal) -> Decimal:
    """What period ``index`` (0-based) writes off of the balance still owed after it: all of it in the last period
    of recovery when the plan writes the rest off (domain.draws.draw_period's rule), else nothing."""
    if (draw is None or draw.kind != "recoverable" or draw.at_end != "write_off" or draw.periods is None
            or draw.recovery_periods is None or index != draw.periods + draw.recovery_periods - 1 or balance <= 0):
        return Decimal(0)
    return balance


@exact
def period_ledger(lines: Iterable[LockedLine], opening_balance: Decimal, draw: DrawConfig | None, index: int,
                  first: bool) -> list[tuple[str, Decimal, Decimal]]:
    """The ledger entries of the lines one approval locks for a person in period ``index``: ledger_movements, and
    on the period's first approval (``first``) the write-off its draw rules make at the end of recovery."""
    moves = ledger_movements(lines)
    recoverable = draw is not None and draw.kind == "recoverable"
    if first and recoverable:
        moves["written_off"] = write_off_due(draw, index, opening_balance + moves["drawn"] - moves["recovered"])
    return ledger_entries(moves, opening_balance, recoverable, always_earned=first)


@exact
def ledger_entries(movements: Mapping[str, Decimal], opening_balance: Decimal, recoverable: bool,
                   always_earned: bool) -> list[tuple[str, Decimal, Decimal]]:
    """(kind, amount, balance after) for the non-zero movements, in LEDGER_KINDS order; ``earned`` also when zero
    if ``always_earned`` (a person's first entry of a cycle shows the period even when it earned nothing).

    The balance is what the person owes on recoverable draws: a top-up adds to it, a recovery or a write-off takes
    from it; earnings and clawbacks leave it as it is (a clawback settles through its own negative line).
    """
    balance = opening_balance
    out: list[tuple[str, Decimal, Decimal]] = []
    for kind in LEDGER_KINDS:
        amount = movements.get(kind, Decimal(0))
        if amount == 0 and not (kind == "earned" and always_earned):
            continue
        if recoverable and kind == "drawn":
            balance += amount
        elif recoverable and kind in ("recovered", "written_off"):
            balance -= amount
        out.append((kind, amount, balance))
    return out
