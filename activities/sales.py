"""Sales compensation in a cycle (issue 13): what the incentive step reads, and the ledger the lock writes.

A cycle whose plan declares deal commission, a plan year, a draw or clawbacks is one period of a plan year
(``CycleConfig.plan_year_id``). Its incentive step reads, per participant, what the earlier cycles of the same
plan year LOCKED (deal lines and their credited amounts, the plan-year bonus paid, clawbacks applied, the ledger's
balance), the period's won deals from ``crm_deal`` (split by ``crm_deal_credit``, else all its KAM's), and the
events of paid deals from ``crm_deal_event``; domain.sales_cycle turns them into payout lines. Locking them writes
the person's ledger entries in the same transaction (``write_ledger``), under natural keys.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from activities.base import rejected
from activities.payout_rows import CHUNK, _executor, _field, _plans, _string, encode_copy_rows, paused_gc, repeated_employee, stream_chunks
from domain.clawbacks import DealEvent, PaidDeal
from domain.cycle import CycleConfig
from domain.deals import Deal, DealCredit, credit_deal, kam_credit, kam_deal
from domain.errors import DomainError
from domain.incentives import IncentiveInput, IncentivePlan, PayoutLine, compute_payouts, pack_inputs, unpack_inputs
from domain.sales_cycle import LockedLine, PersonPeriod, PersonYear, _explanation, _payout_line, period_ledger, person_year, settle_cycle
from domain.text import Text, tr
from domain.trusted import trusted
from domain.validation import error_text

#: The cycles of the plan year a cycle continues: same plan id and plan year, ended before it began, not cancelled.
#: A configuration frozen without ``plan_year`` names its year as CycleConfig.plan_year_id does.
_EARLIER_CYCLES = """
SELECT id, period_label, status FROM review_cycle
WHERE id <> %(cycle)s AND status <> 'cancelled' AND period_end < %(start)s
  AND config -> 'incentive_plan' ->> 'id' = %(plan)s
  AND COALESCE(config ->> 'plan_year',
               (config -> 'incentive_plan' ->> 'id') || '-' || extract(year FROM period_start)::int::text) = %(year)s
ORDER BY period_end, id
"""

#: The period's deals of the participants: won (or won and later cancelled: an event exists), with an amount.
#: Day and amount as text: the rows go to the worker processes that settle the people, and strings pickle several
#: times faster than dates and Decimals (the activity's process pickles two million rows for 100,000 KAMs).
#: The split credits are aggregated once for the period's deals and joined (a subquery per deal probed the credits'
#: index two million times for 100,000 KAMs: half the query's time), the same value, NULL for a deal without.
_DEALS = """
SELECT d.id, to_char(d.closed_on, 'YYYY-MM-DD'), d.amount::text, d.currency, d.kam_id, s.split
FROM crm_deal d
LEFT JOIN (SELECT c.deal_id,
                  jsonb_agg(jsonb_build_array(c.employee_id, c.percent::text) ORDER BY c.employee_id) AS split
           FROM crm_deal_credit c JOIN crm_deal cd ON cd.id = c.deal_id
           WHERE cd.kind = 'deal' AND cd.closed_on BETWEEN %(start)s AND %(end)s
           GROUP BY c.deal_id) s ON s.deal_id = d.id
WHERE d.kind = 'deal' AND d.amount IS NOT NULL AND d.closed_on BETWEEN %(start)s AND %(end)s
  AND (d.won OR EXISTS (SELECT 1 FROM crm_deal_event e WHERE e.deal_id = d.id))
  AND (d.kam_id = ANY(%(people)s)
       OR EXISTS (SELECT 1 FROM crm_deal_credit c WHERE c.deal_id = d.id AND c.employee_id = ANY(%(people)s)))
ORDER BY d.closed_on, d.id
"""


#: _DEALS routed as route_deals routes its rows, for copy_first_sales_lines to read chunk by chunk through one cursor
#: (one snapshot, as one query) while the worker processes settle the chunks read before: every row once per chunk
#: of ``size`` people it goes to (``at``: the chunk's number), the chunks in order, each chunk's rows in _DEALS order
#: (closing day, then id): a split deal to the chunk of every participant it credits (else its KAM's), any other
#: deal to its KAM's; (at, closing day, then _DEALS' columns). The same selection as _DEALS. The deals without split
#: credits (nearly all) and the split ones are read apart, so that the first are only joined with the participants
#: (PostgreSQL's CPU as _DEALS' at 20,000 × 20: 2.6–2.8 s against 2.4–2.5 s; one query with both left joins: 3.7 s).
_DEALS_BY_CHUNK = """
WITH people AS (SELECT u.e, (u.n - 1) / %(size)s AS at FROM unnest(%(people)s::text[]) WITH ORDINALITY AS u(e, n)),
     split AS (SELECT c.deal_id,
                      jsonb_agg(jsonb_build_array(c.employee_id, c.percent::text) ORDER BY c.employee_id) AS split
               FROM crm_deal_credit c JOIN crm_deal cd ON cd.id = c.deal_id
               WHERE cd.kind = 'deal' AND cd.closed_on BETWEEN %(start)s AND %(end)s
               GROUP BY c.deal_id)
