"""Sign-ins for everyone: HR's People page (invite, disable in bulk), forgotten passwords, set-password links.

A set-password link is ``/password#<token>``: as with survey links, the token rides in the URL fragment, which
browsers never send, and a few lines of script move it into a POST body. A reset request answers the same
whether or not the address exists; the lookup and the e-mail happen after the answer is sent, so its timing
says nothing either.
"""

from __future__ import annotations

import logging
from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import APIRouter, BackgroundTasks, Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field, StringConstraints, ValidationError

from domain.accounts import STATUSES
from domain.text import Text, tr
from services.accounts import Account, BulkResult, PasswordLink, check_reset_rate, open_password_link, send_reset
from services.accounts import accounts as list_accounts
from services.accounts import disable as disable_accounts
from services.accounts import invite as invite_accounts
from services.accounts import set_password as use_link
from services.audit import account_entries
from services.errors import UserError
from services.users import MAX_PASSWORD, MIN_PASSWORD, SessionUser
from webapp.auth import api_user, page_user
from webapp.context import AppContext, get_ctx
from webapp.errors import WebError, from_user_error
from webapp.pages import form_text, reader, redirect, render, say
from webapp.schemas import EmployeeId, ErrorOut, Token, _In
from webapp.words import ACCOUNT_EVENTS, DELIVERY_STATUSES

api = APIRouter(responses={401: {"model": ErrorOut}, 403: {"model": ErrorOut},
                                             404: {"model": ErrorOut}, 422: {"model": ErrorOut}})
pages = APIRouter(include_in_schema=False)
log = logging.getLogger("kamreview.web")
HR = api_user("hr")
HR_WRITE = api_user("hr", write=True)
HR_PAGE = page_user("hr")
NO_STORE = {"Cache-Control": "no-store"}
Status = Literal["none", "invited", "active", "disabled"]
SENT = tr("If that user name or e-mail address belongs to a sign-in, a link to choose a new password is on its "
          "way. Check your inbox (and the spam folder) in a few minutes.")
MAX_BULK = 5000


# -- shapes ------------------------------------------------------------------------------------------------


class AccountOut(BaseModel):
    employee_id: str
    name: str
    email: str | None
    org_role: str
    termination_date: str | None = Field(description="the leaving date (ISO 8601): no access after it")
    username: str | None
    status: Status
    roles: list[str] = Field(description="the sign-in's roles; without a sign-in, those an invitation would give")
    invited_at: str | None
    invitation_delivery: str | None = Field(description="the newest invitation e-mail: queued, sent, failed, ...")


class InviteIn(_In):
    employee_ids: list[EmployeeId] = Field(default_factory=list, max_length=MAX_BULK)
    all: bool = Field(default=False, strict=True, description="everyone who has no sign-in yet")


class DisableIn(_In):
    employee_ids: list[EmployeeId] = Field(min_length=1, max_length=MAX_BULK)


class SkippedOut(BaseModel):
    employee_id: str
    reason: str


class BulkOut(BaseModel):
    done: list[str]
    skipped: list[SkippedOut]


class ForgotIn(_In):
    login: Annotated[str, StringConstraints(min_length=1, max_length=254, strip_whitespace=True)] = Field(
        description="user name or e-mail address")


class PasswordOpenIn(_In):
    token: Token


class PasswordSetIn(_In):
    token: Token
    password: Annotated[str, StringConstraints(min_length=1, max_length=MAX_PASSWORD)]


class PasswordLinkOut(BaseModel):
    username: str
    purpose: Literal["invite", "reset"]
    expires_at: str


class DoneOut(BaseModel):
    detail: str


def _account_out(a: Account) -> AccountOut:
    return AccountOut(employee_id=a.employee_id, name=a.name, email=a.email, org_role=a.org_role,
                      termination_date=a.termination_date.isoformat() if a.termination_date else None,
                      username=a.username, status=a.status, roles=a.roles,
                      invited_at=a.invited_at.isoformat() if a.invited_at else None,
                      invitation_delivery=a.invitation_delivery)


def _bulk_out(request: Request, user: SessionUser | None, result: BulkResult) -> BulkOut:
    return BulkOut(done=result.done, skipped=[SkippedOut(employee_id=e, reason=say(request, user, why))
                                              for e, why in result.skipped])


def _client_address(request: Request) -> str:
    """Who is asking, for the rate limit: the peer address (uvicorn's --proxy-headers makes it the real client's
    behind a trusted proxy)."""
    return request.client.host if request.client else "unknown"


