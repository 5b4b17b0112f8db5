"""Request validation errors (FastAPI and pydantic) in the reader's language, with their limits.

``describe(error, fmt)`` is the sentence for one error without its field (for a message beside a form
field: "请输入整数" / "Input should be a valid integer"); ``problems(errors)`` is the whole summary
("ratings.communication: ..."; one Text, translated at the edge). The JSON ``errors`` list keeps each
error's ``loc`` for programs (see webapp.errors).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from domain.text import Text, tr
from domain.validation import error_text, joined
from i18n import Formatter

MAX_LISTED = 10


def describe(error: Mapping[str, Any], fmt: Formatter) -> str:
    """One pydantic error (an item of ``errors()``) as a sentence in ``fmt``'s language, without its field."""
    return fmt.text(error_text(error))


def field_of(error: Mapping[str, Any], skip_body: bool = True) -> str:
    """The field an error is about, as the API names it (``ratings.communication``); '' for the whole body."""
    return ".".join(str(p) for p in error.get("loc", ()) if not (skip_body and p == "body"))


def problem(error: Mapping[str, Any], skip_body: bool = True, whole: str = "") -> Text | str:
    """One error with its field: "ratings.communication: Input should be a valid integer" (``whole`` names
    an error about the whole body, when it has no field)."""
    where = field_of(error, skip_body) or whole
    what = error_text(error)
    return tr("%(path)s: %(message)s", path=where, message=what) if where else what


def problems(errors: Iterable[Mapping[str, Any]], skip_body: bool = True, whole: str = "") -> Text | str:
    """The first few errors with their fields, joined with semicolons."""
    return joined([problem(e, skip_body, whole) for e in list(errors)[:MAX_LISTED]],
                  lambda first, following: tr("%(first)s; %(next)s", first=first, next=following))
