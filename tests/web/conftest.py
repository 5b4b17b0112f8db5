"""Fixtures for the web app: the real app over the real PostgreSQL and Temporal dev server of the test run.

``web`` serves the app in-process through httpx (fast, same event loop as the worker); ``live``
serves it on a real uvicorn port from a thread of its own, for the browser, the fuzzer and the
access-log test.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from services.cycles import create_cycle, start_cycle
from services.users import fast_test_hasher, seed_demo_users
from tests.helpers import count, cycle_config, eventually, seed_org
from tests.web.helpers import password_of, settings_for_tests
from tests.web.live import LiveServer
from webapp.app import create_app
from worker import running_worker


@pytest.fixture
def web_org(db_url: str) -> dict[str, Any]:
    """HR1, PAY1, M1 and M2, K01..K04 (K01 and K03 under M1), each with a sign-in."""
    org = seed_org(db_url, kams=4, managers=2)
    seed_demo_users(db_url, hasher=fast_test_hasher())
    return org


class Web:
    """The app in-process, with helpers to sign people in and open a cycle."""

    def __init__(self, app: Any, org: dict[str, Any], db_url: str, client: Any, task_queue: str) -> None:
        self.app, self.org, self.db_url, self.client, self.task_queue = app, org, db_url, client, task_queue
        self._clients: list[httpx.AsyncClient] = []

    def anon(self) -> httpx.AsyncClient:
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url="http://testserver",
                                 follow_redirects=False)
        self._clients.append(http)
        return http

    async def login(self, username: str, password: str | None = None) -> httpx.AsyncClient:
        """A client signed in as ``username``, sending its CSRF token on every request."""
        http = self.anon()
        r = await http.post("/api/session", json={"username": username, "password": password or password_of(username)})
        assert r.status_code == 200, r.text
        http.headers["X-CSRF-Token"] = r.json()["csrf_token"]
        return http

    async def open_cycle(self, due: str = "300s", prefix: str = "WEB") -> str:
        """A started cycle (unique id: workflow ids are global on the shared server) with its tasks open."""
        cycle_id = f"{prefix}{uuid.uuid4().hex[:8]}"
        await create_cycle(self.db_url, cycle_config(cycle_id, due=due))
        await start_cycle(self.client, self.db_url, cycle_id, self.task_queue)
        n = len(self.org["kams"])
        expected = n * 2 + sum(len(c) for c in self.org["contacts"].values())

        async def opened() -> bool:
            return count(self.db_url, "SELECT count(*) FROM task WHERE cycle_id = %s", cycle_id) == expected

        await eventually(opened)
        return cycle_id

    async def close(self) -> None:
        for http in self._clients:
            await http.aclose()


@pytest.fixture
async def web(client, db_url: str, task_queue: str, web_org: dict[str, Any]) -> AsyncIterator[Web]:
    async with running_worker(client, db_url, task_queue):
        app = create_app(db_url, client, task_queue, settings_for_tests(), pool_size=8)
        async with app.router.lifespan_context(app):
            helper = Web(app, web_org, db_url, client, task_queue)
            try:
                yield helper
            finally:
                await helper.close()


@pytest.fixture
def live(temporal_env, db_url: str, web_org: dict[str, Any]) -> Iterator[LiveServer]:
    """The app on a real port, with its own worker and Temporal client, in a thread of its own."""
    address = temporal_env.client.service_client.config.target_host
    server = LiveServer(db_url, address, f"kr-live-{uuid.uuid4().hex[:8]}")
    server.start()
    try:
        yield server
    finally:
        server.stop()
