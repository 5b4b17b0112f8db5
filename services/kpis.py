"""KPI figures computed from the stored CRM records for one period, for every KAM, and written with their sources.

One SQL statement (COUNTS_SQL) gives every KAM's sums and counts and, per figure, an order-independent fingerprint
of the records behind it, so a million deals never travel to Python; ``domain.kpis.figures_from_counts`` turns the
counts into figures with the one set of rules. Only the figures that differ from the stored ones (value,
numerator, denominator or fingerprint) have their records built as JSON (RECORDS_SQL, for those KAMs only) and
written to ``kpi_actual`` and ``kpi_source``, each change audited, under the import lock so a compute never
interleaves with a CRM import. tests/test_kpis_service.py checks both statements against ``domain.kpis.kpi_inputs``.

A figure entered by hand (KPIS.csv, no ``kpi_source`` row) is replaced by a computed one; when the records give no
figure (no target, no customers at start, no won orders) a computed figure is removed, a hand-entered one kept.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from activities.base import AUDIT_ROW, audit_params
from domain.errors import DomainError
from domain.kpis import (
    ACTIVE_MONTHS,
    COMPUTED_KPIS,
    KpiCounts,
    KpiFigure,
    Period,
    Target,
    figures_from_counts,
    parse_period,
    windows,
)
from domain.text import Text, tr
from services.db import Database, as_database
from services.errors import UserError
from services.imports.pipeline import LOCK_KEY

# Every KAM's counts and records for the period. Deals and orders are the kinds that stand for them
# (domain.kpis.kinds_present); a customer is an account with a won deal in the activity window.
# Every KAM's numerators and base counts for the period, and an order-independent fingerprint of the records
# behind each figure (count and sum of 64-bit hashes): what `kpi compute` compares with the stored figures. One
# range scan of the won deals of the customer windows, one of the period, a probe per possibly new account.
COUNTS_SQL = """
WITH kam AS (
    SELECT e.id, COALESCE(t.currency, e.currency) AS money
    FROM employee e
    LEFT JOIN kpi_target t ON t.employee_id = e.id AND t.period = %(period)s AND t.kpi_id = 'sales_attainment'
    WHERE e.role = 'kam'
),
pairs AS MATERIALIZED (
    SELECT d.kam_id, d.account_id, bool_or(d.closed_on <= %(start_to)s) AS at_start,
           bool_or(d.closed_on >= %(end_from)s) AS at_end
    FROM crm_deal d
    WHERE d.won AND d.kind = %(deal)s AND d.kam_id IS NOT NULL AND d.account_id IS NOT NULL
      AND d.closed_on BETWEEN %(start_from)s AND %(end)s
    GROUP BY d.kam_id, d.account_id
),
retention AS (
    SELECT kam_id, count(*) FILTER (WHERE at_start) AS base, count(*) FILTER (WHERE at_start AND at_end) AS kept,
           count(*) FILTER (WHERE at_start OR at_end) AS n,
           sum(hashtextextended(account_id || CASE WHEN at_start AND at_end THEN '|retained' WHEN at_start
                                THEN '|lost' ELSE '|gained' END, 0)) FILTER (WHERE at_start OR at_end) AS h
    FROM pairs GROUP BY kam_id
),
period AS (
    SELECT d.kam_id,
           sum(d.amount) FILTER (WHERE d.kind = %(deal)s AND d.currency = k.money) AS total,
           count(*) FILTER (WHERE d.kind = %(deal)s) AS sales_n,
           sum(hashtextextended(d.id || '|' || COALESCE(d.amount::text, '') || '|' || d.currency || '|'
                                || d.closed_on, 0)) FILTER (WHERE d.kind = %(deal)s) AS sales_h,
           count(*) FILTER (WHERE d.kind = %(order)s) AS orders_n,
           sum(hashtextextended(d.id || '|' || COALESCE(d.amount::text, '') || '|' || d.currency || '|'
                                || d.closed_on, 0)) FILTER (WHERE d.kind = %(order)s) AS orders_h
    FROM crm_deal d JOIN kam k ON k.id = d.kam_id
    WHERE d.won AND d.closed_on BETWEEN %(start)s AND %(end)s
    GROUP BY d.kam_id
),
known AS (  -- accounts with a won deal in the start window: not new, whatever else they did
    SELECT DISTINCT account_id FROM pairs WHERE at_start
),
candidates AS (  -- accounts that won in the period (a KAM's or nobody's deal) and not in the start window
    SELECT DISTINCT d.account_id FROM crm_deal d
    WHERE d.won AND d.kind = %(deal)s AND d.account_id IS NOT NULL AND d.closed_on BETWEEN %(start)s AND %(end)s
      AND NOT EXISTS (SELECT 1 FROM known WHERE known.account_id = d.account_id)
),
first_won AS (  -- the first won deal of those that never won before the period
    SELECT DISTINCT ON (d.account_id) d.account_id, d.id, d.kam_id, d.closed_on
    FROM candidates c JOIN crm_deal d ON d.account_id = c.account_id
    WHERE d.won AND d.kind = %(deal)s AND d.closed_on BETWEEN %(start)s AND %(end)s
      AND NOT EXISTS (SELECT 1 FROM crm_deal p WHERE p.won AND p.account_id = c.account_id AND p.kind = %(deal)s
                      AND p.closed_on < %(start)s)
    ORDER BY d.account_id, d.closed_on, d.id
),
new AS (
    SELECT kam_id, count(*) AS n, sum(hashtextextended(account_id || '|' || id || '|' || closed_on, 0)) AS h
    FROM first_won WHERE kam_id IS NOT NULL GROUP BY kam_id
),
complaints AS (
    SELECT c.kam_id, count(*) AS n, sum(hashtextextended(c.id || '|' || c.opened_on, 0)) AS h
    FROM crm_case c
    WHERE c.complaint AND c.kam_id IS NOT NULL AND c.opened_on BETWEEN %(start)s AND %(end)s
    GROUP BY c.kam_id
)
SELECT k.id, COALESCE(p.total, 0), COALESCE(n.n, 0), COALESCE(r.base, 0), COALESCE(r.kept, 0),
       COALESCE(c.n, 0), COALESCE(p.orders_n, 0),
       concat_ws(':', k.money, p.sales_n, p.sales_h), concat_ws(':', n.n, n.h), concat_ws(':', r.n, r.h),
       concat_ws(':', c.n, c.h, p.orders_n, p.orders_h)
