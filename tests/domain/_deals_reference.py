"""Deal commission, draws, clawbacks and settlement as first written (every step a Text built at once).

The domain now keeps a line's figures and builds its explanation steps when they are read (English straight from
the figures); this version, copied from the implementation before that change (d851116), is kept as the
specification it must match byte for byte, in both languages (see test_deals_reference.py). Only the functions
are copied: the models (inputs and results) are the domain's own.
"""

# ruff: noqa: E501 - copied as it was

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from domain.clawbacks import ClawbackConfig, ClawbackLine, DealEvent, PaidDeal
from domain.deals import (
    AmountTable,
    Deal,
    DealCommissionConfig,
    DealCommissionResult,
    DealCredit,
    DealLine,
    RateTable,
)
from domain.draws import DrawConfig, LedgerPeriod
from domain.errors import DomainError
from domain.money import RoundingMode, allocate, exact, fmt_num, fmt_plain, minor_unit, round_money
from domain.planyear import PeriodResult, PlanYearConfig, plan_year_period
from domain.sentences import Money, money, percent
from domain.settlement import Settlement, SettlementLine
from domain.text import Text, tr
from domain.trusted import trusted

_CREDIT_FIELDS = frozenset(DealCredit.model_fields)
_DEAL_LINE_FIELDS = frozenset(DealLine.model_fields)
_LINE_FIELDS = frozenset(SettlementLine.model_fields)

@exact
def ref_credit_deal(deal: Deal) -> list[DealCredit]:
    """The deal's parts per KAM, by declared percentage, summing exactly to the deal (largest remainder).

    A deal of 1,000.01 split 50/50 gives 500.01 and 500.00 (the earlier-listed KAM takes the odd cent).
    """
    if len(deal.credits) == 1:
        parts = [deal.amount]
    else:
        parts = allocate(deal.amount, [c.percent for c in deal.credits], deal.currency)
    out: list[DealCredit] = []
    for c, part in zip(deal.credits, parts, strict=True):
        step = tr("deal %(deal)s of %(amount)s: %(share)s %% credited to %(employee)s = %(part)s", deal=deal.id,
                  amount=money(deal.amount, deal.currency), share=c.percent.normalize(), employee=c.employee_id,
                  part=money(part, deal.currency))
        out.append(trusted(DealCredit, {  # the validated deal's own figures: not validated again
            "deal_id": deal.id, "employee_id": c.employee_id, "closed_on": deal.closed_on, "percent": c.percent,
            "amount": part, "currency": deal.currency, "step": step}, set(_CREDIT_FIELDS)))
    return out


# ---- evaluating the tables ----


def ref_n(value: Decimal) -> Decimal:
    """A figure as an explanation shows it: at most 6 decimals (the exact value stays in the line's fields)."""
    return Decimal(fmt_plain(value, 6))


def ref_owner(boundary: str) -> Text:
    return tr("the upper tier") if boundary == "upper" else tr("the lower tier")


def ref_reached(starts: Sequence[Decimal], boundary: str, value: Decimal) -> int | None:
    """Index of the tier a value reaches, honouring who owns an exact edge; None below the first tier."""
    found: int | None = None
    for i, start in enumerate(starts):
        if start < value or (boundary == "upper" and start == value):
            found = i
    return found


def ref_rate_slices(table: RateTable, before: Decimal, after: Decimal) -> tuple[Decimal, list[Text]]:
    """Marginal commission on the slice ``before``..``after`` of the running total, one step per tier it touches."""
    total = Decimal(0)
    steps: list[Text] = []
    tiers = table.tiers
    for i, tier in enumerate(tiers):
        upper = tiers[i + 1].from_ if i + 1 < len(tiers) else None
        lo = max(before, tier.from_)
        hi = after if upper is None else min(after, upper)
        if hi <= lo:
            continue
        part = (hi - lo) * tier.rate
        total += part
        steps.append(tr("%(low)s–%(high)s: %(width)s × %(rate)s %% = %(part)s", low=lo, high=hi, width=hi - lo,
                        rate=(tier.rate * 100).normalize(), part=ref_n(part)))
    if not steps:
        steps.append(tr("%(low)s–%(high)s lies below the first tier (from %(start)s) → 0", low=before, high=after,
                        start=tiers[0].from_))
    return total, steps


