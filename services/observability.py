"""Logs, Temporal SDK metrics and traces for every process, set up in one place (docs/operations.md).

The worker (``worker.py``), the web server (``webapp/serve.py``) and the CLI's embedded worker log the same way:
text by default, one JSON object per line with ``KAMREVIEW_LOG_FORMAT=json``. A refusal (a person asked for
something the rules forbid; ``workflows.common.refuse``) is normal work, so it is logged in one line without a
traceback; real failures keep theirs. Traces are off unless the standard ``OTEL_*`` variables ask for them.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import json
import logging
import os
import sys
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any, Literal

from temporalio import activity
from temporalio.exceptions import ApplicationError, CancelledError, FailureError
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor

from workflows.common import CONFLICT, REJECTED

LogFormat = Literal["text", "json"]
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# What the web app knows about the request being served (request id, route, method, status), for log lines
# written while it is served. Set by webapp.metrics; read by the JSON formatter. A dict, filled in as it is learnt;
# a value may be a function, called when a line is written (the route is known only once the router has matched).
REQUEST: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar("kamreview_request", default=None)

# Loggers whose records carry the exception of a failed activity attempt or Update (temporalio 1.35).
_REFUSAL_LOGGERS = ("temporalio.activity", "temporalio.worker._workflow_instance", "temporalio.workflow")


# -- refusals: one line, no traceback ----------------------------------------------------------------


def refusal_of(err: BaseException | None) -> ApplicationError | None:
    """The refusal ``err`` is (or wraps, as an ActivityError does), or None for anything else.

    A refusal that wraps a Python exception (``RefuseUnfixableErrors``: a value the database refused) is not a
    plain refusal: the cause is a data problem an operator wants to see with its traceback.
    """
    seen = 0
    while err is not None and seen < 10:
        if isinstance(err, ApplicationError):
            cause = err.cause or err.__cause__
            return err if err.type in (REJECTED, CONFLICT) and cause is None else None
        if not isinstance(err, FailureError):
            return None
        err, seen = err.cause or err.__cause__, seen + 1
    return None


class QuietRefusals(logging.Filter):
    """Rewrites a record whose exception is a refusal into one line (at most INFO), without exc_info.

    The SDK logs every failed activity as a WARNING with its traceback, and every failed Update at DEBUG with
    one; for a refusal the person is told in their language, and the log needs only what was refused.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if isinstance(record.exc_info, tuple) else None
        activity_info = getattr(record, "temporal_activity", None)
        if isinstance(exc, asyncio.CancelledError | CancelledError) and isinstance(activity_info, dict):
            # Logged as a failure only when nobody asked for the cancel. When the server ended the attempt (a
            # heartbeat too late on a loaded worker) the traceback of the cancel says nothing: one line says it all.
            # A CancelledError the activity's own code let out keeps its traceback.
            why = _ended_by_server()
            if why is not None:
                record.msg, record.args = "attempt %s of activity %s of %s ended: %s", (
                    activity_info.get("attempt"), activity_info.get("activity_type"), activity_info.get("workflow_id"),
                    why)
                record.exc_info, record.exc_text, record.stack_info = None, None, None
            return True
        refusal = refusal_of(exc)
        if refusal is None:
            return True
        if isinstance(activity_info, dict):
            what = f"activity {activity_info.get('activity_type')} of {activity_info.get('workflow_id')}"
        else:
            what = _update_being_handled(record)
        record.msg, record.args = "refused (%s): %s: %s", (refusal.type, what, refusal.message)
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        record.refusal = refusal.type
        if record.levelno > logging.INFO:
            record.levelno, record.levelname = logging.INFO, logging.getLevelName(logging.INFO)
        return True


def _ended_by_server() -> str | None:
    """Why the server ended the current activity attempt, from its context (the record is written inside it); None
    when it did not (the cancel came from somewhere else)."""
    try:
        details = activity.cancellation_details()
    except Exception:  # noqa: BLE001 - outside an activity
        return None
    if details is None:
        return None
    if details.timed_out:
        return "the server timed it out (its heartbeat came too late); it runs again unless its retries are spent"
    if details.not_found:
        return ("the server no longer knows this attempt: it timed out (its heartbeat came too late) and runs "
                "again unless its retries are spent, or its workflow ended")
    return None


