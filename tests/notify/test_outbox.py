"""The outbox: who a queued message reaches, on which channels, and that a retry queues nothing twice."""

from __future__ import annotations

import uuid

import psycopg

from activities.outbox import Message, queue
from tests.helpers import seed_org


def _rows(db_url: str, batch: str) -> set[tuple[str, str, str, str]]:
    with psycopg.connect(db_url) as conn:
        return set(conn.execute(
            "SELECT kind, recipient_type, recipient_id, channel FROM notification WHERE batch = %s", (batch,)).fetchall())


async def test_a_message_reaches_each_current_holder_of_a_role_the_employee_and_the_contact_on_their_channels(db_url):
    """A role is everyone holding it today (not a leaver), each on every channel they have (e-mail when none); an
    employee likewise unless the message names its channel; a contact by e-mail. Queued again, nothing is new."""
    org = seed_org(db_url, kams=2, managers=1, contacts_per_kam=1)
    with psycopg.connect(db_url) as conn:
        conn.execute("INSERT INTO employee (id, name, role, currency, timezone, termination_date) VALUES "
                     "('HR2', 'Hui HR', 'hr', 'CNY', 'Asia/Shanghai', NULL), "
                     "('HR3', 'Left HR', 'hr', 'CNY', 'Asia/Shanghai', current_date - 1), "
                     "('HR4', 'Leaving HR', 'hr', 'CNY', 'Asia/Shanghai', current_date)")
        conn.execute("UPDATE employee SET channels = ARRAY['email', 'wecom'] WHERE id IN ('HR2', 'K01')")
    contact = org["contacts"]["K01"][0]
    batch = f"outbox:{uuid.uuid4().hex[:6]}"
    messages = [
        Message("opened", "calibration_opened", "role", "hr"),
        Message("assigned:K01", "task_assigned", "employee", "K01"),
        Message("assigned:K02", "task_assigned", "employee", "K02"),
        Message("link:K01", "set_password", "employee", "K01", channel="email"),
        Message("invited:K01", "survey_invitation", "contact", contact),
        Message("nobody", "task_assigned", "employee", "K99"),  # no such employee: nobody to reach
    ]
    async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as conn, conn.cursor() as cur:
        assert await queue(cur, None, batch, messages) == 9
        assert await queue(cur, None, batch, messages) == 0
    assert _rows(db_url, batch) == {
        ("calibration_opened", "employee", "HR1", "email"),
        ("calibration_opened", "employee", "HR2", "email"),
        ("calibration_opened", "employee", "HR2", "wecom"),
        ("calibration_opened", "employee", "HR4", "email"),
        ("task_assigned", "employee", "K01", "email"),
        ("task_assigned", "employee", "K01", "wecom"),
        ("task_assigned", "employee", "K02", "email"),
        ("set_password", "employee", "K01", "email"),
        ("survey_invitation", "contact", contact, "email"),
    }
