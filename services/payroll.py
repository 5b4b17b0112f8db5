"""What payroll reads: approved, locked payout lines, as CSV.

Payroll pays the sum of a person's lines. A line can be negative (a draw recovery, a clawback of a deal's
commission, a correction downwards), and so can a person's sum for a cycle: clawbacks larger than what the cycle
earned. A negative sum is an amount to recover from the person (deduct it from later pay, or settle it as the
company does), never a payment: no line is ever turned positive or dropped to make the sum zero. ``deal_id``
names the deal a commission line pays or a clawback takes back, ``event`` what happened to it (cancelled,
refunded, churned, reinstated).
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import psycopg

from domain.money import in_minor_unit
from domain.text import tr
from services.csv_text import csv_text
from services.db import libpq_url
from services.errors import NotFound, UserError

# Stable machine headers, in English whatever the reader's language: payroll systems import this file by
# column name, and a header that changed with the language of whoever downloaded it would break the import.
CSV_COLUMNS = [
    "employee_id", "employee_name", "amount", "currency", "line_type", "idempotency_key",
    "period", "plan_id", "plan_version", "revision", "explanation", "deal_id", "event",
]


def format_amount(amount: Decimal, currency: str) -> str:
    """Amounts are stored exactly; payroll gets them in the currency's minor unit (JPY 0, CNY 2, KWD 3)."""
    return str(in_minor_unit(amount, currency))


def export_payroll_csv(database_url: str, cycle_id: str, out: Path) -> int:
    """Write the cycle's locked lines; refuse while they are not approved (payroll never sees drafts)."""
    with psycopg.connect(libpq_url(database_url)) as conn:
        row = conn.execute("SELECT status FROM review_cycle WHERE id = %s", (cycle_id,)).fetchone()
        if row is None:
            raise NotFound(tr("cycle %(cycle)s does not exist", cycle=cycle_id))
        rows = conn.execute(
            """SELECT p.employee_id, e.name, p.amount, p.currency, p.line_type, p.idempotency_key, p.period,
                      p.plan_id, p.plan_version, p.revision, p.explanation, p.inputs ->> 'deal_id',
                      p.inputs ->> 'event'
               FROM payout_line p JOIN employee e ON e.id = p.employee_id
               WHERE p.cycle_id = %s AND p.status = 'locked'
               ORDER BY p.employee_id, p.line_type, p.revision""",
            (cycle_id,),
        ).fetchall()
    if not rows:
        raise UserError(tr("cycle %(cycle)s has no approved payout lines yet (status: %(status)s); "
                           "payroll can export only after `kamreview payouts approve`", cycle=cycle_id, status=row[0]))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".tmp")
    with tmp.open("w", newline="", encoding="utf-8") as fh:
        fh.write(csv_text(CSV_COLUMNS, ((*r[:2], format_amount(r[2], r[3]), *r[3:]) for r in rows)))
    tmp.replace(out)  # never leave a half-written file where payroll looks
    return len(rows)
