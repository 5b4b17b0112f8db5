"""Who may approve payouts, and what the approver sees before approving.

Separation of duties: HR calibrates the ratings the money follows from, so by default only payroll
approves (releases) payouts; ``KAMREVIEW_HR_MAY_APPROVE_PAYOUTS`` lets HR approve too, for companies too
small to separate the two. The rule lives here and ``services.cycles.approve_payouts`` applies it, so the
API, the pages and the CLI obey the same rule.

"The previous cycle of the same plan" is the latest locked cycle whose frozen configuration has the same
incentive plan id (any version: a new version is the same plan, revised) and the same cadence (a quarter
is not compared with a year), and whose period ended before this one began.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from psycopg import AsyncConnection

from domain.sentences import payout_line_text
from domain.text import Text, tr
from services.errors import Forbidden, NotFound
from services.settings import get_settings

APPROVER = "payroll"


def payout_approvers(hr_may_approve: bool | None = None) -> frozenset[str]:
    """The roles that may approve payouts: payroll, and HR only where the setting allows it."""
    allowed = get_settings().hr_may_approve_payouts if hr_may_approve is None else hr_may_approve
    return frozenset({APPROVER, "hr"} if allowed else {APPROVER})


def may_approve_payouts(roles: Collection[str], hr_may_approve: bool | None = None) -> bool:
    return bool(set(roles) & payout_approvers(hr_may_approve))


def check_may_approve(actor: str, roles: Collection[str], hr_may_approve: bool | None = None) -> None:
    """Refuse (403 on the web, exit 2 on the CLI) anyone the rule does not allow, saying why."""
    if may_approve_payouts(roles, hr_may_approve):
        return
    if "hr" in roles:
        raise Forbidden(tr("payouts are approved by payroll, not by HR (separation of duties); an administrator "
                           "can let HR approve as well with KAMREVIEW_HR_MAY_APPROVE_PAYOUTS"))
    raise Forbidden(tr("%(who)s may not approve payouts: that needs the payroll role", who=actor))


async def actor_roles(conn: AsyncConnection, actor: str) -> frozenset[str]:
    """The roles of an actor named by id (the CLI's ``--actor``): its sign-in's roles, else the employee's
    role from the org import (``payroll``, ``hr``); nothing for an unknown name."""
    row = await (await conn.execute(
        "SELECT roles FROM web_user WHERE lower(username) = lower(%s) AND NOT disabled", (actor,))).fetchone()
    if row is not None:
        return frozenset(row[0])
    row = await (await conn.execute("SELECT role FROM employee WHERE id = %s", (actor,))).fetchone()
    return frozenset({row[0]} & {"hr", APPROVER}) if row is not None else frozenset()


@dataclass
class ApprovalLine:
    employee_id: str
    employee_name: str
    line_type: str
    amount: Decimal
    currency: str
    explanation: str
    revision: int
    inputs: dict[str, Any] | None = None
    text: Text | None = None  # the line as a sentence (domain.sentences); the explanation stays the exact figures


@dataclass
class PersonTotal:
    """One person's lines in one currency: what awaits approval, the cycle's total once approved (earlier
    locked lines plus these; the same for a first approval) and the change against the previous cycle."""

    employee_id: str
    employee_name: str
    currency: str
    lines: int
    amount: Decimal
    cycle_total: Decimal
    previous: Decimal | None  # None: no previous cycle, or not paid in it
    change: Decimal | None


@dataclass
class CurrencyTotal:
    currency: str
    lines: int
    amount: Decimal
    cycle_total: Decimal
    previous: Decimal | None
    change: Decimal | None


@dataclass
class PreviousCycle:
    cycle_id: str
    name: str
    period: str


@dataclass
class ApprovalView:
    cycle_id: str
    name: str
    period: str
    status: str
    timezone: str
    plan_id: str
    revision: int  # 0: the cycle's first approval; n: correction n's delta lines
    lines: list[ApprovalLine] = field(default_factory=list)
    people: list[PersonTotal] = field(default_factory=list)
    totals: list[CurrencyTotal] = field(default_factory=list)
    previous: PreviousCycle | None = None
    approved_by: str | None = None
    approved_at: datetime | None = None

    @property
    def awaiting(self) -> bool:
        return bool(self.lines)

    @property
    def people_count(self) -> int:
        return len({p.employee_id for p in self.people})


def _change(now: Decimal, before: Decimal | None) -> Decimal | None:
    return None if before is None else now - before


async def _sums(conn: AsyncConnection, cycle_id: str, status: str) -> dict[tuple[str, str], Decimal]:
    rows = await (await conn.execute(
        """SELECT employee_id, currency, sum(amount) FROM payout_line WHERE cycle_id = %s AND status = %s
           GROUP BY employee_id, currency""", (cycle_id, status))).fetchall()
    return {(emp, cur): Decimal(total) for emp, cur, total in rows}


async def previous_cycle(conn: AsyncConnection, cycle_id: str) -> PreviousCycle | None:
    """The latest locked cycle of the same incentive plan id and cadence that ended before this one began."""
    row = await (await conn.execute(
        """SELECT p.id, p.name, p.period_label FROM review_cycle c JOIN review_cycle p
             ON p.id <> c.id AND p.status = 'locked' AND p.cadence = c.cadence AND p.period_end < c.period_start
            AND p.config -> 'incentive_plan' ->> 'id' = c.config -> 'incentive_plan' ->> 'id'
           WHERE c.id = %s ORDER BY p.period_end DESC, p.locked_at DESC NULLS LAST, p.id DESC LIMIT 1""",
        (cycle_id,))).fetchone()
    return PreviousCycle(*row) if row else None


async def approval_view(conn: AsyncConnection, cycle_id: str) -> ApprovalView:
    """Every line awaiting approval with per-person and per-currency totals, against the previous cycle."""
    row = await (await conn.execute(
        """SELECT name, period_label, status, timezone, config -> 'incentive_plan' ->> 'id' FROM review_cycle
           WHERE id = %s""", (cycle_id,))).fetchone()
    if row is None:
        raise NotFound(tr("cycle %(cycle)s does not exist", cycle=cycle_id))
    name, period, status, zone, plan_id = row
    view = ApprovalView(cycle_id, name, period, status, zone, plan_id or "", 0)
    if status in ("awaiting_approval", "locked"):  # before that, lines may still be being computed
        view.lines = [ApprovalLine(*r) for r in await (await conn.execute(
            """SELECT p.employee_id, e.name, p.line_type, p.amount, p.currency, p.explanation, p.revision, p.inputs
               FROM payout_line p JOIN employee e ON e.id = p.employee_id
               WHERE p.cycle_id = %s AND p.status = 'computed'
               ORDER BY e.name, p.employee_id, p.currency, p.line_type, p.revision""", (cycle_id,))).fetchall()]
    approved = await (await conn.execute(
        """SELECT approved_by, locked_at FROM payout_line WHERE cycle_id = %s AND status = 'locked'
           ORDER BY locked_at DESC LIMIT 1""", (cycle_id,))).fetchone()
    if approved is not None:
        view.approved_by, view.approved_at = approved
    for ln in view.lines:
        ln.text = payout_line_text(ln.line_type, ln.amount, ln.currency, ln.inputs)
    if not view.lines:
        return view
    view.revision = max(ln.revision for ln in view.lines)
    view.previous = await previous_cycle(conn, cycle_id)
    locked = await _sums(conn, cycle_id, "locked")
    before = await _sums(conn, view.previous.cycle_id, "locked") if view.previous else {}
    people: dict[tuple[str, str], PersonTotal] = {}
    for ln in view.lines:
        key = (ln.employee_id, ln.currency)
        p = people.get(key)
        if p is None:
            p = people[key] = PersonTotal(ln.employee_id, ln.employee_name, ln.currency, 0, Decimal(0),
                                          locked.get(key, Decimal(0)), before.get(key), None)
        p.lines += 1
        p.amount += ln.amount
        p.cycle_total += ln.amount
    for p in people.values():
        p.change = _change(p.cycle_total, p.previous)
    view.people = list(people.values())
    currencies = sorted({cur for _, cur in people})
    for cur in currencies:
        mine = [p for p in view.people if p.currency == cur]
        cycle_total = sum((p.cycle_total for p in mine), Decimal(0)) + sum(
            (v for (emp, c), v in locked.items() if c == cur and (emp, c) not in people), Decimal(0))
        prev_values = [v for (_, c), v in before.items() if c == cur]
        prev = sum(prev_values, Decimal(0)) if view.previous and prev_values else None
        view.totals.append(CurrencyTotal(cur, sum(p.lines for p in mine), sum((p.amount for p in mine), Decimal(0)),
                                         cycle_total, prev, _change(cycle_total, prev)))
    return view


@dataclass
class AwaitingCycle:
    cycle_id: str
    name: str
    period: str
    lines: int
    people: int
    totals: dict[str, Decimal]  # currency -> total awaiting approval


async def cycles_awaiting_approval(conn: AsyncConnection) -> list[AwaitingCycle]:
    """Cycles with lines awaiting approval (a first approval, or a correction's delta lines), oldest first."""
    rows = await (await conn.execute(
        """SELECT c.id, c.name, c.period_label, p.currency, count(*), count(DISTINCT p.employee_id), sum(p.amount)
           FROM review_cycle c JOIN payout_line p ON p.cycle_id = c.id AND p.status = 'computed'
           WHERE c.status IN ('awaiting_approval', 'locked')
           GROUP BY c.id, c.name, c.period_label, p.currency ORDER BY min(p.created_at), c.id, p.currency""")).fetchall()
    out: dict[str, AwaitingCycle] = {}
    for cycle_id, name, period, currency, n, people, total in rows:
        c = out.setdefault(cycle_id, AwaitingCycle(cycle_id, name, period, 0, 0, {}))
        c.lines += n
        c.people = max(c.people, people)
        c.totals[currency] = Decimal(total)
    return list(out.values())