SELECT k.at, d.closed_on, d.id, to_char(d.closed_on, 'YYYY-MM-DD'), d.amount::text, d.currency, d.kam_id, NULL::jsonb
FROM crm_deal d JOIN people k ON k.e = d.kam_id
WHERE d.kind = 'deal' AND d.amount IS NOT NULL AND d.closed_on BETWEEN %(start)s AND %(end)s
  AND (d.won OR EXISTS (SELECT 1 FROM crm_deal_event e WHERE e.deal_id = d.id))
  AND NOT EXISTS (SELECT 1 FROM split s WHERE s.deal_id = d.id)
UNION ALL
SELECT COALESCE(x.at, k.at), d.closed_on, d.id, to_char(d.closed_on, 'YYYY-MM-DD'), d.amount::text, d.currency, d.kam_id,
       s.split
FROM split s JOIN crm_deal d ON d.id = s.deal_id
LEFT JOIN (SELECT DISTINCT c.deal_id, p.at FROM crm_deal_credit c JOIN people p ON p.e = c.employee_id) x
       ON x.deal_id = d.id
LEFT JOIN people k ON k.e = d.kam_id
WHERE d.kind = 'deal' AND d.amount IS NOT NULL AND d.closed_on BETWEEN %(start)s AND %(end)s
  AND (d.won OR EXISTS (SELECT 1 FROM crm_deal_event e WHERE e.deal_id = d.id))
  AND COALESCE(x.at, k.at) IS NOT NULL
