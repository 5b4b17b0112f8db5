"""The one refusal type: something a person asked for cannot be done, and the message says what and why.

The CLI prints the message and exits non-zero, the web app answers with a 4xx; never a traceback.
The subclasses only say which kind of refusal it is, so each edge can choose its status code.
"""


from datetime import datetime
from zoneinfo import ZoneInfo

from domain.text import Text, tr


class UserError(Exception):
    """Something the person asked for cannot be done; the message says what and why.

    Raised with a ``domain.text.Text`` (``tr(...)``) the message is translated for the reader at the edge;
    ``str(err)`` is always its English wording.
    """

    exit_code = 2

    def __init__(self, message: Text | str = "", *args: object) -> None:
        self.text = message if isinstance(message, Text) else None
        super().__init__(str(message), *args)


class NotFound(UserError):
    """What was named does not exist (or is not visible to this person)."""


class Forbidden(UserError):
    """This person may not do it, whatever the state (payouts are approved by payroll, not by HR)."""


class Rejected(UserError):
    """The request itself is invalid (a value out of range, the wrong person); changing it could succeed."""


class Conflict(UserError):
    """The request is valid but the state forbids it now (already submitted, closed, locked)."""


class TryLater(UserError):
    """Nothing is wrong with the request, but the system is not ready for it yet; retrying will succeed."""


def refusal(err: BaseException) -> Rejected | Conflict:
    """A workflow's or activity's refusal (any Temporal failure) as the service's error, keeping its kind
    and its translatable Text when the refusal carried one."""
    from workflows.common import CONFLICT, refusal_kind, user_text

    return (Conflict if refusal_kind(err) == CONFLICT else Rejected)(user_text(err))


def message_of(err: BaseException) -> Text | str:
    """What to tell a person about ``err``: its Text when it has one (translated at the edge), else its words."""
    text = getattr(err, "text", None)
    if isinstance(text, Text):
        return text
    from domain.errors import DomainError

    if isinstance(err, DomainError) and isinstance(err.text, Text):
        return tr("%(path)s: %(message)s", path=err.path, message=err.text) if err.path else err.text
    return str(err)


def local_time(at: datetime, zone: str) -> str:
    """An instant as a refusal names it: in the cycle's time zone, the zone said ("2026-12-01 15:04 (Asia/Shanghai)")."""
    return f"{at.astimezone(ZoneInfo(zone)):%Y-%m-%d %H:%M} ({zone})"
