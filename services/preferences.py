"""A person's own language and time zone for the pages, over what the organisation import says about them."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from zoneinfo import available_timezones

import psycopg

from domain.text import tr
from i18n import LOCALES
from services.errors import NotFound, Rejected
from services.users import SessionUser

# Offered first; every IANA zone is accepted.
COMMON_ZONES = ("Asia/Shanghai", "Asia/Hong_Kong", "Asia/Taipei", "Asia/Singapore", "Asia/Tokyo", "Asia/Seoul",
                "Asia/Kolkata", "Asia/Dubai", "Europe/London", "Europe/Berlin", "Europe/Paris", "America/New_York",
                "America/Chicago", "America/Los_Angeles", "Australia/Sydney", "UTC")


@dataclass(frozen=True)
class Preferences:
    locale: str | None  # the person's own choice; None: as the organisation says
    timezone: str | None
    organisation_locale: str | None  # what the org import says (None for accounts that are not employees)
    organisation_timezone: str | None


@lru_cache(maxsize=1)
def zones() -> tuple[str, ...]:
    """Every zone a person can choose: the common ones first, then all others alphabetically."""
    rest = sorted(z for z in available_timezones() if "/" in z and not z.startswith(("Etc/", "SystemV/")) and z not in COMMON_ZONES)
    return (*COMMON_ZONES, *rest)


async def preferences(conn: psycopg.AsyncConnection, user: SessionUser) -> Preferences:
    row = await (await conn.execute(
        """SELECT u.locale, u.timezone, e.locale, e.timezone FROM web_user u
           LEFT JOIN employee e ON e.id = u.employee_id WHERE u.username = %s""", (user.username,))).fetchone()
    if row is None:
        raise NotFound(tr("there is no user %(username)s", username=user.username))
    return Preferences(*row)


async def set_preferences(conn: psycopg.AsyncConnection, user: SessionUser, locale: str | None,
                          timezone: str | None) -> Preferences:
    """Blank means "as my organisation says"; anything else must be a language we have and an IANA zone."""
    locale = (locale or "").strip() or None
    timezone = (timezone or "").strip() or None
    if locale is not None and locale not in LOCALES:
        raise Rejected(tr("language %(value)s is not offered; choose one of %(choices)s", value=locale,
                          choices=", ".join(LOCALES)))
    if timezone is not None and timezone not in available_timezones():
        raise Rejected(tr("%(value)s is not a time zone name (for example Asia/Shanghai)", value=timezone))
    await conn.execute("UPDATE web_user SET locale = %s, timezone = %s WHERE username = %s",
                       (locale, timezone, user.username))
    return await preferences(conn, user)
