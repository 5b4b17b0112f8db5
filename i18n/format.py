"""How a person reads instants, spans, money and ratios: in their language and time zone (Babel's CLDR data).

One Formatter per page render (or per CLI run) for one reader. Pages show times as ``<time>`` elements with
the ISO instant in ``datetime`` and the zone in ``title``; the page says once which zone its times are in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale
from babel import dates as babel_dates
from babel import numbers as babel_numbers

from domain.text import Localized, Text
from i18n.catalog import resolve_locale, translations

_BEIJING_ZONES = {"Asia/Shanghai", "Asia/Chongqing", "Asia/Chungking", "Asia/Harbin", "PRC"}
_PATTERNS = {
    "zh-CN": {"when": "y年M月d日 HH:mm", "date": "y年M月d日", "short": "M月d日 HH:mm"},
    "en": {"when": "d MMM y, HH:mm", "date": "d MMM y", "short": "d MMM, HH:mm"},
}


def zone(name: str | None, fallback: str = "Asia/Shanghai") -> ZoneInfo:
    """The named IANA zone; the fallback for a missing or unknown name (a page must still render)."""
    for candidate in (name, fallback, "UTC"):
        if candidate:
            try:
                return ZoneInfo(candidate)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return ZoneInfo("UTC")


@dataclass
class Formatter:
    locale: str = "en"
    tz: str = "Asia/Shanghai"
    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __post_init__(self) -> None:
        self.locale = resolve_locale(self.locale)
        self._zone = zone(self.tz)
        self.tz = str(self._zone)
        self._babel = Locale.parse(self.locale.replace("-", "_"))
        self._t = translations(self.locale)

    # --- words ---------------------------------------------------------------------------------------
    def gettext(self, message: str) -> str:
        return self._t.gettext(message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return self._t.ngettext(singular, plural, n)

    def text(self, value: Text | str | Any, zoned: bool = False) -> str:
        """A Text (or an error carrying one) translated, its parameters formatted for this reader.

        ``zoned``: times say their zone, for a sentence that stands alone (a refusal, a flash message).
        """
        if isinstance(value, Mapping):  # a Text stored as its details (a JSON column: a delivery's reason)
            value = Text.from_details(value) or str(value)
        text = value if isinstance(value, Text) else getattr(value, "text", None)
        if isinstance(text, Text):
            return text.render(self.gettext, self._zoned_value if zoned else self.value, self.locale)
        if isinstance(value, Localized):
            return value.localized(self.locale)
        return "" if value is None else str(value)

    def _zoned_value(self, v: Any) -> str:
        return self.when_zoned(v) if isinstance(v, datetime) else self.value(v)

    def value(self, v: Any) -> str:
        shown_by = getattr(v, "shown_by", None)  # a value that picks its own format (domain.sentences' Money)
        if callable(shown_by):
            return shown_by(self)
        if isinstance(v, datetime):
            return self.when(v)
        if isinstance(v, date):
            return self.date(v)
        if isinstance(v, Decimal | float) and not isinstance(v, bool):
            return self.number(v)
        if isinstance(v, int) and not isinstance(v, bool):
            return self.number(v, max_fraction=0)
        return str(v)

    # --- time ----------------------------------------------------------------------------------------
    def local(self, at: datetime) -> datetime:
        if at.tzinfo is None:  # the database hands back aware times; a naive one is UTC by our convention
            at = at.replace(tzinfo=UTC)
        return at.astimezone(self._zone)

    def when(self, at: datetime | None) -> str:
        """3 Dec 2026, 18:00 / 2026年12月3日 18:00 in the reader's zone (the page names the zone once)."""
        if at is None:
            return "—"
        return babel_dates.format_datetime(self.local(at), _PATTERNS[self.locale]["when"], locale=self._babel)

    def when_zoned(self, at: datetime | None) -> str:
        """An instant with its zone said, for a sentence that stands alone (a flash message, an e-mail)."""
        if at is None:
            return "—"
        if self.locale == "zh-CN":  # 2026年12月3日 18:00（北京时间）
            zone_said = self.gettext("Beijing time") if self.tz in _BEIJING_ZONES else self.tz
            return f"{self.when(at)}（{zone_said}）"
        return f"{self.when(at)} ({self.tz})"  # 3 Dec 2026, 18:00 (Asia/Shanghai)

    def date(self, d: date | datetime | None) -> str:
        if d is None:
            return "—"
        if isinstance(d, datetime):
            d = self.local(d)
        return babel_dates.format_date(d, _PATTERNS[self.locale]["date"], locale=self._babel)

    def zone_name(self) -> str:
        """北京时间 (Asia/Shanghai) / Beijing time (Asia/Shanghai); other zones by their IANA name."""
        if self.tz in _BEIJING_ZONES:
            beijing = self.gettext("Beijing time")
            return f"{beijing} ({self.tz})"
        return self.tz

    def span(self, delta: timedelta) -> str:
        """A length of time as people say it: 2 days, 3 hours / 2天, 3小时 (rounded to its largest unit)."""
        return babel_dates.format_timedelta(abs(delta), threshold=1.5, locale=self._babel)

    def due_hint(self, due: datetime | None, done: bool = False) -> str:
        """due in 2 days / 3 hours overdue / due now — how far a deadline is from now."""
        if due is None or done:
            return ""
        delta = self.local(due) - self.now.astimezone(self._zone)
        if abs(delta) < timedelta(minutes=1):
            return self.gettext("due now")
        if delta > timedelta(0):
            return self.gettext("due in %(span)s") % {"span": self.span(delta)}
        return self.gettext("%(span)s overdue") % {"span": self.span(delta)}

    def ago(self, at: datetime | None) -> str:
        if at is None:
            return ""
        return babel_dates.format_timedelta(self.local(at) - self.now.astimezone(self._zone), threshold=1.5,
                                            add_direction=True, locale=self._babel)

    # --- numbers -------------------------------------------------------------------------------------
    def number(self, v: Any, max_fraction: int = 6) -> str:
        """1,234.5 — grouping per locale, no trailing zeros, never scientific notation."""
        if v is None or v == "":
            return "—"
        d = _decimal(v)
        if d is None:
            return str(v)
        pattern = "#,##0." + "#" * max_fraction if max_fraction else "#,##0"
        try:
            return babel_numbers.format_decimal(d, pattern, locale=self._babel)
        except (InvalidOperation, ValueError, OverflowError):  # beyond the default context (1E+30 typed in a form)
            return f"{d:f}" if d.is_finite() else str(d)

    def money(self, amount: Any, currency: str = "CNY") -> str:
        """¥2,816.04 / CN¥2,816.04 — grouping, and exactly the currency's minor unit (rounded half up)."""
        if amount is None or amount == "":
            return "—"
        d = _decimal(amount)
        if d is None:
            return str(amount)
        digits = babel_numbers.get_currency_precision(currency)
        d = d.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)
        return babel_numbers.format_currency(d, currency, locale=self._babel, currency_digits=True)

    def percent(self, ratio: Any, max_fraction: int = 1) -> str:
        """0.675 → 67.5 %; a ratio, not a number already in percent."""
        if ratio is None or ratio == "":
            return "—"
        d = _decimal(ratio)
        if d is None:
            return str(ratio)
        return babel_numbers.format_percent(d, "#,##0." + "#" * max_fraction + "%", locale=self._babel)

    def count(self, n: int) -> str:
        return babel_numbers.format_decimal(n, locale=self._babel)


def _decimal(v: Any) -> Decimal | None:
    if isinstance(v, Decimal):
        return v
    try:
        return Decimal(str(v))
    except (InvalidOperation, ValueError):
        return None
