"""What a message says: one Jinja template per kind and language, rendered to subject, plain text and HTML.

Each ``notify/templates/<kind>.<locale>.jinja`` has three blocks, ``subject``, ``text`` and ``html``. The same
file is compiled twice: once without escaping (subject and text, which are not HTML) and once with autoescape
(the HTML block), so a name such as ``<b>王</b>`` arrives as text in both. The HTML block is then wrapped in
``_layout.html.jinja``. Undefined parameters raise (StrictUndefined) and so does a ``None`` value, so a
message never says "None" or shows a template placeholder. The parameters of each kind are listed in
docs/notifications.md.

Times are shown in the recipient's time zone with the zone named (never bare UTC), money with digit grouping
and the currency's minor unit, phases by their names from ``domain.phases``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jinja2
from markupsafe import Markup, escape

from domain.errors import DomainError
from domain.money import require_decimal, round_money, to_decimal
from domain.phases import phase_label
from i18n.catalog import resolve_locale  # the one reading of a locale tag, shared with the pages
from notify.message import KINDS, Rendered

TEMPLATES = Path(__file__).resolve().parent / "templates"
# Zones a Chinese reader knows as 北京时间 (the IANA names of mainland China's single zone).
_BEIJING_ZONES = {"Asia/Shanghai", "Asia/Chongqing", "Asia/Chungking", "Asia/Harbin", "PRC"}
_EN_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_RESERVED = ("_locale", "_tz", "_now")
# Parameters that choose a branch of a template: any other value would silently pick the wrong wording.
_CHOICES: dict[str, dict[str, tuple[str, ...]]] = {"escalation": {"outcome": ("extended", "closed")}}


def _zone(tz: str) -> tzinfo:
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise DomainError(f"{tz!r} is not a time zone name (e.g. Asia/Shanghai)", "timezone") from None


def _defined(value: object) -> object:
    """A filter's argument, or the template's "'due' is undefined" error when the parameter was not given."""
    if isinstance(value, jinja2.Undefined):
        value._fail_with_undefined_error()
    return value


@functools.lru_cache(maxsize=4096)  # a batch's times repeat: every message of a phase has the same due time
def _parse_time(value: str) -> datetime:
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise DomainError(f"{value!r} is not an ISO 8601 time", "time") from None


def _as_datetime(value: object) -> datetime:
    """An aware datetime from a datetime or an ISO 8601 string; a naive time is refused (which zone would it be?)."""
    value = _defined(value)
    if isinstance(value, str):
        value = _parse_time(value)
    if not isinstance(value, datetime):
        raise DomainError(f"expected a time, got {type(value).__name__} {value!r}", "time")
    if value.tzinfo is None or value.utcoffset() is None:
        raise DomainError(f"{value.isoformat()} has no time zone; pass an aware time or an ISO string with an offset", "time")
    return value


@jinja2.pass_context
def when(ctx: jinja2.runtime.Context, value: object) -> str:
    """A date and time as the recipient reads it, zone named: 2026年12月3日 18:00（北京时间 Asia/Shanghai）."""
    return _when(_as_datetime(value), ctx["_tz"], ctx["_locale"])


@functools.lru_cache(maxsize=4096)
def _when(instant: datetime, tz: tzinfo, lang: str) -> str:
    d = instant.astimezone(tz)
    zone = str(tz)
    if lang == "zh-CN":
        label = f"北京时间 {zone}" if zone in _BEIJING_ZONES else f"{zone} 时间"
        return f"{d.year}年{d.month}月{d.day}日 {d:%H:%M}（{label}）"
    return f"{d.day} {_EN_MONTHS[d.month - 1]} {d.year}, {d:%H:%M} ({zone})"


@jinja2.pass_context
def day(ctx: jinja2.runtime.Context, value: object) -> str:
    """The date alone, for a subject line: 12月3日 / 3 Dec."""
    return _day(_as_datetime(value), ctx["_tz"], ctx["_locale"])


@functools.lru_cache(maxsize=4096)
def _day(instant: datetime, tz: tzinfo, lang: str) -> str:
    d = instant.astimezone(tz)
    return f"{d.month}月{d.day}日" if lang == "zh-CN" else f"{d.day} {_EN_MONTHS[d.month - 1]}"


@jinja2.pass_context
def hint(ctx: jinja2.runtime.Context, value: object) -> str:
    """How far away a deadline is, with its punctuation (（还剩 3 天） / ", 3 days from now"); empty once it has passed."""
    seconds = (_as_datetime(value) - ctx["_now"]).total_seconds()
    if seconds <= 0:
        return ""
    zh = ctx["_locale"] == "zh-CN"
    hours = seconds / 3600
    if hours < 1:
        return "（不到 1 小时）" if zh else ", less than an hour from now"
    if hours < 36:
        n = round(hours)
        return f"（还剩约 {n} 小时）" if zh else f", about {n} hour{'s' if n != 1 else ''} from now"
    n = round(hours / 24)
    return f"（还剩 {n} 天）" if zh else f", {n} days from now"


@jinja2.pass_context
def phase_name(ctx: jinja2.runtime.Context, key: str) -> str:
    return phase_label(str(_defined(key)), ctx["_locale"])


@jinja2.pass_context
def money(ctx: jinja2.runtime.Context, amount: object, currency: str) -> str:
    """An amount with grouping and the currency's minor unit: 人民币 1,234,567.50 元 / CNY 1,234,567.50."""
    amount = _defined(amount)
    value = round_money(require_decimal(to_decimal(amount) if isinstance(amount, str) else amount, "amount"), currency, "HALF_UP")
    text = f"{value:,}"
    if ctx["_locale"] == "zh-CN":
        return f"人民币 {text} 元" if currency == "CNY" else f"{currency} {text}"
    return f"{currency} {text}"


