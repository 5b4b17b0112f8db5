"""A person's inbox of tasks, apart from the rest of the people's read side (services.people re-exports it).

`kamreview tasks` needs only this query; services.people imports the whole scoring domain (pydantic models of
the cycle configuration), which a read command should not pay for.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from psycopg import AsyncConnection


@dataclass
class TaskRow:
    task_id: str
    cycle_id: str
    cycle_name: str
    kind: str
    subject_employee_id: str
    subject_name: str
    due_at: datetime
    status: str
    overdue: bool
    completed_at: datetime | None


async def tasks_of(conn: AsyncConnection, assignee_id: str, kind: str | None = None,
                   include_done: bool = False) -> list[TaskRow]:
    """A person's inbox: open tasks (and optionally finished ones), soonest due first.

    With a kind, the tasks of that kind an employee holds (the pages); without, every task of the
    assignee, employee or customer contact alike (the CLI's ``tasks``).
    """
    cur = await conn.execute(
        """SELECT t.id, t.cycle_id, c.name, t.kind, t.subject_employee_id, e.name, t.due_at, t.status,
                  t.status = 'open' AND t.due_at < now(), t.completed_at
           FROM task t JOIN employee e ON e.id = t.subject_employee_id JOIN review_cycle c ON c.id = t.cycle_id
           WHERE t.assignee_id = %(who)s AND (%(done)s OR t.status = 'open')
             AND (%(kind)s::text IS NULL OR (t.assignee_type = 'employee' AND t.kind = %(kind)s))
           ORDER BY t.status <> 'open', t.due_at, t.id LIMIT 500""",
        {"who": assignee_id, "kind": kind, "done": include_done},
    )
    return [TaskRow(*r) for r in await cur.fetchall()]


async def form_tasks(conn: AsyncConnection, assignee_id: str) -> list[tuple[TaskRow, str]]:
    """A person's open tasks in the phases defined only in the registry (their generic form), each with its page.

    The first phases have inbox sections of their own; a phase added later shows up here without a change to a page.
    """
    from domain.phases import PHASE_BY_KEY, link_for  # the registry at call time (a test may add a phase)

    kinds = sorted(k for k, d in PHASE_BY_KEY.items() if d.update == "submit_task")
    if not kinds:
        return []
    cur = await conn.execute(
        """SELECT t.id, t.cycle_id, c.name, t.kind, t.subject_employee_id, e.name, t.due_at, t.status,
                  t.due_at < now(), t.completed_at
           FROM task t JOIN employee e ON e.id = t.subject_employee_id JOIN review_cycle c ON c.id = t.cycle_id
           WHERE t.assignee_id = %s AND t.assignee_type = 'employee' AND t.status = 'open' AND t.kind = ANY(%s)
           ORDER BY t.due_at, t.id LIMIT 500""", (assignee_id, kinds))
    rows = [TaskRow(*r) for r in await cur.fetchall()]
    return [(t, link_for(t.kind, t.cycle_id, t.subject_employee_id)) for t in rows]
