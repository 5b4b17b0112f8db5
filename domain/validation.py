"""A pydantic validation error as a sentence a person can read in their language, with its limits.

Pydantic's own messages are English only. Each error type it reports for our inputs (API bodies, forms,
cycle configurations, import files) gets a message id here whose English wording is pydantic's own, so
``str()`` reads as before and the edge translates it. A refusal the domain raised inside a validator
(a ``DomainError``) keeps its own Text. Unknown types fall back to pydantic's English message.

Pure: it reads the error dicts that ``ValidationError.errors()`` returns.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from domain.errors import DomainError
from domain.text import Text, tr

_QUOTED = re.compile(r"'((?:[^'\\]|\\.)*)'")


def _number(v: Any) -> Any:
    """A limit as a number the edge can group (1,000): ints stay ints, others become Decimals."""
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, int | Decimal):
        return v
    if isinstance(v, float):
        return int(v) if v.is_integer() else Decimal(repr(v))
    return str(v)


def _comma(first: Text | str, following: Text | str) -> Text:
    return tr("%(first)s, %(next)s", first=first, next=following)


def joined(items: Sequence[Text | str], join: Callable[[Text | str, Text | str], Text] = _comma) -> Text | str:
    """Items inside one sentence, by default with the reader's list comma (a, b / a、b); each item translated."""
    if not items:
        return ""
    out = items[0]
    for item in items[1:]:
        out = join(out, item)
    return out


def _choices(expected: str) -> Text | str:
    """pydantic's "'a', 'b' or 'c'" with the commas and the "or" translated; the quoted choices stay as written."""
    quoted = [f"'{q}'" for q in _QUOTED.findall(expected)]
    if len(quoted) < 2:
        return expected
    return tr("%(choices)s or %(last)s", choices=joined(quoted[:-1]), last=quoted[-1])


def _plural(n: Any, one: Text, many: Text) -> Text:
    return one if n == 1 else many


def _ctx(error: Mapping[str, Any]) -> Mapping[str, Any]:
    ctx = error.get("ctx")
    return ctx if isinstance(ctx, Mapping) else {}