async def _forgot(request: Request, ctx: AppContext, background: BackgroundTasks, login: str) -> None:
    """Count the request (refused past the limits), then look up and e-mail after the answer has gone."""
    try:
        await check_reset_rate(ctx.pool, login, _client_address(request), ctx.settings)
    except UserError as err:
        raise from_user_error(err) from None

    async def later() -> None:
        try:
            await send_reset(ctx.client, ctx.pool, ctx.task_queue, ctx.settings, login)
        except Exception:  # noqa: BLE001 - nobody is waiting for this answer; the log keeps the failure
            log.exception("password reset e-mail could not be queued")

    background.add_task(later)


# -- API ---------------------------------------------------------------------------------------------------


@api.get("/api/hr/people", response_model=list[AccountOut], tags=["hr"],
         summary="Every employee with their sign-in status (none, invited, active, disabled)")
async def api_people(status: Status | None = None, user: SessionUser = Depends(HR),
                     ctx: AppContext = Depends(get_ctx)) -> list[AccountOut]:
    return [_account_out(a) for a in await list_accounts(ctx.pool, status)]


@api.post("/api/hr/people/invite", response_model=BulkOut, tags=["hr"],
          summary="Invite employees to sign in: an e-mail with a single-use set-password link")
async def api_invite(request: Request, body: InviteIn, user: SessionUser = Depends(HR_WRITE),
                     ctx: AppContext = Depends(get_ctx)) -> BulkOut:
    if bool(body.employee_ids) == body.all:
        raise WebError(422, tr("name the employees to invite, or choose everyone without a sign-in (not both)"))
    result = await invite_accounts(ctx.client, ctx.pool, ctx.task_queue, ctx.settings, user.username,
                                   None if body.all else body.employee_ids)
    return _bulk_out(request, user, result)


@api.post("/api/hr/people/disable", response_model=BulkOut, tags=["hr"],
          summary="Disable sign-ins: their sessions end at once")
async def api_disable(request: Request, body: DisableIn, user: SessionUser = Depends(HR_WRITE),
                      ctx: AppContext = Depends(get_ctx)) -> BulkOut:
    return _bulk_out(request, user, await disable_accounts(ctx.pool, user.username, body.employee_ids))


@api.post("/api/password/forgot", tags=["sign-in"], response_model=DoneOut, responses={429: {"model": ErrorOut}},
          summary="E-mail a link to choose a new password (the same answer whether or not the address exists)")
async def api_forgot(request: Request, body: ForgotIn, background: BackgroundTasks,
                     ctx: AppContext = Depends(get_ctx)) -> DoneOut:
    await _forgot(request, ctx, background, body.login)
    return DoneOut(detail=say(request, None, SENT))


@api.post("/api/password/open", tags=["sign-in"], response_model=PasswordLinkOut, responses={410: {"model": ErrorOut}},
          summary="Whose password a set-password link sets (does not use it up)")
async def api_open(body: PasswordOpenIn, ctx: AppContext = Depends(get_ctx)) -> PasswordLinkOut:
    async with ctx.pool.connection() as conn:
        link = await open_password_link(conn, body.token)
    return PasswordLinkOut(username=link.username, purpose=link.purpose, expires_at=link.expires_at.isoformat())


@api.post("/api/password", tags=["sign-in"], response_model=DoneOut, responses={410: {"model": ErrorOut}},
          summary="Choose a password with a set-password link (uses it up; ends the account's sessions)")
async def api_set(request: Request, body: PasswordSetIn, ctx: AppContext = Depends(get_ctx)) -> DoneOut:
    link = await use_link(ctx.pool, body.token, body.password)
    return DoneOut(detail=say(request, None, tr("the password of %(username)s is set; sign in with it now",
                                                username=link.username)))


# -- HR's People page ----------------------------------------------------------------------------------------


async def _people_page(request: Request, user: SessionUser, ctx: AppContext, status_filter: str | None,
                       code: int = 200, error: Text | str | None = None, result: BulkResult | None = None,
                       verb: str | None = None, selected: set[str] | None = None) -> Response:
    shown = status_filter if status_filter in STATUSES else None
    rows = await list_accounts(ctx.pool)
    async with ctx.pool.connection() as conn:
        events = await account_entries(conn)
    counts = {s: sum(1 for a in rows if a.status == s) for s in STATUSES}
    return render(request, "hr_people.html", user, code, people=[a for a in rows if shown is None or a.status == shown],
                  counts=counts, total=len(rows), shown=shown, error=say(request, user, error) if error else None,
                  result=result, verb=verb, selected=selected or set(), deliveries=DELIVERY_STATUSES, events=events,
                  event_words=ACCOUNT_EVENTS)


@pages.get("/hr/people")
async def people_page(request: Request, status: str | None = None, user: SessionUser = Depends(HR_PAGE),
                      ctx: AppContext = Depends(get_ctx)) -> Response:
    return await _people_page(request, user, ctx, status)


