"""The one refusal type: something a person asked for cannot be done, and the message says what and why.

The CLI prints the message and exits non-zero, the web app answers with a 4xx; never a traceback.
The subclasses only say which kind of refusal it is, so each edge can choose its status code.
"""


from datetime import datetime
from zoneinfo import ZoneInfo


class UserError(Exception):
    """Something the person asked for cannot be done; the message says what and why."""

    exit_code = 2


class NotFound(UserError):
    """What was named does not exist (or is not visible to this person)."""


class Rejected(UserError):
    """The request itself is invalid (a value out of range, the wrong person); changing it could succeed."""


class Conflict(UserError):
    """The request is valid but the state forbids it now (already submitted, closed, locked)."""


class TryLater(UserError):
    """Nothing is wrong with the request, but the system is not ready for it yet; retrying will succeed."""


def refusal(err: BaseException) -> Rejected | Conflict:
    """A workflow's or activity's refusal (any Temporal failure) as the service's error, keeping its kind."""
    from workflows.common import CONFLICT, refusal_kind, user_message

    return (Conflict if refusal_kind(err) == CONFLICT else Rejected)(user_message(err))


def local_time(at: datetime, zone: str) -> str:
    """An instant as a refusal names it: in the cycle's time zone, the zone said ("2026-12-01 15:04 (Asia/Shanghai)")."""
    return f"{at.astimezone(ZoneInfo(zone)):%Y-%m-%d %H:%M} ({zone})"
