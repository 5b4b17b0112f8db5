"""Signed links for customer surveys: one random token per survey invitation, single use, expiring.

Customers have no account: the link is the credential, so only the SHA-256 of its token is stored
and the raw link exists only in the e-mail that carries it (every message to a customer has its own,
made when it is sent) or in the answer to HR's request for a list of links. A link
opens exactly the invitation it was made for; using it claims it atomically, so a second use or a
race between two tabs answers at most once. The token travels in the URL fragment (``/survey#...``),
which browsers never send to servers, so it cannot appear in any access log.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from psycopg import AsyncConnection, errors

from activities.base import AUDIT_ROW, audit_params
from domain.text import tr
from services.errors import NotFound, UserError
from services.people import cycle_config
from services.users import new_token, token_hash

log = logging.getLogger("kamreview.survey")


class LinkUnusable(UserError):
    """The link was used, replaced, has expired, or its survey closed; the message says which."""


@dataclass
class IssuedLink:
    invitation_id: str
    contact_id: str
    contact_name: str
    contact_email: str | None
    account_name: str
    employee_id: str
    employee_name: str
    url: str
    expires_at: datetime


async def issue_links(conn: AsyncConnection, cycle_id: str, actor: str, base_url: str,
                      reissue: bool = False) -> list[IssuedLink]:
    """Links for the cycle's unanswered invitations. Without ``reissue`` an invitation that already
    has a usable link is skipped; with it, the old link is revoked and a new one made."""
    config = await cycle_config(conn, cycle_id)
    now = datetime.now(UTC)
    expires = now + config.survey_link_ttl
    async with conn.transaction():
        # A link that expired unused no longer counts as live.
        await conn.execute(
            """UPDATE survey_link l SET revoked_at = %s FROM survey_invitation i
               WHERE l.invitation_id = i.id AND i.cycle_id = %s AND l.used_at IS NULL AND l.revoked_at IS NULL
                 AND (l.expires_at <= %s OR %s)""",
            (now, cycle_id, now, reissue),
        )
        rows = await (await conn.execute(
            """SELECT i.id, c.id, c.name, c.email, a.name, r.employee_id, e.name
               FROM survey_invitation i
               JOIN task t ON t.id = i.id AND t.status = 'open'
               JOIN customer_contact c ON c.id = i.contact_id JOIN key_account a ON a.id = i.account_id
               JOIN review r ON r.id = i.review_id JOIN employee e ON e.id = r.employee_id
               WHERE i.cycle_id = %s AND i.status = 'sent'
                 AND NOT EXISTS (SELECT 1 FROM survey_link l WHERE l.invitation_id = i.id AND l.created_by <> 'delivery'
                                 AND l.used_at IS NULL AND l.revoked_at IS NULL)
               ORDER BY r.employee_id, i.id""",
            (cycle_id,),
        )).fetchall()
        issued, params = [], []
        for inv, contact, cname, email, account, emp, ename in rows:
            token = new_token()
            params.append((token_hash(token), inv, actor, now, expires))
            issued.append(IssuedLink(inv, contact, cname, email, account, emp, ename,
                                     f"{base_url.rstrip('/')}/survey#{token}", expires))
        async with conn.cursor() as cur:
            await cur.executemany(
                """INSERT INTO survey_link (token_hash, invitation_id, created_by, created_at, expires_at)
                   VALUES (%s, %s, %s, %s, %s)""",
                params,
            )
            # Each issuance is a new set of links (the earlier ones stay valid), so each is its own event.
            await cur.execute(AUDIT_ROW, audit_params(
                f"survey_links.issued:{cycle_id}:{now.isoformat()}", actor, "survey_links.issued", "review_cycle",
                cycle_id, after={"links": len(issued)}))
    log.info("issued %d survey link(s) for cycle %s", len(issued), cycle_id)
    return issued


@dataclass
class SurveyView:
    """What the customer sees: whom they rate and for which account; nothing else of the review."""

    invitation_id: str
    cycle_id: str
    cycle_name: str
    employee_id: str
    employee_name: str
    account_name: str
    contact_id: str
    contact_name: str
    ask_nps: bool
    expires_at: datetime
    locale: str = "en"  # the contact's language (the survey is shown in it unless the reader chose another)
    timezone: str = "Asia/Shanghai"  # the cycle's zone: times on the survey are shown in it


_VIEW = """SELECT l.invitation_id, i.cycle_id, cy.name, r.employee_id, e.name, a.name, c.id, c.name, l.expires_at,
                  l.used_at, l.revoked_at, i.status, t.status, c.locale, cy.timezone
           FROM survey_link l JOIN survey_invitation i ON i.id = l.invitation_id
           JOIN review_cycle cy ON cy.id = i.cycle_id JOIN review r ON r.id = i.review_id
           JOIN employee e ON e.id = r.employee_id JOIN key_account a ON a.id = i.account_id
           JOIN customer_contact c ON c.id = i.contact_id JOIN task t ON t.id = i.id
           WHERE l.token_hash = %s"""


async def open_link(conn: AsyncConnection, token: str) -> SurveyView:
    """The survey a usable link opens; otherwise a message that says why it cannot be used."""
    row = await (await conn.execute(_VIEW, (token_hash(token),))).fetchone()
    if row is None:
        raise NotFound(tr("this survey link is not valid; check that the whole link was copied"))
    (inv, cycle, cycle_name, emp, ename, account, contact, cname, expires, used, revoked, inv_status, task_status,
     locale, zone) = row
    now = datetime.now(UTC)
    if used is not None:
        raise LinkUnusable(tr("this survey link was already used on %(at)s; each link can be used once. "
                              "Thank you for your answer.", at=used))
    if revoked is not None:
        raise LinkUnusable(tr("this survey link was replaced by a newer one; please use the latest link you received"))
    if expires <= now:
        raise LinkUnusable(tr("this survey link expired on %(at)s", at=expires))
    if inv_status != "sent" or task_status != "open":
        raise LinkUnusable(tr("this survey is closed; answers are no longer accepted"))
    config = await cycle_config(conn, cycle)
    ask_nps = bool(config.scorecard.csat and config.scorecard.csat.ask_nps)
    return SurveyView(inv, cycle, cycle_name, emp, ename, account, contact, cname, ask_nps, expires, locale, zone)


async def claim_link(conn: AsyncConnection, token: str) -> SurveyView:
    """Mark the link used (atomically: of two simultaneous answers one wins); raises if unusable."""
    view = await open_link(conn, token)
    cur = await conn.execute(
        """UPDATE survey_link SET used_at = now()
           WHERE token_hash = %s AND used_at IS NULL AND revoked_at IS NULL AND expires_at > now()""",
        (token_hash(token),),
    )
    if cur.rowcount != 1:
        await open_link(conn, token)  # raises with the reason it lost the race
        raise LinkUnusable(tr("this survey link can no longer be used"))
    return view


async def release_link(conn: AsyncConnection, token: str) -> None:
    """Give a claimed link back after the answer was refused, so the customer can correct it."""
    try:
        await conn.execute("UPDATE survey_link SET used_at = NULL WHERE token_hash = %s", (token_hash(token),))
    except errors.UniqueViolation:  # HR issued a newer link meanwhile: this one stays spent
        await conn.execute("UPDATE survey_link SET revoked_at = now() WHERE token_hash = %s", (token_hash(token),))
