"""Server-rendered pages: templates, flash messages, and turning HTML forms into API bodies.

Forms are converted into the same pydantic models the JSON API uses, so a page and an API call
are validated identically and the same messages reach the person.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, pass_context, select_autoescape
from markupsafe import Markup
from pydantic import ValidationError
from starlette.datastructures import FormData

from domain.phases import PHASE_BY_KEY, PHASES, phase_label
from domain.text import Text
from i18n import DEFAULT_LOCALE, LOCALES, Formatter, negotiate, resolve_locale
from services.payout_approval import may_approve_payouts
from services.users import SessionUser
from webapp.auth import CSRF_FIELD
from webapp.validation import problems

TEMPLATES = Path(__file__).resolve().parent / "templates"
FLASH_COOKIE = "kr_flash"
_INT = re.compile(r"^\s*[-+]?[0-9]{1,9}\s*$")  # ASCII digits: int() would also read full-width ones


LANG_COOKIE = "kr_lang"


def make_templates() -> Jinja2Templates:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(), extensions=["jinja2.ext.i18n"])
    templates = Jinja2Templates(env=env)  # autoescapes .html: user text is never markup
    env.install_gettext_callables(_gettext, _ngettext, newstyle=True)
    env.globals["CSRF_FIELD"] = CSRF_FIELD
    env.globals["phases"] = PHASES
    env.globals["defined_phases"] = PHASE_BY_KEY  # every phase the registry defines now (a test's toy one too)
    env.globals["question_label"] = _question_label
    env.globals["LOCALES"] = LOCALES
    env.globals["may_approve_payouts"] = may_approve_payouts
    env.filters.update(
        dt=_when, when=_when, date=_date, due=_due_hint, ago=_ago, money=_money, pct=_percent, num=_number,
        text=_text, phase=_phase, zh=_mark_chinese,
    )
    return templates


# Every page is rendered with ``fmt``, the reader's Formatter (language, time zone, now): these read it.
@pass_context
def _gettext(ctx: Any, message: str) -> str:
    return ctx["fmt"].gettext(message)


@pass_context
def _ngettext(ctx: Any, singular: str, plural: str, n: int) -> str:
    return ctx["fmt"].ngettext(singular, plural, n)


@pass_context
def _when(ctx: Any, at: Any) -> Markup:
    """<time datetime="2026-12-03T10:00:00+00:00" title="Asia/Shanghai">2026年12月3日 18:00</time>"""
    if at is None:
        return Markup("—")
    fmt: Formatter = ctx["fmt"]
    return Markup('<time datetime="{}" title="{}">{}</time>').format(at.isoformat(), fmt.zone_name(), fmt.when(at))


@pass_context
def _date(ctx: Any, d: Any) -> str:
    return ctx["fmt"].date(d)


@pass_context
def _due_hint(ctx: Any, due: Any, done: bool = False) -> str:
    return ctx["fmt"].due_hint(due, done)


@pass_context
def _ago(ctx: Any, at: Any) -> str:
    return ctx["fmt"].ago(at)


@pass_context
def _money(ctx: Any, amount: Any, currency: str = "CNY") -> str:
    return ctx["fmt"].money(amount, currency)


@pass_context
def _percent(ctx: Any, ratio: Any, digits: int = 1) -> str:
    return ctx["fmt"].percent(ratio, digits)


@pass_context
def _number(ctx: Any, value: Any) -> str:
    return ctx["fmt"].number(value)


@pass_context
def _text(ctx: Any, value: Any) -> str:
    """A Text (or an error carrying one) in the reader's language."""
    return ctx["fmt"].text(value)


_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff\u3000-\u303f\uff00-\uffef]")


@pass_context
def _mark_chinese(ctx: Any, value: Any) -> Any:
    """Chinese text (a name, an account) on a page in another language, marked lang="zh" for screen readers
    and font choice: ``{{ person.name | zh }}``."""
    if value is None or ctx["fmt"].locale == "zh-CN" or not _CJK.search(str(value)):
        return value
    return Markup('<span lang="zh">{}</span>').format(value)


