"""A person's own language and time zone (the settings page and the API)."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from domain.text import tr
from i18n import DEFAULT_LOCALE, Formatter, negotiate, resolve_locale
from services.errors import UserError, message_of
from services.preferences import preferences, set_preferences, zones
from services.users import SessionUser
from webapp.auth import api_user, page_user
from webapp.context import AppContext, get_ctx
from webapp.errors import from_user_error
from webapp.pages import LANG_COOKIE, form_text, redirect, render, say
from webapp.schemas import ErrorOut, PreferencesIn, PreferencesOut

api = APIRouter(prefix="/api/me", tags=["preferences"], responses={401: {"model": ErrorOut}, 422: {"model": ErrorOut}})
pages = APIRouter(include_in_schema=False)


@api.get("/preferences", response_model=PreferencesOut, summary="My language and time zone")
async def get_preferences(user: SessionUser = Depends(api_user()), ctx: AppContext = Depends(get_ctx)) -> PreferencesOut:
    async with ctx.pool.connection() as conn:
        return PreferencesOut(**asdict(await preferences(conn, user)))


@api.put("/preferences", response_model=PreferencesOut, summary="Set my language and time zone (null: as my organisation says)")
async def put_preferences(body: PreferencesIn, user: SessionUser = Depends(api_user(write=True)),
                          ctx: AppContext = Depends(get_ctx)) -> PreferencesOut:
    async with ctx.pool.connection() as conn:
        try:
            return PreferencesOut(**asdict(await set_preferences(conn, user, body.locale, body.timezone)))
        except UserError as err:
            raise from_user_error(err) from None


@pages.get("/settings")
async def settings_page(request: Request, user: SessionUser = Depends(page_user()),
                        ctx: AppContext = Depends(get_ctx)) -> Response:
    async with ctx.pool.connection() as conn:
        prefs = await preferences(conn, user)
    return render(request, "settings.html", user, prefs=prefs, zones=zones())


@pages.post("/settings")
async def save_settings(request: Request, user: SessionUser = Depends(page_user()),
                        ctx: AppContext = Depends(get_ctx)) -> Response:
    form = await request.form()
    async with ctx.pool.connection() as conn:
        try:
            prefs = await set_preferences(conn, user, form_text(form, "locale"), form_text(form, "timezone"))
        except UserError as err:
            current = await preferences(conn, user)
            return render(request, "settings.html", user, 422, prefs=current, zones=zones(),
                          error=say(request, user, message_of(err)))
    # Said in the language just chosen (the next page is shown in it).
    language = prefs.locale or (resolve_locale(prefs.organisation_locale) if prefs.organisation_locale else
                                negotiate(request.headers.get("accept-language")) or DEFAULT_LOCALE)
    response = redirect("/settings", Formatter(language).text(tr("Your settings are saved.")))
    if prefs.locale:  # the header's switch (a cookie) follows the choice, so it does not hide it
        response.set_cookie(LANG_COOKIE, prefs.locale, max_age=365 * 86400, httponly=True, samesite="lax", path="/")
    else:
        response.delete_cookie(LANG_COOKIE, path="/")
    return response