FROM kam k
LEFT JOIN period p ON p.kam_id = k.id LEFT JOIN retention r ON r.kam_id = k.id LEFT JOIN new n ON n.kam_id = k.id
LEFT JOIN complaints c ON c.kam_id = k.id
ORDER BY k.id
"""

# The records behind the figures of some KAMs, as the JSON stored in kpi_source.records (only for figures written).
RECORDS_SQL = """
WITH kam AS (
    SELECT e.id, COALESCE(t.currency, e.currency) AS money
    FROM employee e
    LEFT JOIN kpi_target t ON t.employee_id = e.id AND t.period = %(period)s AND t.kpi_id = 'sales_attainment'
    WHERE e.role = 'kam' AND e.id = ANY(%(kams)s)
),
sales AS (
    SELECT d.kam_id,
           COALESCE(sum(d.amount) FILTER (WHERE d.amount IS NOT NULL AND d.currency = k.money), 0) AS total,
           jsonb_agg(jsonb_strip_nulls(jsonb_build_object(
               'id', d.id, 'kind', d.kind,
               'role', CASE WHEN d.amount IS NULL OR d.currency <> k.money THEN 'excluded' ELSE 'counted' END,
               'amount', d.amount::text, 'currency', d.currency, 'on', d.closed_on,
               'reason', CASE WHEN d.amount IS NULL THEN 'no_amount' WHEN d.currency <> k.money THEN 'currency' END))
               ORDER BY d.amount IS NULL OR d.currency <> k.money, d.closed_on, d.id) AS records
    FROM crm_deal d JOIN kam k ON k.id = d.kam_id
    WHERE d.won AND d.kind = %(deal)s AND d.closed_on BETWEEN %(start)s AND %(end)s
    GROUP BY d.kam_id
),
first_in_period AS (
    SELECT DISTINCT ON (d.account_id) d.account_id, d.id, d.kam_id, d.closed_on
    FROM crm_deal d
    WHERE d.won AND d.kind = %(deal)s AND d.account_id IS NOT NULL AND d.closed_on BETWEEN %(start)s AND %(end)s
    ORDER BY d.account_id, d.closed_on, d.id
),
new AS (
    SELECT f.kam_id, count(*) AS n,
           jsonb_agg(jsonb_build_object('id', f.account_id, 'kind', 'account', 'role', 'counted', 'on', f.closed_on,
                                        'via', f.id) ORDER BY f.closed_on, f.account_id) AS records
    FROM first_in_period f
    WHERE f.kam_id = ANY(%(kams)s) AND NOT EXISTS (
        SELECT 1 FROM crm_deal p
        WHERE p.won AND p.account_id = f.account_id AND p.kind = %(deal)s AND p.closed_on < %(start)s)
    GROUP BY f.kam_id
),
active AS (
    SELECT d.kam_id, d.account_id, bool_or(d.closed_on <= %(start_to)s) AS at_start,
           bool_or(d.closed_on >= %(end_from)s) AS at_end
    FROM crm_deal d
    WHERE d.won AND d.kind = %(deal)s AND d.kam_id = ANY(%(kams)s) AND d.account_id IS NOT NULL
      AND d.closed_on BETWEEN %(start_from)s AND %(end)s
    GROUP BY d.kam_id, d.account_id
),
retention AS (
    SELECT kam_id, count(*) FILTER (WHERE at_start) AS base, count(*) FILTER (WHERE at_start AND at_end) AS kept,
           jsonb_agg(jsonb_build_object('id', account_id, 'kind', 'account', 'role',
                                        CASE WHEN at_start AND at_end THEN 'retained' WHEN at_start THEN 'lost'
                                             ELSE 'gained' END)
                     ORDER BY CASE WHEN at_start AND at_end THEN 0 WHEN at_start THEN 1 ELSE 2 END, account_id)
               FILTER (WHERE at_start OR at_end) AS records
    FROM active GROUP BY kam_id
),
complaints AS (
    SELECT c.kam_id, count(*) AS n,
           jsonb_agg(jsonb_build_object('id', c.id, 'kind', 'case', 'role', 'counted', 'on', c.opened_on)
                     ORDER BY c.opened_on, c.id) AS records
    FROM crm_case c
    WHERE c.complaint AND c.kam_id = ANY(%(kams)s) AND c.opened_on BETWEEN %(start)s AND %(end)s
    GROUP BY c.kam_id
),
orders AS (
    SELECT d.kam_id, count(*) AS n,
           jsonb_agg(jsonb_strip_nulls(jsonb_build_object(
               'id', d.id, 'kind', d.kind, 'role', 'denominator', 'amount', d.amount::text, 'currency', d.currency,
               'on', d.closed_on)) ORDER BY d.closed_on, d.id) AS records
    FROM crm_deal d
    WHERE d.won AND d.kind = %(order)s AND d.kam_id = ANY(%(kams)s) AND d.closed_on BETWEEN %(start)s AND %(end)s
    GROUP BY d.kam_id
)
SELECT k.id, COALESCE(s.records, '[]')::text, COALESCE(n.records, '[]')::text, COALESCE(r.records, '[]')::text,
       (COALESCE(c.records, '[]') || COALESCE(o.records, '[]'))::text
