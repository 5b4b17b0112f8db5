"""The FastAPI application: pages for people, a JSON API for programs, one set of permissions for both."""

from __future__ import annotations

import contextlib
import importlib.util
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from temporalio.client import Client

from services.settings import WebSettings, get_web_settings
from webapp.context import AppContext
from webapp.errors import install_error_handlers
from webapp.metrics import install_metrics
from webapp.pages import make_templates
from webapp.routers import (
    accounts,
    audit,
    confirm,
    employee,
    goals,
    hr,
    imports,
    manager,
    participant,
    payroll,
    peers,
    phase_forms,
    preferences,
    schedules,
    session,
    signoff,
    survey,
    trends,
)

DESCRIPTION = """Performance reviews of Key Account Managers (大客户经理).

Sign in with `POST /api/session`; it sets the session cookie and returns `csrf_token`, which every
POST and DELETE must send as the `X-CSRF-Token` header. Errors are JSON: `{"detail": "...", "errors": [...]}`.
Customers answer surveys without an account, through the token of their signed link.
"""

CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")


class Guard:
    """Refuses bodies over the limit (413, before reading them) and adds security headers to every answer."""

    def __init__(self, app: ASGIApp, max_body: int, larger: dict[str, int] | None = None) -> None:
        self.app = app
        self.max_body = max_body
        self.larger = larger or {}  # paths that take more (HR's file upload), exactly as written

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        limit = self.larger.get(scope["path"], self.max_body)
        if length is not None and (not length.isdigit() or int(length) > limit):
            await _too_large(send, limit)
            return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _BodyTooLarge
            return message

        docs = scope["path"] in ("/docs", "/redoc", "/docs/oauth2-redirect")

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                defaults = [(b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY"),
                            (b"referrer-policy", b"no-referrer"), (b"cache-control", b"no-store")]
                if not docs:
                    defaults.append((b"content-security-policy", CSP.encode()))
                names = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in defaults if k not in names]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        try:
            await self.app(scope, limited_receive, send_with_headers)
        except _BodyTooLarge:
            if not started:
                await _too_large(send, limit)


class _BodyTooLarge(Exception):
    pass


async def _too_large(send: Send, limit: int) -> None:
    body = json.dumps({"detail": f"the request body is larger than {limit} bytes", "errors": []}).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def create_app(database_url: str, client: Client, task_queue: str, settings: WebSettings | None = None,
               pool_size: int = 16, tracer_provider: Any = None) -> FastAPI:
    """The app over one database, one Temporal client and the task queue its worker listens on.

    ``tracer_provider``: trace every request (services.observability.telemetry); None: no tracing.
    """
    ctx = AppContext(database_url, client, task_queue, settings or get_web_settings(), pool_size)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await ctx.open()
        try:
            yield
        finally:
            await ctx.close()

    app = FastAPI(title="kamreview", version="0.1.0", description=DESCRIPTION, lifespan=lifespan, docs_url=None)
    _offline_docs(app)
    app.state.ctx = ctx
    app.state.templates = make_templates()
    install_error_handlers(app)
    for module in (session, employee, manager, survey, hr, confirm, audit, participant, payroll, preferences,
                   schedules, accounts, imports, goals, trends, signoff, peers, phase_forms):
        app.include_router(module.api)
        app.include_router(module.pages)
    app.add_middleware(Guard, max_body=ctx.settings.max_body_bytes,
                       larger={imports.UPLOAD_PATH: ctx.settings.max_upload_bytes})
    install_metrics(app, ctx)  # outermost: measures what Guard refuses too
    if tracer_provider is not None:
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        FastAPIInstrumentor.instrument_app(app, tracer_provider=tracer_provider, excluded_urls="/metrics,/api/health",
                                           exclude_spans=["receive", "send"])  # one span per request, not three
    return app


def _offline_docs(app: FastAPI) -> None:
    """Swagger UI at /docs from the assets of the swagger-ui-py package (Swagger UI 5, which reads OpenAPI 3.1), so
    it works without internet. Only its static files are used; the package's framework code is never imported."""
    spec = importlib.util.find_spec("swagger_ui")
    assets = Path(next(iter(spec.submodule_search_locations))) / "static" if spec and spec.submodule_search_locations else None
    if assets is None or not (assets / "swagger-ui-bundle.js").exists():
        raise RuntimeError("the swagger-ui-py package is missing: `make venv` installs it")
    app.mount("/docs/assets", StaticFiles(directory=assets), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url=app.openapi_url or "/openapi.json", title="kamreview · API",
                                   swagger_js_url="/docs/assets/swagger-ui-bundle.js",
                                   swagger_css_url="/docs/assets/swagger-ui.css",
                                   swagger_favicon_url="/docs/assets/favicon-32x32.png",
                                   oauth2_redirect_url="/docs/oauth2-redirect",
                                   swagger_ui_parameters={"persistAuthorization": True})

    @app.get("/docs/oauth2-redirect", include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()


def endpoints(app: FastAPI) -> list[tuple[str, str]]:
    """Every (method, path) the app answers, HEAD aside; the permission test is driven from this list."""
    found: list[tuple[str, str]] = []

    def walk(routes: list, prefix: str) -> None:
        for route in routes:
            included = getattr(route, "original_router", None)
            if included is not None:  # FastAPI keeps included routers as nodes
                walk(included.routes, prefix + getattr(route.include_context, "prefix", ""))
                continue
            path = getattr(route, "path", None)
            for method in sorted(getattr(route, "methods", None) or ()):
                if method != "HEAD" and path is not None:
                    found.append((method, prefix + path))

    walk(app.routes, "")
    return found
