"""A sign-in for everyone the org import names: invitations, password resets by e-mail, bulk disabling.

An invitation creates the account without a password (its roles follow the org: domain.accounts) and queues an
e-mail in the outbox; the delivery activity makes the set-password link as it sends it, so the raw token exists
only in that e-mail and only its SHA-256 is stored (``web_user_token``). A link works once, until it expires,
and a newer invitation or reset replaces it. Reset requests answer the same whether or not the address exists
and are rate-limited per address and per client. Every change is written to the audit log.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from psycopg import AsyncConnection
from temporalio.client import Client

from activities.base import AUDIT_ROW, audit_params
from activities.outbox import Message, queue, start_delivery
from domain.accounts import AccountStatus, account_status, has_left, org_roles
from domain.text import Text, tr
from services.db import Database, as_database
from services.errors import Conflict, NotFound
from services.settings import WebSettings
from services.survey_links import LinkUnusable
from services.users import SignInLocked, check_new_password, password_hasher, token_hash

log = logging.getLogger("kamreview.accounts")
INVITE, RESET = "invite", "reset"
WINDOW = timedelta(hours=1)


class PasswordLinkUnusable(LinkUnusable):
    """A set-password link that was used, replaced or has expired; the message says which and what to do."""


class TooManyRequests(SignInLocked):
    """Too many password-reset requests for one address or from one client within the hour."""


@dataclass
class Account:
    """One employee as HR's People page shows them, with their sign-in (if any)."""

    employee_id: str
    name: str
    email: str | None
    org_role: str
    termination_date: date | None
    username: str | None
    status: AccountStatus
    roles: list[str]  # the account's roles; without an account, those an invitation would give
    invited_at: datetime | None
    invitation_delivery: str | None  # the newest invitation e-mail's delivery status (queued, sent, failed, ...)
    invitation_error: str | None
    left: bool


@dataclass
class BulkResult:
    """What a bulk action did: the people it changed, and each one it left alone with the reason."""

    done: list[str] = field(default_factory=list)
    skipped: list[tuple[str, Text]] = field(default_factory=list)
    batch: str | None = None  # the delivery batch of the e-mails, when some were queued


_PEOPLE = """
    SELECT e.id, e.name, e.email, e.role, e.termination_date, e.timezone, u.username, u.disabled,
           u.password_hash IS NOT NULL, u.roles, u.invited_at, u.org_roles, n.status, n.last_error,
           EXISTS (SELECT 1 FROM employee r WHERE r.manager_id = e.id
                   AND (r.termination_date IS NULL OR r.termination_date >= current_date))
    FROM employee e
    LEFT JOIN LATERAL (SELECT * FROM web_user w WHERE w.employee_id = e.id ORDER BY w.username LIMIT 1) u ON true
    LEFT JOIN (SELECT DISTINCT ON (recipient_id) recipient_id, status, last_error FROM notification
               WHERE kind = 'account_invitation' AND recipient_type = 'employee'
               ORDER BY recipient_id, created_at DESC) n ON n.recipient_id = e.id
    WHERE %(ids)s::text[] IS NULL OR e.id = ANY(%(ids)s)
    ORDER BY e.id"""


@dataclass
class _Row:
    account: Account
    org_roles: bool
    timezone: str


async def _rows(conn: AsyncConnection, ids: Sequence[str] | None, now: datetime) -> list[_Row]:
    out = []
    for (emp, name, email, role, leaving, zone, username, disabled, has_password, roles, invited_at, by_org,
         delivery, error, reports) in await (await conn.execute(_PEOPLE, {"ids": list(ids) if ids is not None
                                                                          else None})).fetchall():
        left = has_left(leaving, zone, now)
        status = account_status(username is not None, bool(disabled), bool(has_password), left)
        wanted = list(roles) if username is not None and not by_org else list(org_roles(role, reports))
        out.append(_Row(Account(emp, name, email, role, leaving, username, status, wanted, invited_at, delivery,
                                error, left), bool(by_org), zone))
    return out


async def accounts(db: Database | str, status: AccountStatus | None = None) -> list[Account]:
    """Every employee with their sign-in status; with ``status``, only those."""
    async with as_database(db).connection() as conn:
        rows = await _rows(conn, None, datetime.now(UTC))
    return [r.account for r in rows if status is None or r.account.status == status]


async def _known(conn: AsyncConnection, ids: Sequence[str], now: datetime) -> list[_Row]:
    """The rows of the named employees; an unknown id refuses the whole request before anything changes."""
    wanted = list(dict.fromkeys(ids))
    rows = await _rows(conn, wanted, now)
    missing = sorted(set(wanted) - {r.account.employee_id for r in rows})
    if missing:
        raise NotFound(tr("no employee with the id %(ids)s", ids=", ".join(missing)))
    return rows


