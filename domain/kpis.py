"""The KPIs of the brief computed from CRM records, each figure with the records it came from.

Two steps, both pure. ``kpi_inputs`` is the plain definition over raw records (what the SQL of
``services.kpis`` computes with aggregates, and what the tests check it against); ``kpi_figures`` turns one KAM's
inputs and targets into figures: exact Decimal arithmetic, one rounding (to the 6 decimals ``kpi_actual`` stores,
ROUND_HALF_EVEN), numerator and denominator kept exactly beside the figure.

Rules decided here (docs/kpis.md explains them to a KAM):
- Sales attainment = Σ amount of won deals closed in the period, in the target's currency / the target.
  A won deal in another currency, or without an amount, is listed as excluded, never converted or guessed.
- New customer acquisition = accounts whose first won deal ever (of any KAM) closed in the period, counted for the
  KAM of that deal / the target number of new accounts.
- A customer at a date is an account with a won deal in the 12 months up to it (a CRM has no "churned" flag).
  Customers at start: won deals in [start − 12 months, start); at end: in (end − 12 months, end].
  Retention = customers at end that were customers at start / customers at start. That is the brief's
  (end − new) / start where "new" counts every account gained in the period, new or won back, so it cannot
  exceed 100 %.
- Complaint rate = complaint cases opened in the period / won orders closed in the period (lower is better).
- "Deals" are records of kind ``deal`` and "orders" of kind ``order``; where a source has none of one kind (a
  Zoho export has no sales orders), the other kind stands in (``kinds_present``).
- Empty denominators give no figure, with the reason: no target (or a target of 0), no customers at start,
  no won orders in the period. No figure is not zero: the score treats it as missing, as for a KPI never imported.
- Customer satisfaction (CSAT) comes from the survey, not from the CRM: it is not computed here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from typing import Literal

from domain.errors import DomainError
from domain.text import Text, tr

COMPUTED_KPIS = ("sales_attainment", "new_customer_acquisition", "customer_retention", "complaint_rate")
"""The KPIs computed from CRM records, in the scorecard's order; customer_satisfaction comes from the survey."""
TARGET_KPIS = ("sales_attainment", "new_customer_acquisition")
"""The KPIs whose denominator is a per-KAM target (kpi_target)."""
PLACES = Decimal("0.000001")
"""kpi_actual.value is numeric(20, 6): the one rounding of a figure."""
ACTIVE_MONTHS = 12
"""An account with a won deal in this many months up to a date is a customer at that date."""

Kind = Literal["deal", "order"]
Role = Literal["counted", "excluded", "denominator", "retained", "lost", "gained"]

_PERIOD = re.compile(r"^([0-9]{4})(?:-(Q[1-4]|H[12]|(?:0[1-9]|1[0-2])))?$")


@dataclass(frozen=True)
class Period:
    """A reporting period, both ends inclusive."""

    label: str
    start: date
    end: date


def parse_period(label: str) -> Period:
    """``2026`` (a year), ``2026-Q3``, ``2026-H1`` or ``2026-09`` as its first and last day."""
    match = _PERIOD.match(label.strip())
    if not match:
        raise DomainError(tr("unknown period '%(period)s' (write 2026, 2026-H1, 2026-Q3 or 2026-09)", period=label))
    year, part = int(match.group(1)), match.group(2)
    if part is None:
        first, last = 1, 12
    elif part[0] == "Q":
        first = 3 * int(part[1]) - 2
        last = first + 2
    elif part[0] == "H":
        first = 6 * int(part[1]) - 5
        last = first + 5
    else:
        first = last = int(part)
    return Period(label.strip(), date(year, first, 1), date(year, last, _days_in(year, last)))


def _days_in(year: int, month: int) -> int:
    following = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
    return (following - timedelta(days=1)).day


def months_before(day: date, months: int) -> date:
    """The same day ``months`` earlier (the month's last day where it is shorter: 31 May − 3 months = 28/29 Feb)."""
    index = day.year * 12 + day.month - 1 - months
    year, month = divmod(index, 12)
    month += 1
    return date(year, month, min(day.day, _days_in(year, month)))


def windows(period: Period, months: int = ACTIVE_MONTHS) -> tuple[tuple[date, date], tuple[date, date]]:
    """The inclusive date ranges whose won deals make an account a customer at the start and at the end."""
    return ((months_before(period.start, months), period.start - timedelta(days=1)),
            (months_before(period.end, months) + timedelta(days=1), period.end))