# type -> how to say it (English wording = pydantic's message template, so str() stays what it was).
_BUILDERS: dict[str, Callable[[Mapping[str, Any]], Text]] = {
    "missing": lambda c: tr("Field required"),
    "extra_forbidden": lambda c: tr("Extra inputs are not permitted"),
    "int_type": lambda c: tr("Input should be a valid integer"),
    "int_parsing": lambda c: tr("Input should be a valid integer, unable to parse string as an integer"),
    "int_parsing_size": lambda c: tr("Unable to parse input string as an integer, exceeded maximum size"),
    "int_from_float": lambda c: tr("Input should be a valid integer, got a number with a fractional part"),
    "float_type": lambda c: tr("Input should be a valid number"),
    "float_parsing": lambda c: tr("Input should be a valid number, unable to parse string as a number"),
    "finite_number": lambda c: tr("Input should be a finite number"),
    "decimal_type": lambda c: tr("Decimal input should be an integer, float, string or Decimal object"),
    "decimal_parsing": lambda c: tr("Input should be a valid decimal"),
    "decimal_max_digits": lambda c: tr("Decimal input should have no more than %(limit)s digits in total",
                                       limit=_number(c.get("max_digits"))),
    "decimal_max_places": lambda c: tr("Decimal input should have no more than %(limit)s decimal places",
                                       limit=_number(c.get("decimal_places"))),
    "decimal_whole_digits": lambda c: tr("Decimal input should have no more than %(limit)s digits before the decimal "
                                         "point", limit=_number(c.get("whole_digits"))),
    "greater_than": lambda c: tr("Input should be greater than %(limit)s", limit=_number(c.get("gt"))),
    "greater_than_equal": lambda c: tr("Input should be greater than or equal to %(limit)s", limit=_number(c.get("ge"))),
    "less_than": lambda c: tr("Input should be less than %(limit)s", limit=_number(c.get("lt"))),
    "less_than_equal": lambda c: tr("Input should be less than or equal to %(limit)s", limit=_number(c.get("le"))),
    "multiple_of": lambda c: tr("Input should be a multiple of %(limit)s", limit=_number(c.get("multiple_of"))),
    "bool_type": lambda c: tr("Input should be a valid boolean"),
    "bool_parsing": lambda c: tr("Input should be a valid boolean, unable to interpret input"),
    "string_type": lambda c: tr("Input should be a valid string"),
    "string_unicode": lambda c: tr("Input should be a valid string, unable to parse raw data as a unicode string"),
    "string_too_short": lambda c: _plural(
        c.get("min_length"), tr("String should have at least %(limit)s character", limit=_number(c.get("min_length"))),
        tr("String should have at least %(limit)s characters", limit=_number(c.get("min_length")))),
    "string_too_long": lambda c: _plural(
        c.get("max_length"), tr("String should have at most %(limit)s character", limit=_number(c.get("max_length"))),
        tr("String should have at most %(limit)s characters", limit=_number(c.get("max_length")))),
    "string_pattern_mismatch": lambda c: tr("String should match pattern '%(pattern)s'", pattern=str(c.get("pattern"))),
    "too_short": lambda c: _plural(
        c.get("min_length"),
        tr("%(kind)s should have at least %(limit)s item after validation, not %(actual)s",
           kind=str(c.get("field_type", "Value")), limit=_number(c.get("min_length")), actual=_number(c.get("actual_length"))),
        tr("%(kind)s should have at least %(limit)s items after validation, not %(actual)s",
           kind=str(c.get("field_type", "Value")), limit=_number(c.get("min_length")), actual=_number(c.get("actual_length")))),
    "too_long": lambda c: _plural(
        c.get("max_length"),
        tr("%(kind)s should have at most %(limit)s item after validation, not %(actual)s",
           kind=str(c.get("field_type", "Value")), limit=_number(c.get("max_length")), actual=_number(c.get("actual_length"))),
        tr("%(kind)s should have at most %(limit)s items after validation, not %(actual)s",
           kind=str(c.get("field_type", "Value")), limit=_number(c.get("max_length")), actual=_number(c.get("actual_length")))),
    "literal_error": lambda c: tr("Input should be %(expected)s", expected=_choices(str(c.get("expected", "")))),
    "enum": lambda c: tr("Input should be %(expected)s", expected=_choices(str(c.get("expected", "")))),
    "dict_type": lambda c: tr("Input should be a valid dictionary"),
    "mapping_type": lambda c: tr("Input should be a valid dictionary"),
    "model_type": lambda c: tr("Input should be a valid dictionary or instance of %(kind)s",
                               kind=str(c.get("class_name", ""))),
    "model_attributes_type": lambda c: tr("Input should be a valid dictionary or object to extract fields from"),
    "list_type": lambda c: tr("Input should be a valid list"),
    "tuple_type": lambda c: tr("Input should be a valid tuple"),
    "set_type": lambda c: tr("Input should be a valid set"),
    "date_type": lambda c: tr("Input should be a valid date"),
    "date_parsing": lambda c: tr("Input should be a valid date in the format YYYY-MM-DD, %(problem)s",
                                 problem=str(c.get("error", ""))),
    "date_from_datetime_parsing": lambda c: tr("Input should be a valid date or datetime, %(problem)s",
                                               problem=str(c.get("error", ""))),
    "datetime_type": lambda c: tr("Input should be a valid datetime"),
    "datetime_parsing": lambda c: tr("Input should be a valid datetime, %(problem)s", problem=str(c.get("error", ""))),
    "timezone_aware": lambda c: tr("Input should have timezone info"),
    "json_invalid": lambda c: tr("JSON decode error: %(problem)s", problem=str(c.get("error", ""))),  # FastAPI's words
    "json_type": lambda c: tr("JSON input should be string, bytes or bytearray"),
    "none_required": lambda c: tr("Input should be None"),
    "url_parsing": lambda c: tr("Input should be a valid URL, %(problem)s", problem=str(c.get("error", ""))),
    "uuid_parsing": lambda c: tr("Input should be a valid UUID, %(problem)s", problem=str(c.get("error", ""))),
    "recursion_loop": lambda c: tr("Recursion error - cyclic reference detected"),
}


def error_text(error: Mapping[str, Any]) -> Text | str:
    """One pydantic error (an item of ``ValidationError.errors()``) as a translatable sentence, without its field."""
    kind = str(error.get("type", ""))
    ctx = _ctx(error)
    cause = ctx.get("error")
    if isinstance(cause, DomainError):  # the domain's own refusal; its field path is the caller's to say
        return cause.text if cause.text is not None else cause.message
    if kind == "value_error":
        return str(error.get("msg", "")).removeprefix("Value error, ")
    build = _BUILDERS.get(kind)
    if build is None:
        return str(error.get("msg", ""))
    try:
        return build(ctx)
    except (TypeError, ValueError):  # a ctx we did not expect: pydantic's own words rather than nothing
        return str(error.get("msg", ""))
