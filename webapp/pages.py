"""Server-rendered pages: templates, flash messages, and turning HTML forms into API bodies.

Forms are converted into the same pydantic models the JSON API uses, so a page and an API call
are validated identically and the same messages reach the person.
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError
from starlette.datastructures import FormData

from domain.phases import PHASES, phase_label
from services.users import SessionUser
from webapp.auth import CSRF_FIELD

TEMPLATES = Path(__file__).resolve().parent / "templates"
FLASH_COOKIE = "kr_flash"
_INT = re.compile(r"^\s*[-+]?[0-9]{1,9}\s*$")  # ASCII digits: int() would also read full-width ones


def make_templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(TEMPLATES))  # autoescapes .html: user text is never markup
    templates.env.globals["CSRF_FIELD"] = CSRF_FIELD
    templates.env.filters["dt"] = lambda v: "" if v is None else v.strftime("%Y-%m-%d %H:%M UTC")
    templates.env.filters["phase"] = lambda v: phase_label(str(v or ""))
    templates.env.globals["phases"] = PHASES
    templates.env.filters["num"] = plain_number
    return templates


def plain_number(value: Any) -> str:
    """0.675000 → 0.675, 1E+2 → 100: how people write numbers."""
    if value is None:
        return "—"
    if isinstance(value, Decimal):
        return f"{value.normalize():f}"
    return str(value)


def render(request: Request, template: str, user: SessionUser | None = None, status: int = 200,
           **context: Any) -> Response:
    flash = request.cookies.get(FLASH_COOKIE)
    response = request.app.state.templates.TemplateResponse(
        request, template,
        {"user": user, "flash": unquote(flash)[:500] if flash else None, **context},
        status_code=status,
    )
    if flash:
        response.delete_cookie(FLASH_COOKIE, path="/")
    return response


def redirect(url: str, flash: str | None = None) -> RedirectResponse:
    """Post/redirect/get, with a one-time message for the next page."""
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


def pydantic_message(err: ValidationError) -> str:
    parts = []
    for e in err.errors()[:10]:
        loc = ".".join(str(p) for p in e.get("loc", ()))
        parts.append(f"{loc}: {e.get('msg')}" if loc else str(e.get("msg")))
    return "; ".join(parts)