FROM kam k
LEFT JOIN sales s ON s.kam_id = k.id LEFT JOIN new n ON n.kam_id = k.id LEFT JOIN retention r ON r.kam_id = k.id
LEFT JOIN complaints c ON c.kam_id = k.id LEFT JOIN orders o ON o.kam_id = k.id
ORDER BY k.id
"""

_KINDS_SQL = """SELECT EXISTS (SELECT 1 FROM crm_deal WHERE kind = 'deal'),
                       EXISTS (SELECT 1 FROM crm_deal WHERE kind = 'order')"""


@dataclass
class ComputedKpi:
    """A figure, the fingerprint of its records, and (once fetched) the records as stored: the JSON text of
    ``kpi_source.records``."""

    figure: KpiFigure
    digest: str
    records: str | None = None

    @property
    def key(self) -> tuple[str, str]:
        return self.figure.employee_id, self.figure.kpi_id

    def record_list(self) -> list[dict[str, Any]]:
        return json.loads(self.records) if self.records is not None else []


@dataclass(frozen=True)
class KpiChange:
    employee_id: str
    kpi_id: str
    before: Decimal | None
    after: Decimal | None
    what: str  # new | changed | sources (same figure, other records) | removed | kept (see KpiRun.kept)


@dataclass
class KpiRun:
    """What a compute found and did for one period (``written`` False for a preview)."""

    period: Period
    figures: list[ComputedKpi]
    changes: list[KpiChange]
    written: bool
    locked_cycles: list[str] = field(default_factory=list)
    """Locked cycles of this period whose figures changed: `payouts recompute CYCLE` pays the difference."""
    kept: list[KpiChange] = field(default_factory=list)
    """Figures entered by hand (KPIS.csv) that the records give no figure for: left as they are."""

    @property
    def changed(self) -> bool:
        return bool(self.changes)

    def lines(self) -> list[Text]:
        """The run as lines to show (the CLI prints them)."""
        out: list[Text] = []
        for c in self.changes:
            out.append(tr("%(employee)s %(kpi)s: %(before)s -> %(after)s (%(what)s)", employee=c.employee_id,
                          kpi=c.kpi_id, before=_fmt(c.before), after=_fmt(c.after), what=c.what))
        if not self.changes:
            out.append(tr("no KPI figure of %(period)s changes", period=self.period.label))
        if self.kept:
            out.append(tr("%(count)s figures entered by hand kept: the CRM records give none for them (e.g. "
                          "%(examples)s)", count=str(len(self.kept)),
                          examples=", ".join(f"{k.employee_id} {k.kpi_id}" for k in self.kept[:5])))
        for cycle in self.locked_cycles:
            out.append(tr("cycle %(cycle)s is locked: run `kamreview payouts recompute %(cycle)s` to pay the "
                          "difference", cycle=cycle))
        return out


def _fmt(value: Decimal | None) -> str:
    return "-" if value is None else format(value.normalize(), "f")


def period_of(label: str) -> Period:
    try:
        return parse_period(label)
    except DomainError as err:
        raise UserError(err.as_text()) from None


def figures_query(period: Period, deal_kind: str, order_kind: str, months: int = ACTIVE_MONTHS) -> dict[str, Any]:
    """The parameters of COUNTS_SQL and RECORDS_SQL (the benchmark runs the same statements)."""
    (start_from, start_to), (end_from, _) = windows(period, months)
    return {"period": period.label, "start": period.start, "end": period.end, "start_from": start_from,
            "start_to": start_to, "end_from": end_from, "deal": deal_kind, "order": order_kind}


async def _kinds(conn: Any) -> tuple[str, str]:
    """domain.kpis.kinds_present, answered by two index probes instead of reading every record."""
    has_deals, has_orders = await (await conn.execute(_KINDS_SQL)).fetchone()
    return ("deal" if has_deals or not has_orders else "order", "order" if has_orders or not has_deals else "deal")


async def figures_for(conn: Any, period: Period, with_records: bool = False) -> list[ComputedKpi]:
    """Every KAM's computed figures for ``period`` (reads only); their records too with ``with_records``."""
    async with conn.transaction():
        await conn.execute("SET LOCAL work_mem = '64MB'")  # the per-account aggregate stays in memory
        deal_kind, order_kind = await _kinds(conn)
        targets: dict[str, dict[str, Target]] = {}
        for emp, kpi, value, currency in await (await conn.execute(
                "SELECT employee_id, kpi_id, target, currency FROM kpi_target WHERE period = %s", (period.label,)
        )).fetchall():
            targets.setdefault(emp, {})[kpi] = Target(value, currency)
        out: list[ComputedKpi] = []
        rows = await (await conn.execute(COUNTS_SQL, figures_query(period, deal_kind, order_kind))).fetchall()
        for emp, total, new, base, kept, complaints, orders, *digests in rows:
            counts = KpiCounts(emp, Decimal(total), new, base, kept, complaints, orders)
            for fig, digest in zip(figures_from_counts(counts, targets.get(emp, {})), digests, strict=True):
                out.append(ComputedKpi(fig, digest))
        if with_records:
            await attach_records(conn, period, out)
    return out


