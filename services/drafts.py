"""Drafts: a self-review or a manager score (or any phase's task) saved part-way, resumed later, never submitted by
saving.

One draft per task (``task_draft``; the author's own task in a per-person phase, by the phase's definition), readable
only by the person who saved it. A draft is not a submission: the workflow never sees it, and the final submit still
goes through the review workflow's Update. The activities delete a task's draft when the task is submitted or closes;
until then reads also require the task to be open, so a draft of a closed task is never shown even if a save raced
the close.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from domain.text import tr
from services.errors import Conflict, NotFound
from workflows.payloads import MANAGER_SCORING, SELF_REVIEW, phase_task_id
from workflows.review_rules import phase_text


@dataclass
class Draft:
    body: dict[str, Any]
    saved_at: datetime


def _closed(kind: str, status: str) -> Conflict:
    if status == "done":
        return Conflict(tr("this was already submitted, so a draft can no longer be saved"))
    if kind == SELF_REVIEW:
        return Conflict(tr("the self-review is closed, so a draft can no longer be saved"))
    if kind == MANAGER_SCORING:
        return Conflict(tr("the scoring is closed, so a draft can no longer be saved"))
    return Conflict(tr("the %(phase)s is closed, so a draft can no longer be saved", phase=phase_text(kind)))


async def save_draft(conn: AsyncConnection, review_id: str, kind: str, author_id: str,
                     body: dict[str, Any]) -> Draft:
    """Save (or replace) the draft of an open task; refused once the task is submitted or closed."""
    task_id = phase_task_id(review_id, kind, author_id)
    row = await (await conn.execute(
        """INSERT INTO task_draft (task_id, author_id, body, saved_at)
           SELECT id, %(author)s, %(body)s, now() FROM task WHERE id = %(task)s AND status = 'open' FOR SHARE
           ON CONFLICT (task_id) DO UPDATE SET author_id = EXCLUDED.author_id, body = EXCLUDED.body,
                                               saved_at = EXCLUDED.saved_at
           RETURNING saved_at""",
        {"author": author_id, "body": Jsonb(body), "task": task_id},
    )).fetchone()
    if row is None:
        status = await (await conn.execute("SELECT status FROM task WHERE id = %s", (task_id,))).fetchone()
        if status is None:
            raise NotFound(tr("there is no such task"))
        raise _closed(kind, status[0])
    return Draft(body, row[0])


async def get_draft(conn: AsyncConnection, review_id: str, kind: str, author_id: str) -> Draft | None:
    """The author's draft of an open task, or None (someone else's draft is as good as none)."""
    row = await (await conn.execute(
        """SELECT d.body, d.saved_at FROM task_draft d JOIN task t ON t.id = d.task_id
           WHERE d.task_id = %s AND d.author_id = %s AND t.status = 'open'""",
        (phase_task_id(review_id, kind, author_id), author_id),
    )).fetchone()
    return Draft(row[0], row[1]) if row else None


async def discard_draft(conn: AsyncConnection, review_id: str, kind: str, author_id: str) -> bool:
    """Delete the author's draft; False when there was none (deleting twice is not an error)."""
    cur = await conn.execute("DELETE FROM task_draft WHERE task_id = %s AND author_id = %s",
                             (phase_task_id(review_id, kind, author_id), author_id))
    return cur.rowcount > 0


def no_draft() -> NotFound:
    return NotFound(tr("there is no saved draft"))
