"""After results are released: the manager's results conversation, the KAM's acknowledgment or disagreement.

Plain audited data in PostgreSQL, not a workflow step: results are released once calibration is final, and the
cycle workflow may already have completed by then (it completes when payroll approves), so there is nothing left
to send an Update to; nothing here changes a score, a rating or a payout either. One row per review in
``results_acknowledgment``; every change writes an audit row (docs/reopen-and-sign-off.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal
from zoneinfo import ZoneInfo

from psycopg import AsyncConnection

from activities.base import AUDIT_ROW, audit_params
from domain.text import tr
from services.errors import Conflict, Forbidden, NotFound, Rejected

Response = Literal["acknowledged", "disagreed"]
MAX_COMMENT = 2000


@dataclass
class SignOff:
    """One review's sign-off as the KAM, the manager and HR see it."""

    cycle_id: str
    employee_id: str
    employee_name: str
    reviewer_id: str | None
    reviewer_name: str | None
    timezone: str
    released_at: datetime | None
    conversation_on: date | None = None
    conversation_by: str | None = None
    response: str | None = None
    comment: str | None = None
    responded_at: datetime | None = None


@dataclass
class SignOffProgress:
    """The cycle's sign-off at a glance, for HR: counts and the disagreements to follow up."""

    cycle_id: str
    released_at: datetime | None
    total: int
    conversation_held: int
    acknowledged: int
    disagreed: int
    pending: int  # no answer from the KAM yet
    disagreements: list[SignOff]


_READ = """SELECT r.cycle_id, r.employee_id, e.name, r.reviewer_id, m.name, c.timezone, c.results_released_at,
                  a.conversation_on, a.conversation_by, a.response, a.comment, a.responded_at
           FROM review r JOIN review_cycle c ON c.id = r.cycle_id JOIN employee e ON e.id = r.employee_id
           LEFT JOIN employee m ON m.id = r.reviewer_id LEFT JOIN results_acknowledgment a ON a.review_id = r.id"""


async def sign_off(conn: AsyncConnection, cycle_id: str, employee_id: str) -> SignOff:
    row = await (await conn.execute(f"{_READ} WHERE r.cycle_id = %s AND r.employee_id = %s",
                                    (cycle_id, employee_id))).fetchone()
    if row is None:
        raise NotFound(tr("no review for %(employee)s in cycle %(cycle)s", employee=employee_id, cycle=cycle_id))
    return SignOff(*row)


def _released(s: SignOff) -> None:
    if s.released_at is None:
        raise Conflict(tr("HR has not released the results of cycle %(cycle)s yet", cycle=s.cycle_id))


async def _write(conn: AsyncConnection, s: SignOff, actor: str, action: str, key: str, sql: str, params: dict,
                 before: dict, after: dict) -> None:
    async with conn.transaction():
        await conn.execute(
            """INSERT INTO results_acknowledgment (review_id, cycle_id) VALUES (%(review)s, %(cycle)s)
               ON CONFLICT (review_id) DO NOTHING""", params)
        await conn.execute(sql, params)
        await conn.execute(AUDIT_ROW, audit_params(key, actor, action, "review", params["review"], before, after))


async def mark_conversation(conn: AsyncConnection, cycle_id: str, employee_id: str, actor_employee_id: str,
                            held_on: date) -> SignOff:
    """The reviewer says the results conversation was held on ``held_on`` (a correction of the date is audited)."""
    s = await sign_off(conn, cycle_id, employee_id)
    if not actor_employee_id or actor_employee_id != s.reviewer_id:
        raise Forbidden(tr("only the reviewer of %(employee)s can record the results conversation",
                           employee=s.employee_name))
    _released(s)
    zone = ZoneInfo(s.timezone)
    assert s.released_at is not None
    today, released_on = datetime.now(zone).date(), s.released_at.astimezone(zone).date()
    if held_on > today:
        raise Rejected(tr("the conversation date %(day)s is in the future", day=held_on.isoformat()))
    if held_on < released_on:
        raise Rejected(tr("the conversation date %(day)s is before the results were released (%(released)s)",
                          day=held_on.isoformat(), released=released_on.isoformat()))
    if s.conversation_on == held_on:
        return s  # said already: nothing changes
    params = {"review": f"{cycle_id}:{employee_id}", "cycle": cycle_id, "on": held_on, "by": actor_employee_id}
    await _write(conn, s, actor_employee_id, "results.conversation_held", f"results.conversation:{params['review']}:{held_on}",
                 """UPDATE results_acknowledgment SET conversation_on = %(on)s, conversation_by = %(by)s,
                                                     conversation_marked_at = now() WHERE review_id = %(review)s""",
                 params, {"conversation_on": s.conversation_on}, {"conversation_on": held_on})
    return await sign_off(conn, cycle_id, employee_id)