async def attach_records(conn: Any, period: Period, figures: list[ComputedKpi]) -> None:
    """Fetch the records of ``figures`` (the KAMs concerned only) as the JSON kpi_source stores."""
    if not figures:
        return
    deal_kind, order_kind = await _kinds(conn)
    params = figures_query(period, deal_kind, order_kind) | {"kams": sorted({f.figure.employee_id for f in figures})}
    found: dict[tuple[str, str], str] = {}
    for emp, *records in await (await conn.execute(RECORDS_SQL, params)).fetchall():
        found.update({(emp, kpi): text for kpi, text in zip(COMPUTED_KPIS, records, strict=True)})
    for item in figures:
        item.records = found.get(item.key, "[]")


def _digest(*parts: Any) -> str:
    return hashlib.sha256(json.dumps([str(p) for p in parts], ensure_ascii=False).encode()).hexdigest()[:16]


async def compute_kpis(db: Database | str, period_label: str, actor: str, write: bool = True,
                       all_records: bool = False) -> KpiRun:
    """Compute every KAM's KPI figures of the period from the CRM records; write (or, ``write=False``, only say)
    what changes. Each written change is audited (``kpi.computed`` / ``kpi.removed``). The records of the figures
    that change are fetched (to store them); ``all_records`` fetches every figure's."""
    period = period_of(period_label)
    async with as_database(db).connection() as conn, conn.transaction(force_rollback=not write):
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
        computed = await figures_for(conn, period)
        existing = {
            (emp, kpi): (value, num, den, digest, has_source)
            for emp, kpi, value, num, den, digest, has_source in await (await conn.execute(
                """SELECT a.employee_id, a.kpi_id, a.value, s.numerator, s.denominator, s.digest,
                          s.employee_id IS NOT NULL
                   FROM kpi_actual a LEFT JOIN kpi_source s USING (employee_id, period, kpi_id)
                   WHERE a.period = %s AND a.kpi_id = ANY(%s)""", (period.label, list(COMPUTED_KPIS)))).fetchall()
        }
        changes: list[KpiChange] = []
        kept: list[KpiChange] = []
        upserts: list[ComputedKpi] = []
        removals: list[tuple[str, str]] = []
        for item in computed:
            fig = item.figure
            old = existing.get(item.key)
            if fig.value is None:
                if old is None:
                    continue
                if old[4]:
                    removals.append(item.key)
                    changes.append(KpiChange(*item.key, old[0], None, "removed"))
                else:
                    kept.append(KpiChange(*item.key, old[0], old[0], "kept"))
                continue
            if old is not None and old[4] and (old[0], old[1], old[2]) == (fig.value, fig.numerator,
                                                                             fig.denominator) and old[3] == item.digest:
                continue
            what = "new" if old is None else ("changed" if old[0] != fig.value else "sources")
            changes.append(KpiChange(*item.key, old[0] if old else None, fig.value, what))
            upserts.append(item)
        locked: list[str] = []
        # the records of what changes, for the preview and the write (of every figure when asked)
        await attach_records(conn, period, computed if all_records else upserts)
        if write and (upserts or removals):
            await _write(conn, period, upserts, removals, existing, actor)
        if upserts or removals:
            locked = [r[0] for r in await (await conn.execute(
                "SELECT id FROM review_cycle WHERE period_label = %s AND status = 'locked' ORDER BY id",
                (period.label,))).fetchall()]
    return KpiRun(period, computed, changes, write, locked, kept)


