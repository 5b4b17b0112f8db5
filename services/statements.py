"""What payroll sees in the web app: approved (locked) payout lines only, per cycle and period.

Everything reads the ``payroll_payout_lines`` view (migration 0003), which holds locked lines and
nothing else, so a draft can never reach payroll through this module. The CSV is the same as
``services.payroll.export_payroll_csv`` writes (same columns, amounts in the currency's minor unit, UTF-8
with a byte-order mark).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from psycopg import AsyncConnection

from domain.text import tr
from services.csv_text import csv_text
from services.db import Database, as_database
from services.errors import NotFound, UserError
from services.payroll import CSV_COLUMNS, format_amount


@dataclass
class Statement:
    cycle_id: str
    cycle_name: str
    period: str
    lines: int
    employees: int
    totals: dict[str, str]  # currency -> total in the minor unit
    approved_by: str | None
    locked_at: datetime | None


async def statements(conn: AsyncConnection) -> list[Statement]:
    rows = await (await conn.execute(
        """SELECT v.cycle_id, c.name, v.period, v.currency, count(*), count(DISTINCT v.employee_id), sum(v.amount),
                  max(v.approved_by), max(v.locked_at)
           FROM payroll_payout_lines v JOIN review_cycle c ON c.id = v.cycle_id
           GROUP BY v.cycle_id, c.name, v.period, v.currency
           ORDER BY max(v.locked_at) DESC, v.cycle_id, v.period, v.currency"""
    )).fetchall()
    out: dict[tuple[str, str], Statement] = {}
    for cycle, name, period, currency, n, employees, total, approved_by, locked_at in rows:
        st = out.setdefault((cycle, period), Statement(cycle, name, period, 0, 0, {}, approved_by, locked_at))
        st.lines += n
        st.employees = max(st.employees, employees)
        st.totals[currency] = format_amount(Decimal(total), currency)
    return list(out.values())


@dataclass
class StatementLine:
    employee_id: str
    employee_name: str
    amount: str
    currency: str
    line_type: str
    idempotency_key: str
    period: str
    plan_id: str
    plan_version: int
    revision: int
    explanation: str
    deal_id: str | None = None
    event: str | None = None


async def statement_lines(conn: AsyncConnection, cycle_id: str) -> list[StatementLine]:
    """The cycle's approved lines; refused while there are none (payroll never sees drafts)."""
    row = await (await conn.execute("SELECT status FROM review_cycle WHERE id = %s", (cycle_id,))).fetchone()
    if row is None:
        raise NotFound(tr("cycle %(cycle)s does not exist", cycle=cycle_id))
    rows = await (await conn.execute(
        """SELECT employee_id, employee_name, amount, currency, line_type, idempotency_key, period, plan_id,
                  plan_version, revision, explanation, deal_id, event
           FROM payroll_payout_lines WHERE cycle_id = %s ORDER BY employee_id, line_type, revision""",
        (cycle_id,),
    )).fetchall()
    if not rows:
        raise UserError(tr("cycle %(cycle)s has no approved payout lines yet (status: %(status)s)", cycle=cycle_id,
                           status=row[0]))
    return [StatementLine(r[0], r[1], format_amount(r[2], r[3]), *r[3:]) for r in rows]


def statement_csv(lines: list[StatementLine]) -> str:
    """The CSV as text, with the byte-order mark and the payroll file's columns."""
    return csv_text(CSV_COLUMNS, ((ln.employee_id, ln.employee_name, ln.amount, ln.currency, ln.line_type,
                                   ln.idempotency_key, ln.period, ln.plan_id, ln.plan_version, ln.revision,
                                   ln.explanation, ln.deal_id or "", ln.event or "") for ln in lines))


# ---- the balance ledger (issue 13) ----

#: The ledger CSV's stable machine headers (English whatever the reader's language, like CSV_COLUMNS).
LEDGER_COLUMNS = ["employee_id", "employee_name", "plan_year", "earned", "drawn", "recovered", "clawed_back",
                  "written_off", "net", "balance", "currency"]


@dataclass
class LedgerRow:
    """One person's ledger for one cycle: what it earned, drew, recovered, clawed back and wrote off (every
    approval of the cycle, corrections included), the net the cycle paid and what the person owes after it."""

    employee_id: str
    employee_name: str
    plan_year: str
    earned: Decimal
    drawn: Decimal
    recovered: Decimal
    clawed_back: Decimal
    written_off: Decimal
    balance: Decimal
    currency: str

    @property
    def net(self) -> Decimal:
        """What the cycle pays: earned + drawn − recovered − clawed back (negative: for payroll to recover)."""
        return self.earned + self.drawn - self.recovered - self.clawed_back


async def statement_ledger(conn: AsyncConnection, cycle_id: str) -> list[LedgerRow]:
    """The cycle's ledger per person (empty for a cycle whose plan has no deals, draw or clawbacks)."""
    rows = await (await conn.execute(
        """SELECT l.employee_id, e.name, l.plan_year, l.currency,
                  sum(l.amount) FILTER (WHERE l.kind = 'earned'), sum(l.amount) FILTER (WHERE l.kind = 'drawn'),
                  sum(l.amount) FILTER (WHERE l.kind = 'recovered'),
                  sum(l.amount) FILTER (WHERE l.kind = 'clawed_back'),
                  sum(l.amount) FILTER (WHERE l.kind = 'written_off'),
                  (array_agg(l.balance_after ORDER BY l.seq DESC))[1]
           FROM ledger_entry l JOIN employee e ON e.id = l.employee_id
           WHERE l.cycle_id = %s GROUP BY l.employee_id, e.name, l.plan_year, l.currency
           ORDER BY l.employee_id""", (cycle_id,))).fetchall()
    zero = Decimal(0)
    return [LedgerRow(e, name, year, *(Decimal(v) if v is not None else zero for v in sums), currency)
            for e, name, year, currency, *sums in rows]


async def cycle_ledger(db: Database | str, cycle_id: str) -> list[LedgerRow]:
    """statement_ledger for the CLI: refused like statement_lines (no such cycle, nothing approved yet)."""
    async with as_database(db).connection() as conn:
        await statement_lines(conn, cycle_id)
        return await statement_ledger(conn, cycle_id)


def ledger_csv(rows: list[LedgerRow]) -> str:
    """The ledger as CSV text (byte-order mark, amounts in the currency's minor unit, as statement_csv)."""
    return csv_text(LEDGER_COLUMNS, (
        (r.employee_id, r.employee_name, r.plan_year,
         *(format_amount(v, r.currency) for v in (r.earned, r.drawn, r.recovered, r.clawed_back, r.written_off,
                                                  r.net, r.balance)), r.currency) for r in rows))