def ref_rate_retroactive(table: RateTable, reach: Decimal, amount: Decimal) -> tuple[Decimal, list[Text]]:
    """``amount`` at the rate of the tier that ``reach`` falls in."""
    idx = ref_reached([t.from_ for t in table.tiers], table.boundary, reach)
    if idx is None:
        return Decimal(0), [tr("%(value)s is below the first tier (from %(start)s) → 0", value=reach,
                               start=table.tiers[0].from_)]
    rate = table.tiers[idx].rate
    value = amount * rate
    return value, [tr("%(value)s reaches the tier from %(start)s at %(rate)s %% (edges owned by %(owner)s); "
                      "%(amount)s × %(rate)s %% = %(result)s", value=reach, start=table.tiers[idx].from_,
                      rate=(rate * 100).normalize(), owner=ref_owner(table.boundary), amount=amount, result=ref_n(value))]


@exact
def ref_amount_table_value(table: AmountTable, value: Decimal) -> tuple[Decimal, list[Text]]:
    """What an amount table pays for ``value``, with one step per tier used (Oracle's interpolated amounts)."""
    if value < 0:
        raise DomainError(tr("amount %(amount)s is negative", amount=fmt_num(value)), "amount")
    if table.mode == "flat":
        idx = ref_reached([t.from_ for t in table.tiers], table.boundary, value)
        if idx is None:
            return Decimal(0), [tr("%(value)s is below the first tier (from %(start)s) → 0", value=value,
                                   start=table.tiers[0].from_)]
        tier = table.tiers[idx]
        return tier.amount, [tr("%(value)s reaches the tier from %(start)s (edges owned by %(owner)s), "
                                "which pays %(amount)s", value=value, start=tier.from_, owner=ref_owner(table.boundary),
                                amount=tier.amount)]
    total = Decimal(0)
    steps: list[Text] = []
    for i, tier in enumerate(table.tiers):
        upper = table.upper(i)
        assert upper is not None  # an interpolated table has 'to'
        if value <= tier.from_:
            break
        if value >= upper:
            total += tier.amount
            steps.append(tr("tier %(low)s–%(high)s reached in full: %(amount)s", low=tier.from_, high=upper,
                            amount=tier.amount))
            continue
        part = tier.amount * (value - tier.from_) / (upper - tier.from_)
        total += part
        steps.append(tr("tier %(low)s–%(high)s reached to %(value)s: %(amount)s × %(reach)s / %(width)s = %(part)s",
                        low=tier.from_, high=upper, value=value, amount=tier.amount, reach=value - tier.from_,
                        width=upper - tier.from_, part=ref_n(part)))
    if not steps:
        steps.append(tr("%(value)s is below the first tier (from %(start)s) → 0", value=value, start=table.tiers[0].from_))
    return total, steps


