"""Money: minor units, rounding once, largest-remainder allocation, inclusive-day proration."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal, InvalidOperation

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.errors import DomainError
from domain.money import (
    _CALC_CONTEXT,
    allocate,
    fmt_num,
    fmt_plain,
    fmt_plain_pair,
    inclusive_days,
    minor_unit,
    overlap_days,
    prorate,
    proration_days,
    proration_factor,
    round_money,
    round_to,
    to_decimal,
)

D = Decimal


@pytest.mark.parametrize(
    ("currency", "places"),
    [("JPY", 0), ("KRW", 0), ("USD", 2), ("EUR", 2), ("CNY", 2), ("KWD", 3), ("BHD", 3), ("OMR", 3), ("JOD", 3),
     ("TND", 3), ("XYZ", 2)],
)
def test_minor_unit(currency: str, places: int) -> None:
    assert minor_unit(currency) == places


@pytest.mark.parametrize("bad", ["usd", "US", "USDX", "", "U$D", 840])
def test_minor_unit_rejects_non_codes(bad: object) -> None:
    with pytest.raises(DomainError, match="currency"):
        minor_unit(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("amount", "currency", "mode", "expected"),
    [
        ("2.675", "USD", "HALF_UP", "2.68"),
        ("2.675", "USD", "HALF_EVEN", "2.68"),
        ("2.665", "USD", "HALF_UP", "2.67"),
        ("2.665", "USD", "HALF_EVEN", "2.66"),
        ("-2.675", "USD", "HALF_UP", "-2.68"),
        ("1234.5", "JPY", "HALF_UP", "1235"),
        ("1234.5", "JPY", "HALF_EVEN", "1234"),
        ("1.2345", "KWD", "HALF_UP", "1.235"),
        ("1.2345", "KWD", "HALF_EVEN", "1.234"),
        ("5041.0958904109589", "USD", "HALF_UP", "5041.10"),
        ("7", "CNY", "HALF_UP", "7.00"),
    ],
)
def test_round_money(amount: str, currency: str, mode: str, expected: str) -> None:
    result = round_money(D(amount), currency, mode)  # type: ignore[arg-type]
    assert result == D(expected)
    assert str(result) == expected


@pytest.mark.parametrize("mode", ["ROUND_UP", "half_up", "BANKERS", ""])
def test_round_money_rejects_unknown_mode(mode: str) -> None:
    with pytest.raises(DomainError, match="rounding"):
        round_money(D("1.005"), "USD", mode)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [1.005, float("nan"), D("NaN"), D("Infinity"), "1.00", True])
def test_round_money_refuses_non_decimal(bad: object) -> None:
    with pytest.raises(DomainError, match="amount"):
        round_money(bad, "USD", "HALF_UP")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("total", "weights", "currency", "expected"),
    [
        ("8.00", [1, 1, 1], "USD", ["2.67", "2.67", "2.66"]),  # the public example
        ("-8.00", [1, 1, 1], "USD", ["-2.67", "-2.67", "-2.66"]),
        ("100", [1, 1, 1], "JPY", ["34", "33", "33"]),
        ("10.00", [1, 2], "USD", ["3.33", "6.67"]),
        ("0.05", [1, 1, 1, 1, 1, 1], "USD", ["0.01", "0.01", "0.01", "0.01", "0.01", "0.00"]),
        ("1.000", [D("0.5"), D("0.25"), D("0.25")], "KWD", ["0.500", "0.250", "0.250"]),
        ("5.00", [0, 1], "EUR", ["0.00", "5.00"]),
        ("0.10", [3, 3, 3], "USD", ["0.04", "0.03", "0.03"]),  # ties: earlier index wins
    ],
)
def test_allocate_golden(total: str, weights: list[object], currency: str, expected: list[str]) -> None:
    parts = allocate(D(total), weights, currency)  # type: ignore[arg-type]
    assert parts == [D(e) for e in expected]
    assert sum(parts, D(0)) == D(total)


@pytest.mark.parametrize(
    ("total", "weights", "field"),
    [
        (D("8.00"), [], "weights"),
        (D("8.00"), [1, -1], "weights"),
        (D("8.00"), [0, 0], "weights"),
        (D("8.001"), [1, 1], "total"),
        (D("8.00"), [1.5, 1], "weights.0"),
        (8.0, [1, 1], "total"),
    ],
)
def test_allocate_rejects(total: object, weights: list[object], field: str) -> None:
    with pytest.raises(DomainError, match=field):
        allocate(total, weights, "USD")  # type: ignore[arg-type]


@given(
    units=st.integers(min_value=-10**9, max_value=10**9),
    weights=st.lists(st.integers(min_value=0, max_value=10**6), min_size=1, max_size=12).filter(lambda w: sum(w) > 0),
    currency=st.sampled_from(["JPY", "USD", "KWD"]),
)
@settings(max_examples=200, deadline=None)
def test_allocate_parts_always_sum_to_the_whole(units: int, weights: list[int], currency: str) -> None:
    places = minor_unit(currency)
    total = D(units).scaleb(-places)
    parts = allocate(total, weights, currency)
    assert sum(parts, D(0)) == total
    assert len(parts) == len(weights)
    unit = D(1).scaleb(-places)
    for part, w in zip(parts, weights, strict=True):
        exact = total * w / sum(weights)
        assert abs(part - exact) < unit  # each part is within one minor unit of its exact share
        assert part.as_tuple().exponent == -places
    assert allocate(total, weights, currency) == parts  # deterministic


@given(weights=st.lists(st.decimals(min_value=0, max_value=1000, places=3), min_size=1, max_size=8)
       .filter(lambda w: sum(w) > 0), cents=st.integers(min_value=0, max_value=10**7))
@settings(max_examples=100, deadline=None)
def test_allocate_decimal_weights_sum(weights: list[Decimal], cents: int) -> None:
    total = D(cents).scaleb(-2)
    assert sum(allocate(total, weights, "USD"), D(0)) == total


@pytest.mark.parametrize(
    ("start", "end", "days"),
    [
        (date(2023, 1, 1), date(2023, 6, 30), 181),  # the public example
        (date(2024, 1, 1), date(2024, 6, 30), 182),  # leap year
        (date(2023, 1, 1), date(2023, 12, 31), 365),
        (date(2023, 10, 1), date(2023, 12, 31), 92),
        (date(2023, 5, 5), date(2023, 5, 5), 1),
    ],
)
def test_inclusive_days(start: date, end: date, days: int) -> None:
    assert inclusive_days(start, end) == days


def test_inclusive_days_rejects_reversed() -> None:
    with pytest.raises(DomainError, match="end"):
        inclusive_days(date(2023, 2, 1), date(2023, 1, 31))


@pytest.mark.parametrize(
    ("emp_start", "emp_end", "expected"),
    [
        (None, None, (365, 365)),
        (date(2023, 10, 1), None, (92, 365)),
        (None, date(2023, 6, 30), (181, 365)),
        (date(2022, 3, 1), date(2024, 3, 1), (365, 365)),
        (date(2024, 1, 2), None, (0, 365)),
        (None, date(2022, 12, 31), (0, 365)),
        (date(2023, 12, 31), date(2023, 12, 31), (1, 365)),
    ],
)
def test_proration_days(emp_start: date | None, emp_end: date | None, expected: tuple[int, int]) -> None:
    assert proration_days(date(2023, 1, 1), date(2023, 12, 31), emp_start, emp_end) == expected


def test_proration_rejects_employment_end_before_start() -> None:
    with pytest.raises(DomainError, match="employment_end"):
        proration_days(date(2023, 1, 1), date(2023, 12, 31), date(2023, 5, 1), date(2023, 4, 1))


def test_proration_public_example() -> None:
    # 20,000 × 92/365 = 5,041.10: exact ratio, multiplied first, rounded once.
    assert round_money(prorate(D(20000), 92, 365), "USD", "HALF_UP") == D("5041.10")
    assert overlap_days(date(2023, 1, 1), date(2023, 12, 31), date(2023, 10, 1), None) == 92
    factor = proration_factor(date(2023, 1, 1), date(2023, 12, 31), date(2023, 10, 1), None)
    assert abs(factor - D(92) / D(365)) < D("1e-25")


@pytest.mark.parametrize(("value", "expected"), [(1, D(1)), ("0.8", D("0.8")), (0.8, D("0.8")), (D("1.50"), D("1.50")),
                                                 ("1_000", D(1000))])
def test_to_decimal_accepts(value: object, expected: Decimal) -> None:
    assert to_decimal(value) == expected


@pytest.mark.parametrize("value", [float("nan"), float("inf"), "NaN", "-Infinity", "abc", True, None, [1]])
def test_to_decimal_rejects(value: object) -> None:
    with pytest.raises(DomainError):
        to_decimal(value)


def _fmt_reference(value: Decimal, max_places: int) -> str:
    """fmt_num as first written: round HALF_UP to max_places, normalize, plain notation."""
    text = format(round_to(value, max_places).normalize(context=_CALC_CONTEXT), "f")
    return "0" if text in ("-0", "") else text


FMT_CASES = ["0", "-0", "0.000", "-0.000", "0E-7", "0E+3", "-0E+2", "1E+1", "1.0E+2", "120", "100.00", "-100.0",
             "0.00005", "0.000049999", "0.00015", "-0.00015", "9.99995", "9.999949", "-9.99995", "1E-7", "1.23E-5",
             "12345678901234567890123456789", "123456789012345678901234567890.1", "1" * 29 + ".5", "0.1000000000",
             "0.10000000000", "5E-11", "-5E-11", "4.9E-11", "450032.58", "0.6139", "1.5", "2.0", "30000"]


@pytest.mark.parametrize("text", FMT_CASES)
@pytest.mark.parametrize("places", [0, 2, 4, 10])
def test_fmt_plain_is_fmt_num_without_the_cache(text: str, places: int) -> None:
    value = D(text)
    assert fmt_plain(value, places) == fmt_num(value, places) == _fmt_reference(value, places)
    assert fmt_plain_pair(value, 10, places) == (_fmt_reference(value, 10), _fmt_reference(value, places))


@given(coefficient=st.integers(min_value=-(10 ** 45), max_value=10 ** 45), exponent=st.integers(min_value=-30, max_value=8),
       places=st.sampled_from([0, 2, 4, 10]))
@settings(max_examples=2000, deadline=None)
def test_fmt_plain_agrees_on_any_decimal(coefficient: int, exponent: int, places: int) -> None:
    value = D(coefficient).scaleb(exponent)

    def outcome(fn: Callable[[], object]) -> object:
        try:
            return fn()
        except InvalidOperation:  # more digits than the working precision: the same error either way
            return InvalidOperation

    assert outcome(lambda: fmt_plain(value, places)) == outcome(lambda: _fmt_reference(value, places))
    assert outcome(lambda: fmt_plain_pair(value, 10, places)) == outcome(
        lambda: (_fmt_reference(value, 10), _fmt_reference(value, places)))