@dataclass(frozen=True)
class DealFact:
    """A stored CRM deal or order, as the KPIs read it."""

    id: str
    kind: Kind
    kam_id: str | None
    account_id: str | None
    won: bool
    amount: Decimal | None
    currency: str
    closed_on: date | None


@dataclass(frozen=True)
class CaseFact:
    id: str
    kam_id: str | None
    complaint: bool
    opened_on: date | None


@dataclass(frozen=True)
class SourceRecord:
    """One CRM record behind a figure, and what it did there."""

    id: str
    kind: str  # deal | order | case | account
    role: Role
    amount: Decimal | None = None
    currency: str | None = None
    on: date | None = None
    via: str | None = None  # for an account: the deal that made it new
    reason: str | None = None  # for an excluded record: currency | no_amount


@dataclass
class KpiInputs:
    """One KAM's records for one period, as the figures need them (the SQL builds exactly this)."""

    employee_id: str
    won_deals: list[SourceRecord] = field(default_factory=list)  # closed in the period, any currency
    new_accounts: list[SourceRecord] = field(default_factory=list)  # kind account, via = the first won deal
    customers_at_start: set[str] = field(default_factory=set)
    customers_at_end: set[str] = field(default_factory=set)
    complaints: list[SourceRecord] = field(default_factory=list)
    won_orders: list[SourceRecord] = field(default_factory=list)


@dataclass(frozen=True)
class Target:
    value: Decimal
    currency: str | None = None


@dataclass(frozen=True)
class KpiFigure:
    """A KPI figure (``value`` None: no figure, ``reason`` says why) with its exact numerator and denominator."""

    employee_id: str
    kpi_id: str
    value: Decimal | None
    numerator: Decimal
    denominator: Decimal
    records: tuple[SourceRecord, ...]
    reason: Text | None = None


def kinds_present(deals: Iterable[DealFact]) -> tuple[Kind, Kind]:
    """(the kind that counts as deals, the kind that counts as orders): each stands in for the other when absent."""
    kinds = {d.kind for d in deals}
    return ("deal" if "deal" in kinds or not kinds else "order", "order" if "order" in kinds or not kinds else "deal")


def kpi_inputs(period: Period, deals: Iterable[DealFact], cases: Iterable[CaseFact],
               months: int = ACTIVE_MONTHS) -> dict[str, KpiInputs]:
    """The plain definition: every KAM's inputs, from all stored records (the reference for the SQL)."""
    deals = list(deals)
    deal_kind, order_kind = kinds_present(deals)
    (start_from, start_to), (end_from, end_to) = windows(period, months)
    out: dict[str, KpiInputs] = {}

    def of(kam: str) -> KpiInputs:
        return out.setdefault(kam, KpiInputs(kam))

    first: dict[str, DealFact] = {}
    for d in deals:
        if not d.won or d.closed_on is None:
            continue
        in_period = period.start <= d.closed_on <= period.end
        if d.kind == deal_kind and d.account_id is not None:
            best = first.get(d.account_id)
            if best is None or (d.closed_on, d.id) < (best.closed_on, best.id):  # type: ignore[operator]
                first[d.account_id] = d
        if d.kam_id is None:
            continue
        if d.kind == deal_kind:
            if in_period:
                of(d.kam_id).won_deals.append(SourceRecord(d.id, d.kind, "counted", d.amount, d.currency, d.closed_on))
            if d.account_id is not None and start_from <= d.closed_on <= start_to:
                of(d.kam_id).customers_at_start.add(d.account_id)
            if d.account_id is not None and end_from <= d.closed_on <= end_to:
                of(d.kam_id).customers_at_end.add(d.account_id)
        if d.kind == order_kind and in_period:
            of(d.kam_id).won_orders.append(SourceRecord(d.id, d.kind, "denominator", d.amount, d.currency,
                                                        d.closed_on))
    for account, d in first.items():
        if d.kam_id is not None and period.start <= d.closed_on <= period.end:  # type: ignore[operator]
            of(d.kam_id).new_accounts.append(SourceRecord(account, "account", "counted", on=d.closed_on, via=d.id))
    for c in cases:
        if c.complaint and c.kam_id is not None and c.opened_on is not None and period.start <= c.opened_on <= period.end:
            of(c.kam_id).complaints.append(SourceRecord(c.id, "case", "counted", on=c.opened_on))
    return out


def ratio(numerator: Decimal, denominator: Decimal) -> Decimal:
    """numerator / denominator rounded once to 6 places, half to even, whatever the caller's decimal context."""
    with localcontext() as ctx:
        ctx.prec = 60
        return (numerator / denominator).quantize(PLACES, rounding=ROUND_HALF_EVEN)


