"""`make serve`: everything in one command — servers (embedded unless configured), migrations, the web app
on uvicorn and, in the embedded default only, a worker in this process. Prints the URL to open.

Configuration: the engine's ``KAMREVIEW_*`` settings (database, Temporal, task queue) and the web
app's ``KAMREVIEW_WEB_*`` ones (host, port, public URL, session lengths, secure cookies).
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys


def _bind(host: str, port: int) -> socket.socket:
    """Bind before anything else starts, so a busy port is reported plainly (and port 0 works)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as err:
        sock.close()
        raise SystemExit(f"cannot listen on {host}:{port} ({err.strerror}); set KAMREVIEW_WEB_PORT to a free port") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


async def main() -> int:
    import uvicorn

    from services.embedded import EmbeddedServerError, database_url, temporal_address, temporal_ui_url
    from services.errors import UserError
    from services.observability import telemetry
    from services.settings import get_settings, get_web_settings
    from services.temporal import connect_client
    from services.worker_runtime import embedded_worker
    from webapp.app import create_app
    from webapp.logs import uvicorn_log_config

    settings, web = get_settings(), get_web_settings()
    sock = _bind(web.host, web.port)
    port = sock.getsockname()[1]
    if port != web.port:
        web = web.model_copy(update={"port": port})
    try:
        print("starting the servers (embedded unless configured) ...", file=sys.stderr, flush=True)
        # The SDK's Prometheus endpoint is a worker's: here only when this process runs the (embedded) worker.
        seen = telemetry("kamreview-web", None if settings.temporal_address else settings.worker_metrics_address)
        db = database_url(settings)
        address = temporal_address(settings)
        client = await connect_client(address, settings.temporal_namespace, runtime=seen.runtime,
                                      interceptors=seen.interceptors)
    except (EmbeddedServerError, UserError, RuntimeError, ValueError) as err:
        print(f"cannot start: {err}", file=sys.stderr)
        return 1
    app = create_app(db, client, settings.task_queue, web, tracer_provider=seen.tracer_provider)
    config = uvicorn.Config(app, log_config=uvicorn_log_config(fmt=settings.log_format), access_log=True,
                            server_header=False, proxy_headers=False, timeout_graceful_shutdown=5)
    server = uvicorn.Server(config)
    async with embedded_worker(settings, client, db):
        base = web.base_url()
        print(f"\nkamreview is running: {base}/\n"
              f"  sign in:  {base}/login   (demo users: run `make demo` once; the README lists them)\n"
              f"  API:      {base}/api-docs  (OpenAPI document {base}/openapi.json)\n"
              + (f"  Temporal: {temporal_ui_url(settings)}\n" if temporal_ui_url(settings) else "")
              + "  stop with Ctrl-C\n", flush=True)
        await server.serve(sockets=[sock])
    seen.shutdown()
    return 0


if __name__ == "__main__":
    code = asyncio.run(main())
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # temporal-notes: avoid the interpreter-exit crash after using a Temporal client