@pages.post("/hr/people")
async def people_action(request: Request, user: SessionUser = Depends(HR_PAGE),
                        ctx: AppContext = Depends(get_ctx)) -> Response:
    form = await request.form()
    action = form_text(form, "action") or ""
    shown = form_text(form, "status") or None
    chosen = [v for v in form.getlist("employee") if isinstance(v, str) and v][:MAX_BULK]
    try:
        if action == "invite_all":
            result, verb = await invite_accounts(ctx.client, ctx.pool, ctx.task_queue, ctx.settings, user.username), "invited"
        elif action in ("invite", "disable"):
            if not chosen:
                return await _people_page(request, user, ctx, shown, 422, tr("choose at least one person first"))
            try:
                ids = DisableIn(employee_ids=chosen).employee_ids
            except ValidationError:
                return await _people_page(request, user, ctx, shown, 422, tr("the form could not be read; reload the "
                                                                             "page and try again"))
            if action == "invite":
                result = await invite_accounts(ctx.client, ctx.pool, ctx.task_queue, ctx.settings, user.username, ids)
                verb = "invited"
            else:
                result, verb = await disable_accounts(ctx.pool, user.username, ids), "disabled"
        else:
            return await _people_page(request, user, ctx, shown, 422, tr("the form could not be read; reload the page "
                                                                         "and try again"))
    except UserError as err:
        web = from_user_error(err)
        return await _people_page(request, user, ctx, shown, web.status, web.message, selected=set(chosen))
    return await _people_page(request, user, ctx, shown, result=result, verb=verb)


# -- forgotten password, and the set-password page -------------------------------------------------------------


def _password_page(request: Request, status: int = 200, link: PasswordLink | None = None,
                   error: Text | str | None = None, **context) -> Response:
    locale, zone = (link.locale, link.timezone) if link else (None, None)
    fmt = reader(request, locale=locale, tz=zone)
    response = render(request, "password.html", None, status, locale=locale, tz=zone, link=link,
                      error=fmt.text(error) if error else None, min_password=MIN_PASSWORD,
                      max_password=MAX_PASSWORD, **context)
    response.headers.update(NO_STORE)
    return response


@pages.get("/password/forgot")
async def forgot_page(request: Request) -> Response:
    return _password_page(request, state="forgot", login="")


@pages.post("/password/forgot")
async def forgot_submit(request: Request, background: BackgroundTasks, ctx: AppContext = Depends(get_ctx)) -> Response:
    login = (form_text(await request.form(), "login") or "").strip()[:254]
    if not login:
        return _password_page(request, 422, state="forgot", login="",
                              errors={"login": tr("enter your user name or your work e-mail address")})
    try:
        await _forgot(request, ctx, background, login)
    except WebError as err:
        return _password_page(request, err.status, state="forgot", login=login, error=err.message)
    return _password_page(request, state="sent", sent=say(request, None, SENT))


@pages.get("/password")
async def password_shell(request: Request) -> Response:
    return _password_page(request, state="code")


async def _open_from_form(request: Request, ctx: AppContext, token: str) -> PasswordLink | Response:
    try:
        token = PasswordOpenIn(token=token).token
    except ValidationError:
        return _password_page(request, 404, state="code",
                              error=tr("this link is not valid; check that the whole link was copied from the e-mail"))
    try:
        async with ctx.pool.connection() as conn:
            return await open_password_link(conn, token)
    except UserError as err:
        web = from_user_error(err)
        return _password_page(request, web.status, state="closed", error=web.message)


@pages.post("/password")
async def password_form(request: Request, ctx: AppContext = Depends(get_ctx)) -> Response:
    token = (form_text(await request.form(), "token") or "").strip()
    opened = await _open_from_form(request, ctx, token)
    if isinstance(opened, Response):
        return opened
    return _password_page(request, state="form", link=opened, token=token)


@pages.post("/password/set")
async def password_set(request: Request, ctx: AppContext = Depends(get_ctx)) -> Response:
    form = await request.form()
    token = (form_text(form, "token") or "").strip()
    opened = await _open_from_form(request, ctx, token)
    if isinstance(opened, Response):
        return opened
    password, again = form_text(form, "password") or "", form_text(form, "password_again") or ""
    errors: dict[str, Text] = {}
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        errors["password"] = tr("a password needs %(low)s to %(high)s characters", low=MIN_PASSWORD, high=MAX_PASSWORD)
    elif password != again:
        errors["password_again"] = tr("the two passwords differ; type the same password twice")
    if errors:
        return _password_page(request, 422, state="form", link=opened, token=token, errors=errors)
    try:
        link = await use_link(ctx.pool, token, password)
    except UserError as err:
        web = from_user_error(err)
        return _password_page(request, web.status, state="closed", error=web.message)
    fmt = reader(request, locale=link.locale)
    return redirect(f"/login?username={quote(link.username)}", fmt.text(tr("your password is set; sign in with it now")))
