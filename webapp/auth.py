"""Who is asking, and may they: session cookie → user, role checks, CSRF checks.

The session cookie is HttpOnly and SameSite=Lax; on top of that every state-changing request must
prove it came from our own page or client: API calls send the session's CSRF token in the
``X-CSRF-Token`` header, forms send it in a hidden field. The sign-in form, which has no session
yet, uses a double-submit cookie.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable

from fastapi import Depends, Request, Response, Security
from fastapi.security import APIKeyCookie, APIKeyHeader

from domain.text import tr
from services.users import SessionUser, session_user
from webapp.context import AppContext, get_ctx
from webapp.errors import WebError

COOKIE = "kr_session"
LOGIN_CSRF_COOKIE = "kr_login_csrf"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"

session_cookie = APIKeyCookie(name=COOKIE, auto_error=False, scheme_name="session",
                              description="the session cookie set by POST /api/session")
csrf_header = APIKeyHeader(name=CSRF_HEADER, auto_error=False, scheme_name="csrf",
                           description="csrf_token from POST /api/session; required on POST and DELETE")

ROLE_NAMES = {"hr": "HR", "manager": "manager", "employee": "employee", "payroll": "payroll"}


async def current_user(request: Request, token: str | None = Security(session_cookie),
                       ctx: AppContext = Depends(get_ctx)) -> SessionUser | None:
    """The signed-in user, or None (no cookie, unknown, expired or idle session)."""
    if hasattr(request.state, "user"):
        return request.state.user
    user = None
    if token:
        async with ctx.pool.connection() as conn:
            user = await session_user(conn, token, ctx.settings)
    request.state.user = user
    return user


def _check_role(user: SessionUser | None, roles: tuple[str, ...], api: bool) -> SessionUser:
    if user is None:
        raise WebError(401, tr("sign in first (POST /api/session)") if api else tr("please sign in"))
    if roles and not (user.roles & set(roles)):
        need = " or ".join(ROLE_NAMES[r] for r in roles)
        raise WebError(403, tr("this needs the %(role)s role; %(user)s does not have it", role=need, user=user.username))
    return user


def csrf_ok(expected: str, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(expected.encode(), str(given).encode("utf-8", "replace"))


def api_user(*roles: str, write: bool = False) -> Callable[..., Awaitable[SessionUser]]:
    """Dependency for JSON endpoints: signed in, one of ``roles`` (any if none), CSRF header on writes."""
    if write:
        async def dep(user: SessionUser | None = Depends(current_user),
                      csrf: str | None = Security(csrf_header)) -> SessionUser:
            checked = _check_role(user, roles, api=True)
            if not csrf_ok(checked.csrf_token, csrf):
                raise WebError(403, tr("missing or wrong %(header)s header (use the csrf_token from sign-in)", header=CSRF_HEADER))
            return checked
    else:
        async def dep(user: SessionUser | None = Depends(current_user)) -> SessionUser:
            return _check_role(user, roles, api=True)
    return dep


def page_user(*roles: str) -> Callable[..., Awaitable[SessionUser]]:
    """Dependency for pages: signed in (else redirect to sign-in), a role, CSRF field on form posts."""
    async def dep(request: Request, user: SessionUser | None = Depends(current_user)) -> SessionUser:
        checked = _check_role(user, roles, api=False)
        if request.method not in ("GET", "HEAD"):
            form = await request.form()
            if not csrf_ok(checked.csrf_token, form.get(CSRF_FIELD) if isinstance(form.get(CSRF_FIELD), str) else None):
                raise WebError(403, tr("this form has expired or did not come from this site; go back, reload and try again"))
        return checked
    return dep


def set_session_cookie(response: Response, token: str, ctx: AppContext) -> None:
    response.set_cookie(COOKIE, token, max_age=int(ctx.settings.session_hours * 3600), httponly=True,
                        samesite="lax", secure=ctx.settings.secure_cookies, path="/")


def clear_session_cookie(response: Response, ctx: AppContext) -> None:
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="lax", secure=ctx.settings.secure_cookies)