def _stamp(now: datetime) -> str:
    return now.strftime("%Y%m%dT%H%M%S%f")


async def invite(client: Client, db: Database | str, task_queue: str, web: WebSettings, actor: str,
                 employee_ids: Sequence[str] | None = None) -> BulkResult:
    """Invite the named employees (None: everyone without a sign-in): an account without a password, its roles
    from the org, and an e-mail with a set-password link. A disabled account is enabled again and must choose a
    new password; an active one is left alone (its owner can reset their password)."""
    now = datetime.now(UTC)
    stamp = _stamp(now)
    result = BulkResult(batch=f"accounts:invite:{actor}:{stamp}")
    messages: list[Message] = []
    async with as_database(db).connection() as conn, conn.transaction(), conn.cursor() as cur:
        if employee_ids is None:
            rows = [r for r in await _rows(conn, None, now) if r.account.status == "none" and not r.account.left]
        else:
            rows = await _known(conn, employee_ids, now)
        for row in rows:
            a = row.account
            if a.left:
                result.skipped.append((a.employee_id, tr("%(employee)s has left (leaving date %(date)s)",
                                                         employee=a.employee_id, date=a.termination_date)))
                continue
            if not a.email:
                result.skipped.append((a.employee_id, tr(
                    "%(employee)s has no e-mail address on file; add it in the organisation import",
                    employee=a.employee_id)))
                continue
            if a.status == "active":
                result.skipped.append((a.employee_id, tr(
                    "%(employee)s already has an active sign-in; they can reset their password from the sign-in page",
                    employee=a.employee_id)))
                continue
            username = a.username or a.employee_id
            if a.username is None:
                taken = await (await cur.execute("SELECT 1 FROM web_user WHERE lower(username) = lower(%s)",
                                                 (username,))).fetchone()
                if taken:
                    result.skipped.append((a.employee_id, tr("the user name %(username)s is taken by another sign-in",
                                                             username=username)))
                    continue
                await cur.execute(
                    """INSERT INTO web_user (username, employee_id, display_name, roles, password_hash, org_roles,
                                             invited_at)
                       VALUES (%s, %s, %s, %s, NULL, true, %s)""", (username, a.employee_id, a.name, a.roles, now))
            else:
                await cur.execute(
                    """UPDATE web_user SET password_hash = NULL, disabled = false, invited_at = %s, failed_logins = 0,
                              locked_until = NULL, roles = CASE WHEN org_roles THEN %s ELSE roles END
                       WHERE username = %s""", (now, a.roles, username))
                await cur.execute("DELETE FROM web_session WHERE username = %s", (username,))
            await _revoke_links(cur, username)
            messages.append(Message(f"account_invitation:{username}:{stamp}", "account_invitation", "employee",
                                    a.employee_id, {"username": username, "password_link": {
                                        "username": username, "purpose": INVITE, "ttl_s": web.invitation_hours * 3600}},
                                    channel="email"))
            await cur.execute(AUDIT_ROW, audit_params(
                f"account.invited:{username}:{stamp}", actor, "account.invited", "web_user", username,
                {"status": a.status}, {"status": "invited", "roles": a.roles, "employee_id": a.employee_id}))
            result.done.append(a.employee_id)
        await queue(cur, None, result.batch, messages)
    if messages:
        await start_delivery(client, task_queue, result.batch)
    else:
        result.batch = None
    log.info("invited %d, skipped %d (by %s)", len(result.done), len(result.skipped), actor)
    return result


async def _revoke_links(cur, username: str) -> None:  # noqa: ANN001 - an AsyncCursor
    await cur.execute("""UPDATE web_user_token SET revoked_at = now()
                         WHERE username = %s AND used_at IS NULL AND revoked_at IS NULL""", (username,))


