"""Two web processes over one database behave as one: what one counts, the other sees.

Two app instances stand in for two processes here (each with its own pool, as ``webapp.serve`` makes
it); the full deployment, with real processes, is tests/test_scale_out.py.
"""

from __future__ import annotations

import asyncio
import contextlib

import httpx

from tests.helpers import count
from tests.web.helpers import password_of, settings_for_tests
from webapp.app import create_app


async def test_parallel_wrong_passwords_on_two_web_processes_still_lock_the_user(client, db_url, task_queue, web_org):
    # Guesses sent at once, half to each process: every one must count, or guessing in parallel never locks.
    settings = settings_for_tests()
    apps = [create_app(db_url, client, task_queue, settings, pool_size=8) for _ in range(2)]
    async with contextlib.AsyncExitStack() as stack:
        https = []
        for app in apps:
            await stack.enter_async_context(app.router.lifespan_context(app))
            https.append(await stack.enter_async_context(
                httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")))
        guesses = await asyncio.gather(*(
            https[i % 2].post("/api/session", json={"username": "K02", "password": f"guess-{i:04d}-x"})
            for i in range(settings.lockout_after)))
        assert [r.status_code for r in guesses] == [401] * settings.lockout_after
        right = await https[1].post("/api/session", json={"username": "K02", "password": password_of("K02")})
        assert right.status_code == 429, (right.text, count(db_url, "SELECT failed_logins FROM web_user "
                                                                     "WHERE username = 'K02'"))
