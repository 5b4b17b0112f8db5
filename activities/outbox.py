"""Queueing messages in the outbox, in the same transaction as the change they tell people about.

A message is one ``notification`` row per person and channel: its kind and parameters (rendered at send
time, in the person's language and time zone), a natural key (a retried activity queues it once) and the
``batch`` that names the event that queued it. After the transaction commits, ``start_delivery`` starts
that batch's delivery workflow; its id is the batch, so a retry starts it once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from psycopg import AsyncCursor
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from activities.base import jsonb
from workflows.payloads import DeliveryInput, delivery_workflow_id


@dataclass
class Message:
    """One message for one recipient (an employee, a customer contact, or everyone holding a role)."""

    key: str  # natural key of what is told to whom, without the channel (e.g. reminder:<task>:<n>)
    kind: str
    recipient_type: str  # employee | contact | role
    recipient_id: str
    params: dict[str, Any] = field(default_factory=dict)
    channel: str | None = None  # only this channel (a set-password link goes by e-mail, never to a group chat)


async def queue(cur: AsyncCursor, cycle_id: str | None, batch: str, messages: Iterable[Message]) -> int:
    """Write the messages to the outbox, one row per person and channel; a retry writes none twice.

    Employees are reached on their channels (e-mail unless the org import says otherwise), contacts by
    e-mail; a role is everyone who holds it. Returns how many rows are new.
    """
    rows = [(m.key, m.kind, m.recipient_type, m.recipient_id, jsonb(m.params), m.channel) for m in messages]
    if not rows:
        return 0
    # An employee by id and a role's holders are two joins: one join on "this id or this role" could only compare
    # every message with every employee (a 10,000-person cycle's announcement: 100 million comparisons, 10 s).
    await cur.execute(
        """WITH wanted (key, kind, rtype, rid, params, forced) AS (
               SELECT * FROM unnest(%(keys)s::text[], %(kinds)s::text[], %(types)s::text[], %(ids)s::text[],
                                    %(params)s::jsonb[], %(only)s::text[])),
           employees AS (
               SELECT w.key, w.kind, w.params, w.forced, e.id, e.channels
               FROM wanted w JOIN employee e ON w.rtype = 'employee' AND e.id = w.rid
               UNION ALL
               SELECT w.key, w.kind, w.params, w.forced, e.id, e.channels
               FROM wanted w JOIN employee e ON w.rtype = 'role' AND e.role = w.rid
                                             AND (e.termination_date IS NULL OR e.termination_date >= current_date)),
           people AS (
               SELECT p.key, p.kind, 'employee' AS rtype, p.id AS rid, p.params, ch AS channel
               FROM employees p
               CROSS JOIN LATERAL unnest(CASE WHEN p.forced IS NOT NULL THEN ARRAY[p.forced]
                                              WHEN cardinality(p.channels) > 0 THEN p.channels
                                              ELSE ARRAY['email'] END) AS ch
               UNION ALL
               SELECT w.key, w.kind, 'contact', c.id, w.params, 'email'
               FROM wanted w JOIN customer_contact c ON w.rtype = 'contact' AND c.id = w.rid)
           INSERT INTO notification (id, recipient_type, recipient_id, kind, subject, body, cycle_id, batch, channel,
                                     params, status)
           SELECT key || ':' || rid || ':' || channel, rtype, rid, kind, '', '', %(cycle)s, %(batch)s, channel,
                  params, 'queued'
           FROM people
           ON CONFLICT (id) DO NOTHING""",
        {"keys": [r[0] for r in rows], "kinds": [r[1] for r in rows], "types": [r[2] for r in rows],
         "ids": [r[3] for r in rows], "params": [r[4] for r in rows], "only": [r[5] for r in rows], "cycle": cycle_id,
         "batch": batch},
    )
    return cur.rowcount


async def start_delivery(client: Client, task_queue: str, batch: str) -> None:
    """Start the delivery of a batch of queued messages (once: its workflow id is the batch)."""
    from workflows.delivery import DeliveryWorkflow  # here: the workflow module imports the activities

    try:
        await client.start_workflow(
            DeliveryWorkflow.run, DeliveryInput(batch), id=delivery_workflow_id(batch), task_queue=task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
    except WorkflowAlreadyStartedError:
        pass  # delivered (or delivering) already