@exact
def ref_deal_commission(cfg: DealCommissionConfig, credits: Sequence[DealCredit], rounding: RoundingMode,
                    ytd_before: Decimal = Decimal(0)) -> DealCommissionResult:
    """One KAM's commission deal by deal, in closing order (then deal id), starting from ``ytd_before``.

    ``ytd_before`` is the KAM's credited total of earlier periods of the plan year (cumulative plans only;
    per-transaction plans ignore it except to report the running total).
    Example (Oracle's step-rate table, tiers 0–1,000 at 1 % and 1,000–3,000 at 2 %): deals of 500 and 2,500 pay
    5 + 40 = 45 per transaction and 5 + (5 + 40) = 50 cumulatively.
    """
    if not credits:
        raise DomainError(tr("need at least one deal"), "deals")
    employees = {c.employee_id for c in credits}
    if len(employees) > 1:
        raise DomainError(tr("deal commission is computed for one KAM at a time, got %(count)s", count=len(employees)),
                          "deals")
    currencies = {c.currency for c in credits}
    if len(currencies) > 1:
        raise DomainError(tr("deals in several currencies %(currencies)s; convert them first",
                             currencies=str(sorted(currencies))), "currency")
    if ytd_before < 0:
        raise DomainError(tr("amount %(amount)s is negative", amount=fmt_num(ytd_before)), "ytd_before")
    seen: set[str] = set()
    for c in credits:
        if c.deal_id in seen:
            raise DomainError(tr("deal %(deal)s appears twice", deal=c.deal_id), "deals")
        seen.add(c.deal_id)
    currency = currencies.pop()
    running = ytd_before
    lines: list[DealLine] = []
    table = cfg.table
    for c in sorted(credits, key=lambda c: (c.closed_on, c.deal_id)):
        before = running if cfg.application == "cumulative" else Decimal(0)
        after = before + c.amount
        steps: list[Text] = [c.step]
        if cfg.application == "cumulative":
            steps.append(tr("cumulative: the deal continues the year-to-date total from %(before)s to %(after)s",
                            before=before, after=after))
        else:
            steps.append(tr("per transaction: the deal is evaluated on its own, from 0 to %(after)s", after=after))
        if isinstance(table, RateTable):
            if table.mode == "marginal":
                raw, more = ref_rate_slices(table, before, after)
            else:
                raw, more = ref_rate_retroactive(table, after, c.amount)
        else:
            v_after, more_after = ref_amount_table_value(table, after)
            if cfg.application == "cumulative" and before > 0:
                v_before, _ = ref_amount_table_value(table, before)
                raw = v_after - v_before
                more = [*more_after, tr("the table pays %(after)s at %(to)s − %(before)s already earned at %(from)s = "
                                        "%(result)s", after=ref_n(v_after), to=after, before=ref_n(v_before),
                                        **{"from": before}, result=ref_n(raw))]
            else:
                raw, more = v_after, more_after
        amount = round_money(raw, currency, rounding)
        steps.extend(more)
        steps.append(tr("deal %(deal)s: %(raw)s → %(amount)s (rounded once, %(rounding)s)", deal=c.deal_id,
                        raw=ref_n(raw), amount=money(amount, currency), rounding=rounding))
        running += c.amount
        lines.append(trusted(DealLine, {  # computed here, already of the fields' types: not validated again
            "deal_id": c.deal_id, "employee_id": c.employee_id, "closed_on": c.closed_on, "credited": c.amount,
            "ytd_before": before if cfg.application == "cumulative" else running - c.amount, "ytd_after": running,
            "unrounded": raw, "amount": amount, "currency": currency, "steps": tuple(steps)}, set(_DEAL_LINE_FIELDS)))
    total = sum((line.amount for line in lines), Decimal(0))
    return DealCommissionResult(employee_id=lines[0].employee_id, lines=tuple(lines), total=total, ytd_after=running,
                                currency=currency)


