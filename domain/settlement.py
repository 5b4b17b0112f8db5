"""One person's settlement for one period of a plan year: the lines payroll reads and the ledger beside them.

It only puts together what the plan declares, in a fixed order, each part explained by its own module:
1. deal commission, one line per credited deal (domain.deals), continuing the YTD total when cumulative;
2. the plan year's true-up bonus (domain.planyear);
3. the draw: a top-up line, or a recovery line taking back an earlier top-up (domain.draws), on what 1 and 2
   (and any other earnings of the period, e.g. compute_payouts' lines) earned;
4. clawbacks and reinstatements of deals paid earlier (domain.clawbacks), as adjustments of commission.
The net of the lines is what the period pays; negative when clawbacks exceed the rest, for payroll to recover.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict

from domain.clawbacks import ClawbackConfig, DealEvent, PaidDeal, clawback_lines
from domain.deals import DealCommissionConfig, DealCredit, deal_commission
from domain.draws import DrawConfig, LedgerPeriod, draw_period
from domain.errors import DomainError
from domain.money import RoundingMode, exact, minor_unit
from domain.planyear import PeriodResult, PlanYearConfig, plan_year_period
from domain.sentences import money
from domain.text import LazySteps, Steps, Text, tr

SettlementKind = Literal["deal_commission", "plan_year_bonus", "draw", "draw_recovery", "clawback", "reinstatement"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SettlementLine(_Frozen):
    """One line of the period: its kind, amount (in the currency's minor unit), deterministic key and steps."""

    kind: SettlementKind
    employee_id: str
    amount: Decimal
    currency: str
    cycle_id: str
    idempotency_key: str
    deal_id: str | None = None
    steps: Steps


_LINE_FIELDS = frozenset(SettlementLine.model_fields)
_LINE_SET = set(_LINE_FIELDS)  # shared: a frozen model's fields set is never changed
_new = object.__new__
_set = object.__setattr__


class Settlement(_Frozen):
    """The period's lines, the person's ledger entry, the plan year's figures and the net the period pays."""

    employee_id: str
    period: int
    lines: tuple[SettlementLine, ...]
    ledger: LedgerPeriod | None
    plan_year: PeriodResult | None
    ytd_credited_after: Decimal
    net: Decimal
    currency: str
    steps: Steps


@exact
def settle_period(*, employee_id: str, cycle_id: str, index: int, currency: str, rounding: RoundingMode,
                  deal_cfg: DealCommissionConfig | None = None, credits: Sequence[DealCredit] = (),
                  ytd_credited_before: Decimal = Decimal(0),
                  plan_year: PlanYearConfig | None = None, annual_target: Decimal | None = None,
                  annual_quota: Decimal | None = None, actuals: Sequence[Decimal] = (),
                  plan_year_paid_before: Decimal = Decimal(0), gate_ytd_attainment: Decimal | None = None,
                  draw: DrawConfig | None = None, draw_balance: Decimal = Decimal(0), draw_amount: Decimal | None = None,
                  other_earned: Decimal = Decimal(0),
                  clawback: ClawbackConfig | None = None, paid_deals: Sequence[PaidDeal] = (),
                  events: Sequence[DealEvent] = (), clawed_before: dict[tuple[str, str], Decimal] | None = None,
                  clawback_sequence_start: int = 1) -> Settlement:
    """Period ``index`` (0-based) of the plan year for one person; see the module's docstring for the order."""
    if not cycle_id:
        raise DomainError(tr("must not be empty"), "cycle_id")
    lines: list[SettlementLine] = []
    prefix = f"{cycle_id}:{employee_id}"
    ytd_after = ytd_credited_before
    subtotal = Decimal(0)  # sum((ln.amount for ln in lines), Decimal(0)), kept as lines are added (the same sums)
    if credits:
        if deal_cfg is None:
            raise DomainError(tr("deals are given but the plan has no deal_commission"), "deal_commission")
        result = deal_commission(deal_cfg, credits, rounding, ytd_credited_before)
        if result.employee_id != employee_id or result.currency != currency:
            raise DomainError(tr("the deals are credited to %(other)s in %(currency)s, not to %(employee)s",
                                 other=result.employee_id, currency=result.currency, employee=employee_id), "credits")
        ytd_after = result.ytd_after
        subtotal = result.total  # the same sum of the same amounts, in the same order
        for ln in result.lines:
            line = _new(SettlementLine)  # domain.trusted.trusted, inline: the deal lines' own figures
            _set(line, "__dict__", {
                "kind": "deal_commission", "employee_id": employee_id, "amount": ln.amount, "currency": currency,
                "cycle_id": cycle_id, "idempotency_key": f"{prefix}:deal-{ln.deal_id}:0", "deal_id": ln.deal_id,
                "steps": ln.steps})
            _set(line, "__pydantic_fields_set__", _LINE_SET)
            _set(line, "__pydantic_extra__", None)
            _set(line, "__pydantic_private__", None)
            lines.append(line)
    year: PeriodResult | None = None
    if plan_year is not None and actuals:
        if annual_target is None or annual_quota is None:
            raise DomainError(tr("the plan year needs the person's annual target and quota"), "plan_year")
        if len(actuals) != index + 1:
            raise DomainError(tr("%(count)s actuals for period %(period)s; give one per period so far",
                                 count=len(actuals), period=index + 1), "actuals")
        year = plan_year_period(plan_year, annual_target, annual_quota, actuals, plan_year_paid_before, currency,
                                rounding, gate_ytd_attainment)
        lines.append(SettlementLine(kind="plan_year_bonus", employee_id=employee_id, amount=year.amount,
                                    currency=currency, cycle_id=cycle_id, idempotency_key=f"{prefix}:plan-year:0",
                                    steps=year.steps))
        subtotal += lines[-1].amount
    claws: list[SettlementLine] = []
    if events:
        if clawback is None:
            raise DomainError(tr("deal events are given but the plan has no clawback rules"), "clawback")
        for c in clawback_lines(clawback, paid_deals, events, cycle_id, rounding, clawed_before,
                                clawback_sequence_start):
            if c.employee_id != employee_id:
                continue
            claws.append(SettlementLine(kind="reinstatement" if c.amount > 0 else "clawback", employee_id=employee_id,
                                        amount=c.amount, currency=currency, cycle_id=cycle_id,
                                        idempotency_key=c.idempotency_key, deal_id=c.deal_id, steps=c.steps))
    earned = other_earned + subtotal
    ledger: LedgerPeriod | None = None
    if draw is not None:
        clawed = -sum((c.amount for c in claws), Decimal(0))
        ledger = draw_period(draw, index, earned, draw_balance, currency, rounding, max(clawed, Decimal(0)),
                             draw_amount)
        if ledger.drawn:
            lines.append(SettlementLine(kind="draw", employee_id=employee_id, amount=ledger.drawn, currency=currency,
                                        cycle_id=cycle_id, idempotency_key=f"{prefix}:draw:0", steps=ledger.steps))
            subtotal += lines[-1].amount
        if ledger.recovered:
            lines.append(SettlementLine(kind="draw_recovery", employee_id=employee_id, amount=-ledger.recovered,
                                        currency=currency, cycle_id=cycle_id,
                                        idempotency_key=f"{prefix}:draw-recovery:0", steps=ledger.steps))
            subtotal += lines[-1].amount
    lines.extend(claws)
    for c in claws:
        subtotal += c.amount
    net = other_earned + subtotal
    kept = tuple(lines)
    minor_unit(currency)  # the steps show money in it: a code that is not one fails here, as when they were built
    return Settlement(employee_id=employee_id, period=index + 1, lines=kept, ledger=ledger, plan_year=year,
                      ytd_credited_after=ytd_after, net=net, currency=currency,
                      steps=LazySteps(_settlement_steps, (kept, other_earned, net, currency)))


@exact
def _settlement_steps(lines: tuple[SettlementLine, ...], other_earned: Decimal, net: Decimal,
                      currency: str) -> list[Text]:
    """The settlement's own steps (one per line, then the net), built when they are read."""
    steps = [tr("%(kind)s: %(amount)s", kind=_kind_text(ln.kind), amount=money(ln.amount, currency)) for ln in lines]
    if other_earned:
        steps.insert(0, tr("other earnings of the period: %(amount)s", amount=money(other_earned, currency)))
    steps.append(tr("net for the period: %(net)s", net=money(net, currency)) if net >= 0 else
                 tr("net for the period: %(net)s, a negative settlement for payroll to recover (never paid out)",
                    net=money(net, currency)))
    return steps


#: Built once: a Text is translated where it is shown, so one per kind serves every line.
KIND_TEXT = {"deal_commission": tr("deal commission"), "plan_year_bonus": tr("plan-year bonus (true-up)"),
             "draw": tr("draw top-up"), "draw_recovery": tr("draw recovery"), "clawback": tr("clawback"),
             "reinstatement": tr("reinstatement")}


def _kind_text(kind: str) -> object:
    return KIND_TEXT[kind]
