"""One error shape for the whole API: HTTP 4xx with ``{"detail": ..., "errors": [...]}`` a person can read.

Pages (everything outside ``/api``) get an HTML page instead; an anonymous visitor of a page is sent
to the sign-in form. Submitted values are never echoed back in errors (a password could be one).
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from temporalio.service import RPCError

from domain.text import Text
from services.errors import Forbidden, NotFound, Rejected, TryLater, UserError, message_of
from services.people import NotReleased
from services.survey_links import LinkUnusable
from services.users import SignInLocked

log = logging.getLogger("kamreview.web")


class WebError(Exception):
    """An HTTP error with a message for people; raised by routes and dependencies.

    The message is a Text (translated for the reader when the response is written) or a plain string.
    """

    def __init__(self, status: int, message: Text | str, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(str(message))
        self.status = status
        self.message = message
        self.errors = errors or []


def from_user_error(err: UserError) -> WebError:
    """Map the engine's errors to HTTP: missing 404, invalid 422, state conflicts 409, not ready yet 503."""
    message = message_of(err)
    if isinstance(err, NotReleased | Forbidden):
        return WebError(403, message)
    if isinstance(err, LinkUnusable):
        return WebError(410, message)
    if isinstance(err, SignInLocked):
        return WebError(429, message)
    if isinstance(err, NotFound):
        return WebError(404, message)
    if isinstance(err, TryLater):
        return WebError(503, message)
    if isinstance(err, Rejected) or type(err).__name__ == "ConfigError":
        return WebError(422, message)
    return WebError(409, message)


def is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/") or request.url.path == "/api"


def _loc(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc if p != "body") or "body"


def validation_errors(exc: RequestValidationError) -> tuple[str, list[dict[str, Any]]]:
    errors = [{"loc": [p for p in e.get("loc", ()) if isinstance(p, str | int)], "msg": str(e.get("msg", ""))}
              for e in exc.errors()]
    summary = "; ".join(f"{_loc(tuple(e['loc']))}: {e['msg']}" for e in errors[:10])
    return f"invalid request: {summary}", errors


def error_page(request: Request, status: int, message: Text | str) -> Response:
    from webapp.pages import render, say  # pages import auth, which imports this module

    user = getattr(request.state, "user", None)
    return render(request, "error.html", user, status, code=status, message=say(request, user, message))


def error_response(request: Request, status: int, message: Text | str, errors: list[dict[str, Any]] | None = None) -> Response:
    if not is_api(request):
        if status == 401:
            nxt = request.url.path if request.method == "GET" else "/"
            return RedirectResponse(f"/login?next={quote(nxt)}", status_code=303)
        return error_page(request, status, message)
    headers = {"WWW-Authenticate": 'Cookie realm="kamreview"'} if status == 401 else None
    from webapp.pages import say

    user = getattr(request.state, "user", None)
    return JSONResponse({"detail": say(request, user, message), "errors": errors or []}, status_code=status,
                        headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(WebError)
    async def _web(request: Request, exc: WebError) -> Response:
        return error_response(request, exc.status, exc.message, exc.errors)

    @app.exception_handler(UserError)
    async def _user(request: Request, exc: UserError) -> Response:
        err = from_user_error(exc)
        return error_response(request, err.status, err.message)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        message, errors = validation_errors(exc)
        return error_response(request, 422, message, errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        message = exc.detail if isinstance(exc.detail, str) else "request refused"
        if exc.status_code == 404 and message == "Not Found":
            message = f"there is no page or endpoint at {request.url.path}"
        elif exc.status_code == 405:
            message = f"{request.method} is not allowed here"
        return error_response(request, exc.status_code, message)

    @app.exception_handler(RPCError)
    async def _temporal(request: Request, exc: RPCError) -> Response:
        log.error("Temporal call failed: %s (%s)", exc.message, exc.status)
        return error_response(request, 503, "the workflow service is unavailable; please try again in a moment")

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error_response(request, 500, "internal error; it has been logged")
