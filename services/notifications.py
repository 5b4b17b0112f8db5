"""What was sent to whom, and resending one message: HR's view of the outbox.

Delivery itself is the delivery workflow's (``workflows/delivery.py``); here HR reads the outcome per
person and channel and can put one message back into delivery, as its own batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from temporalio.client import Client

from activities.base import AUDIT_ROW, audit_params
from activities.outbox import start_delivery
from domain.text import tr
from services.db import Database, as_database
from services.errors import Conflict, NotFound

STATUSES = ("queued", "claimed", "sending", "sent", "retry", "failed", "uncertain")
IN_FLIGHT = ("queued", "claimed", "sending", "retry")


@dataclass
class Delivery:
    id: str
    kind: str
    recipient_type: str
    recipient_id: str
    recipient_name: str | None
    channel: str
    address: str | None
    status: str
    attempts: int
    last_error: str | None  # in English, or the server's reply as it came
    last_error_text: dict[str, Any] | None  # our own reason as a message id and parameters (the pages translate it)
    created_at: datetime
    sent_at: datetime | None


async def deliveries(db: Database | str, cycle_id: str, status: str | None = None, limit: int = 500) -> list[Delivery]:
    """A cycle's messages, newest first; with a status, only those (e.g. ``failed``)."""
    async with as_database(db).connection() as conn:
        if await (await conn.execute("SELECT 1 FROM review_cycle WHERE id = %s", (cycle_id,))).fetchone() is None:
            raise NotFound(tr("cycle %(cycle)s does not exist", cycle=cycle_id))
        rows = await (await conn.execute(
            """SELECT n.id, n.kind, n.recipient_type, n.recipient_id, COALESCE(e.name, c.name), n.channel, n.address,
                      n.status, n.attempts, n.last_error, n.last_error_text, n.created_at, n.sent_at
               FROM notification n
               LEFT JOIN employee e ON n.recipient_type = 'employee' AND e.id = n.recipient_id
               LEFT JOIN customer_contact c ON n.recipient_type = 'contact' AND c.id = n.recipient_id
               WHERE n.cycle_id = %s AND (%s::text IS NULL OR n.status = %s)
               ORDER BY n.created_at DESC, n.id LIMIT %s""",
            (cycle_id, status, status, limit),
        )).fetchall()
    return [Delivery(*r) for r in rows]


async def delivery_counts(db: Database | str, cycle_id: str) -> dict[str, dict[str, int]]:
    """Per kind of message: how many are in each status (the dashboard's and the demo's summary)."""
    async with as_database(db).connection() as conn:
        rows = await (await conn.execute(
            "SELECT kind, status, count(*) FROM notification WHERE cycle_id = %s GROUP BY 1, 2 ORDER BY 1, 2",
            (cycle_id,))).fetchall()
    out: dict[str, dict[str, int]] = {}
    for kind, status, n in rows:
        out.setdefault(kind, {})[status] = n
    return out


async def resend(client: Client, db: Database | str, task_queue: str, notification_id: str, actor: str) -> str:
    """Put one message back into delivery (failed, uncertain, or sent and not received); once per request."""
    async with as_database(db).connection() as conn, conn.transaction():
        row = await (await conn.execute(
            """SELECT status, (SELECT count(*) FROM audit_log WHERE action = 'notification.resent' AND entity_id = %s)
               FROM notification WHERE id = %s FOR UPDATE""", (notification_id, notification_id))).fetchone()
        if row is None:
            raise NotFound(tr("there is no message %(message)s", message=str(notification_id)))
        status, earlier = row
        if status in IN_FLIGHT:
            raise Conflict(tr("message %(message)s is being delivered (%(status)s); it cannot be resent now",
                              message=str(notification_id), status=status))
        batch = f"resend:{notification_id}:{earlier + 1}"
        await conn.execute(
            """UPDATE notification SET status = 'queued', batch = %s, next_attempt_at = NULL, last_error = NULL, last_error_text = NULL,
                      attempts = 0 WHERE id = %s""", (batch, notification_id))
        await conn.execute(AUDIT_ROW, audit_params(
            f"notification.resent:{batch}", actor, "notification.resent", "notification", notification_id,
            {"status": status}, {"status": "queued", "batch": batch}))
    await start_delivery(client, task_queue, batch)
    return batch