async def disable(db: Database | str, actor: str, employee_ids: Sequence[str]) -> BulkResult:
    """Disable the named employees' sign-ins: their sessions end and their links stop working at once."""
    now = datetime.now(UTC)
    stamp = _stamp(now)
    result = BulkResult()
    async with as_database(db).connection() as conn, conn.transaction(), conn.cursor() as cur:
        own = {r[0] for r in await (await cur.execute(
            "SELECT username FROM web_user WHERE username = %s OR employee_id = %s", (actor, actor))).fetchall()}
        for row in await _known(conn, employee_ids, now):
            a = row.account
            if a.username is None:
                result.skipped.append((a.employee_id, tr("%(employee)s has no sign-in", employee=a.employee_id)))
                continue
            if a.username in own:
                result.skipped.append((a.employee_id, tr("you cannot disable your own sign-in")))
                continue
            flagged = (await (await cur.execute("SELECT disabled FROM web_user WHERE username = %s",
                                                (a.username,))).fetchone())[0]
            if flagged:
                result.skipped.append((a.employee_id, tr("%(employee)s is disabled already", employee=a.employee_id)))
                continue
            await cur.execute("UPDATE web_user SET disabled = true WHERE username = %s", (a.username,))
            await cur.execute("DELETE FROM web_session WHERE username = %s", (a.username,))
            await _revoke_links(cur, a.username)
            await cur.execute(AUDIT_ROW, audit_params(
                f"account.disabled:{a.username}:{stamp}", actor, "account.disabled", "web_user", a.username,
                {"status": a.status}, {"status": "disabled", "employee_id": a.employee_id}))
            result.done.append(a.employee_id)
    log.info("disabled %d, skipped %d (by %s)", len(result.done), len(result.skipped), actor)
    return result


async def sync_org_roles(db: Database | str, actor: str) -> list[str]:
    """Give every account made by an invitation the roles the org gives it now (a new manager gets the manager
    role at the next import); returns the user names whose roles changed."""
    now = datetime.now(UTC)
    stamp = _stamp(now)
    changed = []
    async with as_database(db).connection() as conn, conn.transaction(), conn.cursor() as cur:
        current = dict(await (await cur.execute(
            "SELECT username, roles FROM web_user WHERE org_roles AND employee_id IS NOT NULL")).fetchall())
        for row in await _rows(conn, None, now):
            a = row.account
            if a.username not in current or not row.org_roles or sorted(current[a.username]) == sorted(a.roles):
                continue
            await cur.execute("UPDATE web_user SET roles = %s WHERE username = %s", (a.roles, a.username))
            await cur.execute(AUDIT_ROW, audit_params(
                f"account.roles_changed:{a.username}:{stamp}", actor, "account.roles_changed", "web_user", a.username,
                {"roles": sorted(current[a.username])}, {"roles": a.roles}))
            changed.append(a.username)
    return changed


async def after_import(db: Database | str, web: WebSettings, client: Client | None = None,
                       task_queue: str | None = None, actor: str = "import") -> tuple[list[str], BulkResult | None]:
    """What an org import does to sign-ins: roles follow the new org; with ``invite_on_import`` (and a client to
    deliver with), everyone still without a sign-in is invited."""
    changed = await sync_org_roles(db, actor)
    invited = None
    if web.invite_on_import and client is not None and task_queue is not None:
        invited = await invite(client, db, task_queue, web, actor)
    return changed, invited


# -- password reset ------------------------------------------------------------------------------------------


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", "replace")).hexdigest()


