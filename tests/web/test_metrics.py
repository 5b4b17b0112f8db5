"""GET /metrics: request metrics by route template (never an id in a label), the database's counts, the token."""

from __future__ import annotations

import io
import json
import logging

import httpx
from prometheus_client.parser import text_string_to_metric_families

from services.observability import JsonFormatter
from services.tasks import submit_self_review
from tests.helpers import ratings
from tests.web.helpers import settings_for_tests
from webapp.app import create_app
from workflows.payloads import SelfReviewSubmission


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(found: dict, name: str, **labels: str) -> float | None:
    return found.get((name, frozenset(labels.items())))


async def test_metrics_count_requests_by_route_template_and_read_the_database(web):
    cid = await web.open_cycle()
    await submit_self_review(web.client, web.db_url, cid, SelfReviewSubmission("K01", ratings(2)))
    hr = await web.login("HR1")
    assert (await hr.get(f"/hr/cycles/{cid}")).status_code == 200
    assert (await hr.get(f"/api/hr/cycles/{cid}")).status_code == 200
    missing = await hr.get(f"/no/such/page/{cid}")
    assert missing.status_code == 404 and len(missing.headers["x-request-id"]) == 16
    assert (await hr.get("/api/health", headers={"X-Request-ID": "lb-42"})).headers["x-request-id"] == "lb-42"
    r = await web.anon().get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    assert cid not in r.text  # route templates only: no cycle id, employee id or token in any label
    found = samples(r.text)
    assert value(found, "kamreview_http_requests_total", route="/hr/cycles/{cycle_id}", method="GET", status="200") == 1
    assert value(found, "kamreview_http_requests_total", route="/api/hr/cycles/{cycle_id}", method="GET",
                 status="200") == 1
    assert value(found, "kamreview_http_requests_total", route="unmatched", method="GET", status="404") == 1
    assert value(found, "kamreview_http_request_duration_seconds_count", route="/hr/cycles/{cycle_id}",
                 method="GET") == 1
    assert value(found, "kamreview_database_scrape_ok") == 1
    assert value(found, "kamreview_cycles", status="running") == 1
    assert value(found, "kamreview_reviews", status="open") == len(web.org["kams"])
    assert value(found, "kamreview_submissions_accepted_total", kind="self_review") == 1
    assert sum(v for (name, _), v in found.items() if name == "kamreview_notifications") >= 1  # the invitations
    assert value(found, "process_cpu_seconds_total") is not None


async def test_two_processes_share_the_database_counts_and_keep_their_own_requests(client, db_url, task_queue,
                                                                                    web_org):
    token = "prometheus-scrape-token-1"
    apps = [create_app(db_url, client, task_queue, settings_for_tests(metrics_token=token), pool_size=2)
            for _ in range(2)]
    async with apps[0].router.lifespan_context(apps[0]), apps[1].router.lifespan_context(apps[1]):
        https = [httpx.AsyncClient(transport=httpx.ASGITransport(app=a), base_url="http://testserver") for a in apps]
        try:
            assert (await https[0].get("/metrics")).status_code == 401
            wrong = await https[0].get("/metrics", headers={"Authorization": "Bearer nope"})
            assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"
            await https[0].get("/login")
            auth = {"Authorization": f"Bearer {token}"}
            first, second = [samples((await h.get("/metrics", headers=auth)).text) for h in https]
        finally:
            for h in https:
                await h.aclose()
    assert value(first, "kamreview_http_requests_total", route="/login", method="GET", status="200") == 1
    assert value(second, "kamreview_http_requests_total", route="/login", method="GET", status="200") is None
    db_counts = [k for k in first if k[0] in ("kamreview_cycles", "kamreview_reviews", "kamreview_notifications",
                                              "kamreview_submissions_accepted_total")]
    assert all(first[k] == second.get(k) for k in db_counts)


async def test_json_log_lines_of_a_request_carry_its_route_status_and_id(web):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("kamreview-web"))
    auth = logging.getLogger("kamreview.auth")
    auth.addHandler(handler)
    old = auth.level
    auth.setLevel(logging.INFO)
    try:
        r = await web.anon().post("/api/session", json={"username": "M1", "password": "wrong-password-123"},
                                  headers={"X-Request-ID": "req-7"})
    finally:
        auth.removeHandler(handler)
        auth.setLevel(old)
    assert r.status_code == 401
    line = json.loads(stream.getvalue().splitlines()[-1])
    assert line["message"].startswith("failed sign-in") and line["logger"] == "kamreview.auth"
    assert (line["request_id"], line["method"], line["service"]) == ("req-7", "POST", "kamreview-web")
    assert line["route"] == "/api/session"


def test_the_access_log_line_in_json_has_the_route_status_and_request_id(live):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("kamreview-web"))
    access = logging.getLogger("uvicorn.access")
    access.addHandler(handler)
    try:
        r = httpx.get(f"{live.url}/hr/cycles/NOPE123", headers={"X-Request-ID": "edge-9"}, follow_redirects=False)
    finally:
        access.removeHandler(handler)
    line = json.loads(stream.getvalue().splitlines()[-1])
    assert '"GET /hr/cycles/NOPE123 HTTP/1.1" 303' in line["message"]  # not signed in: to the sign-in page
    assert (line["route"], line["status"], line["request_id"]) == ("/hr/cycles/{cycle_id}", r.status_code, "edge-9")


def test_the_server_log_config_in_json_puts_every_handler_and_the_root_on_the_json_formatter():
    import logging.config

    from webapp.logs import uvicorn_log_config

    config = uvicorn_log_config(fmt="json")
    assert {h["formatter"] for h in config["handlers"].values()} == {"json"}
    assert all("redact" in h["filters"] for h in config["handlers"].values())
    assert config["root"]["handlers"] == ["app"]
    made = logging.config.DictConfigurator(config).configure_formatter(dict(config["formatters"]["json"]))
    assert isinstance(made, JsonFormatter) and made.service == "kamreview-web"
    assert "root" not in uvicorn_log_config()  # text: as before


def test_the_web_server_process_logs_json_and_serves_metrics(temporal_env, db_url):
    import os
    import re
    import signal
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    env = os.environ | {"KAMREVIEW_DATABASE_URL": db_url, "KAMREVIEW_WEB_PORT": "0", "KAMREVIEW_LOG_FORMAT": "json",
                        "KAMREVIEW_TEMPORAL_ADDRESS": temporal_env.client.service_client.config.target_host}
    proc = subprocess.Popen([sys.executable, "-m", "webapp.serve"], cwd=root, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        url = None
        for line in proc.stdout:
            found = re.search(r"kamreview is running: (http://\S+)/", line)
            if found:
                url = found.group(1)
                break
        assert url, proc.stderr.read()
        r = httpx.get(f"{url}/metrics")
        assert r.status_code == 200 and "kamreview_cycles" in r.text
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    lines = [json.loads(x) for x in (out + err).splitlines() if x.startswith("{")]
    access = [x for x in lines if x["logger"] == "uvicorn.access"]
    assert access and access[-1]["route"] == "/metrics" and access[-1]["status"] == 200, out + err
    assert all(x["service"] == "kamreview-web" for x in lines)