async def _write(conn: Any, period: Period, upserts: list[ComputedKpi], removals: list[tuple[str, str]],
                 existing: dict[tuple[str, str], tuple[Any, ...]], actor: str) -> None:
    entity = [f"{e}:{period.label}:{k}" for e, k in [u.key for u in upserts] + removals]
    seen = dict(await (await conn.execute(
        """SELECT entity_id, count(*) FROM audit_log WHERE entity_type = 'kpi_actual' AND entity_id = ANY(%s)
           GROUP BY entity_id""", (entity,))).fetchall())
    async with conn.cursor() as cur:
        if upserts:
            await cur.executemany(
                """INSERT INTO kpi_actual (employee_id, period, kpi_id, value) VALUES (%s, %s, %s, %s)
                   ON CONFLICT (employee_id, period, kpi_id)
                   DO UPDATE SET value = excluded.value, updated_at = now()""",
                [(u.figure.employee_id, period.label, u.figure.kpi_id, u.figure.value) for u in upserts])
            await cur.executemany(
                """INSERT INTO kpi_source (employee_id, period, kpi_id, period_start, period_end, numerator,
                                           denominator, records, digest, computed_at)
                   VALUES (%s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s, now())
                   ON CONFLICT (employee_id, period, kpi_id) DO UPDATE SET
                       period_start = excluded.period_start, period_end = excluded.period_end,
                       numerator = excluded.numerator, denominator = excluded.denominator,
                       records = excluded.records, digest = excluded.digest, computed_at = now()""",
                [(u.figure.employee_id, period.label, u.figure.kpi_id, period.start, period.end, u.figure.numerator,
                  u.figure.denominator, u.records, u.digest) for u in upserts])
        if removals:
            await cur.execute(
                """DELETE FROM kpi_actual a USING unnest(%s::text[], %s::text[]) AS k(e, i)
                   WHERE a.employee_id = k.e AND a.kpi_id = k.i AND a.period = %s""",
                ([e for e, _ in removals], [k for _, k in removals], period.label))
        audits = []
        for u in upserts:
            key = f"{u.figure.employee_id}:{period.label}:{u.figure.kpi_id}"
            old = existing.get(u.key)
            after = {"value": str(u.figure.value), "numerator": str(u.figure.numerator),
                     "denominator": str(u.figure.denominator), "records": len(u.record_list())}
            audits.append(audit_params(
                f"kpi.computed:{key}:{seen.get(key, 0) + 1}:{_digest(*after.values(), u.digest)}", actor,
                "kpi.computed", "kpi_actual", key, {"value": str(old[0])} if old else None, after))
        for emp, kpi in removals:
            key = f"{emp}:{period.label}:{kpi}"
            audits.append(audit_params(f"kpi.removed:{key}:{seen.get(key, 0) + 1}", actor, "kpi.removed",
                                       "kpi_actual", key, {"value": str(existing[(emp, kpi)][0])}, None))
        await cur.executemany(AUDIT_ROW, audits)


async def stale_periods(db: Database | str, dates: Iterable[date]) -> list[str]:
    """Periods whose figures a change of records on ``dates`` can alter: every period already computed, or of a
    review cycle, that ends on or after the earliest date (a deal's date moves first-won accounts and customer
    windows of later periods too)."""
    dates = sorted(dates)
    if not dates:
        return []
    async with as_database(db).connection() as conn:
        rows = await (await conn.execute(
            """SELECT period FROM kpi_source WHERE period_end >= %(d)s
               UNION SELECT period_label FROM review_cycle WHERE period_end >= %(d)s AND status <> 'cancelled'
               ORDER BY 1""", {"d": dates[0]})).fetchall()
    return [r[0] for r in rows]


async def recompute_after_import(db: Database | str, dates: Iterable[date], actor: str) -> list[KpiRun]:
    """The hook after a CRM import (CLI, web upload, scheduled sync): recompute every period the changed records
    may alter (``ImportSummary.kpi_dates``; see ``stale_periods``). A locked cycle's run names it in
    ``locked_cycles``: `payouts recompute` then pays the difference."""
    return [await compute_kpis(db, label, actor) for label in await stale_periods(db, dates)]