async def check_reset_rate(db: Database | str, login: str, client_address: str, web: WebSettings) -> None:
    """Count a reset request for the address and for the client, refusing past either limit. Counted whether or
    not the address exists, so the refusal says nothing about it."""
    keys = ((f"reset:login:{_digest(login.strip().lower())}", web.reset_per_address_per_hour),
            (f"reset:client:{_digest(client_address)}", web.reset_per_client_per_hour))
    wait = timedelta(0)
    async with as_database(db).connection() as conn:
        for key, limit in keys:
            hits, started = await (await conn.execute(
                """INSERT INTO web_rate_limit (key, window_start, hits) VALUES (%(key)s, now(), 1)
                   ON CONFLICT (key) DO UPDATE SET
                       window_start = CASE WHEN web_rate_limit.window_start <= now() - %(window)s THEN now()
                                           ELSE web_rate_limit.window_start END,
                       hits = CASE WHEN web_rate_limit.window_start <= now() - %(window)s THEN 1
                                   ELSE web_rate_limit.hits + 1 END
                   RETURNING hits, window_start""", {"key": key, "window": WINDOW})).fetchone()
            if hits > limit:
                wait = max(wait, started + WINDOW - datetime.now(UTC))
    if wait > timedelta(0):
        minutes = max(1, int(wait.total_seconds() // 60) + 1)
        raise TooManyRequests(tr("too many password-reset requests; try again in %(minutes)s minute(s)",
                                 minutes=minutes))


async def send_reset(client: Client, db: Database | str, task_queue: str, web: WebSettings, login: str) -> int:
    """E-mail a reset link to the account with this user name or e-mail address, if there is one that may sign in;
    returns how many were queued (never shown to whoever asked)."""
    login = login.strip()
    if not login or len(login) > 254:
        return 0
    now = datetime.now(UTC)
    stamp = _stamp(now)
    batch = f"accounts:reset:{_digest(login.lower())[:16]}:{stamp}"
    messages = []
    async with as_database(db).connection() as conn, conn.transaction(), conn.cursor() as cur:
        for username, employee_id, leaving, zone in await (await cur.execute(
                """SELECT u.username, u.employee_id, e.termination_date, e.timezone
                   FROM web_user u JOIN employee e ON e.id = u.employee_id
                   WHERE NOT u.disabled AND e.email IS NOT NULL AND e.email <> ''
                     AND (lower(u.username) = lower(%(login)s) OR lower(e.email) = lower(%(login)s))
                   ORDER BY u.username""", {"login": login})).fetchall():
            if has_left(leaving, zone, now):
                continue
            messages.append(Message(f"password_reset:{username}:{stamp}", "password_reset", "employee", employee_id,
                                    {"username": username, "password_link": {
                                        "username": username, "purpose": RESET, "ttl_s": web.reset_minutes * 60}},
                                    channel="email"))
            await cur.execute(AUDIT_ROW, audit_params(
                f"account.reset_requested:{username}:{stamp}", username, "account.reset_requested", "web_user",
                username))
        await queue(cur, None, batch, messages)
    if messages:
        await start_delivery(client, task_queue, batch)
    return len(messages)


# -- set-password links --------------------------------------------------------------------------------------


@dataclass
class PasswordLink:
    """What a usable link opens: whose password it sets, and why (invitation or reset)."""

    username: str
    display_name: str
    purpose: str
    expires_at: datetime
    locale: str | None
    timezone: str | None


_LINK = """SELECT t.username, u.display_name, t.purpose, t.expires_at, t.used_at, t.revoked_at, u.disabled,
                  e.termination_date, e.timezone, COALESCE(u.locale, e.locale), COALESCE(u.timezone, e.timezone)
           FROM web_user_token t JOIN web_user u ON u.username = t.username
           LEFT JOIN employee e ON e.id = u.employee_id WHERE t.token_hash = %s"""


async def open_password_link(conn: AsyncConnection, token: str) -> PasswordLink:
    """The account a usable link sets the password of; otherwise a refusal saying why it cannot be used."""
    row = await (await conn.execute(_LINK, (token_hash(token),))).fetchone() if 0 < len(token) <= 200 else None
    if row is None:
        raise NotFound(tr("this link is not valid; check that the whole link was copied from the e-mail"))
    username, display, purpose, expires, used, revoked, disabled, leaving, zone, locale, tz = row
    now = datetime.now(UTC)
    if used is not None:
        raise PasswordLinkUnusable(tr(
            "this link was already used on %(at)s; each link works once. Sign in with the password you chose, or "
            "ask for a new link with \u201cForgot your password?\u201d on the sign-in page", at=used))
    if revoked is not None:
        raise PasswordLinkUnusable(tr("this link was replaced by a newer one; use the link in the latest e-mail you "
                                      "received"))
    if disabled or has_left(leaving, zone, now):
        raise PasswordLinkUnusable(tr("this sign-in is disabled; ask HR if this is wrong"))
    if expires <= now:
        raise PasswordLinkUnusable(tr(
            "this link expired on %(at)s; ask for a new one with \u201cForgot your password?\u201d on the sign-in page",
            at=expires))
    return PasswordLink(username, display, purpose, expires, locale, tz)


async def set_password(db: Database | str, token: str, password: str) -> PasswordLink:
    """Use the link: set the password, end every session of the account, and spend the link (atomically: of two
    tabs using the same link one wins)."""
    check_new_password(password)
    async with as_database(db).connection() as conn:
        link = await open_password_link(conn, token)
    hashed = await asyncio.to_thread(password_hasher().hash, password)
    async with as_database(db).connection() as conn, conn.transaction():
        spent = await conn.execute(
            """UPDATE web_user_token SET used_at = now()
               WHERE token_hash = %s AND used_at IS NULL AND revoked_at IS NULL AND expires_at > now()""",
            (token_hash(token),))
        if spent.rowcount != 1:
            await open_password_link(conn, token)  # raises with the reason it lost the race
            raise Conflict(tr("this link can no longer be used"))
        await conn.execute(
            """UPDATE web_user SET password_hash = %s, password_changed_at = now(), failed_logins = 0,
                      locked_until = NULL WHERE username = %s""", (hashed, link.username))
        await conn.execute("DELETE FROM web_session WHERE username = %s", (link.username,))
        await conn.execute(AUDIT_ROW, audit_params(
            f"account.password_set:{link.username}:{_stamp(datetime.now(UTC))}", link.username, "account.password_set",
            "web_user", link.username, None, {"by": link.purpose}))
    log.info("password set for %s (%s link)", link.username, link.purpose)
    return link
