"""Who may sign in, and as what: the rules behind everyone's account, kept apart from the database.

Roles follow the organisation: a KAM reviews themselves (the employee role), anyone with direct reports scores
them (the manager role), HR and payroll keep the role the org import gives them. Access ends with the leaving
date: a leaver may still sign in on their last day, in their own time zone, and not after it.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

AccountStatus = Literal["none", "invited", "active", "disabled"]
STATUSES: tuple[AccountStatus, ...] = ("none", "invited", "active", "disabled")
ORG_ROLE_OF = {"hr": "hr", "payroll": "payroll", "manager": "manager", "kam": "employee"}


def org_roles(org_role: str, has_reports: bool) -> tuple[str, ...]:
    """The web roles of someone the org import describes: their own role's, plus manager when people report to
    them. Anyone else (``other``) without reports sees their own review, as an employee."""
    roles = {ORG_ROLE_OF[org_role]} if org_role in ORG_ROLE_OF else set()
    if has_reports:
        roles.add("manager")
    if not roles:
        roles.add("employee")
    return tuple(sorted(roles))


def access_ends_at(termination_date: date | None, timezone: str | None) -> datetime | None:
    """The instant access ends: midnight after the leaving date in the person's zone (None: not leaving)."""
    if termination_date is None:
        return None
    try:
        zone = ZoneInfo(timezone or "Asia/Shanghai")
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("Asia/Shanghai")
    return datetime.combine(termination_date + timedelta(days=1), time(0), tzinfo=zone)


def has_left(termination_date: date | None, timezone: str | None, now: datetime) -> bool:
    ends = access_ends_at(termination_date, timezone)
    return ends is not None and now >= ends


def account_status(exists: bool, disabled: bool, has_password: bool, left: bool) -> AccountStatus:
    """What HR sees per person: no account yet, invited (no password set), active, or disabled (by HR, or left)."""
    if not exists:
        return "none"
    if disabled or left:
        return "disabled"
    return "active" if has_password else "invited"
