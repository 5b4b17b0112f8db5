"""Goals (OKRs) as data: a KAM's objectives and key results per period, the manager's approval, check-ins.

Who may do what is decided here, once, for the CLI, the pages and the API alike: the KAM and their direct
line manager draft; the KAM (or the manager) submits; only the manager approves or returns, with a comment;
check-ins are added by the KAM, the key result's owner or the manager once the goals are approved, and are
never overwritten. Every write leaves one audit row through the one audit writer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from psycopg import AsyncConnection

from activities.base import AUDIT_ROW, audit_params
from domain.cycle import period_label
from domain.goals import (
    DEFAULT_CAP,
    CheckInIn,
    GoalsAttainment,
    KeyResultIn,
    KeyResultProgress,
    ObjectiveIn,
    ObjectiveProgress,
    goals_attainment,
)
from domain.inputs import id_problem
from domain.text import tr
from services.errors import Conflict, Forbidden, NotFound, Rejected

EDITABLE = ("draft", "returned")
MAX_OBJECTIVES = 20
MAX_KEY_RESULTS = 20
MAX_PERIOD = 40


@dataclass
class CheckIn:
    value: Decimal
    comment: str | None
    author_id: str
    author_name: str | None
    at: datetime


@dataclass
class KeyResult:
    id: int
    metric: str
    unit: str
    start_value: Decimal
    target_value: Decimal
    due_date: date
    owner_id: str
    owner_name: str | None
    weight: Decimal
    kpi_id: str | None
    current: Decimal | None = None  # the linked KPI actual, else the latest check-in
    source: str = "no progress yet"  # "kpi", "check-in" or "no progress yet"
    attainment: Decimal | None = None
    check_ins: list[CheckIn] = field(default_factory=list)  # newest first


@dataclass
class Objective:
    id: int
    title: str
    weight: Decimal
    key_results: list[KeyResult] = field(default_factory=list)
    attainment: Decimal | None = None


@dataclass
class GoalPlan:
    """One KAM's goals for one period; ``id`` is None while nothing has been drafted."""

    employee_id: str
    employee_name: str
    manager_id: str | None
    period: str
    id: int | None = None
    status: str = "draft"
    comment: str | None = None
    submitted_at: datetime | None = None
    decided_by: str | None = None
    decided_at: datetime | None = None
    objectives: list[Objective] = field(default_factory=list)
    attainment: Decimal | None = None
    explanation: str | None = None

    @property
    def editable(self) -> bool:
        return self.status in EDITABLE


@dataclass
class TeamRow:
    employee_id: str
    employee_name: str
    status: str | None  # None: nothing drafted yet
    objectives: int
    key_results: int
    attainment: Decimal | None
    last_check_in: datetime | None


