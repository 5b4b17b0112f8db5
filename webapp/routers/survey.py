"""The customer's survey: no account, reached by a signed single-use link ``/survey#<token>``.

The token rides in the URL fragment, which browsers never send; a few lines of inline script move it
into a POST body (and out of the address bar). Without script the customer can paste the code.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import ValidationError

from domain.text import Text, tr
from services.errors import UserError
from services.survey_links import SurveyView, open_link
from webapp import actions
from webapp.context import AppContext, get_ctx
from webapp.errors import WebError, from_user_error
from webapp.forms import survey_spec, validation_errors
from webapp.pages import as_number, form_text, reader, render
from webapp.schemas import ErrorOut, Receipt, SurveyAnswerIn, SurveyOpenIn, SurveyOut

api = APIRouter(prefix="/api/survey", tags=["customer survey"],
                responses={404: {"model": ErrorOut}, 410: {"model": ErrorOut}, 422: {"model": ErrorOut}})
pages = APIRouter(include_in_schema=False)
INVALID = tr("this survey link is not valid; check that the whole link was copied")
NO_STORE = {"Cache-Control": "no-store"}  # the app adds Referrer-Policy: no-referrer everywhere


def survey_out(view: SurveyView) -> SurveyOut:
    return SurveyOut(cycle_name=view.cycle_name, employee_name=view.employee_name, account_name=view.account_name,
                     contact_name=view.contact_name, ask_nps=view.ask_nps, expires_at=view.expires_at)


async def _open(ctx: AppContext, token: str) -> SurveyView:
    async with ctx.pool.connection() as conn:
        return await open_link(conn, token)


@api.post("/open", response_model=SurveyOut, summary="What a survey link opens (does not use it up)")
async def api_open(body: SurveyOpenIn, ctx: AppContext = Depends(get_ctx)) -> SurveyOut:
    return survey_out(await _open(ctx, body.token))


@api.post("/answer", response_model=Receipt, summary="Answer the survey (uses the link up)",
          responses={409: {"model": ErrorOut}})
async def api_answer(body: SurveyAnswerIn, ctx: AppContext = Depends(get_ctx)) -> Receipt:
    _, receipt = await actions.answer_survey(ctx, body)
    return Receipt(task_id=receipt.task_id, accepted_at=receipt.accepted_at)


# -- pages -----------------------------------------------------------------------------------------


def _page(request: Request, status: int = 200, survey: SurveyView | None = None, error: Text | str | None = None,
          **context) -> Response:
    """The survey in the contact's language (English for any other) and times in the cycle's zone."""
    locale, zone = (survey.locale, survey.timezone) if survey else (None, None)
    fmt = reader(request, locale=locale, tz=zone)
    response = render(request, "survey.html", None, status, locale=locale, tz=zone, survey=survey,
                      error=fmt.text(error) if error else None, spec=survey_spec(fmt), **context)
    response.headers.update(NO_STORE)
    return response


@pages.get("/survey")
async def survey_shell(request: Request) -> Response:
    return _page(request, state="code")


async def _open_from_form(request: Request, ctx: AppContext, form) -> tuple[str, SurveyView] | Response:
    """The token posted by the page and the survey it opens, or the page that says why it does not."""
    try:
        token = SurveyOpenIn(token=(form_text(form, "token") or "").strip()).token
    except ValidationError:
        return _page(request, 404, state="code", error=INVALID)
    try:
        return token, await _open(ctx, token)
    except UserError as err:
        web = from_user_error(err)
        return _page(request, web.status, state="closed", error=web.message)


@pages.post("/survey")
async def survey_form(request: Request, ctx: AppContext = Depends(get_ctx)) -> Response:
    form = await request.form()
    opened = await _open_from_form(request, ctx, form)
    if isinstance(opened, Response):
        return opened
    token, view = opened
    return _page(request, state="form", survey=view, token=token, values={})


@pages.post("/survey/answer")
async def survey_answer(request: Request, ctx: AppContext = Depends(get_ctx)) -> Response:
    form = await request.form()
    values = {k: v for k, v in form.items() if isinstance(v, str) and k != "token"}
    opened = await _open_from_form(request, ctx, form)
    if isinstance(opened, Response):
        return opened
    token, view = opened

    def again(status: int, message: Text | str | None = None, errors: dict[str, Text] | None = None) -> Response:
        return _page(request, status, state="form", survey=view, token=token, values=values, error=message,
                     errors=errors or {})

    nps = (form_text(form, "nps") or "").strip()
    satisfaction = (form_text(form, "satisfaction") or "").strip()
    spec = survey_spec(reader(request, locale=view.locale))
    if not satisfaction:
        return again(422, errors={"satisfaction": tr("please choose how satisfied you are (1 to 5)")})
    try:
        body = SurveyAnswerIn(token=token, satisfaction=as_number(satisfaction),
                              nps=as_number(nps) if nps else None, comment=form_text(form, "comment") or "")
    except ValidationError as err:
        return again(422, errors=validation_errors(err, spec))
    errors = {name: tr("%(label)s: choose a level from %(min)s to %(max)s", label=spec.label(name), min=low, max=high)
              for name, value, (low, high) in (("satisfaction", body.satisfaction, spec.scales["satisfaction"]),
                                               ("nps", body.nps, spec.scales["nps"]))
              if value is not None and not low <= value <= high}
    if errors:
        return again(422, errors=errors)
    try:
        await actions.answer_survey(ctx, body)
    except WebError as err:
        return again(err.status, err.message)
    except UserError as err:
        web = from_user_error(err)
        return again(web.status, web.message)
    return _page(request, state="thanks", survey=view)