ORDER BY 1, 2, 3
"""


#: A row of _DEALS: (id, closed_on, amount, currency, kam_id, split credits [[employee, percent], ...] or None);
#: closed_on and amount as text (or as date and Decimal).
DealRow = tuple[Any, ...]


def _deal(row: DealRow) -> Deal:
    """A row of _DEALS as a domain deal, split by its credit shares (else all its KAM's); refused when invalid."""
    deal_id, closed_on, amount, currency, kam_id, split = row
    closed_on = date.fromisoformat(closed_on) if type(closed_on) is str else closed_on
    amount = Decimal(amount)
    if not split and (deal := kam_deal(deal_id, closed_on, amount, currency, kam_id)) is not None:
        return deal  # the common deal, all its KAM's: validation's checks without pydantic
    shares = [{"employee_id": e, "percent": p} for e, p in split] if split else (
        [{"employee_id": kam_id, "percent": 100}] if kam_id else [])
    try:
        return Deal.model_validate({"id": deal_id, "closed_on": closed_on, "amount": amount, "currency": currency,
                                    "credits": shares})
    except ValidationError as err:  # e.g. split shares that do not sum to 100 %: HR fixes the CRM data
        raise DomainError(tr("deal %(deal)s: %(problem)s", deal=deal_id, problem=error_text(err.errors()[0])),
                          "crm_deal_credit") from None


def _credits(rows: Sequence[DealRow], wanted: set[str]) -> dict[str, list[DealCredit]]:
    """The deals as domain deals, split by their credit shares (else all their KAM's), per wanted participant."""
    credits: dict[str, list[DealCredit]] = {}
    for row in rows:
        if not row[5]:  # the common deal, all its KAM's: its one credit without building the deal (kam_credit)
            closed_on = row[1]
            c = kam_credit(row[0], date.fromisoformat(closed_on) if type(closed_on) is str else closed_on,
                           Decimal(row[2]), row[3], row[4])
            if c is not None:
                if c.employee_id in wanted:
                    credits.setdefault(c.employee_id, []).append(c)
                continue
        for c in credit_deal(_deal(row)):
            if c.employee_id in wanted:
                credits.setdefault(c.employee_id, []).append(c)
    return credits


def credit_people(people: Sequence[PersonPeriod], rows: Sequence[DealRow]) -> list[PersonPeriod]:
    """The people with their credits of the deal rows (in the rows' order); the people as they are without rows."""
    if not rows:
        return list(people)
    credits = _credits(rows, {p.person.employee_id for p in people})
    return [replace(p, credits=tuple(mine)) if (mine := credits.get(p.person.employee_id)) else p for p in people]


def route_deals(rows: Sequence[DealRow], people: Sequence[str], size: int) -> dict[int, list[DealRow]]:
    """The deal rows each chunk of ``size`` people needs, by the chunk's first position, in the rows' order.

    A deal goes to the chunk of every participant it credits (a deal split across two chunks to both); a deal that
    credits no participant to its KAM's chunk, else the first: every row is validated somewhere, as sales_inputs
    validated every one before the chunks did.
    """
    where = {e: i - i % size for i, e in enumerate(people)}
    out: dict[int, list[DealRow]] = {}
    for row in rows:
        split = row[5]
        if not split:
            out.setdefault(where.get(row[4], 0), []).append(row)
            continue
        starts = sorted({where[e] for e, _ in split if e in where}) or [where.get(row[4], 0)]
        for at in starts:
            out.setdefault(at, []).append(row)
    return out


def deal_refusal(rows: Sequence[DealRow]) -> Text | None:
    """The refusal of the first invalid deal in _DEALS order, or None: what sales_inputs refused before the chunks
    split the deals, so a refusal stays the one it was whichever chunk meets a bad deal first."""
    try:
        for row in rows:
            _deal(row)
    except DomainError as err:
        return err.as_text()
    return None


async def _refusal(rows: Sequence[DealRow] | PeriodDeals, other: Text | str, cur: Any = None,
                   people: Sequence[str] = ()) -> Text | str:
    """A chunk's refusal, unless a deal is refused first (deal_refusal, in a thread: two million deals take
    seconds, and the event loop heartbeats meanwhile). PeriodDeals: the period's deals are read for it (_DEALS)."""
    if isinstance(rows, PeriodDeals):
        await cur.execute(_DEALS, {"start": rows.start, "end": rows.end, "people": list(people)})
        rows = await cur.fetchall()
    if not rows:
        return other
    return await asyncio.get_running_loop().run_in_executor(None, deal_refusal, rows) or other


class _ChunkDeals:
    """copy_first_sales_lines' reader of _DEALS_BY_CHUNK: one server-side cursor, the rows of each chunk in turn
    (``rows(at)``, chunks asked for in order), fetched in batches between the chunks' COPY statements."""

    BATCH = 20_000

    def __init__(self, cur: Any) -> None:
        self.cur = cur
        self.buffer: list[tuple[Any, ...]] = []
        self.i = 0  # the first row of self.buffer not handed out
        self.done = False

    async def rows(self, chunk: int) -> list[DealRow]:
        out: list[DealRow] = []
        while True:
            buffer, i, n = self.buffer, self.i, len(self.buffer)
            while i < n and buffer[i][0] == chunk:
                out.append(buffer[i][2:])
                i += 1
            self.i = i
            if i < n or self.done:  # the next chunk's row is in sight, or there is nothing more
                return out
            self.buffer, self.i = await self.cur.fetchmany(self.BATCH), 0
            self.done = not self.buffer


@dataclass(frozen=True)
class PeriodDeals:
    """The period's deal rows, not read yet: copy_first_sales_lines reads them chunk by chunk (_DEALS_BY_CHUNK, one
    cursor) while the worker processes settle the chunks read before, instead of every core waiting for two million
    rows (10–12 s for 100,000 KAMs × 20 deals)."""

    start: date
    end: date


@dataclass(frozen=True)
class CycleSales:
    """What sales_inputs read: every participant's period, credits not yet split, and the period's deal rows (or,
    for copy_first_sales_lines, the period whose deals it reads itself).

    The chunks that settle the people split the deals they need (route_deals, credit_people) on every core: a
    cycle of 100,000 KAMs has two million deals, which the activity's one process would otherwise validate first.
    """

    people: list[PersonPeriod]
    deals: list[DealRow] | PeriodDeals = field(default_factory=list)


async def _earlier_cycles(cur: Any, cycle_id: str, config: CycleConfig) -> list[tuple[str, str, str]]:
    """(id, period label, status) of the earlier cycles of the cycle's plan year, oldest first."""
    await cur.execute(_EARLIER_CYCLES, {"cycle": cycle_id, "start": config.period.start,
                                        "plan": config.incentive_plan.id, "year": config.plan_year_id()})
    return await cur.fetchall()


async def _periods_before(cur: Any, cycle_id: str, config: CycleConfig, people: list[str]) -> dict[str, int]:
    """Per person: how many earlier cycles of the plan year they took part in (this cycle's 0-based period)."""
    earlier = [c for c, _, _ in await _earlier_cycles(cur, cycle_id, config)]
    if not earlier:
        return {}
    await cur.execute("""SELECT employee_id, count(*) FROM review WHERE cycle_id = ANY(%s) AND employee_id = ANY(%s)
                         GROUP BY employee_id""", (earlier, people))
    return dict(await cur.fetchall())


async def sales_inputs(cur: Any, cycle_id: str, config: CycleConfig, inputs: Sequence[IncentiveInput],
                       progress: Callable[[str], None] = lambda _: None, *, deals_later: bool = False) -> CycleSales:
    """Every participant's plan year so far, deals of the period (split where they are settled) and pending deal
    events. ``deals_later``: the deals are not read here (PeriodDeals), copy_first_sales_lines reads them."""
    plan = config.incentive_plan
    period = config.period
    people = [inp.employee_id for inp in inputs]
    year_id = config.plan_year_id()
    found = await _earlier_cycles(cur, cycle_id, config)
    if open_ := [c for c, _, status in found if status != "locked"]:
        # This cycle continues what they lock (YTD, balance, deals to claw back): computed before, it would start
        # from nothing. Refused until they are approved; `kamreview incentives retry` then computes it.
        raise DomainError(tr("cycle %(earlier)s of the plan year %(year)s is not approved yet; this cycle continues "
                             "what it locks, so approve its payouts first", earlier=open_[0], year=year_id), "plan_year")
    earlier = [(c, label) for c, label, _ in found]
    earlier_ids = [c for c, _ in earlier]
    index: dict[str, int] = {}
    actuals: dict[str, list[Decimal]] = {}
    locked: dict[str, list[LockedLine]] = {}
    balance: dict[str, Decimal] = {}
    if earlier_ids:
        await cur.execute(
            """SELECT cycle_id, employee_id FROM review WHERE cycle_id = ANY(%s) AND employee_id = ANY(%s)""",
            (earlier_ids, people))
        took_part = {(c, e) for c, e in await cur.fetchall()}
        for c, _ in earlier:
            for e in people:
                if (c, e) in took_part:
                    index[e] = index.get(e, 0) + 1
        if plan.plan_year is not None:
            measure = plan.plan_year.measure
            await cur.execute(
                """SELECT employee_id, period, value FROM kpi_actual
                   WHERE kpi_id = %s AND period = ANY(%s) AND employee_id = ANY(%s)""",
                (measure, [label for _, label in earlier], people))
            values = {(e, p): Decimal(v) for e, p, v in await cur.fetchall()}
            for c, label in earlier:
                for e in people:
                    if (c, e) in took_part:
                        actuals.setdefault(e, []).append(values.get((e, label), Decimal(0)))
        await cur.execute(
            """SELECT employee_id, line_type, amount, inputs FROM payout_line
               WHERE cycle_id = ANY(%s) AND status = 'locked' AND employee_id = ANY(%s)
               ORDER BY cycle_id, idempotency_key""", (earlier_ids, people))
        for e, line_type, amount, data in await cur.fetchall():
            locked.setdefault(e, []).append(LockedLine(line_type, Decimal(amount), data or {}))
    await cur.execute(
        """SELECT DISTINCT ON (employee_id) employee_id, balance_after FROM ledger_entry
           WHERE plan_year = %s AND cycle_id <> %s AND employee_id = ANY(%s) ORDER BY employee_id, seq DESC""",
        (year_id, cycle_id, people))
    balance = {e: Decimal(b) for e, b in await cur.fetchall()}
    deal_rows: list[DealRow] | PeriodDeals = []
    if plan.deal_commission is not None and deals_later:
        deal_rows = PeriodDeals(period.start, period.end)
    elif plan.deal_commission is not None:
        # (Its sort spills to disk with the default work_mem of 4 MB; sorting the two million rows in memory instead,
        # work_mem 256MB, was slower at 100,000 × 20: 4.1–4.9 s against 3.2–3.7 s, EXPLAIN ANALYZE.)
        await cur.execute(_DEALS, {"start": period.start, "end": period.end, "people": people})
        deal_rows = await cur.fetchall()
        progress(f"{len(deal_rows)} deals loaded")
    quotas: dict[str, Decimal] = {}
    if plan.plan_year is not None:  # the annual quota: the plan-year measure's KPI target for the plan year
        await cur.execute("SELECT employee_id, target FROM kpi_target WHERE period = %s AND kpi_id = %s "
                          "AND employee_id = ANY(%s)", (year_id, plan.plan_year.measure, people))
        quotas = {e: Decimal(t) for e, t in await cur.fetchall()}
    out: list[PersonPeriod] = []
    years = {inp.employee_id: person_year(inp.employee_id, inp.currency, locked.get(inp.employee_id, ()),
                                          index=index.get(inp.employee_id, 0),
                                          balance=balance.get(inp.employee_id, Decimal(0)),
                                          actuals_before=actuals.get(inp.employee_id, ()))
             for inp in inputs}
    events: dict[str, list[DealEvent]] = {}
    paid_deals = sorted({p.deal_id for y in years.values() for p in y.paid_deals})
    if plan.clawback is not None and paid_deals:
        await cur.execute(
            """SELECT deal_id, kind, "on", refunded_pct FROM crm_deal_event WHERE deal_id = ANY(%s) AND "on" <= %s
               ORDER BY "on", deal_id, kind""", (paid_deals, period.end))
        for deal_id, kind, on, pct in await cur.fetchall():
            events.setdefault(deal_id, []).append(
                DealEvent(deal_id=deal_id, kind=kind, on=on, refunded_pct=Decimal(pct)))
    measure = plan.plan_year.measure if plan.plan_year is not None else None
    for inp in inputs:
        e = inp.employee_id
        year = years[e]
        mine = tuple(ev for p in year.paid_deals for ev in events.get(p.deal_id, ()))
        actual = None
        if measure is not None:
            actual = inp.attainment.get(measure, inp.revenue if measure == "revenue" else None) or Decimal(0)
        out.append(PersonPeriod(person=inp, year=year, events=mine, period_actual=actual, annual_quota=quotas.get(e)))
    return CycleSales(out, deal_rows)


def sales_lines(plan: IncentivePlan, plan_year: str, start: date, end: date, cycle_id: str,
                inputs: list[IncentiveInput], people: list[PersonPeriod]) -> list[PayoutLine]:
    """compute_payouts' lines and every person's settlement (pure; runs off the event loop)."""
    return settle_cycle(plan, plan_year, cycle_id, compute_payouts(plan, start, end, cycle_id, inputs), people)


def _sales_chunk(plan_json: str, plan_year: str, start: date, end: date, cycle_id: str,
                 inputs: list[IncentiveInput], people: list[PersonPeriod],
                 deals: Sequence[DealRow] = ()) -> tuple[list[PayoutLine], Text | str | None]:
    """One chunk of people, in a thread or a worker process, with the deal rows they are credited with (route_deals):
    (lines, None) or ([], the refusal's text)."""
    plan = _plans.get(plan_json)
    if plan is None:
        plan = _plans[plan_json] = IncentivePlan.model_validate_json(plan_json)
    with paused_gc():  # in a worker process only, as compute_chunk: acyclic garbage, freed by reference counting
        try:
            return sales_lines(plan, plan_year, start, end, cycle_id, inputs, credit_people(people, deals)), None
        except DomainError as err:  # returned, not raised: an exception's pickling across processes loses its text
            return [], err.as_text()


def _row_maker(cycle_id: str, period: str) -> Callable[..., bytes]:
    """settle_cycle's ``make`` for the first-lines COPY: a settlement line's COPY row (encode_copy_rows of its
    _payout_line). A deal line, nearly every line, is written straight from the settlement line and its credit,
    without building the PayoutLine and its inputs dict; any other line goes through _payout_line."""
    cycle, period_text = _field(cycle_id), _field(period)
    fixed: dict[tuple[str, int, str], str] = {}  # per plan id, version and plan year: the row's constant parts

    def make(plan: IncentivePlan, ln: Any, s: Any, credits: Any, plan_year: str, events: Any) -> bytes:
        if ln.kind != "deal_commission" or type(ln.deal_id) is not str:
            return encode_copy_rows([_payout_line(plan, ln, s, credits, plan_year, events)], cycle_id, period, 0)
        key = (plan.id, plan.version, plan_year)
        plan_part = fixed.get(key)
        if plan_part is None:
            plan_part = fixed[key] = f"{_field(plan.id)}\t{plan.version}\t0\t"
        credit = credits[ln.deal_id]
        # _inputs_json of {"plan_year", "deal_id", "credited", "percent", "closed_on"}: its keys sorted, strings
        # written by json's own encoder (a Decimal's and a day's text need no escaping)
        inputs = (f'{{"closed_on": "{credit.closed_on.isoformat()}", "credited": "{str(credit.amount)}", '
                  f'"deal_id": {_string(ln.deal_id)}, "percent": "{str(credit.percent)}", "plan_year": {_string(plan_year)}}}')
        return (f"{_field(ln.idempotency_key)}\t{cycle}\t{_field(ln.employee_id)}\tcommission\t{str(ln.amount)}\t"
                f"{_field(ln.currency)}\t{period_text}\t{plan_part}".encode()
                + _field(_explanation(ln.steps)).encode() + b"\t" + _field(inputs).encode() + b"\tcomputed\n")

    return make


def _sales_chunk_rows(plan_json: str, plan_year: str, start: date, end: date, cycle_id: str, period: str,
                      inputs: list[IncentiveInput] | None, people: list[PersonPeriod],
                      deals: Sequence[DealRow] = ()) -> tuple[bytes, int, Text | str | None]:
    """One chunk of a cycle's first lines as COPY rows, computed and encoded where it runs (a worker process):
    the bytes encode_copy_rows writes for _sales_chunk's lines, each settlement line's row made directly.
    ``inputs`` None: the people's own (they came packed, _SentPeople)."""
    if inputs is None:
        inputs = [p.person for p in people]
    plan = _plans.get(plan_json)
    if plan is None:
        plan = _plans[plan_json] = IncentivePlan.model_validate_json(plan_json)
    with paused_gc():  # in a worker process only, as compute_chunk
        try:
            made = settle_cycle(plan, plan_year, cycle_id, compute_payouts(plan, start, end, cycle_id, inputs),
                                credit_people(people, deals), _row_maker(cycle_id, period))
        except DomainError as err:  # returned, not raised, as _sales_chunk
            return b"", 0, err.as_text()
    return b"".join(x if type(x) is bytes else encode_copy_rows([x], cycle_id, period, 0) for x in made), len(made), None


def _opt(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _dec(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


def pack_people(people: Sequence[PersonPeriod]) -> tuple[list[Any], list[Any]]:
    """People without credits (sales_inputs' people) as two flat lists of atoms, to send to a worker process:
    their inputs (pack_inputs) and the rest, Decimals as their exact text. Pickling the models cost about 22 µs a
    person in the activity's process and as much again in the worker. A person without pending deal events travels
    without their paid deals and applied events: settle_person reads them only to find and settle such events
    (``pending_events``), and later in a plan year every person carries every deal paid so far."""
    flat: list[Any] = []
    add = flat.extend
    for p in people:
        y = p.year
        add((y.index, str(y.ytd_credited), str(y.plan_year_paid), len(y.actuals_before),
             *map(str, y.actuals_before), str(y.balance)))
        paid, applied = (y.paid_deals, y.applied_events) if p.events else ((), ())
        flat.append(len(paid))
        for d in paid:
            add((d.deal_id, d.employee_id, d.closed_on, str(d.paid), d.currency))
        flat.append(len(y.clawed))
        for (deal, employee), amount in y.clawed.items():
            add((deal, employee, str(amount)))
        flat.append(len(applied))
        for event in applied:
            add(event)
        flat.append(len(p.events))
        for e in p.events:
            add((e.deal_id, e.kind, e.on, str(e.refunded_pct)))
        add((_opt(p.period_actual), _opt(p.annual_quota)))
    return pack_inputs([p.person for p in people]), flat


_PAID_SET, _EVENT_SET = set(PaidDeal.model_fields), set(DealEvent.model_fields)


def unpack_people(packed_inputs: list[Any], flat: list[Any]) -> list[PersonPeriod]:
    """The people pack_people packed (without credits), their models rebuilt without validating them again."""
    out: list[PersonPeriod] = []
    i = 0
    for person in unpack_inputs(packed_inputs):
        index, ytd, paid_year, n = flat[i:i + 4]
        i += 4
        actuals = tuple(Decimal(a) for a in flat[i:i + n])
        i += n
        balance, n = Decimal(flat[i]), flat[i + 1]
        i += 2
        paid = []
        for _ in range(n):
            d, e, closed, amount, currency = flat[i:i + 5]
            i += 5
            paid.append(trusted(PaidDeal, {"deal_id": d, "employee_id": e, "closed_on": closed,
                                           "paid": Decimal(amount), "currency": currency}, _PAID_SET))
        n = flat[i]
        i += 1
        clawed = {}
        for _ in range(n):
            clawed[(flat[i], flat[i + 1])] = Decimal(flat[i + 2])
            i += 3
        n = flat[i]
        i += 1
        applied = frozenset(tuple(flat[j:j + 3]) for j in range(i, i + 3 * n, 3))
        i += 3 * n
        n = flat[i]
        i += 1
        events = []
        for _ in range(n):
            d, kind, on, pct = flat[i:i + 4]
            i += 4
            events.append(trusted(DealEvent, {"deal_id": d, "kind": kind, "on": on, "refunded_pct": Decimal(pct)},
                                  _EVENT_SET))
        actual, quota = flat[i:i + 2]
        i += 2
        year = PersonYear(index=index, ytd_credited=Decimal(ytd), plan_year_paid=Decimal(paid_year),
                          actuals_before=actuals, balance=balance, paid_deals=tuple(paid), clawed=clawed,
                          applied_events=applied)
        out.append(PersonPeriod(person=person, year=year, events=tuple(events), period_actual=_dec(actual),
                                annual_quota=_dec(quota)))
    return out


class _SentPeople:
    """A chunk of sales_inputs' people on its way to a worker process, where it arrives as the list of
    PersonPeriod (pack_people; packed while pickling, in the executor's feeder thread, as _SentInputs)."""

    __slots__ = ("people",)

    def __init__(self, people: list[PersonPeriod]) -> None:
        self.people = people

    def __reduce__(self) -> tuple[Callable[..., list[PersonPeriod]], tuple[list[Any], list[Any]]]:
        return unpack_people, pack_people(self.people)


def _sendable(inputs: Sequence[IncentiveInput], people: Sequence[PersonPeriod]) -> bool:
    """Whether the people can travel packed, their inputs with them: sales_inputs' people (the inputs themselves, in
    order, no credits yet, events as sales_inputs reads them)."""
    return len(inputs) == len(people) and all(
        p.person is inp and not p.credits and type(p.year) is PersonYear and all(type(e) is DealEvent for e in p.events)
        and type(p.year.clawed) is dict for p, inp in zip(people, inputs, strict=True))


def _routed(inputs: Sequence[IncentiveInput], deals: Sequence[DealRow]) -> dict[int, list[DealRow]]:
    return route_deals(deals, [inp.employee_id for inp in inputs], CHUNK) if deals else {}


async def copy_first_sales_lines(cur: Any, plan: IncentivePlan, plan_year: str, start: date, end: date, period: str,
                                 cycle_id: str, inputs: list[IncentiveInput], people: list[PersonPeriod],
                                 progress: Callable[[str], None],
                                 deals: Sequence[DealRow] = ()) -> tuple[int, Text | str | None]:
    """A cycle's first lines with deals, draws and clawbacks, as copy_first_lines writes a plain cycle's: chunks of
    people credited with their deals (``deals``: sales_inputs' rows), settled and COPY-encoded on every core,
    streamed into one COPY (only while the cycle has no line yet, which the caller's transaction decides);
    (lines written, None) or (0, the refusal's text). An invalid deal is refused first, as sales_inputs did."""
    ids = [inp.employee_id for inp in inputs]
    if twice := repeated_employee(inputs):
        return 0, await _refusal(deals, twice, cur, ids)
    executor = _executor(len(inputs))
    plan_json = plan.model_dump_json()
    later = isinstance(deals, PeriodDeals)
    routed = {} if later else await asyncio.get_running_loop().run_in_executor(None, _routed, inputs, deals)
    packed = executor is not None and _sendable(inputs, people)  # to worker processes: people packed flat
    mine_deals: dict[int, list[DealRow]] = {}

    def chunk_job(at: int) -> tuple[Callable[..., tuple[bytes, int, Any]], tuple[Any, ...]]:
        mine = people[at:at + CHUNK]
        return _sales_chunk_rows, (plan_json, plan_year, start, end, cycle_id, period,
                                   None if packed else inputs[at:at + CHUNK], _SentPeople(mine) if packed else mine,
                                   mine_deals.pop(at, ()) if later else routed.pop(at, ()))

    if not later:
        written, error = await stream_chunks(cur, executor, len(inputs), chunk_job, progress)
        return (0, await _refusal(deals, error)) if error is not None else (written, None)
    # The deals are read chunk by chunk through one cursor while the chunks before are settled: each chunk's
    # rows are fetched when it is submitted, between the chunks' COPY statements (the connection reads in between).
    async with cur.connection.cursor(name="sales_deals_by_chunk") as deal_cur:
        await deal_cur.execute(_DEALS_BY_CHUNK, {"start": deals.start, "end": deals.end, "people": ids,
                                                 "size": CHUNK})
        reader = _ChunkDeals(deal_cur)

        async def read(at: int) -> None:
            mine_deals[at] = await reader.rows(at // CHUNK)

        written, error = await stream_chunks(cur, executor, len(inputs), chunk_job, progress, read)
    return (0, await _refusal(deals, error, cur, ids)) if error is not None else (written, None)


async def compute_sales_lines(plan: IncentivePlan, plan_year: str, start: date, end: date, cycle_id: str,
                              inputs: list[IncentiveInput], people: list[PersonPeriod],
                              progress: Callable[[str], None], deals: Sequence[DealRow] = ()) -> list[PayoutLine]:
    """sales_lines in chunks of people (credited with their ``deals`` there), on every core for a large cycle
    (payout_rows' worker processes), reporting progress after each chunk: a deal-heavy cycle computes for minutes,
    and the activity must heartbeat meanwhile."""
    loop = asyncio.get_running_loop()
    executor = _executor(len(inputs))
    plan_json = plan.model_dump_json()
    routed = await loop.run_in_executor(None, _routed, inputs, deals)  # off the event loop: seconds for millions
    pending = deque(loop.run_in_executor(executor, _sales_chunk, plan_json, plan_year, start, end, cycle_id,
                                         inputs[i:i + CHUNK], people[i:i + CHUNK], routed.pop(i, ()))
                    for i in range(0, len(inputs), CHUNK))
    out: list[PayoutLine] = []
    try:
        while pending:
            lines, error = await pending.popleft()
            if error is not None:  # the refusal compute_incentives gives for any DomainError
                raise rejected(tr("incentives cannot be computed: %(problem)s", problem=await _refusal(deals, error)))
            out.extend(lines)
            progress(f"{len(out)} lines computed")
    finally:
        for future in pending:  # after a refusal nothing more is computed
            future.cancel()
    return out


async def write_ledger(cur: Any, config: CycleConfig, cycle_id: str, revision: int,
                       lines: Sequence[tuple[str, str, Decimal, str, dict | None]]) -> int:
    """The ledger entries of the lines one approval locked (employee, line type, amount, currency, inputs).

    Per person: the movements those lines make (earned, drawn, recovered, clawed back, written off), each with the
    balance after it, continuing the person's last balance of the plan year. Keys name plan year, person, cycle,
    revision and kind, and the rows are inserted ON CONFLICT DO NOTHING: the same approval never writes twice.
    """
    year_id = config.plan_year_id()
    draw = config.incentive_plan.draw
    # Two cycles of one plan year locking at once would read the same opening balance: one at a time.
    await cur.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 18))", (f"ledger:{year_id}",))
    by_person: dict[str, list[LockedLine]] = {}
    currency: dict[str, str] = {}
    for e, line_type, amount, cur_code, data in lines:
        by_person.setdefault(e, []).append(LockedLine(line_type, Decimal(amount), data or {}))
        currency[e] = cur_code
    if revision == 0:  # every participant's period is in the ledger, with nothing earned and the balance carried
        await cur.execute("""SELECT r.employee_id, e.currency FROM review r JOIN employee e ON e.id = r.employee_id
                             WHERE r.cycle_id = %s""", (cycle_id,))
        for e, cur_code in await cur.fetchall():
            by_person.setdefault(e, [])
            currency.setdefault(e, cur_code)
    people = sorted(by_person)
    await cur.execute(
        """SELECT DISTINCT ON (employee_id) employee_id, balance_after FROM ledger_entry
           WHERE plan_year = %s AND employee_id = ANY(%s) ORDER BY employee_id, seq DESC""", (year_id, people))
    opening = {e: Decimal(b) for e, b in await cur.fetchall()}
    index = await _periods_before(cur, cycle_id, config, people) if revision == 0 else {}
    rows = []
    for e in people:
        for kind, amount, after in period_ledger(by_person[e], opening.get(e, Decimal(0)), draw, index.get(e, 0),
                                                 first=revision == 0):
            rows.append((f"{year_id}:{e}:{cycle_id}:r{revision}:{kind}", year_id, e, cycle_id, revision, kind,
                         amount, currency[e], after))
    await cur.executemany(
        """INSERT INTO ledger_entry (key, plan_year, employee_id, cycle_id, revision, kind, amount, currency,
                                     balance_after)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (key) DO NOTHING""", rows)
    return len(rows)