def _no_none(value: object) -> object:
    """Jinja's finalize: a None would print as "None" in a message; refuse it instead."""
    if value is None:
        raise DomainError("a message parameter is None; leave it out or give a value", "params")
    return value


def _environment(autoescape: bool) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=autoescape,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=_no_none,
        auto_reload=False,
    )
    env.filters.update(when=when, day=day, hint=hint, phase_name=phase_name, money=money)
    return env


_PLAIN = _environment(autoescape=False)
_HTML = _environment(autoescape=True)
_BLANK_LINES = re.compile(r"\n[ \t]*\n(?:[ \t]*\n)+")
_UNDEFINED_NAME = re.compile(r"'([^']+)' is undefined|has no attribute '([^']+)'")


def _plain_globals(template: jinja2.Template) -> jinja2.Template:
    """Jinja keeps a template's globals in a ChainMap, and walks it for every context it makes and every
    ``{% from "_macros.jinja" import ... %}``: a third of a message's rendering. A plain dict of the same
    names (the environments' globals never change after start) makes both a dict copy."""
    template.globals = dict(template.globals)
    return template


@functools.lru_cache(maxsize=256)
def _templates(name: str) -> tuple[jinja2.Template, jinja2.Template]:
    """The kind's template compiled for subject and text, and for HTML (auto_reload is off: compiled once)."""
    for env in (_PLAIN, _HTML):
        _macros(env)
    return _plain_globals(_PLAIN.get_template(name)), _plain_globals(_HTML.get_template(name))


@functools.lru_cache(maxsize=2)
def _macros(env: jinja2.Environment) -> jinja2.Template:
    return _plain_globals(env.get_template("_macros.jinja"))


@functools.lru_cache(maxsize=8)
def _layout(lang: str) -> tuple[str, str, str]:
    """The HTML layout around the subject and the body, rendered once per language: (head, middle, tail).

    The subject goes in escaped and the body as it is (Markup), exactly as rendering the layout would put them.
    """
    page = _HTML.get_template("_layout.html.jinja").render(
        {"_locale": lang, "subject": Markup("\x00S\x00"), "body": Markup("\x00B\x00"), "footer": _footer(lang)})
    head, rest = page.split("\x00S\x00")
    middle, tail = rest.split("\x00B\x00")
    return head, middle, tail


def render(kind: str, locale: str, params: Mapping[str, Any], tz: str, *, now: datetime | None = None) -> Rendered:
    """The message of ``kind`` for one recipient in their language and time zone.

    ``now`` is the instant relative hints ("in 3 days") are counted from; the current time unless given.
    A missing parameter, a None value, a naive time or an unknown zone raise DomainError naming it.
    """
    if kind not in KINDS:
        raise DomainError(f"unknown message kind {kind!r}; one of {', '.join(KINDS)}", "kind")
    clash = [k for k in _RESERVED if k in params]
    if clash:
        raise DomainError(f"parameter names {clash} are reserved", "params")
    for param, allowed in _CHOICES.get(kind, {}).items():
        if param in params and params[param] not in allowed:
            raise DomainError(f"{params[param]!r} is not one of {', '.join(allowed)}", f"{kind}.{param}")
    lang = resolve_locale(locale)
    current = _as_datetime(now) if now is not None else datetime.now(UTC)
    variables = {**params, "_locale": lang, "_tz": _zone(tz), "_now": current}
    name = f"{kind}.{lang}.jinja"
    try:
        plain, marked = _templates(name)
        context = plain.new_context(variables)  # one context for subject and text, one for the HTML
        subject = " ".join("".join(plain.blocks["subject"](context)).split())
        text = _BLANK_LINES.sub("\n\n", "".join(plain.blocks["text"](context))).strip() + "\n\n-- \n" + _footer(lang) + "\n"
        body = "".join(marked.blocks["html"](marked.new_context(variables))).strip()
        head, middle, tail = _layout(lang)
        html = f"{head}{escape(subject)}{middle}{body}{tail}"
    except jinja2.UndefinedError as err:
        found = _UNDEFINED_NAME.search(str(err))
        missing = next((g for g in found.groups() if g), None) if found else None
        raise DomainError(
            f"the {kind} message ({lang}) needs the parameter {missing!r}" if missing else f"the {kind} message ({lang}): {err}",
            f"{kind}.{missing}" if missing else kind,
        ) from None
    return Rendered(subject=subject, text=text, html=html)


def _footer(lang: str) -> str:
    if lang == "zh-CN":
        return "此消息由系统自动发送，请勿直接回复。"
    return "This message was sent automatically; please do not reply to it."