def current_period(today: date | None = None) -> str:
    """This quarter's label (2026-Q4), the period the goal pages open at when none is asked for."""
    today = today or datetime.now(UTC).date()
    return period_label("quarterly", date(today.year, (today.month - 1) // 3 * 3 + 1, 1))


def check_period(period: str) -> str:
    period = (period or "").strip()
    if not period or len(period) > MAX_PERIOD or "\x00" in period:
        raise Rejected(tr("period: give the period label, e.g. 2026-Q3 (at most %(n)s characters)", n=MAX_PERIOD))
    return period


async def _person(conn: AsyncConnection, employee_id: str) -> tuple[str, str | None]:
    if id_problem(employee_id) is not None:
        raise NotFound(tr("there is no employee %(employee)s", employee=employee_id))
    row = await (await conn.execute("SELECT name, manager_id FROM employee WHERE id = %s", (employee_id,))).fetchone()
    if row is None:
        raise NotFound(tr("there is no employee %(employee)s", employee=employee_id))
    return row[0], row[1]


async def _may_see(conn: AsyncConnection, actor_id: str, employee_id: str) -> tuple[str, str | None]:
    """The KAM and their direct manager see (and draft) the goals; anyone else is told there are none."""
    name, manager = await _person(conn, employee_id)
    if actor_id not in (employee_id, manager):
        raise NotFound(tr("there is no employee %(employee)s among your reports", employee=employee_id))
    return name, manager


async def goal_plan(conn: AsyncConnection, actor_id: str, employee_id: str, period: str,
                    cap: Decimal = DEFAULT_CAP) -> GoalPlan:
    """The goals with their progress (linked KPI actual, else the latest check-in) and attainment."""
    period = check_period(period)
    name, manager = await _may_see(conn, actor_id, employee_id)
    return await load_plan(conn, employee_id, name, manager, period, cap)


async def load_plan(conn: AsyncConnection, employee_id: str, name: str, manager: str | None, period: str,
                    cap: Decimal = DEFAULT_CAP) -> GoalPlan:
    plan = GoalPlan(employee_id, name, manager, period)
    row = await (await conn.execute(
        """SELECT id, status, comment, submitted_at, decided_by, decided_at FROM goal_plan
           WHERE employee_id = %s AND period = %s""", (employee_id, period))).fetchone()
    if row is None:
        return plan
    plan.id, plan.status, plan.comment, plan.submitted_at, plan.decided_by, plan.decided_at = row
    objectives: dict[int, Objective] = {}
    for oid, title, weight in await (await conn.execute(
            "SELECT id, title, weight FROM goal_objective WHERE plan_id = %s ORDER BY id", (plan.id,))).fetchall():
        objectives[oid] = Objective(oid, title, weight)
    krs: dict[int, KeyResult] = {}
    for r in await (await conn.execute(
            """SELECT k.id, k.objective_id, k.metric, k.unit, k.start_value, k.target_value, k.due_date, k.owner_id,
                      e.name, k.weight, k.kpi_id, a.value
               FROM goal_key_result k JOIN goal_objective o ON o.id = k.objective_id
               LEFT JOIN employee e ON e.id = k.owner_id
               LEFT JOIN kpi_actual a ON a.employee_id = %s AND a.period = %s AND a.kpi_id = k.kpi_id
               WHERE o.plan_id = %s ORDER BY k.id""", (employee_id, period, plan.id))).fetchall():
        kr = KeyResult(r[0], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10])
        if r[11] is not None:
            kr.current, kr.source = r[11], "kpi"
        krs[kr.id] = kr
        objectives[r[1]].key_results.append(kr)
    for kr_id, value, comment, author, author_name, at in await (await conn.execute(
            """SELECT c.key_result_id, c.value, c.comment, c.author_id, e.name, c.at FROM goal_check_in c
               LEFT JOIN employee e ON e.id = c.author_id
               WHERE c.key_result_id = ANY(%s) ORDER BY c.at DESC, c.id DESC""", (list(krs),))).fetchall():
        kr = krs[kr_id]
        kr.check_ins.append(CheckIn(value, comment, author, author_name, at))
        if kr.current is None:
            kr.current, kr.source = value, "check-in"
    plan.objectives = list(objectives.values())
    progress = progress_of(plan)
    if progress:
        result = goals_attainment(progress, cap)
        _fill_attainment(plan, result)
    return plan


def progress_of(plan: GoalPlan) -> list[ObjectiveProgress]:
    """The plan as the pure rule reads it (objectives without key results are left out)."""
    return [ObjectiveProgress(str(o.id), o.title, tuple(
        KeyResultProgress(str(k.id), k.metric, k.start_value, k.target_value, k.current, k.weight,
                          f"kpi {k.kpi_id}" if k.source == "kpi" else k.source)
        for k in o.key_results), o.weight) for o in plan.objectives if o.key_results]


def _fill_attainment(plan: GoalPlan, result: GoalsAttainment) -> None:
    plan.attainment, plan.explanation = result.attainment, result.explanation
    by_id = {o.id: o for o in result.objectives}
    for o in plan.objectives:
        found = by_id.get(str(o.id))
        if found is None:
            continue
        o.attainment = found.attainment
        kr_by_id = {k.id: k for k in found.key_results}
        for k in o.key_results:
            k.attainment = kr_by_id[str(k.id)].attainment


async def _plan_row(conn: AsyncConnection, employee_id: str, period: str) -> tuple[int, str] | None:
    return await (await conn.execute(
        "SELECT id, status FROM goal_plan WHERE employee_id = %s AND period = %s FOR UPDATE",
        (employee_id, period))).fetchone()


def _audit(key: str, actor: str, action: str, entity: str, before: Any = None, after: Any = None) -> dict:
    return audit_params(key, actor, action, "goal", entity, before, after)


async def _editable_plan(conn: AsyncConnection, actor_id: str, employee_id: str, period: str) -> int:
    """The plan to draft in (created on the first objective); refused once submitted or approved."""
    row = await _plan_row(conn, employee_id, period)
    if row is None:
        row = await (await conn.execute(
            """INSERT INTO goal_plan (employee_id, period, created_by) VALUES (%s, %s, %s)
               ON CONFLICT (employee_id, period) DO UPDATE SET period = EXCLUDED.period RETURNING id, status""",
            (employee_id, period, actor_id))).fetchone()
    plan_id, status = row
    if status not in EDITABLE:
        raise Conflict(tr("the goals for %(period)s are %(status)s and can no longer be changed",
                          period=period, status=status_word(status)))
    return plan_id


def status_word(status: str) -> Any:
    return {"draft": tr("a draft"), "submitted": tr("submitted for approval"), "approved": tr("approved"),
            "returned": tr("returned for changes")}.get(status, status)


async def add_objective(conn: AsyncConnection, actor_id: str, employee_id: str, period: str,
                        body: ObjectiveIn) -> int:
    period = check_period(period)
    await _may_see(conn, actor_id, employee_id)
    async with conn.transaction():
        plan_id = await _editable_plan(conn, actor_id, employee_id, period)
        count = (await (await conn.execute("SELECT count(*) FROM goal_objective WHERE plan_id = %s",
                                           (plan_id,))).fetchone())[0]
        if count >= MAX_OBJECTIVES:
            raise Rejected(tr("at most %(n)s objectives per period; a shorter list is easier to focus on",
                              n=MAX_OBJECTIVES))
        oid = (await (await conn.execute(
            "INSERT INTO goal_objective (plan_id, title, weight, created_by) VALUES (%s, %s, %s, %s) RETURNING id",
            (plan_id, body.title, body.weight, actor_id))).fetchone())[0]
        await conn.execute(AUDIT_ROW, _audit(f"goal.objective_added:{oid}", actor_id, "goal.objective_added",
                                             f"{employee_id}:{period}", after={"objective": oid, **body.model_dump(mode="json")}))
    return oid


async def _objective(conn: AsyncConnection, actor_id: str, objective_id: int) -> tuple[str, str, int]:
    """(employee, period, plan id) of an objective the actor may edit; locked for the change."""
    row = await (await conn.execute(
        """SELECT p.employee_id, p.period, p.id FROM goal_objective o JOIN goal_plan p ON p.id = o.plan_id
           WHERE o.id = %s""", (objective_id,))).fetchone()
    if row is None:
        raise NotFound(tr("there is no objective %(id)s", id=objective_id))
    await _may_see_objective(conn, actor_id, row[0], objective_id)
    await _editable_plan(conn, actor_id, row[0], row[1])
    return row


async def _may_see_objective(conn: AsyncConnection, actor_id: str, employee_id: str, objective_id: int) -> None:
    try:
        await _may_see(conn, actor_id, employee_id)
    except NotFound:
        raise NotFound(tr("there is no objective %(id)s", id=objective_id)) from None


async def remove_objective(conn: AsyncConnection, actor_id: str, objective_id: int) -> None:
    async with conn.transaction():
        employee_id, period, _ = await _objective(conn, actor_id, objective_id)
        await conn.execute("DELETE FROM goal_objective WHERE id = %s", (objective_id,))
        await conn.execute(AUDIT_ROW, _audit(f"goal.objective_removed:{objective_id}", actor_id,
                                             "goal.objective_removed", f"{employee_id}:{period}",
                                             before={"objective": objective_id}))


async def add_key_result(conn: AsyncConnection, actor_id: str, objective_id: int, body: KeyResultIn) -> int:
    async with conn.transaction():
        employee_id, period, _ = await _objective(conn, actor_id, objective_id)
        owner = body.owner_id or employee_id
        if (await (await conn.execute("SELECT 1 FROM employee WHERE id = %s", (owner,))).fetchone()) is None:
            raise Rejected(tr("owner_id: there is no employee %(employee)s", employee=owner))
        count = (await (await conn.execute("SELECT count(*) FROM goal_key_result WHERE objective_id = %s",
                                           (objective_id,))).fetchone())[0]
        if count >= MAX_KEY_RESULTS:
            raise Rejected(tr("at most %(n)s key results per objective", n=MAX_KEY_RESULTS))
        kid = (await (await conn.execute(
            """INSERT INTO goal_key_result (objective_id, metric, unit, start_value, target_value, due_date, owner_id,
                                            weight, kpi_id, created_by)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id""",
            (objective_id, body.metric, body.unit, body.start_value, body.target_value, body.due_date, owner,
             body.weight, body.kpi_id, actor_id))).fetchone())[0]
        await conn.execute(AUDIT_ROW, _audit(f"goal.key_result_added:{kid}", actor_id, "goal.key_result_added",
                                             f"{employee_id}:{period}",
                                             after={"key_result": kid, "objective": objective_id,
                                                    **body.model_dump(mode="json"), "owner_id": owner}))
    return kid


async def remove_key_result(conn: AsyncConnection, actor_id: str, key_result_id: int) -> None:
    async with conn.transaction():
        row = await (await conn.execute("SELECT objective_id FROM goal_key_result WHERE id = %s",
                                        (key_result_id,))).fetchone()
        if row is None:
            raise NotFound(tr("there is no key result %(id)s", id=key_result_id))
        try:
            employee_id, period, _ = await _objective(conn, actor_id, row[0])
        except NotFound:
            raise NotFound(tr("there is no key result %(id)s", id=key_result_id)) from None
        await conn.execute("DELETE FROM goal_key_result WHERE id = %s", (key_result_id,))
        await conn.execute(AUDIT_ROW, _audit(f"goal.key_result_removed:{key_result_id}", actor_id,
                                             "goal.key_result_removed", f"{employee_id}:{period}",
                                             before={"key_result": key_result_id}))


async def _transition(conn: AsyncConnection, actor_id: str, employee_id: str, period: str, allowed_from: tuple[str, ...],
                      to: str, action: str, comment: str | None = None, manager_only: bool = False) -> GoalPlan:
    period = check_period(period)
    name, manager = await _may_see(conn, actor_id, employee_id)
    if manager_only and actor_id != manager:
        raise Forbidden(tr("only %(employee)s's manager approves or returns their goals", employee=name))
    now = datetime.now(UTC)
    async with conn.transaction():
        row = await _plan_row(conn, employee_id, period)
        if row is None:
            raise Conflict(tr("there are no goals for %(period)s yet; add an objective first", period=period))
        plan_id, status = row
        if status not in allowed_from:
            raise Conflict(tr("the goals for %(period)s are %(status)s", period=period, status=status_word(status)))
        if to == "submitted":
            empty = (await (await conn.execute(
                """SELECT count(*) FILTER (WHERE NOT EXISTS (SELECT FROM goal_key_result k WHERE k.objective_id = o.id)),
                          count(*) FROM goal_objective o WHERE o.plan_id = %s""", (plan_id,))).fetchone())
            if empty[1] == 0:
                raise Rejected(tr("add at least one objective before submitting"))
            if empty[0]:
                raise Rejected(tr("every objective needs at least one key result before submitting"))
            await conn.execute("UPDATE goal_plan SET status = %s, submitted_at = %s, comment = NULL WHERE id = %s",
                               (to, now, plan_id))
        else:
            await conn.execute("UPDATE goal_plan SET status = %s, decided_by = %s, decided_at = %s, comment = %s "
                               "WHERE id = %s", (to, actor_id, now, comment, plan_id))
        await conn.execute(AUDIT_ROW, _audit(f"{action}:{plan_id}:{now.isoformat()}", actor_id, action,
                                             f"{employee_id}:{period}", before={"status": status},
                                             after={"status": to, **({"comment": comment} if comment else {})}))
    return await load_plan(conn, employee_id, name, manager, period)


async def submit_goals(conn: AsyncConnection, actor_id: str, employee_id: str, period: str) -> GoalPlan:
    return await _transition(conn, actor_id, employee_id, period, EDITABLE, "submitted", "goal.submitted")


async def approve_goals(conn: AsyncConnection, actor_id: str, employee_id: str, period: str) -> GoalPlan:
    return await _transition(conn, actor_id, employee_id, period, ("submitted",), "approved", "goal.approved",
                             manager_only=True)


async def return_goals(conn: AsyncConnection, actor_id: str, employee_id: str, period: str, comment: str) -> GoalPlan:
    comment = (comment or "").strip()
    if not comment:
        raise Rejected(tr("comment: say what should change when returning goals"))
    return await _transition(conn, actor_id, employee_id, period, ("submitted", "approved"), "returned",
                             "goal.returned", comment=comment, manager_only=True)


async def check_in(conn: AsyncConnection, actor_id: str, key_result_id: int, body: CheckInIn) -> GoalPlan:
    """A new progress value (kept beside the earlier ones); only on approved goals."""
    row = await (await conn.execute(
        """SELECT p.employee_id, p.period, p.status, k.owner_id FROM goal_key_result k
           JOIN goal_objective o ON o.id = k.objective_id JOIN goal_plan p ON p.id = o.plan_id WHERE k.id = %s""",
        (key_result_id,))).fetchone()
    if row is None:
        raise NotFound(tr("there is no key result %(id)s", id=key_result_id))
    employee_id, period, status, owner = row
    if actor_id != owner:
        try:
            await _may_see(conn, actor_id, employee_id)
        except NotFound:
            raise NotFound(tr("there is no key result %(id)s", id=key_result_id)) from None
    if status != "approved":
        raise Conflict(tr("check-ins start once the manager has approved the goals (they are %(status)s)",
                          status=status_word(status)))
    async with conn.transaction():
        cid, at = await (await conn.execute(
            """INSERT INTO goal_check_in (key_result_id, value, comment, author_id) VALUES (%s, %s, %s, %s)
               RETURNING id, at""", (key_result_id, body.value, body.comment, actor_id))).fetchone()
        await conn.execute(AUDIT_ROW, _audit(f"goal.checked_in:{cid}", actor_id, "goal.checked_in",
                                             f"{employee_id}:{period}",
                                             after={"key_result": key_result_id, "value": body.value,
                                                    "comment": body.comment, "at": at}))
    name, manager = await _person(conn, employee_id)
    return await load_plan(conn, employee_id, name, manager, period)


async def team_goals(conn: AsyncConnection, manager_id: str, period: str) -> list[TeamRow]:
    """The manager's direct reports' goals for a period at a glance: status, size, attainment, last check-in."""
    period = check_period(period)
    rows: list[TeamRow] = []
    for emp_id, name in await (await conn.execute(
            "SELECT id, name FROM employee WHERE manager_id = %s AND role = 'kam' ORDER BY name, id",
            (manager_id,))).fetchall():
        plan = await load_plan(conn, emp_id, name, manager_id, period)
        krs = [k for o in plan.objectives for k in o.key_results]
        last = max((c.at for k in krs for c in k.check_ins), default=None)
        rows.append(TeamRow(emp_id, name, plan.status if plan.id is not None else None, len(plan.objectives),
                            len(krs), plan.attainment, last))
    return rows


@dataclass
class ReminderRun:
    batch: str
    people: int
    messages: int


async def queue_check_in_reminders(client: Any, db: Any, task_queue: str, period: str, quiet_days: int = 14,
                                   today: date | None = None) -> ReminderRun:
    """Remind each KAM whose approved key results for the period have had no check-in for ``quiet_days``.

    Key results already past their due date, and KPI-linked ones that have a figure, need no reminder. One message
    per KAM and day (its key names the day), so running it twice the same day sends nothing more.
    """
    from activities.outbox import Message, queue, start_delivery
    from services.db import as_database

    period = check_period(period)
    if not 1 <= quiet_days <= 366:
        raise Rejected(tr("quiet_days: give a number of days from 1 to 366"))
    today = today or datetime.now(UTC).date()
    async with as_database(db).connection() as conn:
        rows = await (await conn.execute(
            """SELECT p.employee_id, k.metric, k.unit FROM goal_plan p
               JOIN goal_objective o ON o.plan_id = p.id JOIN goal_key_result k ON k.objective_id = o.id
               LEFT JOIN kpi_actual a ON a.employee_id = p.employee_id AND a.period = p.period AND a.kpi_id = k.kpi_id
               WHERE p.period = %(period)s AND p.status = 'approved' AND k.due_date >= %(today)s AND a.value IS NULL
                 AND COALESCE((SELECT max(c.at) FROM goal_check_in c WHERE c.key_result_id = k.id), p.decided_at)
                     < %(today)s::date - %(quiet)s::int
               ORDER BY p.employee_id, o.id, k.id""",
            {"period": period, "today": today, "quiet": quiet_days})).fetchall()
        items: dict[str, list[str]] = {}
        for employee_id, metric, unit in rows:
            items.setdefault(employee_id, []).append(f"{metric} ({unit})")
        batch = f"goal-check-in:{period}:{today.isoformat()}"
        messages = [Message(f"{batch}:{emp}", "goal_check_in_due", "employee", emp,
                            {"period": period, "quiet_days": quiet_days, "items": names,
                             "link_path": f"/me/goals?period={period}"}) for emp, names in items.items()]
        async with conn.transaction(), conn.cursor() as cur:
            queued = await queue(cur, None, batch, messages)
    if queued:
        await start_delivery(client, task_queue, batch)
    return ReminderRun(batch, len(items), queued)
