"""Money and exact-number helpers: Decimal only, rounded once at the money boundary.

All arithmetic runs inside a local decimal context (``calc_context``) so nothing here reads or
mutates the thread's global context, which keeps results identical in workflows and activities.
"""

from __future__ import annotations

import contextvars
import functools
import math
import re
from collections.abc import Callable, Sequence
from datetime import date
from decimal import (
    ROUND_HALF_EVEN,
    ROUND_HALF_UP,
    Context,
    Decimal,
    DivisionByZero,
    InvalidOperation,
    Overflow,
    localcontext,
)
from typing import Annotated, Literal, ParamSpec, TypeVar

from pydantic import BeforeValidator

from domain.errors import DomainError
from domain.text import tr

RoundingMode = Literal["HALF_UP", "HALF_EVEN"]
ROUNDING_MODES: dict[str, str] = {"HALF_UP": ROUND_HALF_UP, "HALF_EVEN": ROUND_HALF_EVEN}

#: Working precision for intermediate results: far more than any money or score needs, so the
#: single final rounding is the only one that matters.
CALC_PRECISION = 50

#: ISO 4217 currencies whose minor unit is not 2.
_MINOR_UNIT_EXCEPTIONS: dict[str, int] = {
    "JPY": 0,
    "KRW": 0,
    "KWD": 3,
    "BHD": 3,
    "OMR": 3,
    "JOD": 3,
    "TND": 3,
}
_CURRENCY_RE = re.compile(r"^[A-Z]{3}$")


_CALC_CONTEXT = Context(prec=CALC_PRECISION, rounding=ROUND_HALF_EVEN, traps=[InvalidOperation, DivisionByZero, Overflow])


def calc_context() -> Context:
    """A fresh high-precision context that traps invalid operations (used with ``localcontext``)."""
    return _CALC_CONTEXT.copy()  # copying a template is several times cheaper than building one


@functools.cache
def _rounding_context(rounding: str) -> Context:
    """A calculation context with the given rounding, shared: quantize only ever sets its flags."""
    ctx = _CALC_CONTEXT.copy()
    ctx.rounding = rounding
    return ctx


@functools.lru_cache(maxsize=64)
def _exponent(places: int) -> Decimal:
    return Decimal(1).scaleb(-places)


_HALF_UP = _rounding_context(ROUND_HALF_UP)  # what round_to(..., "HALF_UP") uses, looked up once


P = ParamSpec("P")
R = TypeVar("R")


