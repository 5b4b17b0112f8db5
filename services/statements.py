"""What payroll sees in the web app: approved (locked) payout lines only, per cycle and period.

Everything reads the ``payroll_payout_lines`` view (migration 0003), which holds locked lines and
nothing else, so a draft can never reach payroll through this module. The CSV is the same as
``services.payroll.export_payroll_csv`` writes (same columns, amounts in the currency's minor unit, UTF-8
with a byte-order mark).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from psycopg import AsyncConnection

from services.errors import NotFound, UserError
from services.payroll import CSV_BOM, CSV_COLUMNS, format_amount


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


async def statement_lines(conn: AsyncConnection, cycle_id: str) -> list[StatementLine]:
    """The cycle's approved lines; refused while there are none (payroll never sees drafts)."""
    row = await (await conn.execute("SELECT status FROM review_cycle WHERE id = %s", (cycle_id,))).fetchone()
    if row is None:
        raise NotFound(f"cycle {cycle_id} does not exist")
    rows = await (await conn.execute(
        """SELECT employee_id, employee_name, amount, currency, line_type, idempotency_key, period, plan_id,
                  plan_version, revision, explanation
           FROM payroll_payout_lines WHERE cycle_id = %s ORDER BY employee_id, line_type, revision""",
        (cycle_id,),
    )).fetchall()
    if not rows:
        raise UserError(f"cycle {cycle_id} has no approved payout lines yet (status: {row[0]})")
    return [StatementLine(r[0], r[1], format_amount(r[2], r[3]), *r[3:]) for r in rows]


def statement_csv(lines: list[StatementLine]) -> str:
    """The CSV as text, starting with the byte-order mark (see ``services.payroll.CSV_BOM``)."""
    buf = io.StringIO(newline="")
    buf.write(CSV_BOM)
    writer = csv.writer(buf)
    writer.writerow(CSV_COLUMNS)
    for ln in lines:
        writer.writerow((ln.employee_id, ln.employee_name, ln.amount, ln.currency, ln.line_type, ln.idempotency_key,
                         ln.period, ln.plan_id, ln.plan_version, ln.revision, ln.explanation))
    return buf.getvalue()
