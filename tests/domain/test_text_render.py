"""``str(Text)`` takes a shortcut for the common parameter types (explanations of millions of deal lines are
rendered that way); it must say exactly what the general rendering says in English."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from domain.phases import PhaseName
from domain.sentences import money, percent
from domain.text import Text, _plain, tr

values = st.one_of(
    st.text(max_size=8), st.integers(-10**6, 10**6), st.booleans(),
    st.decimals(allow_nan=False, allow_infinity=False, places=4, min_value=-10**9, max_value=10**9),
    st.dates(), st.datetimes(timezones=st.just(UTC)),
    st.builds(money, st.decimals(min_value=0, max_value=10**7, places=2), st.sampled_from(["CNY", "JPY", "KWD"])),
    st.builds(percent, st.decimals(min_value=0, max_value=3, places=4), st.integers(0, 2)),
    st.builds(lambda s: tr("nested %(x)s", x=s), st.text(max_size=4)),
    st.builds(PhaseName, st.sampled_from(["calibration", "self_review", "x_y"])),
    st.lists(st.text(max_size=4), max_size=3),
)


@given(values, values)
def test_str_is_the_english_rendering(a, b):
    text = tr("a %(a)s and b %(b)s", a=a, b=b)
    assert str(text) == text.render(lambda s: s, _plain, "en")


def test_localized_parameters_and_broken_placeholders():
    name = PhaseName("calibration")
    assert str(tr("phase %(p)s", p=name)) == f"phase {name.localized('en')}"
    assert str(Text("no params")) == "no params"
    broken = Text("%(missing)s here %(n)d", {"n": "x"})  # a wording whose placeholders do not fit
    try:
        expected = broken.render(lambda s: s, _plain, "en")
    except (KeyError, ValueError, TypeError) as err:
        expected = type(err)
    try:
        got = str(broken)
    except (KeyError, ValueError, TypeError) as err:
        got = type(err)
    assert got == expected
    assert str(tr("on %(d)s at %(t)s", d=date(2025, 1, 2), t=datetime(2025, 1, 2, 3, 4, tzinfo=UTC))) == (
        "on 2025-01-02 at 2025-01-02T03:04+00:00")
    assert str(tr("%(v)s", v=Decimal("1.500"))) == "1.5"