def exact(fn: Callable[P, R]) -> Callable[P, R]:
    """Run ``fn`` inside a fresh ``calc_context()``, so its arithmetic never depends on the caller's context."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        if _inside_exact.get():  # already in the domain's own context: entering it again changes nothing
            return fn(*args, **kwargs)
        token = _inside_exact.set(True)
        try:
            with localcontext(calc_context()):
                return fn(*args, **kwargs)
        finally:
            _inside_exact.reset(token)

    return wrapper


_inside_exact: contextvars.ContextVar[bool] = contextvars.ContextVar("kamreview_exact", default=False)


def to_decimal(value: object, path: str | None = None) -> Decimal:
    """Turn int/str/Decimal (and finite floats, as YAML writes ``0.8``) into a finite Decimal.

    Floats go through ``repr`` so ``0.8`` becomes ``Decimal("0.8")``, not its binary expansion.
    Booleans, NaN, infinities and non-ASCII digits are rejected: a config number must be a real number.
    """
    if isinstance(value, bool):
        raise DomainError(tr("expected a number, got %(value)s", value=repr(value)), path)
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise DomainError(tr("expected a finite number, got %(value)s", value=repr(value)), path)
        result = Decimal(repr(value))
    elif isinstance(value, str):
        if not value.isascii():  # Decimal("３") is 3: a full-width digit is a typing accident, not a number
            raise DomainError(tr("expected a number written with ASCII digits, got %(value)s", value=repr(value)), path)
        try:
            result = Decimal(value.strip().replace("_", ""))
        except InvalidOperation:
            raise DomainError(tr("expected a number, got %(value)s", value=repr(value)), path) from None
    else:
        raise DomainError(tr("expected a number, got %(kind)s %(value)s", kind=type(value).__name__, value=repr(value)), path)
    if not result.is_finite():
        raise DomainError(tr("expected a finite number, got %(value)s", value=repr(value)), path)
    return result


def require_decimal(value: object, path: str) -> Decimal:
    """Runtime amounts must already be Decimal (or int): a float here means precision was already lost."""
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise DomainError(tr("expected a Decimal, got %(kind)s %(value)s", kind=type(value).__name__, value=repr(value)), path)
    result = Decimal(value)
    if not result.is_finite():
        raise DomainError(tr("expected a finite number, got %(value)s", value=repr(value)), path)
    return result


def _num_validator(value: object) -> Decimal:
    return to_decimal(value)


#: A config/result number: accepts int, str, Decimal and finite floats; always stored as Decimal.
Num = Annotated[Decimal, BeforeValidator(_num_validator)]


def minor_unit(currency: str) -> int:
    """Digits after the decimal point for an ISO 4217 code; unknown well-formed codes use 2."""
    known = _MINOR_UNITS_SEEN.get(currency) if type(currency) is str else None
    if known is not None:  # asked for every figure of every line: a code once checked is not matched again
        return known
    if not isinstance(currency, str) or not _CURRENCY_RE.match(currency):
        raise DomainError(tr("%(currency)s is not an ISO 4217 code (three upper-case letters, e.g. CNY)",
                             currency=repr(currency)), "currency")
    places = _MINOR_UNIT_EXCEPTIONS.get(currency, 2)
    if len(_MINOR_UNITS_SEEN) < 1000:  # well-formed codes only; bounded, whatever a file holds
        _MINOR_UNITS_SEEN[currency] = places
    return places


_MINOR_UNITS_SEEN: dict[str, int] = {}


def check_rounding_mode(mode: str) -> str:
    """The ``decimal`` rounding constant for a declared mode, or a DomainError naming the field."""
    try:
        return ROUNDING_MODES[mode]
    except (KeyError, TypeError):
        raise DomainError(tr("%(mode)s is not a rounding mode; use HALF_UP or HALF_EVEN", mode=repr(mode)), "rounding") from None


def round_money(amount: Decimal | int, currency: str, mode: RoundingMode) -> Decimal:
    """Round once to the currency's minor unit with the declared mode (HALF_UP: half away from zero)."""
    rounding = check_rounding_mode(mode)
    value = require_decimal(amount, "amount")
    return value.quantize(_exponent(minor_unit(currency)), context=_rounding_context(rounding))


def in_minor_unit(amount: Decimal | int, currency: str) -> Decimal:
    """A stored amount as people and payroll read it: exactly the currency's minor unit (2816.0400 CNY → 2816.04,
    JPY → 2816). Stored amounts are already rounded by their plan, so this only drops the storage scale."""
    return round_money(amount, currency, "HALF_UP")


def round_to(value: Decimal, decimals: int, mode: RoundingMode = "HALF_UP") -> Decimal:
    """Round a score-like number to ``decimals`` places (used for scores and displayed factors)."""
    return value.quantize(_exponent(decimals), context=_rounding_context(check_rounding_mode(mode)))


@exact
def allocate(total: Decimal | int, weights: Sequence[Decimal | int], currency: str) -> list[Decimal]:
    """Split ``total`` in proportion to ``weights`` so the parts sum exactly to ``total``.

    Largest-remainder (Hamilton) method on minor units: every part gets the floor of its exact
    share, and the units left over go to the largest remainders, earlier index first on ties.
    A negative total is split like its absolute value and negated, so the parts still sum exactly.
    """
    places = minor_unit(currency)
    value = require_decimal(total, "total")
    if not weights:
        raise DomainError(tr("need at least one weight"), "weights")
    ws = [require_decimal(w, f"weights.{i}") for i, w in enumerate(weights)]
    if any(w < 0 for w in ws):
        raise DomainError(tr("weights must not be negative"), "weights")
    weight_sum = sum(ws, Decimal(0))
    if weight_sum == 0:
        raise DomainError(tr("weights sum to 0; nothing to allocate against"), "weights")
    scaled = value.scaleb(places)
    if scaled != scaled.to_integral_value():
        raise DomainError(tr("%(value)s has more decimals than %(currency)s allows (%(places)s)",
                             value=str(value), currency=currency, places=places), "total")
    units = int(scaled)
    sign = -1 if units < 0 else 1
    units = abs(units)
    # Exact integer arithmetic on shares: units * w / W, with w and W scaled to integers.
    scale = max(decimal_places(w) for w in ws)
    int_ws = [int(w.scaleb(scale)) for w in ws]
    int_sum = sum(int_ws)
    floors: list[int] = []
    remainders: list[int] = []
    for w in int_ws:
        q, r = divmod(units * w, int_sum)
        floors.append(q)
        remainders.append(r)
    leftover = units - sum(floors)
    order = sorted(range(len(ws)), key=lambda i: (-remainders[i], i))
    for i in order[:leftover]:
        floors[i] += 1
    quantum = Decimal(1).scaleb(-places)
    return [(Decimal(sign * f) * quantum).quantize(quantum) for f in floors]


