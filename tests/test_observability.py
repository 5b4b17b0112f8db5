"""Logs and telemetry: a refusal is one line without a traceback, JSON lines carry the ids, traces reach a collector."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import uuid
from datetime import timedelta

import psycopg
import pytest
from temporalio import activity, workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from services import tasks
from services.cycles import approve_payouts, create_cycle, finalize_calibration, start_cycle
from services.errors import Conflict, Rejected
from services.observability import JsonFormatter, QuietRefusals, ids_of_workflow, refusal_of, tracing_enabled
from services.worker_runtime import running_worker
from tests.helpers import cycle_config, cycle_phase_is, eventually, ratings, review_started, seed_org
from workflows.common import conflict, reject
from workflows.payloads import ManagerScoreSubmission, SelfReviewSubmission, SurveySubmission


async def _to_calibration(client, db_url: str, task_queue: str, cycle_id: str, org: dict) -> None:
    await create_cycle(db_url, cycle_config(cycle_id))
    await start_cycle(client, db_url, cycle_id, task_queue)
    for k in org["kams"]:
        await eventually(lambda k=k: review_started(client, cycle_id, k))
        await tasks.submit_self_review(client, db_url, cycle_id, SelfReviewSubmission(k, ratings(2)))
        await tasks.submit_manager_score(client, db_url, cycle_id, k,
                                         ManagerScoreSubmission(org["manager_of"][k], ratings(3)))
        for c in org["contacts"][k]:
            await tasks.submit_survey(client, db_url, cycle_id, k, SurveySubmission(c, 5, 9))
    await eventually(lambda: cycle_phase_is(client, cycle_id, "calibration"))


def _tracebacks(records: list[logging.LogRecord]) -> list[str]:
    return [f"{r.name}: {r.getMessage()}" for r in records if r.exc_info or r.exc_text or r.stack_info]


async def test_a_refused_finalize_is_one_line_without_a_traceback(client, db_url, db_admin_url, task_queue, caplog):
    import socket

    import httpx

    from services.observability import metrics_runtime
    from services.temporal import connect_client

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        metrics = f"127.0.0.1:{s.getsockname()[1]}"
    client = await connect_client(client.service_client.config.target_host, runtime=metrics_runtime(metrics))
    org = seed_org(db_url, kams=2, contacts_per_kam=1)
    cid = f"QUIET{uuid.uuid4().hex[:6]}"
    caplog.set_level(logging.DEBUG)
    async with running_worker(client, db_url, task_queue):
        await _to_calibration(client, db_url, task_queue, cid, org)
        with psycopg.connect(db_admin_url) as conn:  # one participant left unrated: the activity refuses
            conn.execute("UPDATE calibrated_rating SET final_level = NULL WHERE cycle_id = %s AND employee_id = 'K01'",
                         (cid,))
        caplog.clear()
        with pytest.raises(Rejected, match="cannot finalize"):
            await finalize_calibration(client, db_url, cid, "HR1")
        activity_refusal = list(caplog.records)
        caplog.clear()
        with pytest.raises(Conflict, match="cannot approve payouts"):  # the Update's validator refuses
            await approve_payouts(client, db_url, cid, "PAY1")
        validator_refusal = list(caplog.records)
        async with httpx.AsyncClient() as http:  # the refusal is counted on the worker's SDK metrics
            scraped = (await http.get(f"http://{metrics}/metrics")).text
    counted = [ln for ln in scraped.splitlines() if ln.startswith("kamreview_activity_refusals")
               and 'activity_type="finalize_calibration"' in ln and 'kind="Rejected"' in ln]
    assert counted and counted[0].endswith(" 1"), scraped
    assert not _tracebacks(activity_refusal + validator_refusal)
    lines = [r for r in activity_refusal if r.levelno >= logging.INFO and "cannot finalize" in r.getMessage()]
    assert len(lines) == 1, [r.getMessage() for r in activity_refusal]
    assert lines[0].levelno == logging.INFO
    assert lines[0].getMessage().startswith(f"refused (Rejected): activity finalize_calibration of cycle:{cid}: ")
    # The Update's own failure (the SDK logs it at DEBUG) is one line too, and names the update and workflow.
    updates = [r.getMessage() for r in activity_refusal + validator_refusal if "refused" in r.getMessage()
               and r.levelno < logging.INFO]
    assert f"refused (Conflict): update approve_payouts of cycle:{cid}: cannot approve payouts" in "\n".join(updates)
    assert not [r for r in validator_refusal if r.levelno >= logging.INFO and "refused" in r.getMessage()]


def _record(exc: BaseException, name: str = "temporalio.activity") -> logging.LogRecord:
    try:
        raise exc
    except BaseException:
        import sys

        record = logging.LogRecord(name, logging.WARNING, __file__, 1, "Completing activity as failed", None,
                                   sys.exc_info())
    record.temporal_activity = {"activity_type": "lock_payouts", "workflow_id": "cycle:C1", "attempt": 1}
    return record


def test_real_failures_keep_their_traceback():
    quiet = QuietRefusals()
    plain = _record(RuntimeError("the database is gone"))
    assert quiet.filter(plain) and plain.exc_info and plain.levelno == logging.WARNING
    try:  # a refusal that wraps a Python error (RefuseUnfixableErrors): the data problem keeps its traceback
        try:
            raise ValueError("numeric field overflow")
        except ValueError as err:
            raise reject("incentives cannot be computed") from err
    except ApplicationError as err:
        wrapped = err
    record = _record(wrapped)
    assert refusal_of(wrapped) is None and quiet.filter(record) and record.exc_info
    refused = _record(conflict("payouts were already approved by PAY1"))
    assert quiet.filter(refused) and not refused.exc_info and refused.levelno == logging.INFO
    assert refused.getMessage() == ("refused (Conflict): activity lock_payouts of cycle:C1: "
                                    "payouts were already approved by PAY1")


def test_json_lines_carry_time_level_logger_and_ids():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("kamreview-worker"))
    logger = logging.getLogger("kamreview.test_json")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("review %s is late", "X", extra={"temporal_workflow": {
            "workflow_id": "review:2026-Q3:K01", "run_id": "r1", "workflow_type": "ReviewWorkflow"}})
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["level"] == "WARNING" and first["logger"] == "kamreview.test_json"
    assert first["message"] == "review X is late" and first["service"] == "kamreview-worker"
    assert first["time"][10] == "T" and first["time"][-6] in "+-"  # ISO 8601 with its offset
    assert (first["cycle_id"], first["employee_id"], first["review_id"], first["run_id"]) == (
        "2026-Q3", "K01", "2026-Q3:K01", "r1")
    assert "RuntimeError: boom" in second["exception"]
    assert ids_of_workflow("cycle:2026-Q3") == {"cycle_id": "2026-Q3"}
    assert ids_of_workflow("deliver:announce:C1") == {"batch": "announce:C1"}


def test_tracing_is_off_unless_asked_for():
    assert not tracing_enabled({})
    assert tracing_enabled({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"})
    assert not tracing_enabled({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_SDK_DISABLED": "true"})
    assert tracing_enabled({"OTEL_TRACES_EXPORTER": "otlp"})
    assert not tracing_enabled({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"})


class _Collector:
    """A local OTLP/HTTP receiver: decodes every ``POST /v1/traces`` (protobuf) into (service, span name) pairs."""

    def __init__(self) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

        spans = self.spans = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server API
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.path == "/v1/traces":
                    request = ExportTraceServiceRequest.FromString(body)
                    for rs in request.resource_spans:
                        service = next(a.value.string_value for a in rs.resource.attributes if a.key == "service.name")
                        spans.extend((service, s.name) for ss in rs.scope_spans for s in ss.spans)
                self.send_response(200 if self.path == "/v1/traces" else 404)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def collector():
    found = _Collector()
    yield found
    found.close()


async def test_traces_of_a_web_request_reach_the_collector_through_the_workflow(client, db_url, task_queue, collector,
                                                                               monkeypatch):
    from temporalio.client import Client
    from temporalio.contrib.opentelemetry import TracingInterceptor

    from services.observability import tracer_provider
    from services.users import fast_test_hasher, seed_demo_users
    from tests.web.helpers import password_of, settings_for_tests
    from webapp.app import create_app

    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.url)  # the standard variable, read by the exporter
    monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
    provider = tracer_provider("kamreview-web")
    traced = Client(**{**client.config(), "interceptors": [TracingInterceptor(provider.get_tracer("kamreview"))]})
    seed_org(db_url, kams=2, contacts_per_kam=1)
    seed_demo_users(db_url, hasher=fast_test_hasher())
    cid = f"TRACE{uuid.uuid4().hex[:6]}"
    await create_cycle(db_url, cycle_config(cid))
    async with running_worker(traced, db_url, task_queue):  # the client's interceptor traces the worker too
        app = create_app(db_url, traced, task_queue, settings_for_tests(), pool_size=2, tracer_provider=provider)
        async with app.router.lifespan_context(app):
            import httpx

            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as hr:
                r = await hr.post("/api/session", json={"username": "HR1", "password": password_of("HR1")})
                hr.headers["X-CSRF-Token"] = r.json()["csrf_token"]
                assert (await hr.post(f"/api/hr/cycles/{cid}/start")).status_code == 200
        await eventually(lambda: review_started(client, cid, "K01"))
    provider.shutdown()  # flushes the batch
    names = {name for service, name in collector.spans if service == "kamreview-web"}
    assert "POST /api/hr/cycles/{cycle_id}/start" in names, sorted(names)
    assert {"StartWorkflow:CycleWorkflow", "RunWorkflow:CycleWorkflow", "RunActivity:begin_cycle"} <= names, sorted(names)
    assert not any(cid in name for name in names)  # span names are templates too
    assert not any(name.endswith((" http send", " http receive")) for name in names)


async def test_worker_process_serves_sdk_metrics_and_logs_json(client, db_url, task_queue):
    import os
    import signal
    import socket
    import subprocess
    import sys
    from pathlib import Path

    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    root = Path(__file__).resolve().parent.parent
    env = os.environ | {"KAMREVIEW_DATABASE_URL": db_url, "KAMREVIEW_TASK_QUEUE": task_queue,
                        "KAMREVIEW_TEMPORAL_ADDRESS": client.service_client.config.target_host,
                        "KAMREVIEW_LOG_FORMAT": "json", "KAMREVIEW_WORKER_METRICS_ADDRESS": f"127.0.0.1:{port}"}
    env.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
    proc = subprocess.Popen([sys.executable, str(root / "worker.py")], cwd=root, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert f"SDK metrics on http://127.0.0.1:{port}/metrics" in line, line
        seed_org(db_url, kams=1, contacts_per_kam=1)
        cid = f"MET{uuid.uuid4().hex[:6]}"
        await create_cycle(db_url, cycle_config(cid))
        await start_cycle(client, db_url, cid, task_queue)
        await eventually(lambda: review_started(client, cid, "K01"))
        async with httpx.AsyncClient() as http:
            text = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
        assert "temporal_workflow_task_execution_latency" in text and f'task_queue="{task_queue}"' in text
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    lines = [json.loads(x) for x in err.splitlines() if x.strip()]  # every line is one JSON object
    assert any(x["logger"].startswith("temporalio") and x["service"] == "kamreview-worker" for x in lines), err[-2000:]


@activity.defn(name="late_heartbeat")
async def late_heartbeat() -> str:
    if activity.info().attempt == 1:
        activity.heartbeat()
        for _ in range(40):  # gaps longer than the 1 s heartbeat timeout: the server ends this attempt in one, runs
            await asyncio.sleep(1.5)  # attempt 2, and answers the next heartbeat "not found": this one is cancelled
            activity.heartbeat()
    return "second attempt"


@workflow.defn(name="LateHeartbeat", sandboxed=False)
class LateHeartbeat:
    @workflow.run
    async def run(self) -> str:
        return await workflow.execute_activity(
            late_heartbeat, heartbeat_timeout=timedelta(seconds=1), start_to_close_timeout=timedelta(seconds=60),
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=100)))


async def test_an_attempt_abandoned_after_a_late_heartbeat_is_one_warning_line(client, task_queue, caplog):
    """A heartbeat that comes too late (a loaded worker) ends the attempt: the server runs the activity again and the
    SDK cancels the old attempt, then logs it as a failure with a full traceback of the CancelledError. It is an
    expected retry: one WARNING line that says which attempt of which activity, no traceback."""
    from services.observability import quiet_refusals

    quiet_refusals()
    caplog.set_level(logging.DEBUG)
    async with Worker(client, task_queue=task_queue, workflows=[LateHeartbeat], activities=[late_heartbeat]):
        result = await client.execute_workflow(LateHeartbeat.run, id=f"late-{uuid.uuid4().hex[:6]}",
                                               task_queue=task_queue)
        for _ in range(300):  # attempt 1 learns of its end at its next heartbeat, after the workflow completed
            if [r for r in caplog.records if r.name == "temporalio.activity" and r.levelno >= logging.WARNING]:
                break
            await asyncio.sleep(0.1)
    assert result == "second attempt"
    activity_lines = [r for r in caplog.records if r.name == "temporalio.activity" and r.levelno >= logging.WARNING]
    assert not _tracebacks(activity_lines), _tracebacks(activity_lines)
    assert len(activity_lines) == 1, [r.getMessage() for r in activity_lines]
    line = activity_lines[0].getMessage()
    assert line.startswith("attempt 1 of activity late_heartbeat of late-") and "heartbeat came too late" in line, line
    assert "runs again unless its retries are spent" in line, line