@exact
def ref_draw_period(cfg: DrawConfig, index: int, earned: Decimal, opening_balance: Decimal, currency: str,
                rounding: RoundingMode, clawed_back: Decimal = Decimal(0), amount: Decimal | None = None) -> LedgerPeriod:
    """Period ``index`` (0-based, from the person's first period) of the ledger.

    ``earned`` is the period's commission and bonus (after any true-up), ``opening_balance`` what the person
    owes from earlier draws, ``clawed_back`` the period's clawbacks (a positive amount taken back), ``amount``
    a per-person draw overriding the plan's. ``paid`` = earned + drawn − recovered − clawed back: negative when
    clawbacks exceed the rest, for payroll to recover, never turned into a payment.
    """
    places = minor_unit(currency)
    for name, value in (("earned", earned), ("opening_balance", opening_balance), ("clawed_back", clawed_back)):
        if value.scaleb(places) != value.scaleb(places).to_integral_value():
            raise DomainError(tr("%(value)s has more decimals than %(currency)s allows (%(places)s)",
                                 value=str(value), currency=currency, places=places), name)
    if index < 0:
        raise DomainError(tr("must be a positive integer, got %(revision)s", revision=repr(index)), "index")
    if opening_balance < 0 or clawed_back < 0:
        raise DomainError(tr("amount %(amount)s is negative", amount=fmt_num(min(opening_balance, clawed_back))),
                          "opening_balance" if opening_balance < 0 else "clawed_back")
    draw = cfg.amount if amount is None else amount
    if draw < 0:
        raise DomainError(tr("amount %(amount)s is negative", amount=fmt_num(draw)), "amount")
    draw = round_money(draw, currency, rounding)
    guaranteed = cfg.periods is None or index < cfg.periods
    guarantee = draw if guaranteed else Decimal(0)
    balance = opening_balance
    steps: list[Text] = []
    def m(v: Decimal) -> Money:
        return money(v, currency)  # every figure below is money in this currency
    drawn = recovered = written_off = carried = Decimal(0)
    if guaranteed and earned < guarantee:
        drawn = guarantee - earned
        if cfg.kind == "recoverable":
            balance += drawn
            steps.append(tr("earned %(earned)s is below the recoverable draw %(draw)s: drawn %(drawn)s, owed back from "
                            "later earnings (balance %(before)s → %(after)s)", earned=m(earned), draw=m(guarantee),
                            drawn=m(drawn), before=m(opening_balance), after=m(balance)))
        else:
            steps.append(tr("earned %(earned)s is below the guaranteed draw %(draw)s: topped up by %(drawn)s, not owed "
                            "back (non-recoverable)", earned=m(earned), draw=m(guarantee), drawn=m(drawn)))
    elif guaranteed:
        steps.append(tr("earned %(earned)s is at or above the draw %(draw)s: nothing drawn", earned=m(earned),
                        draw=m(guarantee)))
    else:
        steps.append(tr("the guarantee ended after period %(periods)s: earned %(earned)s is paid as it is",
                        periods=cfg.periods, earned=m(earned)))
    in_window = (cfg.kind == "recoverable" and
                 (cfg.periods is None or cfg.recovery_periods is None or index < cfg.periods + cfg.recovery_periods))
    excess = earned - guarantee
    if opening_balance > 0 and excess > 0 and in_window:
        share = round_money(excess * cfg.recovery_pct / 100, currency, rounding)
        recovered = min(opening_balance, share)
        balance -= recovered
        steps.append(tr("recovered %(recovered)s of the balance %(balance)s: at most %(pct)s %% of the %(excess)s earned "
                        "above the draw (%(share)s)", recovered=m(recovered), balance=m(opening_balance),
                        pct=cfg.recovery_pct.normalize(), excess=m(excess), share=m(share)))
    elif opening_balance > 0 and cfg.kind == "recoverable" and not in_window:
        steps.append(tr("the recovery period has ended: the balance %(balance)s is not recovered from these earnings",
                        balance=m(opening_balance)))
    last_recovery = (cfg.kind == "recoverable" and cfg.periods is not None and cfg.recovery_periods is not None
                     and index == cfg.periods + cfg.recovery_periods - 1)
    if last_recovery and balance > 0:
        if cfg.at_end == "write_off":
            written_off, balance = balance, Decimal(0)
            steps.append(tr("the recovery period ends with this period: the remaining balance %(balance)s is written "
                            "off", balance=m(written_off)))
        else:
            carried = balance
            steps.append(tr("the recovery period ends with this period: the remaining balance %(balance)s is carried "
                            "into the next plan year", balance=m(carried)))
    if clawed_back:
        steps.append(tr("clawed back %(amount)s (its own line; it does not change the draw or the balance)",
                        amount=m(clawed_back)))
    paid = earned + drawn - recovered - clawed_back
    steps.append(tr("paid: earned %(earned)s + drawn %(drawn)s − recovered %(recovered)s − clawed back %(clawed)s = "
                    "%(paid)s; balance owed %(balance)s", earned=m(earned), drawn=m(drawn), recovered=m(recovered),
                    clawed=m(clawed_back), paid=m(paid), balance=m(balance)))
    return LedgerPeriod(period=index + 1, opening_balance=opening_balance, earned=earned, guarantee=guarantee,
                        drawn=drawn, recovered=recovered, clawed_back=clawed_back, written_off=written_off,
                        carried=carried, closing_balance=balance, paid=paid, currency=currency, steps=tuple(steps))


@exact
def ref_draw_ledger(cfg: DrawConfig, earned: Sequence[Decimal], currency: str, rounding: RoundingMode,
                clawed_back: Sequence[Decimal] | None = None, opening_balance: Decimal = Decimal(0),
                amount: Decimal | None = None) -> list[LedgerPeriod]:
    """Every period of a person's ledger, each opening with the balance the previous one closed with."""
    claws = list(clawed_back) if clawed_back is not None else [Decimal(0)] * len(earned)
    if len(claws) != len(earned):
        raise DomainError(tr("%(count)s clawback amounts for %(periods)s periods; give one per period",
                             count=len(claws), periods=len(earned)), "clawed_back")
    out: list[LedgerPeriod] = []
    balance = opening_balance
    for i, (e, c) in enumerate(zip(earned, claws, strict=True)):
        entry = ref_draw_period(cfg, i, e, balance, currency, rounding, c, amount)
        balance = entry.closing_balance
        out.append(entry)
    return out
