"""Signing in and out (pages and API), the home redirect, health and a readable API index."""

from __future__ import annotations

import logging
import secrets
from datetime import timedelta

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import ValidationError

from domain.text import Text, tr
from i18n import LOCALES
from services.errors import UserError
from services.users import SessionUser, end_session, sign_in
from webapp.auth import (
    COOKIE,
    LOGIN_CSRF_COOKIE,
    api_user,
    clear_session_cookie,
    csrf_ok,
    current_user,
    page_user,
    set_session_cookie,
)
from webapp.context import AppContext, get_ctx
from webapp.errors import WebError, from_user_error
from webapp.forms import FormSpec, validation_errors
from webapp.pages import LANG_COOKIE, form_text, reader, redirect, render, safe_next, say
from webapp.schemas import ErrorOut, Message, ReadyOut, SessionOut, SignIn

api = APIRouter(prefix="/api", tags=["session"])
pages = APIRouter(include_in_schema=False)

log = logging.getLogger("kamreview.web")
READY_TIMEOUT = timedelta(seconds=2)  # a readiness probe answers quickly, or the process is not ready
HOME = {"hr": "/hr", "manager": "/manager", "payroll": "/payroll", "employee": "/me"}
BAD_SIGN_IN = tr("wrong user name or password")


def _session_out(user: SessionUser) -> SessionOut:
    return SessionOut(username=user.username, display_name=user.display_name, employee_id=user.employee_id,
                      roles=sorted(user.roles), csrf_token=user.csrf_token, expires_at=user.expires_at)


async def _sign_in(ctx: AppContext, body: SignIn):
    async with ctx.pool.connection() as conn:
        try:
            return await sign_in(conn, body.username, body.password, ctx.settings)
        except UserError as err:  # locked out after repeated failures
            raise from_user_error(err) from None


@api.post("/session", response_model=SessionOut, summary="Sign in",
          responses={401: {"model": ErrorOut}, 422: {"model": ErrorOut}, 429: {"model": ErrorOut}})
async def api_sign_in(body: SignIn, response: Response, ctx: AppContext = Depends(get_ctx)) -> SessionOut:
    """Sets the session cookie; send the returned csrf_token as X-CSRF-Token on every POST and DELETE."""
    new = await _sign_in(ctx, body)
    if new is None:
        raise WebError(401, BAD_SIGN_IN)
    set_session_cookie(response, new.token, ctx)
    return _session_out(new.user)


@api.get("/session", response_model=SessionOut, summary="Who am I", responses={401: {"model": ErrorOut}})
async def api_whoami(user: SessionUser = Depends(api_user())) -> SessionOut:
    return _session_out(user)


@api.delete("/session", response_model=Message, summary="Sign out", responses={401: {"model": ErrorOut}})
async def api_sign_out(request: Request, response: Response, user: SessionUser = Depends(api_user(write=True)),
                       ctx: AppContext = Depends(get_ctx)) -> Message:
    async with ctx.pool.connection() as conn:
        await end_session(conn, request.cookies.get(COOKIE, ""))
    clear_session_cookie(response, ctx)
    return Message(detail="signed out")


@api.get("/health", response_model=Message, tags=["health"], summary="Liveness and database check")
async def health(ctx: AppContext = Depends(get_ctx)) -> Message:
    async with ctx.pool.connection() as conn:
        await conn.execute("SELECT 1")
    return Message(detail="ok")


@api.get("/ready", response_model=ReadyOut, tags=["health"], summary="Readiness: the database and Temporal answer",
         responses={503: {"model": ReadyOut}})
async def ready(request: Request, ctx: AppContext = Depends(get_ctx)) -> Response:
    """For a load balancer or an orchestrator: 200 when this process can serve (both reachable), else 503 and which."""
    database = temporal = "unreachable"
    try:
        async with ctx.pool.connection(timeout=READY_TIMEOUT.total_seconds()) as conn:
            await conn.execute("SELECT 1")
        database = "ok"
    except Exception as err:  # noqa: BLE001 - any failure means not ready; the reason goes to the log
        log.warning("not ready: database: %s", err)
    try:
        if await ctx.client.service_client.check_health(timeout=READY_TIMEOUT):
            temporal = "ok"
    except Exception as err:  # noqa: BLE001 - as above
        log.warning("not ready: Temporal: %s", err)
    ok = database == temporal == "ok"
    detail = say(request, None, tr("ready") if ok else tr("not ready: the database is %(database)s, Temporal is %(temporal)s",
                                                         database=database, temporal=temporal))
    return JSONResponse(ReadyOut(detail=detail, database=database, temporal=temporal).model_dump(),
                        status_code=200 if ok else 503)


