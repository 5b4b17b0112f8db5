"""A cycle's audit log as HR reads it: who did what, to whom, when; filtered, paged, newest first.

The audit log names entities by id (the cycle, a review ``<cycle>:<employee>``, a task
``<cycle>:<employee>:<kind>[...]``, a calibrated rating by its review, a message by its own id); here
each row is tied back to its cycle and to the person it is about, and the actor's id to a name.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection

from domain.text import tr
from services.errors import NotFound, Rejected

MAX_PAGE = 200
MAX_EXPORT = 50_000


@dataclass(frozen=True)
class AuditFilter:
    event: str | None = None  # the action key, e.g. results.released
    actor: str | None = None  # who did it (user name, employee id or "system")
    person: str | None = None  # the employee the event is about
    since: datetime | None = None
    until: datetime | None = None

    def check(self) -> None:
        if self.since and self.until and self.until < self.since:
            raise Rejected(tr("the end of the time range is before its start"))


@dataclass
class AuditEntry:
    id: int
    occurred_at: datetime
    actor: str
    actor_name: str | None
    event: str
    subject_id: str | None
    subject_name: str | None
    entity_type: str
    entity_id: str
    before: dict | None
    after: dict | None


@dataclass
class AuditPage:
    total: int
    page: int
    size: int
    entries: list[AuditEntry]

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.size))


# Rows of one cycle, with the employee each is about. Review-like entities carry the cycle as the
# prefix of their id; messages are found through their own table.
_ROWS = """
    WITH rows AS (
        SELECT a.id, a.occurred_at, a.actor, a.action, a.entity_type, a.entity_id, a.before, a.after,
               COALESCE(r.employee_id, t.subject_employee_id,
                        CASE WHEN n.recipient_type = 'employee' THEN n.recipient_id END) AS subject_id
        FROM audit_log a
        LEFT JOIN review r ON a.entity_type IN ('review', 'calibrated_rating') AND r.id = a.entity_id
        LEFT JOIN task t ON a.entity_type = 'task' AND t.id = a.entity_id
        LEFT JOIN notification n ON a.entity_type = 'notification' AND n.id = a.entity_id
        WHERE (a.entity_type = 'review_cycle' AND a.entity_id = %(cycle)s)
           OR r.cycle_id = %(cycle)s OR t.cycle_id = %(cycle)s OR n.cycle_id = %(cycle)s
    )
    SELECT rows.*, COALESCE(w.display_name, ae.name, ac.name) AS actor_name, se.name AS subject_name,
           count(*) OVER () AS total
    FROM rows
    LEFT JOIN web_user w ON w.username = rows.actor
    LEFT JOIN employee ae ON ae.id = rows.actor
    LEFT JOIN customer_contact ac ON ac.id = rows.actor
    LEFT JOIN employee se ON se.id = rows.subject_id
    WHERE (%(event)s::text IS NULL OR rows.action = %(event)s)
      AND (%(actor)s::text IS NULL OR rows.actor = %(actor)s)
      AND (%(person)s::text IS NULL OR rows.subject_id = %(person)s)
      AND (%(since)s::timestamptz IS NULL OR rows.occurred_at >= %(since)s)
      AND (%(until)s::timestamptz IS NULL OR rows.occurred_at < %(until)s)
    ORDER BY rows.occurred_at DESC, rows.id DESC
    LIMIT %(limit)s OFFSET %(offset)s
"""


async def _cycle(conn: AsyncConnection, cycle_id: str) -> None:
    if await (await conn.execute("SELECT 1 FROM review_cycle WHERE id = %s", (cycle_id,))).fetchone() is None:
        raise NotFound(tr("cycle %(cycle)s does not exist", cycle=cycle_id))


async def audit_entries(conn: AsyncConnection, cycle_id: str, where: AuditFilter, page: int = 1,
                        size: int = 50) -> AuditPage:
    """One page of the cycle's audit log, newest first, with the filters applied."""
    where.check()
    await _cycle(conn, cycle_id)
    size = max(1, min(size, MAX_EXPORT))
    page = max(1, page)
    rows = await (await conn.execute(_ROWS, _params(cycle_id, where, size, (page - 1) * size))).fetchall()
    total = rows[0][-1] if rows else 0
    if not rows and page > 1:  # past the end: say how many there are, with an empty page
        (total,) = await (await conn.execute(
            f"SELECT count(*) FROM ({_ROWS}) x", _params(cycle_id, where, MAX_EXPORT, 0))).fetchone()
    entries = [AuditEntry(r[0], r[1], r[2], r[9], r[3], r[8], r[10], r[4], r[5], r[6], r[7]) for r in rows]
    return AuditPage(total, page, size, entries)


async def audit_people(conn: AsyncConnection, cycle_id: str) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(actors, participants) of a cycle as (id, name), for the page's filter choices."""
    actors = await (await conn.execute(
        f"SELECT DISTINCT ON (x.actor) x.actor, COALESCE(x.actor_name, x.actor) FROM ({_ROWS}) x ORDER BY x.actor",
        _params(cycle_id, AuditFilter(), MAX_EXPORT, 0))).fetchall()
    people = await (await conn.execute(
        """SELECT r.employee_id, e.name FROM review r JOIN employee e ON e.id = r.employee_id
           WHERE r.cycle_id = %s ORDER BY e.name, r.employee_id""", (cycle_id,))).fetchall()
    return [tuple(a) for a in actors], [tuple(p) for p in people]


def _params(cycle_id: str, where: AuditFilter, limit: int, offset: int) -> dict[str, Any]:
    return {"cycle": cycle_id, "event": where.event or None, "actor": where.actor or None,
            "person": where.person or None, "since": where.since, "until": where.until, "limit": limit,
            "offset": offset}


ACCOUNT_ACTIONS = ("account.invited", "account.disabled", "account.roles_changed", "account.reset_requested",
                   "account.password_set")


async def account_entries(conn: AsyncConnection, limit: int = 20) -> list[AuditEntry]:
    """The newest sign-in events (invitations, disabling, roles following the org, passwords set), for HR's People
    page: they belong to no cycle, so the cycle audit pages do not show them."""
    rows = await (await conn.execute(
        """SELECT a.id, a.occurred_at, a.actor, COALESCE(w.display_name, ae.name), a.action, u.employee_id, se.name,
                  a.entity_type, a.entity_id, a.before, a.after
           FROM audit_log a
           LEFT JOIN web_user w ON w.username = a.actor
           LEFT JOIN employee ae ON ae.id = a.actor
           LEFT JOIN web_user u ON u.username = a.entity_id
           LEFT JOIN employee se ON se.id = u.employee_id
           WHERE a.entity_type = 'web_user' AND a.action = ANY(%s)
           ORDER BY a.occurred_at DESC, a.id DESC LIMIT %s""", (list(ACCOUNT_ACTIONS), max(1, min(limit, MAX_PAGE))))
    ).fetchall()
    return [AuditEntry(*r) for r in rows]
