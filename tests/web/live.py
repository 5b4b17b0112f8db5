"""The web app on a real uvicorn port, with a worker, in a background thread with its own event loop.

Synchronous tools (Playwright's sync API, schemathesis) drive it from the test thread; ``call``
runs a coroutine (a service call needing the Temporal client) on the server's loop.
"""

from __future__ import annotations

import asyncio
import socket
import tempfile
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from services.settings import WebSettings
from services.temporal import connect_client


class LiveServer:
    def __init__(self, db_url: str, temporal_address: str, task_queue: str, mail: Any = None) -> None:
        """``mail``: the worker's e-mail courier (e.g. an SmtpCourier to a test SMTP server); None: a Maildir."""
        self.db_url, self.temporal_address, self.task_queue = db_url, temporal_address, task_queue
        self.mail_courier = mail
        self.url = ""
        self.maildir = Path(tempfile.mkdtemp(prefix="krmail")) / "mail"  # what the worker delivered by e-mail
        self.client: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: Any = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="live-web-server", daemon=True)

    def start(self) -> None:
        self._thread.start()
        if not self._ready.wait(60):
            raise RuntimeError("the live web server did not start within 60 s")
        if self._error is not None:
            raise RuntimeError(f"the live web server failed to start: {self._error!r}") from self._error

    def stop(self) -> None:
        if self._server is not None and self._loop is not None:
            self._loop.call_soon_threadsafe(setattr, self._server, "should_exit", True)
        self._thread.join(30)

    def mails(self) -> list[Any]:
        """The e-mails delivered so far (parsed), from the worker's Maildir."""
        import mailbox

        return list(mailbox.Maildir(self.maildir, factory=None, create=False)) if self.maildir.exists() else []

    def call(self, make: Callable[[Any], Awaitable[Any]], timeout: float = 60) -> Any:
        """Run ``make(client)`` on the server's loop and wait for its result."""
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(make(self.client), self._loop).result(timeout)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as err:  # noqa: BLE001 - reported to the test thread
            self._error = err
            self._ready.set()

    async def _main(self) -> None:
        import uvicorn

        from activities.delivery import DeliverySetup
        from notify.channels import MaildirCourier
        from notify.render import render
        from webapp.app import create_app
        from worker import running_worker

        self._loop = asyncio.get_running_loop()
        self.client = await connect_client(self.temporal_address)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        settings = WebSettings(host="127.0.0.1", port=port, public_url=self.url,
                               upload_dir=Path(tempfile.mkdtemp(prefix="kruploads")))
        app = create_app(self.db_url, self.client, self.task_queue, settings, pool_size=8)
        # log_config=None: uvicorn's loggers propagate to the root logger, where caplog sees the access log.
        self._server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=True, log_level="info"))
        setup = DeliverySetup(mail=self.mail_courier or MaildirCourier(self.maildir, "绩效考核 <hr@acme.example>"),
                              chat={}, render=render, base_url=self.url)
        async with running_worker(self.client, self.db_url, self.task_queue, setup=setup):
            serving = asyncio.create_task(self._server.serve(sockets=[sock]))
            while not self._server.started:
                if serving.done():
                    serving.result()
                    raise RuntimeError("uvicorn stopped during start-up")
                await asyncio.sleep(0.02)
            self._ready.set()
            await serving
