"""What people type, checked one way at every entry point (CSV import, cycle YAML, CLI, web API).

Ids travel in URL paths, Temporal workflow and Update ids (``<cycle>:<employee>``), CSV files and
audit event keys, so they have one grammar: a letter or digit, then up to 63 letters, digits, ``_``,
``.`` or ``-`` (ASCII only). Ids are case-sensitive, as PostgreSQL compares them: ``E001`` and
``e001`` are two different people. Leading or trailing spaces are refused, never stripped: an id
with spaces is a data problem that HR should see and fix at its source.

Free text must be storable: PostgreSQL refuses NUL in text and jsonb, and UTF-8 cannot carry an
unpaired surrogate, so both are refused here, before anything is written.

Whole numbers and decimals are written with ASCII digits only: ``int("３")`` and ``Decimal("３")``
are 3 in Python, but a full-width digit in a score is a typing accident, not a number to guess at.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, Field

from domain.errors import DomainError
from domain.money import decimal_places
from domain.text import Text as Message
from domain.text import tr


def _plain(value: Decimal | int) -> str:
    """A configured number as it is written in the file (the reader finds it there): no grouping."""
    if isinstance(value, int):
        return str(value)
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text

ID_MAX_LENGTH = 64
#: The id grammar, for JSON Schema and FastAPI path parameters (which match it themselves).
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_WHOLE = re.compile(r"[+-]?[0-9]+")


def id_problem(value: str) -> Message | None:
    """Why ``value`` is not an id, or None when it is one (``str()`` of it is the English sentence)."""
    if value != value.strip():
        return tr("%(value)s has a leading or trailing space; ids are compared exactly, so remove the spaces "
                  "at the source", value=repr(value))
    if not value:
        return tr("an id must not be empty")
    if len(value) > ID_MAX_LENGTH:
        return tr("%(value)s... is longer than %(limit)s characters", value=repr(value[:20]), limit=ID_MAX_LENGTH)
    if not _ID.fullmatch(value):
        return tr("%(value)s is not a valid id: use letters A-Z or a-z, digits, '_', '.' or '-' (at most "
                  "%(limit)s), starting with a letter or digit", value=repr(value), limit=ID_MAX_LENGTH)
    return None


def check_id(value: str) -> str:
    """A pydantic validator (and a plain check): the id itself, or a ValueError (a DomainError) saying what is wrong."""
    problem = id_problem(value)
    if problem is not None:
        raise DomainError(problem)
    return value


#: An employee, manager, account, contact, cycle or plan id.
Id = Annotated[str, AfterValidator(check_id),
               Field(json_schema_extra={"pattern": ID_PATTERN, "maxLength": ID_MAX_LENGTH})]


def text_problem(value: str) -> Message | None:
    """Why ``value`` cannot be stored as text, or None."""
    if "\x00" in value:
        return tr("text must not contain NUL characters (\\x00)")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return tr("text must be valid Unicode (it contains an unpaired surrogate)")
    return None


def clean_text(value: str) -> str:
    """A pydantic validator: refuse what PostgreSQL or the workflow payloads cannot store."""
    problem = text_problem(value)
    if problem is not None:
        raise DomainError(problem)
    return value


#: Free text (a name, a label, a comment) that PostgreSQL can store; lengths are the field's own.
Text = Annotated[str, AfterValidator(clean_text)]


def parse_whole(text: str) -> int:
    """A whole number written with ASCII digits (an optional sign and surrounding spaces allowed)."""
    stripped = text.strip()
    if not _WHOLE.fullmatch(stripped):
        raise DomainError(tr("%(value)s is not a whole number (write ASCII digits, e.g. 3)", value=repr(text)))
    return int(stripped)


def bounded(lo: Decimal | int, hi: Decimal | int, why: Message | str, places: int | None = None,
            zero_or_at_least: Decimal | int | None = None) -> AfterValidator:
    """A validator for a configured number: inside ``lo..hi`` (and, if given, at most ``places``
    decimals; 0 or at least ``zero_or_at_least``); its message gives the range and ``why``."""
    allowed: Message = tr("%(low)s..%(high)s", low=_plain(lo), high=_plain(hi))
    if zero_or_at_least is not None:
        allowed = tr("0 or %(low)s..%(high)s", low=_plain(zero_or_at_least), high=_plain(hi))

    def check(value: Decimal | int) -> Decimal | int:
        if not lo <= value <= hi or (zero_or_at_least is not None and value != 0 and value < zero_or_at_least):
            raise DomainError(tr("%(value)s is outside the allowed range %(allowed)s (%(why)s)", value=_plain(value),
                                 allowed=allowed, why=why))
        if places is not None and isinstance(value, Decimal) and decimal_places(value) > places:
            raise DomainError(tr("%(value)s has more than %(places)s decimals (%(why)s)", value=_plain(value),
                                 places=places, why=why))
        return value

    return AfterValidator(check)