async def respond(conn: AsyncConnection, cycle_id: str, employee_id: str, response: str,
                  comment: str | None = None) -> SignOff:
    """The KAM acknowledges their results (a comment is optional) or records a disagreement (a comment is needed).

    Given once: a second, different answer is refused (HR follows a disagreement up outside the tool), so what HR
    counts never changes under them; the same answer again is a repeat and changes nothing.
    """
    if response not in ("acknowledged", "disagreed"):
        raise Rejected(tr("the answer must be acknowledged or disagreed, not %(value)s", value=repr(response)))
    text = (comment or "").strip() or None
    if response == "disagreed" and not text:
        raise Rejected(tr("a disagreement needs a comment saying what you disagree with"))
    if text and len(text) > MAX_COMMENT:
        raise Rejected(tr("the comment is longer than %(limit)s characters", limit=MAX_COMMENT))
    s = await sign_off(conn, cycle_id, employee_id)
    _released(s)
    if s.response is not None:
        if s.response == response and (s.comment or None) == text:
            return s
        assert s.responded_at is not None
        at = s.responded_at.astimezone(ZoneInfo(s.timezone))
        if s.response == "acknowledged":
            raise Conflict(tr("you already acknowledged these results on %(at)s", at=at))
        raise Conflict(tr("you already recorded a disagreement with these results on %(at)s", at=at))
    params = {"review": f"{cycle_id}:{employee_id}", "cycle": cycle_id, "response": response, "comment": text}
    await _write(conn, s, employee_id, f"results.{response}", f"results.response:{params['review']}",
                 """UPDATE results_acknowledgment SET response = %(response)s, comment = %(comment)s, responded_at = now()
                    WHERE review_id = %(review)s AND response IS NULL""",
                 params, {"response": None}, {"response": response, "comment": text})
    return await sign_off(conn, cycle_id, employee_id)


async def team_sign_offs(conn: AsyncConnection, cycle_id: str, reviewer_id: str) -> list[SignOff]:
    """The reviews this manager scored in the cycle, for their results conversations."""
    rows = await (await conn.execute(f"{_READ} WHERE r.cycle_id = %s AND r.reviewer_id = %s ORDER BY e.name, r.employee_id",
                                     (cycle_id, reviewer_id))).fetchall()
    return [SignOff(*r) for r in rows]


async def progress(conn: AsyncConnection, cycle_id: str) -> SignOffProgress:
    """Counts over the cycle's closed reviews, and every disagreement (oldest first)."""
    row = await (await conn.execute(
        """SELECT c.results_released_at, count(r.id), count(a.conversation_on),
                  count(*) FILTER (WHERE a.response = 'acknowledged'), count(*) FILTER (WHERE a.response = 'disagreed')
           FROM review_cycle c LEFT JOIN review r ON r.cycle_id = c.id AND r.status = 'closed'
           LEFT JOIN results_acknowledgment a ON a.review_id = r.id
           WHERE c.id = %s GROUP BY c.id""", (cycle_id,))).fetchone()
    if row is None:
        raise NotFound(tr("cycle %(cycle)s does not exist", cycle=cycle_id))
    released, total, held, acknowledged, disagreed = row
    rows = await (await conn.execute(
        f"{_READ} WHERE r.cycle_id = %s AND a.response = 'disagreed' ORDER BY a.responded_at, r.employee_id",
        (cycle_id,))).fetchall()
    return SignOffProgress(cycle_id, released, total, held, acknowledged, disagreed,
                           total - acknowledged - disagreed, [SignOff(*r) for r in rows])


async def conversations_due(conn: AsyncConnection, reviewer_id: str) -> list[tuple[str, str, int]]:
    """(cycle id, name, conversations not yet recorded) of released cycles where this manager scored someone."""
    rows = await (await conn.execute(
        """SELECT c.id, c.name, count(*) FILTER (WHERE a.conversation_on IS NULL)
           FROM review r JOIN review_cycle c ON c.id = r.cycle_id
           LEFT JOIN results_acknowledgment a ON a.review_id = r.id
           WHERE r.reviewer_id = %s AND c.results_released_at IS NOT NULL AND r.status = 'closed'
           GROUP BY c.id, c.name, c.results_released_at ORDER BY c.results_released_at DESC LIMIT 10""",
        (reviewer_id,))).fetchall()
    return [tuple(r) for r in rows]