def decimal_places(value: Decimal) -> int:
    """Digits after the point in a finite Decimal's representation (0 for integers)."""
    exponent = value.as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def inclusive_days(start: date, end: date) -> int:
    """Calendar days from ``start`` to ``end``, both included (1 Jan - 30 Jun = 181)."""
    if end < start:
        raise DomainError(tr("end %(end)s is before start %(start)s", end=end, start=start), "end")
    return (end - start).days + 1


def overlap_days(start: date, end: date, other_start: date | None, other_end: date | None) -> int:
    """Inclusive days of [start, end] that also fall inside [other_start, other_end] (open ends allowed)."""
    lo = max(start, other_start) if other_start is not None else start
    hi = min(end, other_end) if other_end is not None else end
    return inclusive_days(lo, hi) if hi >= lo else 0


def proration_days(
    period_start: date, period_end: date, employment_start: date | None, employment_end: date | None
) -> tuple[int, int]:
    """(days employed inside the period, days in the period), both inclusive; the factor is their exact ratio.

    Returned as two integers rather than a Decimal so the caller multiplies first and divides
    once, and rounds once at the money boundary.
    """
    if employment_start is not None and employment_end is not None and employment_end < employment_start:
        raise DomainError(
            tr("employment_end %(employment_end)s is before employment_start %(employment_start)s",
               employment_end=employment_end, employment_start=employment_start),
            "employment_end",
        )
    total = inclusive_days(period_start, period_end)
    return overlap_days(period_start, period_end, employment_start, employment_end), total


def proration_factor(
    period_start: date, period_end: date, employment_start: date | None, employment_end: date | None
) -> Decimal:
    """The proration factor as a Decimal at working precision (for display and tests)."""
    days, total = proration_days(period_start, period_end, employment_start, employment_end)
    return calc_context().divide(Decimal(days), Decimal(total))


def prorate(amount: Decimal, days: int, total_days: int) -> Decimal:
    """``amount × days / total_days`` multiplied first and divided once, unrounded."""
    if total_days <= 0:
        raise DomainError(tr("a period has at least one day"), "total_days")
    ctx = calc_context()
    return ctx.divide(ctx.multiply(amount, Decimal(days)), Decimal(total_days))


def fmt_money(amount: Decimal, currency: str) -> str:
    """``1,234.50 USD``: how amounts appear in explanations."""
    return f"{amount:,} {currency}"


@functools.lru_cache(maxsize=16384)  # equal Decimals format alike; plan constants recur in every line
def fmt_num(value: Decimal, max_places: int = 4) -> str:
    """A readable number: at most ``max_places`` decimals, trailing zeros dropped (``1.5``, ``0.3333``)."""
    return fmt_plain(value, max_places)


def fmt_plain(value: Decimal, max_places: int = 4) -> str:
    """``fmt_num`` without its cache, for values that seldom repeat (an attainment, an unrounded amount).

    Hashing a Decimal and evicting an LRU entry cost more than formatting it once; the text is the
    same as ``fmt_num``'s because both round HALF_UP to ``max_places`` and then normalize.
    """
    text = str(value)
    if len(text) <= 30 and "E" not in text:
        # Plain notation: with at most max_places decimals nothing is rounded, and normalizing only drops
        # the trailing zeros of the fraction (str is several times cheaper than quantize, normalize, format).
        dot = text.find(".")
        if dot < 0:
            return "0" if text == "-0" else text
        if len(text) - dot - 1 <= max_places:
            text = text.rstrip("0").rstrip(".")
            return "0" if text == "-0" else text
    text = format(value.quantize(_exponent(max_places), context=_HALF_UP).normalize(context=_CALC_CONTEXT), "f")
    return "0" if text in ("-0", "") else text


def fmt_plain_pair(value: Decimal, wide: int, narrow: int) -> tuple[str, str]:
    """(``fmt_plain(value, wide)``, ``fmt_plain(value, narrow)``), formatting only once when that is enough.

    When the value rounded to ``wide`` places has at most ``narrow`` decimals, it lies within half a
    ``wide`` unit of a ``narrow``-place number, so rounding to ``narrow`` places gives that same number.
    """
    text = fmt_plain(value, wide)
    dot = text.find(".")
    if dot < 0 or len(text) - dot - 1 <= narrow:
        return text, text
    return text, fmt_plain(value, narrow)