def ref_share(cfg: ClawbackConfig, paid: PaidDeal, event: DealEvent) -> tuple[Decimal | None, Text]:
    """The percent of the paid commission the event takes back (None: the commission is final)."""
    if cfg.mode == "full":
        return Decimal(100), tr("the plan takes back the full commission")
    if cfg.mode == "percent":
        assert cfg.percent is not None
        return cfg.percent, tr("the plan takes back %(pct)s of the commission", pct=percent(cfg.percent / 100, 2))
    days = (event.on - paid.closed_on).days
    for window in cfg.windows:
        if days <= window.within_days:
            return window.percent, tr("the customer left %(days)s days after the deal closed, within %(window)s days: "
                                      "the plan takes back %(pct)s", days=days, window=window.within_days,
                                      pct=percent(window.percent / 100, 2))
    return None, tr("the customer left %(days)s days after the deal closed, after the last window of %(window)s "
                    "days: the commission is final", days=days, window=cfg.windows[-1].within_days)


@exact
def ref_clawback_lines(cfg: ClawbackConfig, paid: Sequence[PaidDeal], events: Sequence[DealEvent], cycle_id: str,
                   rounding: RoundingMode, clawed_before: dict[tuple[str, str], Decimal] | None = None,
                   sequence_start: int = 1) -> list[ClawbackLine]:
    """The lines the events produce in ``cycle_id`` (the next open period), in the order the events happened.

    ``clawed_before`` is, per (deal, employee), what earlier periods already clawed back net of reinstatements;
    ``sequence_start`` numbers this period's lines after earlier ones (idempotency keys stay unique).
    """
    if not cycle_id:
        raise DomainError(tr("must not be empty"), "cycle_id")
    by_deal: dict[str, list[PaidDeal]] = {}
    for p in paid:
        if p.paid < 0:
            raise DomainError(tr("amount %(amount)s is negative", amount=fmt_num(p.paid)), f"paid.{p.deal_id}")
        if any(q.employee_id == p.employee_id for q in by_deal.get(p.deal_id, ())):
            raise DomainError(tr("deal %(deal)s is paid to %(employee)s twice; give one total per deal and person",
                                 deal=p.deal_id, employee=p.employee_id), f"paid.{p.deal_id}")
        by_deal.setdefault(p.deal_id, []).append(p)
    clawed: dict[tuple[str, str], Decimal] = dict(clawed_before or {})
    out: list[ClawbackLine] = []
    seq = sequence_start
    for i, event in sorted(enumerate(events), key=lambda pair: (pair[1].on, pair[0])):
        if event.deal_id not in by_deal:
            raise DomainError(tr("deal %(deal)s has no paid commission to take back", deal=event.deal_id),
                              f"events.{i}.deal_id")
        for p in by_deal[event.deal_id]:
            key = (p.deal_id, p.employee_id)
            before = clawed.get(key, Decimal(0))
            m = p.currency
            head = tr("deal %(deal)s (closed %(closed)s, commission paid %(paid)s to %(employee)s) %(kind)s on %(on)s",
                      deal=p.deal_id, closed=p.closed_on, paid=money(p.paid, m), employee=p.employee_id,
                      kind=_claw_kind_text(event.kind), on=event.on)
            if event.kind == "reinstated":
                if before == 0:
                    continue
                amount = before
                steps = (head, tr("reinstated: the %(amount)s clawed back so far is paid again",
                                  amount=money(before, m)))
            else:
                if event.kind not in cfg.applies_to:
                    continue
                pct, why = ref_share(cfg, p, event)
                if pct is None or pct == 0:
                    continue
                refunded = event.refunded_pct if event.kind == "refunded" else Decimal(100)
                raw = p.paid * refunded / 100 * pct / 100
                take = round_money(raw, m, rounding)
                room = p.paid - before
                steps_list = [head, why]
                if event.kind == "refunded" and refunded != 100:
                    steps_list.append(tr("%(refunded)s of the deal was refunded", refunded=percent(refunded / 100, 2)))
                steps_list.append(tr("%(paid)s × %(refunded)s × %(pct)s = %(raw)s → %(take)s", paid=money(p.paid, m),
                                     refunded=percent(refunded / 100, 2), pct=percent(pct / 100, 2),
                                     raw=Decimal(fmt_num(raw, 6)), take=money(take, m)))
                if take > room:
                    steps_list.append(tr("only %(room)s is left to take back (already clawed back %(before)s)",
                                         room=money(room, m), before=money(before, m)))
                    take = room
                if take <= 0:
                    continue
                amount = -take
                steps = tuple(steps_list)
            after = before - amount
            clawed[key] = after
            out.append(ClawbackLine(employee_id=p.employee_id, deal_id=p.deal_id, kind=event.kind, amount=amount,
                                    currency=m, cycle_id=cycle_id,
                                    idempotency_key=f"{cycle_id}:{p.employee_id}:clawback-{p.deal_id}:{seq}",
                                    clawed_back_after=after,
                                    steps=(*steps, tr("a new line of %(amount)s in %(cycle)s; the paid line is not "
                                                      "changed", amount=money(amount, m), cycle=cycle_id))))
            seq += 1
    return out


