"""/docs works without internet: Swagger UI's assets come from this server (the swagger-ui-py package)."""

from __future__ import annotations

import re

from tests.web.test_browser import browser  # noqa: F401 - the shared Chromium fixture


async def test_the_docs_page_loads_its_assets_from_this_server(web):
    http = web.anon()
    page = (await http.get("/docs")).text
    sources = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert sources and all(s.startswith("/docs/assets/") for s in sources), sources
    js = await http.get("/docs/assets/swagger-ui-bundle.js")
    assert js.status_code == 200 and "javascript" in js.headers["content-type"] and len(js.content) > 100_000


def test_swagger_ui_renders_with_every_other_site_blocked(live, browser):  # noqa: F811
    context = browser.new_context()
    try:
        page = context.new_page()
        blocked: list[str] = []

        def only_here(route):  # noqa: ANN001 - Playwright's Route
            if route.request.url.startswith(live.url):
                route.continue_()
            else:
                blocked.append(route.request.url)
                route.abort()

        page.route("**/*", only_here)
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{live.url}/docs")
        try:
            page.wait_for_selector(".swagger-ui .info .title", timeout=20_000)
        except Exception:
            raise AssertionError(f"{errors} {blocked} {page.content()[:1500]}") from None
        assert "kamreview" in page.inner_text(".swagger-ui .info .title")
        page.wait_for_selector(".opblock-tag", timeout=20_000)  # the operations, from /openapi.json
        assert not blocked, blocked
    finally:
        context.close()
