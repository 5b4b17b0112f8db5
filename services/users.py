"""Sign-in for the web app: users with argon2id password hashes, server-side sessions, demo users.

Only hashes are stored: the password as argon2id (salted, slow), the session cookie value as
SHA-256 (it is 256 random bits, so a fast hash is enough and a stolen table opens no session).
Nothing here logs a password or a token.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from activities.base import new_token, token_hash  # noqa: F401 - one definition, shared with delivery
from domain.accounts import has_left
from domain.text import tr
from services.db import libpq_url
from services.errors import Forbidden, Rejected, UserError
from services.settings import WebSettings

log = logging.getLogger("kamreview.auth")

ROLES = ("hr", "manager", "employee", "payroll")
MIN_PASSWORD = 10
MAX_PASSWORD = 256

# Demo sign-ins for the demo organisation (demo/org.csv); printed by `make demo`, listed in the README.
DEMO_PASSWORDS = {
    "hr": "hr-demo-2026",
    "payroll": "payroll-demo-2026",
    "manager": "manager-demo-2026",
    "employee": "kam-demo-2026",
}
DEMO_HR, DEMO_PAYROLL = ("HR1",), ("PAY1",)
DEMO_MANAGERS = tuple(f"M{n}" for n in range(1, 5))
DEMO_EMPLOYEES = tuple(f"K{n:02d}" for n in range(1, 21))

_default_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters


def password_hasher() -> PasswordHasher:
    return _default_hasher


def fast_test_hasher() -> PasswordHasher:
    """Cheap parameters for tests only (the hash records its parameters, so verification still works)."""
    return PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


@functools.cache
def _dummy_hash() -> str:
    """A hash to verify against when the user does not exist, so a wrong user name costs the same time.

    Made on first use, not at import: an argon2 hash takes ~0.1 s, which every CLI command would pay.
    """
    return _default_hasher.hash(secrets.token_urlsafe(16))


def check_new_password(password: str) -> None:
    if not isinstance(password, str) or not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise Rejected(tr("a password needs %(low)s to %(high)s characters", low=MIN_PASSWORD, high=MAX_PASSWORD))


# -- users (synchronous: administration and seeding) ------------------------------------------------


def upsert_user(database_url: str, username: str, password: str, roles: list[str], employee_id: str | None = None,
                display_name: str | None = None, hasher: PasswordHasher | None = None,
                replace: bool = True) -> bool:
    """Create a user, or (``replace``) reset its roles and password. Returns whether a row was written."""
    check_new_password(password)
    bad = sorted(set(roles) - set(ROLES))
    if not roles or bad:
        raise UserError(tr("roles must be some of %(roles)s (got %(got)s)", roles=", ".join(ROLES),
                           got=", ".join(bad) or "none"))
    if employee_id is None and {"manager", "employee"} & set(roles):
        raise UserError(tr("the manager and employee roles need the user's employee id"))
    hashed = (hasher or _default_hasher).hash(password)
    conflict = ("DO UPDATE SET roles = EXCLUDED.roles, password_hash = EXCLUDED.password_hash, "
                "employee_id = EXCLUDED.employee_id, display_name = EXCLUDED.display_name, failed_logins = 0, "
                "locked_until = NULL, password_changed_at = now()") if replace else "DO NOTHING"
    with psycopg.connect(libpq_url(database_url)) as conn, conn.transaction():
        if employee_id is not None:
            row = conn.execute("SELECT name FROM employee WHERE id = %s", (employee_id,)).fetchone()
            if row is None:
                raise UserError(tr("employee %(employee)s does not exist", employee=employee_id))
            display_name = display_name or row[0]
        cur = conn.execute(
            f"""INSERT INTO web_user (username, employee_id, display_name, roles, password_hash)
                VALUES (%s, %s, %s, %s, %s) ON CONFLICT (username) {conflict}""",
            (username, employee_id, display_name or username, list(roles), hashed),
        )
        if replace:  # a new password ends every session of the old one, and any set-password link still out
            conn.execute("DELETE FROM web_session WHERE username = %s", (username,))
            conn.execute("""UPDATE web_user_token SET revoked_at = now()
                            WHERE username = %s AND used_at IS NULL AND revoked_at IS NULL""", (username,))
        return cur.rowcount > 0


@dataclass(frozen=True)
class DemoUser:
    username: str
    role: str
    password: str
    name: str


def seed_demo_users(database_url: str, hasher: PasswordHasher | None = None) -> list[DemoUser]:
    """Sign-ins for the demo organisation's people who exist; an existing user is left as it is."""
    wanted = ([(u, "hr") for u in DEMO_HR] + [(u, "payroll") for u in DEMO_PAYROLL]
              + [(u, "manager") for u in DEMO_MANAGERS] + [(u, "employee") for u in DEMO_EMPLOYEES])
    with psycopg.connect(libpq_url(database_url)) as conn:
        names = dict(conn.execute("SELECT id, name FROM employee WHERE id = ANY(%s)", ([u for u, _ in wanted],)))
    users = [DemoUser(u, role, DEMO_PASSWORDS[role], names[u]) for u, role in wanted if u in names]
    hasher = hasher or _default_hasher
    with psycopg.connect(libpq_url(database_url)) as conn, conn.transaction(), conn.cursor() as cur:
        existing = {r[0] for r in cur.execute("SELECT username FROM web_user WHERE username = ANY(%s)",
                                              ([u.username for u in users],))}
        cur.executemany(
            """INSERT INTO web_user (username, employee_id, display_name, roles, password_hash)
               VALUES (%s, %s, %s, %s, %s) ON CONFLICT (username) DO NOTHING""",
            [(u.username, u.username, u.name, [u.role], hasher.hash(u.password))
             for u in users if u.username not in existing],
        )
    return users