def _claw_kind_text(kind: str) -> Text:
    return {"cancelled": tr("was cancelled"), "refunded": tr("was refunded"), "churned": tr("churned"),
            "reinstated": tr("was reinstated")}[kind]


@exact
def ref_settle_period(*, employee_id: str, cycle_id: str, index: int, currency: str, rounding: RoundingMode,
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
    if credits:
        if deal_cfg is None:
            raise DomainError(tr("deals are given but the plan has no deal_commission"), "deal_commission")
        result = ref_deal_commission(deal_cfg, credits, rounding, ytd_credited_before)
        if result.employee_id != employee_id or result.currency != currency:
            raise DomainError(tr("the deals are credited to %(other)s in %(currency)s, not to %(employee)s",
                                 other=result.employee_id, currency=result.currency, employee=employee_id), "credits")
        ytd_after = result.ytd_after
        lines.extend(trusted(SettlementLine, {  # the deal lines' own figures: not validated again
            "kind": "deal_commission", "employee_id": employee_id, "amount": ln.amount, "currency": currency,
            "cycle_id": cycle_id, "idempotency_key": f"{prefix}:deal-{ln.deal_id}:0", "deal_id": ln.deal_id,
            "steps": ln.steps}, set(_LINE_FIELDS)) for ln in result.lines)
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
    claws: list[SettlementLine] = []
    if events:
        if clawback is None:
            raise DomainError(tr("deal events are given but the plan has no clawback rules"), "clawback")
        for c in ref_clawback_lines(clawback, paid_deals, events, cycle_id, rounding, clawed_before,
                                clawback_sequence_start):
            if c.employee_id != employee_id:
                continue
            claws.append(SettlementLine(kind="reinstatement" if c.amount > 0 else "clawback", employee_id=employee_id,
                                        amount=c.amount, currency=currency, cycle_id=cycle_id,
                                        idempotency_key=c.idempotency_key, deal_id=c.deal_id, steps=c.steps))
    earned = other_earned + sum((ln.amount for ln in lines), Decimal(0))
    ledger: LedgerPeriod | None = None
    if draw is not None:
        clawed = -sum((c.amount for c in claws), Decimal(0))
        ledger = ref_draw_period(draw, index, earned, draw_balance, currency, rounding, max(clawed, Decimal(0)),
                             draw_amount)
        if ledger.drawn:
            lines.append(SettlementLine(kind="draw", employee_id=employee_id, amount=ledger.drawn, currency=currency,
                                        cycle_id=cycle_id, idempotency_key=f"{prefix}:draw:0", steps=ledger.steps))
        if ledger.recovered:
            lines.append(SettlementLine(kind="draw_recovery", employee_id=employee_id, amount=-ledger.recovered,
                                        currency=currency, cycle_id=cycle_id,
                                        idempotency_key=f"{prefix}:draw-recovery:0", steps=ledger.steps))
    lines.extend(claws)
    net = other_earned + sum((ln.amount for ln in lines), Decimal(0))
    steps = [tr("%(kind)s: %(amount)s", kind=_kind_text(ln.kind), amount=money(ln.amount, currency)) for ln in lines]
    if other_earned:
        steps.insert(0, tr("other earnings of the period: %(amount)s", amount=money(other_earned, currency)))
    steps.append(tr("net for the period: %(net)s", net=money(net, currency)) if net >= 0 else
                 tr("net for the period: %(net)s, a negative settlement for payroll to recover (never paid out)",
                    net=money(net, currency)))
    return Settlement(employee_id=employee_id, period=index + 1, lines=tuple(lines), ledger=ledger, plan_year=year,
                      ytd_credited_after=ytd_after, net=net, currency=currency, steps=tuple(steps))


KIND_TEXT = {"deal_commission": tr("deal commission"), "plan_year_bonus": tr("plan-year bonus (true-up)"),
             "draw": tr("draw top-up"), "draw_recovery": tr("draw recovery"), "clawback": tr("clawback"),
             "reinstatement": tr("reinstatement")}


def _kind_text(kind: str) -> object:
    return KIND_TEXT[kind]