# -- pages -----------------------------------------------------------------------------------------


@pages.get("/")
async def home(user: SessionUser | None = Depends(current_user)) -> Response:
    if user is None:
        return RedirectResponse("/login", status_code=303)
    for role, url in HOME.items():
        if user.has(role):
            return RedirectResponse(url, status_code=303)
    return RedirectResponse("/login", status_code=303)


def _login_page(request: Request, message: Text | str | None = None, status: int = 200, username: str = "",
                nxt: str = "/", errors: dict[str, Text] | None = None) -> Response:
    token = secrets.token_urlsafe(24)
    response = render(request, "login.html", None, status, error=say(request, None, message) if message else None,
                      errors=errors or {}, login_csrf=token, username=username, next=safe_next(nxt))
    response.set_cookie(LOGIN_CSRF_COOKIE, token, max_age=3600, httponly=True, samesite="lax", path="/login")
    return response


@pages.get("/language/{code}")
async def choose_language(code: str, next: str | None = None) -> Response:
    """The switch in the header: remembered in this browser for a year, for every page including surveys."""
    response = redirect(safe_next(next))
    if code in LOCALES:
        response.set_cookie(LANG_COOKIE, code, max_age=365 * 86400, httponly=True, samesite="lax", path="/")
    return response


@pages.get("/login")
async def login_form(request: Request) -> Response:
    # ?username= prefills the name (the set-password page sends people here with theirs)
    return _login_page(request, username=request.query_params.get("username", "")[:100],
                       nxt=request.query_params.get("next", "/"))


@pages.post("/login")
async def login_submit(request: Request, ctx: AppContext = Depends(get_ctx)) -> Response:
    form = await request.form()
    nxt = safe_next(form_text(form, "next"))
    username = (form_text(form, "username") or "")[:100]
    if not csrf_ok(request.cookies.get(LOGIN_CSRF_COOKIE, ""), form_text(form, "login_csrf")):
        return _login_page(request, tr("the sign-in form expired; please try again"), 403, username, nxt)
    try:
        body = SignIn(username=form_text(form, "username") or "", password=form_text(form, "password") or "")
    except ValidationError as err:
        fmt = reader(request)
        spec = FormSpec({"username": fmt.gettext("User name"), "password": fmt.gettext("Password")})
        return _login_page(request, None, 422, username, nxt, errors=validation_errors(err, spec))
    try:
        new = await _sign_in(ctx, body)
    except WebError as err:
        return _login_page(request, err.message, err.status, username, nxt)
    if new is None:
        return _login_page(request, BAD_SIGN_IN, 401, username, nxt)
    target = nxt if nxt != "/" else next((u for r, u in HOME.items() if new.user.has(r)), "/")
    response = redirect(target)
    set_session_cookie(response, new.token, ctx)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@pages.post("/logout")
async def logout(request: Request, user: SessionUser = Depends(page_user()), ctx: AppContext = Depends(get_ctx)) -> Response:
    async with ctx.pool.connection() as conn:
        await end_session(conn, request.cookies.get(COOKIE, ""))
    response = redirect("/login", "signed out")
    clear_session_cookie(response, ctx)
    return response


@pages.get("/api-docs")
async def api_index(request: Request, user: SessionUser | None = Depends(current_user)) -> Response:
    """The API's operations from the OpenAPI document, readable without the internet (Swagger needs a CDN)."""
    spec = request.app.openapi()
    ops = [(method.upper(), path, op.get("summary", ""), ", ".join(op.get("tags", [])))
           for path, item in spec.get("paths", {}).items() for method, op in item.items()]
    return render(request, "api_docs.html", user, ops=ops, title=spec["info"]["title"])