# -- sign-in and sessions (asynchronous: the web app's pool) ----------------------------------------


class SignInLocked(UserError):
    """Too many failed sign-ins in a row; the message says when to try again."""


class AccessEnded(Forbidden):
    """The right password, but the person has left: access ends with the leaving date (domain.accounts)."""


@dataclass(frozen=True)
class SessionUser:
    username: str
    employee_id: str | None
    display_name: str
    roles: frozenset[str]
    csrf_token: str
    expires_at: datetime
    locale: str | None = None  # the employee's language from the org import (pages fall back to Accept-Language)
    timezone: str | None = None  # the employee's zone; HR and payroll accounts without one see the cycle's zone

    def has(self, role: str) -> bool:
        return role in self.roles


@dataclass(frozen=True)
class NewSession:
    token: str
    user: SessionUser


def _verify(stored: str, password: str, hasher: PasswordHasher) -> tuple[bool, bool]:
    """(matches, needs rehash); runs in a thread, argon2 is deliberately slow."""
    try:
        hasher.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False, False
    return True, hasher.check_needs_rehash(stored)


async def sign_in(conn: psycopg.AsyncConnection, username: str, password: str, settings: WebSettings) -> NewSession | None:
    """A new session for the right password; None otherwise. Locks the user after repeated failures."""
    cur = await conn.execute(
        """SELECT u.username, u.employee_id, u.display_name, u.roles, u.password_hash, u.disabled, u.failed_logins,
                  u.locked_until, e.termination_date, e.timezone
           FROM web_user u LEFT JOIN employee e ON e.id = u.employee_id WHERE lower(u.username) = lower(%s)""",
        (username,),
    )
    row = await cur.fetchone()
    if row is None:
        await asyncio.to_thread(_verify, _dummy_hash(), password, _default_hasher)
        log.info("failed sign-in: no such user")
        return None
    name, employee_id, display, roles, stored, disabled, _failures, locked_until, leaving, zone = row
    now = datetime.now(UTC)
    if locked_until is not None and locked_until > now:
        minutes = max(1, int((locked_until - now).total_seconds() // 60) + 1)
        log.warning("sign-in refused for %s: locked after repeated failures", name)
        raise SignInLocked(tr("too many failed sign-ins; try again in %(minutes)s minute(s)", minutes=minutes))
    if stored is None:  # invited, no password chosen yet: nothing can match, at the cost of a real check
        await asyncio.to_thread(_verify, _dummy_hash(), password, _default_hasher)
        ok, rehash = False, False
    else:
        ok, rehash = await asyncio.to_thread(_verify, stored, password, _default_hasher)
    if ok and not disabled and has_left(leaving, zone, now):
        log.info("sign-in refused for %s: left on %s", name, leaving)
        raise AccessEnded(tr("your access ended after your leaving date, %(date)s; ask HR if this is wrong",
                             date=leaving))
    if not ok or disabled:
        # Counted in the row, not from what was read above: guesses in parallel (on several web processes)
        # would otherwise each write the same count and never reach the lockout.
        lock = now + timedelta(minutes=settings.lockout_minutes)
        locked = await (await conn.execute(
            """UPDATE web_user SET failed_logins = CASE WHEN failed_logins + 1 >= %(after)s THEN 0
                                                         ELSE failed_logins + 1 END,
                                   locked_until = CASE WHEN failed_logins + 1 >= %(after)s THEN %(lock)s
                                                       ELSE locked_until END
               WHERE username = %(name)s RETURNING locked_until = %(lock)s""",
            {"after": settings.lockout_after, "lock": lock, "name": name},
        )).fetchone()
        await conn.commit()
        log.info("failed sign-in for %s%s", name, " (now locked)" if locked and locked[0] else "")
        return None
    if rehash:  # parameters changed since the hash was made: upgrade it while we know the password
        stored = await asyncio.to_thread(_default_hasher.hash, password)
    token, csrf = new_token(), new_token()
    expires = now + timedelta(hours=settings.session_hours)
    async with conn.transaction():
        await conn.execute(
            "UPDATE web_user SET failed_logins = 0, locked_until = NULL, password_hash = %s WHERE username = %s",
            (stored, name),
        )
        await conn.execute("DELETE FROM web_session WHERE expires_at < now() OR last_seen_at < %s",
                           (now - timedelta(minutes=settings.idle_minutes),))
        await conn.execute(
            """INSERT INTO web_session (token_hash, username, csrf_token, created_at, last_seen_at, expires_at)
               VALUES (%s, %s, %s, %s, %s, %s)""",
            (token_hash(token), name, csrf, now, now, expires),
        )
    log.info("signed in: %s", name)
    return NewSession(token, SessionUser(name, employee_id, display, frozenset(roles), csrf, expires))


async def session_user(conn: psycopg.AsyncConnection, token: str, settings: WebSettings) -> SessionUser | None:
    """The user of a live session; an expired or idle session is removed and gives None."""
    if not token or len(token) > 200:
        return None
    digest = token_hash(token)
    cur = await conn.execute(
        """SELECT u.username, u.employee_id, u.display_name, u.roles, s.csrf_token, s.expires_at, s.last_seen_at,
                  u.disabled, COALESCE(u.locale, e.locale), COALESCE(u.timezone, e.timezone), e.termination_date,
                  e.timezone
           FROM web_session s JOIN web_user u ON u.username = s.username
           LEFT JOIN employee e ON e.id = u.employee_id WHERE s.token_hash = %s""",
        (digest,),
    )
    row = await cur.fetchone()
    if row is None:
        return None
    name, employee_id, display, roles, csrf, expires, last_seen, disabled, locale, zone, leaving, home_zone = row
    now = datetime.now(UTC)
    # A leaver's sessions end at their leaving date, checked here on every request: no job has to run for it.
    if (disabled or expires <= now or last_seen + timedelta(minutes=settings.idle_minutes) <= now
            or has_left(leaving, home_zone, now)):
        await conn.execute("DELETE FROM web_session WHERE token_hash = %s", (digest,))
        await conn.commit()
        return None
    if now - last_seen > timedelta(seconds=60):  # touch at most once a minute: reads stay cheap
        await conn.execute("UPDATE web_session SET last_seen_at = %s WHERE token_hash = %s", (now, digest))
        await conn.commit()
    return SessionUser(name, employee_id, display, frozenset(roles), csrf, expires, locale, zone)


async def end_session(conn: psycopg.AsyncConnection, token: str) -> None:
    await conn.execute("DELETE FROM web_session WHERE token_hash = %s", (token_hash(token),))
    await conn.commit()