def _question_label(phase: str, question: str, locale: str) -> str:
    """A question of a phase defined in the registry, as its definition words it; any other item as it is."""
    definition = PHASE_BY_KEY.get(phase)
    return definition.question_label(question, locale) if definition and definition.questions else question


@pass_context
def _phase(ctx: Any, key: Any) -> str:
    return phase_label(str(key or ""), ctx["fmt"].locale)


def reader_locale(request: Request, user: SessionUser | None = None, subject_locale: str | None = None) -> str:
    """The language a page is shown in: the switch in the header (a cookie), else the person's language from
    the org import, else the language of who the page is for (a survey's contact), else Accept-Language."""
    chosen = request.cookies.get(LANG_COOKIE)
    if chosen in LOCALES:
        return chosen
    for candidate in (user.locale if user else None, subject_locale):
        if candidate:
            return resolve_locale(candidate)
    return negotiate(request.headers.get("accept-language")) or DEFAULT_LOCALE


def reader(request: Request, user: SessionUser | None = None, *, locale: str | None = None,
           tz: str | None = None) -> Formatter:
    """The reader's Formatter: their language, and their zone (else the zone of the cycle the page is about)."""
    return Formatter(reader_locale(request, user, locale), (user.timezone if user else None) or tz or "Asia/Shanghai")


def render(request: Request, template: str, user: SessionUser | None = None, status: int = 200, *,
           locale: str | None = None, tz: str | None = None, **context: Any) -> Response:
    """A page for this reader. ``locale`` is the language of who the page is for when nobody is signed in
    (a survey's contact); ``tz`` the zone of the cycle it shows, for readers without a zone of their own."""
    flash = request.cookies.get(FLASH_COOKIE)
    fmt = reader(request, user, locale=locale, tz=tz)
    response = request.app.state.templates.TemplateResponse(
        request, template,
        {"user": user, "flash": unquote(flash)[:500] if flash else None, "fmt": fmt, "lang": fmt.locale, **context},
        status_code=status,
    )
    if flash:
        response.delete_cookie(FLASH_COOKIE, path="/")
    return response


def say(request: Request, user: SessionUser | None, message: Text | str) -> str:
    """A message in the reader's language (for a flash message or an error shown on the next page)."""
    return reader(request, user).text(message, zoned=True)


def redirect(url: str, flash: str | None = None) -> RedirectResponse:
    """Post/redirect/get, with a one-time message for the next page (already in the reader's language: see say)."""
    response = RedirectResponse(url, status_code=303)
    if flash:
        response.set_cookie(FLASH_COOKIE, quote(flash[:500]), max_age=60, httponly=True, samesite="lax", path="/")
    return response


def safe_next(value: str | None) -> str:
    """Only local paths: never an open redirect to another site."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value and len(value) < 300:
        return value
    return "/"


def form_text(form: FormData, name: str) -> str | None:
    value = form.get(name)
    return value if isinstance(value, str) else None


def form_group(form: FormData, prefix: str, numbers: bool = False) -> dict[str, Any]:
    """Fields named ``<prefix><id>`` as {id: value}; blanks are left out (missing, not empty)."""
    out: dict[str, Any] = {}
    for key, value in form.multi_items():
        if not key.startswith(prefix) or not isinstance(value, str) or not value.strip():
            continue
        out[key[len(prefix):]] = as_number(value) if numbers else value
    return out


def as_number(value: str) -> Any:
    """A whole number when it looks like one; otherwise the text, so validation names the problem."""
    return int(value) if _INT.match(value) else value


def pydantic_message(err: ValidationError) -> Text | str:
    """A form's validation errors, each with its field, in the reader's language (the page shows it with ``| text``)."""
    return problems(err.errors(), skip_body=False)
