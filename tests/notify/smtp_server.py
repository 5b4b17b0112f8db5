"""A real SMTP server for the tests and the mail benchmark (aiosmtpd on 127.0.0.1, a free port, its own thread).

It records every message it accepts, answers 550 for the recipients in ``reject``, and can be stopped and
started again on the same port to play an outage: stopping closes the open connections too, as a server
that goes away does. ``python -m tests.notify.smtp_server`` runs it as a counting sink for bench/notify_bench.py
(it prints ``PORT n``, then answers each ``count`` line on stdin with the number of messages received, and each
``stats`` line with three numbers: messages received, reads (aiosmtpd ``data_received`` calls) and event-loop
wake-ups (epoll waits) so far, so the benchmark can tell how each side's bytes reach the server).
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import sys
import threading
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    peer: tuple  # the client's (address, port): one connection, one peer

    @property
    def message(self) -> EmailMessage:
        return message_from_bytes(self.data, policy=policy.default)  # type: ignore[return-value]


@dataclass
class Recorder:
    """The aiosmtpd handler: keeps (or only counts) what it accepts, refuses the addresses in ``reject``."""

    keep: bool = True
    reject: set[str] = field(default_factory=set)
    hang_up: set[str] = field(default_factory=set)  # recipients whose message is kept, then the line dropped unanswered
    received: list[Received] = field(default_factory=list)
    count: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: ANN001, N802 - aiosmtpd hook
        if address in self.reject:
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown in virtual mailbox table"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: ANN001, N802 - aiosmtpd hook
        with self._lock:
            self.count += 1
            if self.keep:
                self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.original_content),
                                              tuple(session.peer)))
        if self.hang_up & set(envelope.rcpt_tos):
            server.transport.close()  # the worst moment: the server has the message, the client gets no answer
        return "250 2.0.0 Ok: queued"


class _Controller(Controller):
    """A Controller that remembers its sessions, so stopping can drop them."""

    def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        super().__init__(*args, **kwargs)
        self.sessions: list[SMTP] = []

    def factory(self) -> SMTP:
        smtp = super().factory()
        self.sessions.append(smtp)
        return smtp


class SmtpTestServer:
    """Start, stop (closing every open connection) and start again on the same port."""

    def __init__(self, recorder: Recorder | None = None, *, port: int | None = None, tls: ssl.SSLContext | None = None,
                 starttls: ssl.SSLContext | None = None) -> None:
        self.recorder = recorder or Recorder()
        self.host, self.port = "127.0.0.1", port or free_port()
        self.tls, self.starttls = tls, starttls
        self._controller: _Controller | None = None

    def start(self) -> SmtpTestServer:
        kwargs: dict = {"enable_SMTPUTF8": True, "decode_data": False}
        if self.starttls is not None:
            kwargs.update(tls_context=self.starttls, require_starttls=True)
        if self.tls is not None:
            kwargs["ssl_context"] = self.tls
        self._controller = _Controller(self.recorder, hostname=self.host, port=self.port, server_hostname="localhost", **kwargs)
        self._controller.start()
        return self

    def stop(self) -> None:
        controller, self._controller = self._controller, None
        if controller is None:
            return

        async def drop() -> None:
            for smtp in controller.sessions:
                if smtp.transport is not None:
                    smtp.transport.close()
            await asyncio.sleep(0)

        asyncio.run_coroutine_threadsafe(drop(), controller.loop).result(5)
        controller.stop()

    @property
    def received(self) -> list[Received]:
        return self.recorder.received

    def __enter__(self) -> SmtpTestServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _count_io() -> list[int]:
    """[reads, wake-ups]: counted by wrapping aiosmtpd's ``data_received`` and the selector's ``select`` (in the
    benchmark's sink process only; the counting costs well under a microsecond a call)."""
    import selectors

    counts = [0, 0]
    received, select = SMTP.data_received, selectors.DefaultSelector.select

    def data_received(self, data: bytes) -> None:  # noqa: ANN001
        counts[0] += 1
        received(self, data)

    def counted_select(self, timeout=None):  # noqa: ANN001, ANN202
        counts[1] += 1
        return select(self, timeout)

    SMTP.data_received = data_received  # type: ignore[method-assign]
    selectors.DefaultSelector.select = counted_select  # type: ignore[method-assign]
    return counts


def main() -> None:
    """A counting sink in its own process, for the benchmark (the client's process keeps its core)."""
    io = _count_io()
    server = SmtpTestServer(Recorder(keep=False)).start()
    print(f"PORT {server.port}", flush=True)
    for line in sys.stdin:
        if line.strip() == "count":
            print(server.recorder.count, flush=True)
        elif line.strip() == "stats":
            print(server.recorder.count, *io, flush=True)
        elif line.strip() == "quit":
            break
    server.stop()


if __name__ == "__main__":
    main()