def _update_being_handled(record: logging.LogRecord) -> str:
    """"update <name> of <workflow id>", from the workflow's context (the record is written inside its event loop)."""
    from temporalio import workflow

    name, workflow_id = "?", "?"
    try:
        update = workflow.current_update_info()
        name = update.name if update else name
        info = workflow.info()
        workflow_id = info.workflow_id
        record.temporal_workflow = {"workflow_id": info.workflow_id, "run_id": info.run_id,
                                    "workflow_type": info.workflow_type}
    except Exception:  # noqa: BLE001 - outside a workflow: say less
        pass
    return f"update {name} of {workflow_id}"


_QUIET = QuietRefusals()


def quiet_refusals() -> None:
    """Installs the refusal filter on the SDK's loggers (idempotent). Logger filters apply before any handler, so
    every handler (files, stderr, pytest's capture) sees the one line."""
    for name in _REFUSAL_LOGGERS:
        logger = logging.getLogger(name)
        if _QUIET not in logger.filters:
            logger.addFilter(_QUIET)


class _CountRefusals(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        try:
            return await super().execute_activity(input)
        except ApplicationError as err:
            refusal = refusal_of(err)
            if refusal is not None:
                activity.metric_meter().create_counter(
                    "kamreview_activity_refusals", "activity attempts that ended in a refusal (counted as failed by "
                    "temporal_activity_execution_failed too)").add(1, {"kind": refusal.type or REJECTED})
            raise


class CountRefusals(Interceptor):
    """Worker interceptor: counts refused activities on the SDK's metrics (``kamreview_activity_refusals`` by
    activity_type and kind), so that failed minus refused is what went wrong. A no-op without a metrics runtime."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _CountRefusals(next)


# -- log lines --------------------------------------------------------------------------------------


def ids_of_workflow(workflow_id: str | None) -> dict[str, str]:
    """cycle_id / review_id / employee_id from our workflow ids (workflows.payloads: ``cycle:<cycle>``,
    ``review:<cycle>:<employee>``, ``deliver:<batch>``)."""
    if not workflow_id:
        return {}
    kind, _, rest = workflow_id.partition(":")
    if kind == "cycle" and rest:
        return {"cycle_id": rest}
    if kind == "review" and ":" in rest:
        cycle_id, employee_id = rest.rsplit(":", 1)
        return {"cycle_id": cycle_id, "review_id": rest, "employee_id": employee_id}
    if kind == "deliver" and rest:
        return {"batch": rest}
    return {}


_EXTRA_KEYS = ("cycle_id", "review_id", "employee_id", "task_id", "refusal")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (ISO 8601 with offset), level, logger, message, and the ids known."""

    def __init__(self, service: str | None = None) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created).astimezone().isoformat(timespec="milliseconds"),
            "level": record.levelname, "logger": record.name, "message": record.getMessage(),
        }
        if self.service:
            out["service"] = self.service
        wf = getattr(record, "temporal_workflow", None)
        act = getattr(record, "temporal_activity", None)
        if isinstance(wf, dict):
            out.update(workflow_id=wf.get("workflow_id"), run_id=wf.get("run_id"), workflow_type=wf.get("workflow_type"))
        if isinstance(act, dict):
            out.update(workflow_id=act.get("workflow_id"), run_id=act.get("workflow_run_id"),
                       workflow_type=act.get("workflow_type"), activity_type=act.get("activity_type"),
                       activity_id=act.get("activity_id"), attempt=act.get("attempt"))
        out.update(ids_of_workflow(out.get("workflow_id")))
        for key in _EXTRA_KEYS:
            value = getattr(record, key, None)
            if value is not None:
                out[key] = value
        request = REQUEST.get()
        if request:
            out.update((k, v() if callable(v) else v) for k, v in request.items())
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            out["stack"] = self.formatStack(record.stack_info)
        return json.dumps({k: v for k, v in out.items() if v is not None}, ensure_ascii=False, default=str)


