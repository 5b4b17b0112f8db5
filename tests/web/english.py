"""Opt-in fixture for tests that read the English wording of pages and API answers.

The people of the test organisation read Chinese (their ``locale`` is zh-CN), so refusals and messages
reach them in Chinese. A test module that asserts English wording uses
``pytestmark = pytest.mark.usefixtures("english")`` (importing ``english`` from here): every client
``web.login`` signs in then has the language switch set to English, as a person who chose it would.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest


@pytest.fixture
def english(web: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    sign_in = web.login

    async def login(username: str, password: str | None = None) -> httpx.AsyncClient:
        http = await sign_in(username, password)
        http.cookies.set("kr_lang", "en")
        return http

    monkeypatch.setattr(web, "login", login)
    return web