def _sorted(records: Iterable[SourceRecord]) -> tuple[SourceRecord, ...]:
    return tuple(sorted(records, key=lambda r: (r.on or date.min, r.id)))


@dataclass(frozen=True)
class KpiCounts:
    """One KAM's numerators and base counts for the period: what the SQL aggregates produce."""

    employee_id: str
    sales_total: Decimal  # Σ amount of counted won deals, in ``money_currency``
    new_accounts: int
    customers_at_start: int
    retained: int
    complaints: int
    won_orders: int


def money_currency(targets: dict[str, Target], currency: str) -> str:
    """The currency sales attainment is counted in: the target's, else the KAM's own."""
    sales = targets.get("sales_attainment")
    return sales.currency if sales is not None and sales.currency else currency


def figures_from_counts(counts: KpiCounts, targets: dict[str, Target]) -> list[KpiFigure]:
    """The four computed KPIs of one KAM from its counts (records are attached by the caller)."""
    emp = counts.employee_id
    kept, base = Decimal(counts.retained), Decimal(counts.customers_at_start)
    complaints, orders = Decimal(counts.complaints), Decimal(counts.won_orders)
    return [
        _over_target(emp, "sales_attainment", counts.sales_total, targets.get("sales_attainment"), ()),
        _over_target(emp, "new_customer_acquisition", Decimal(counts.new_accounts),
                     targets.get("new_customer_acquisition"), ()),
        KpiFigure(emp, "customer_retention", ratio(kept, base) if base else None, kept, base, (),
                  None if base else tr("no customers at the start of the period")),
        KpiFigure(emp, "complaint_rate", ratio(complaints, orders) if orders else None, complaints, orders, (),
                  None if orders else tr("no won orders in the period")),
    ]


def kpi_figures(inputs: KpiInputs, targets: dict[str, Target], currency: str) -> list[KpiFigure]:
    """The four computed KPIs of one KAM with their records (see the module docstring for every rule)."""
    money = money_currency(targets, currency)
    counted, excluded = [], []
    for r in inputs.won_deals:
        if r.amount is None:
            excluded.append(SourceRecord(r.id, r.kind, "excluded", r.amount, r.currency, r.on, reason="no_amount"))
        elif r.currency != money:
            excluded.append(SourceRecord(r.id, r.kind, "excluded", r.amount, r.currency, r.on, reason="currency"))
        else:
            counted.append(SourceRecord(r.id, r.kind, "counted", r.amount, r.currency, r.on))
    start, end = inputs.customers_at_start, inputs.customers_at_end
    counts = KpiCounts(inputs.employee_id, sum((r.amount for r in counted if r.amount is not None), Decimal(0)),
                       len(inputs.new_accounts), len(start), len(start & end), len(inputs.complaints),
                       len(inputs.won_orders))
    accounts = tuple(SourceRecord(a, "account", "retained") for a in sorted(start & end)) \
        + tuple(SourceRecord(a, "account", "lost") for a in sorted(start - end)) \
        + tuple(SourceRecord(a, "account", "gained") for a in sorted(end - start))
    records = {
        "sales_attainment": _sorted(counted) + _sorted(excluded),
        "new_customer_acquisition": _sorted(inputs.new_accounts),
        "customer_retention": accounts,
        "complaint_rate": _sorted(inputs.complaints) + _sorted(inputs.won_orders),
    }
    return [replace(f, records=records[f.kpi_id]) for f in figures_from_counts(counts, targets)]


def record_json(record: SourceRecord) -> dict[str, str]:
    """A source record as stored in ``kpi_source.records`` (the SQL builds the same objects): set fields only."""
    out = {"id": record.id, "kind": record.kind, "role": record.role}
    if record.amount is not None:
        out["amount"] = str(record.amount)
    for key in ("currency", "via", "reason"):
        if (value := getattr(record, key)) is not None:
            out[key] = value
    if record.on is not None:
        out["on"] = record.on.isoformat()
    return out


def _over_target(emp: str, kpi: str, numerator: Decimal, target: Target | None,
                 records: tuple[SourceRecord, ...]) -> KpiFigure:
    if target is None or target.value <= 0:
        return KpiFigure(emp, kpi, None, numerator, Decimal(0), records, tr("no target for the period"))
    return KpiFigure(emp, kpi, ratio(numerator, target.value), numerator, target.value, records)