def formatter(fmt: LogFormat, service: str | None = None) -> logging.Formatter:
    return JsonFormatter(service) if fmt == "json" else logging.Formatter(TEXT_FORMAT)


def log_handler(fmt: LogFormat, stream: IO[str] | None = None, path: os.PathLike[str] | str | None = None,
                service: str | None = None) -> logging.Handler:
    """A handler writing ``fmt`` lines to a file (``path``) or a stream (default stderr); for the CLI's worker log:
    ``logging.getLogger("temporalio").addHandler(log_handler(settings.log_format, path=...))``."""
    handler: logging.Handler = (logging.FileHandler(path, encoding="utf-8") if path is not None
                                else logging.StreamHandler(stream or sys.stderr))
    handler.setFormatter(formatter(fmt, service))
    quiet_refusals()
    return handler


def configure_logging(fmt: LogFormat = "text", level: str | int = "INFO", service: str | None = None) -> None:
    """The process's logging: one handler on the root logger in ``fmt``, refusals in one line. Used by worker.py;
    webapp/serve.py configures through uvicorn's log config (webapp.logs.uvicorn_log_config) instead."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_kamreview", False)]:
        root.removeHandler(old)
    handler = log_handler(fmt, service=service)
    handler._kamreview = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level if isinstance(level, int) else level.upper())


# -- Temporal SDK metrics and traces ----------------------------------------------------------------


@functools.cache
def metrics_runtime(bind_address: str) -> Any:
    """The SDK runtime serving Prometheus metrics on ``bind_address``: one per address per process (a second
    Runtime on the same port could not bind it)."""
    from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

    return Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=bind_address)))


def tracing_enabled(env: dict[str, str] | None = None) -> bool:
    """Traces are off unless an OTLP endpoint or a traces exporter is named, and the SDK is not disabled."""
    env = os.environ if env is None else env
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporter = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter == "none":
        return False
    return bool(exporter or env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))


def tracer_provider(service: str, exporter: Any = None) -> Any:
    """A TracerProvider for ``service`` (OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES override it) exporting in
    batches: OTLP/HTTP configured by the OTEL_EXPORTER_OTLP_* variables, or the console with
    OTEL_TRACES_EXPORTER=console."""
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

    if exporter is None:
        if os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower() == "console":
            exporter = ConsoleSpanExporter()
        else:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            exporter = OTLPSpanExporter()
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: service}))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


@dataclass
class Telemetry:
    """What one process passes to ``connect_client`` (runtime, interceptors) and to the web app (tracer provider)."""

    runtime: Any = None
    interceptors: list[Any] = field(default_factory=list)
    tracer_provider: Any = None

    def shutdown(self) -> None:
        """Flushes the spans still batched (a process ending without it loses its last few seconds of traces)."""
        if self.tracer_provider is not None:
            self.tracer_provider.shutdown()


def telemetry(service: str, metrics_address: str | None = None, env: dict[str, str] | None = None) -> Telemetry:
    """The process's telemetry: SDK metrics when ``metrics_address`` is set, traces when the OTEL_* variables ask.

    The tracing interceptor goes on the client; a Worker built on that client uses it too (temporalio: client
    interceptors that are also worker interceptors are applied to workers), so workflows and activities are traced.
    """
    try:
        found = Telemetry(runtime=metrics_runtime(metrics_address) if metrics_address else None)
    except ValueError as err:  # the SDK's words: "Failed starting Prometheus exporter: Address already in use"
        raise ValueError(f"cannot serve metrics on KAMREVIEW_WORKER_METRICS_ADDRESS={metrics_address}: {err}") from None
    if tracing_enabled(env):
        from opentelemetry import trace
        from temporalio.contrib.opentelemetry import TracingInterceptor

        found.tracer_provider = tracer_provider(service)
        trace.set_tracer_provider(found.tracer_provider)
        found.interceptors.append(TracingInterceptor(found.tracer_provider.get_tracer("kamreview")))
    return found
