"""Readiness for a load balancer: 200 when the database and Temporal answer, 503 saying which one does not."""

from __future__ import annotations

import socket

import httpx
from temporalio.client import Client

from tests.web.helpers import settings_for_tests
from webapp.app import create_app


async def test_ready_when_both_answer(web):
    r = await web.anon().get("/api/ready")
    assert r.status_code == 200 and r.json() == {"detail": "ready", "database": "ok", "temporal": "ok"}


async def test_not_ready_while_temporal_is_unreachable_and_said_in_the_readers_language(db_url: str):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = await Client.connect(f"127.0.0.1:{port}", lazy=True)  # the real client; the server is away
    app = create_app(db_url, client, "unused", settings_for_tests(), pool_size=2)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver") as http:
        r = await http.get("/api/ready", headers={"Accept-Language": "zh-CN"})
        assert r.status_code == 503
        assert r.json() == {"detail": "未就绪：数据库状态 ok，Temporal 状态 unreachable", "database": "ok",
                            "temporal": "unreachable"}
        assert (await http.get("/api/health")).status_code == 200  # alive, just not ready
