"""The e-mail channel: a rendered message becomes a MIME e-mail, sent over SMTP or dropped into a Maildir.

Both senders have one interface (``MailChannel``): ``send`` one message and get its ``SendOutcome`` once the
message is accepted or refused, or ``send_batch`` many over one connection, with an ``on_outcome`` callback
that runs right after each message's reply (so the caller can mark it sent before the next one goes).

The window, for the delivery activity's note: SMTP cannot be made exactly-once. The server accepts a message
when it answers 250 to the end of its data; between that reply and the caller's "mark sent" a crash loses the
mark, and the message goes again on retry. A connection lost after the data went out but before the reply
arrives leaves it unknown whether the server kept it: that outcome is ``retry=True`` with
``detail["uncertain"] = True``. In both cases the second copy carries the same Message-ID, derived from the
notification key, so it is recognisable (and many mail stores drop it). The Maildir sender has no such window:
a second delivery of a key is skipped.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import hashlib
import os
import re
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from email.errors import MessageError
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP, SMTPUTF8, default
from email.utils import format_datetime, formataddr, parseaddr
from pathlib import Path
from typing import Literal, Protocol

import aiosmtplib

from notify.message import OutgoingMail, SendOutcome
from notify.render import resolve_locale

Security = Literal["none", "starttls", "tls"]
OnOutcome = Callable[[SendOutcome], Awaitable[None]]
KEY_HEADER = "X-Kamreview-Notification"
# The sender's display name when KAMREVIEW_MAIL_FROM gives only an address, in the recipient's language.
DEFAULT_DISPLAY_NAME = {"zh-CN": "绩效考核系统", "en": "Performance Review"}


def key_digest(key: str) -> str:
    """32 hex digits naming a notification key in a Message-ID or a Maildir file: stable, and safe in both."""
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def message_id(key: str, mail_domain: str) -> str:
    """The Message-ID of a notification: the same key always gives the same id, so a duplicate is recognisable."""
    return f"<{key_digest(key)}@kamreview.{mail_domain}>"


# What an SMTP command must not carry (aiosmtplib refuses the same in a command's arguments): an address with
# a line break or another control character would end MAIL or RCPT early and smuggle in a command of its own.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _address(display_name: str, addr: str) -> Address:
    """A header address; a non-ASCII domain is written in its IDNA (xn--) form, which every server accepts."""
    local, _, domain = addr.strip().rpartition("@")
    if not local or not domain or _CONTROL.search(local) or _CONTROL.search(domain):
        raise ValueError(f"{addr!r} is not an e-mail address")
    if not domain.isascii():
        domain = domain.encode("idna").decode("ascii")
    return Address(display_name=display_name, username=local, domain=domain)


def build_message(mail: OutgoingMail, mail_from: str, *, date: datetime | None = None) -> EmailMessage:
    """The e-mail of one notification: multipart/alternative (text, then HTML), in the recipient's language.

    ``mail_from`` is ``review@example.com`` or ``KAM Review <review@example.com>``; without a display name the
    recipient's language gives one. Raises ValueError when the recipient has no usable address.
    """
    person = mail.to
    if not person.email:
        raise ValueError(f"{person.name} has no e-mail address")
    lang = resolve_locale(person.locale)
    from_name, from_addr = parseaddr(mail_from)
    sender = _address(from_name or DEFAULT_DISPLAY_NAME[lang], from_addr or mail_from)
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = _address(person.name, person.email)
    msg["Subject"] = mail.rendered.subject
    msg["Date"] = format_datetime(date or datetime.now(UTC))
    msg["Message-ID"] = message_id(mail.key, sender.domain)
    msg[KEY_HEADER] = mail.key
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: out-of-office robots do not answer
    msg.set_content(mail.rendered.text)
    msg.add_alternative(mail.rendered.html, subtype="html")
    msg["Content-Language"] = lang  # after the parts: making them moves every Content-* header into the first
    return msg


def wire_message(mail: OutgoingMail, mail_from: str, *, date: datetime | None = None) -> tuple[bytes, str, str, bool, str]:
    """The bytes ``build_message`` would send, written directly: (data, sender, recipient, SMTPUTF8?, Message-ID).

    Python's ``email`` package spends about 1.5 ms building and flattening one such message; this writes the
    same headers and base64 parts in a tenth of that (bench/notify_bench.py). Addresses with a non-ASCII local
    part take the ``email`` package's way (SMTPUTF8).
    """
    person = mail.to
    if not person.email:
        raise ValueError(f"{person.name} has no e-mail address")
    lang = resolve_locale(person.locale)
    sender, recipient = _sender(mail_from, lang), _address(person.name, person.email)
    if not (sender.username.isascii() and recipient.username.isascii()):
        data, envelope_from, envelope_to, utf8 = _wire(build_message(mail, mail_from, date=date))
        return data, envelope_from, envelope_to, utf8, message_id(mail.key, sender.domain)
    digest = key_digest(mail.key)
    mid = f"<{digest}@kamreview.{sender.domain}>"  # message_id(), its digest computed once for both
    boundary = f"==kamreview-{digest}=="
    subject = mail.rendered.subject
    subject_header = subject if subject.isascii() and len(subject) < 69 else _encoded_words(subject, len("Subject: "))
    head = [
        _from_header(mail_from, lang),
        _address_header("To", recipient),
        f"Subject: {subject_header}",
        f"Date: {format_datetime(date) if date else _now_header()}",
        f"Message-ID: {mid}",
        f"{KEY_HEADER}: {mail.key}",
        "Auto-Submitted: auto-generated",
        "MIME-Version: 1.0",
        f'Content-Type: multipart/alternative;\r\n boundary="{boundary}"',
        f"Content-Language: {lang}",
    ]
    parts = []
    for subtype, body in (("plain", mail.rendered.text), ("html", mail.rendered.html)):
        body = body if body.endswith("\n") else body + "\n"  # as the email package ends a part
        body = body.replace("\r\n", "\n").replace("\n", "\r\n")  # text is sent in canonical form, CRLF lines
        flat = base64.b64encode(body.encode("utf-8")).decode("ascii")  # one call, then lines of 76 as MIME wants
        encoded = "\r\n".join([flat[i:i + 76] for i in range(0, len(flat), 76)]) + "\r\n"
        parts.append(f'--{boundary}\r\nContent-Type: text/{subtype}; charset="utf-8"\r\n'
                     f"Content-Transfer-Encoding: base64\r\n\r\n{encoded}")
    data = "\r\n".join(head) + "\r\n\r\n" + "".join(parts) + f"--{boundary}--\r\n"
    return data.encode("ascii"), sender.addr_spec, recipient.addr_spec, False, mid


_DATE: list = [0, ""]  # (second, Date header of that second)


def _now_header() -> str:
    """The Date header's value for now; formatted once a second (a Date has whole seconds)."""
    second = int(time.time())
    if _DATE[0] != second:
        _DATE[:] = [second, format_datetime(datetime.fromtimestamp(second, UTC))]
    return _DATE[1]


@functools.lru_cache(maxsize=64)
def _sender(mail_from: str, lang: str) -> Address:
    """The From address (its display name in the recipient's language when the setting gives none); parsed once."""
    from_name, from_addr = parseaddr(mail_from)
    return _address(from_name or DEFAULT_DISPLAY_NAME[lang], from_addr or mail_from)


@functools.lru_cache(maxsize=64)
def _from_header(mail_from: str, lang: str) -> str:
    return _address_header("From", _sender(mail_from, lang))


@functools.lru_cache(maxsize=1024)  # a batch's subjects repeat (one per kind, language and due date)
def _encoded_words(text: str, offset: int) -> str:
    """RFC 2047 base64 encoded words for a non-ASCII header value, folded so no line passes 76 columns.

    The ``email`` package's Header does the same in ten times the time; each word here holds whole
    characters (at most 45 bytes of UTF-8, 60 of base64).
    """
    whole = text.encode("utf-8")
    if len(whole) <= 45 - offset // 2:  # one word (a person's name, mostly): what the loop below would make of it
        return f"=?utf-8?b?{base64.b64encode(whole).decode('ascii')}?="
    words, chunk, size = [], [], 0
    for ch in text:
        n = len(ch.encode("utf-8"))
        if size + n > 45 - (offset // 2 if not words else 0):
            words.append("".join(chunk))
            chunk, size = [], 0
        chunk.append(ch)
        size += n
    words.append("".join(chunk))
    return "\r\n ".join(f"=?utf-8?b?{base64.b64encode(w.encode('utf-8')).decode('ascii')}?=" for w in words if w)


def _address_header(name: str, address: Address) -> str:
    """An address header within 78 columns: a non-ASCII name as folded encoded words, the address after it."""
    display = address.display_name
    if display.isascii():
        value = formataddr((display, address.addr_spec))
    else:
        value = _encoded_words(display, len(name) + 2) + f" <{address.addr_spec}>"
    line = f"{name}: {value}"
    if len(line.rsplit("\r\n", 1)[-1]) <= 78 or " <" not in value:
        return line
    shown, _, addr = value.rpartition(" <")
    return f"{name}: {shown}\r\n <{addr}"


def _wire(msg: EmailMessage) -> tuple[bytes, str, str, bool]:
    """(bytes to send, envelope sender, envelope recipient, needs SMTPUTF8)."""
    sender, recipient = msg["From"].addresses[0].addr_spec, msg["To"].addresses[0].addr_spec
    utf8 = not (sender.isascii() and recipient.isascii())
    return msg.as_bytes(policy=SMTPUTF8 if utf8 else SMTP), sender, recipient, utf8


class MailChannel(Protocol):
    """What the delivery activity needs from a mail sender (SMTP or Maildir)."""

    async def send(self, mail: OutgoingMail) -> SendOutcome: ...

    async def send_batch(self, mails: Sequence[OutgoingMail], on_outcome: OnOutcome | None = None) -> list[SendOutcome]: ...

    async def close(self) -> None: ...


def _reply(code: int, text: str) -> str:
    return f"{code} {text}".strip()


def _on_the_wire(data: bytes) -> bool:
    """Whether the message is already what DATA sends: CRLF line ends only, ending in one, and no line that
    starts with a dot (which would need doubling). ``wire_message`` always writes it so."""
    return (data.endswith(b"\r\n") and not data.startswith(b".") and b"\n." not in data
            and data.count(b"\n") == data.count(b"\r\n") == data.count(b"\r"))


async def _command(smtp: aiosmtplib.SMTP, line: bytes) -> aiosmtplib.SMTPResponse:
    """One command line and the server's reply, written straight on aiosmtplib's protocol, as its
    ``execute_command`` does without the per-command layers around it: the lock (one sender uses a connection at
    a time), the check of the arguments (our addresses were checked by ``_address``) and the wrapper's closing on
    a lost line or a 421 (``SmtpSender`` drops the connection itself then). About 7 µs an e-mail less."""
    protocol = smtp.protocol
    if protocol is None:
        raise aiosmtplib.SMTPServerDisconnected("Connection lost")
    protocol.write(line)  # no await between the write and the read: the answer cannot be missed
    return await protocol.read_response(timeout=None)


async def _data(smtp: aiosmtplib.SMTP, data: bytes) -> aiosmtplib.SMTPResponse:
    """DATA, the message and its end, as aiosmtplib's ``data()`` sends them. A message already in its wire form
    skips ``data()``'s rewriting of it (two regular expressions over the whole ~4 KB, ~35 µs an e-mail, more
    than the rest of the transaction's own work, bench/README.md); any other goes through ``data()``."""
    if smtp.protocol is None or not _on_the_wire(data):
        return await smtp.data(data, timeout=None)
    reply = await _command(smtp, b"DATA\r\n")
    if reply.code != 354:
        raise aiosmtplib.SMTPDataError(reply.code, reply.message)
    reply = await _command(smtp, data + b".\r\n")
    if reply.code != 250:
        raise aiosmtplib.SMTPDataError(reply.code, reply.message)
    return reply


class SmtpSender:
    """One SMTP connection, kept open for a batch and reopened when the server drops it.

    Outcomes: 2xx → ok; 4xx, a timeout or a lost connection → ``retry``; 5xx for the recipient (or for the
    message) → failed for good with the server's reply as the error. One message's failure never stops the
    others; if the server cannot be reached at all, every remaining message is ``retry``.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        mail_from: str,
        security: Security = "none",
        username: str | None = None,
        password: str | None = None,
        timeout: float = 30.0,
        tls_context: ssl.SSLContext | None = None,
        local_hostname: str | None = None,
    ) -> None:
        if security not in ("none", "starttls", "tls"):
            raise ValueError(f"SMTP security {security!r} is not none, starttls or tls")
        self.host, self.port, self.mail_from = host, port, mail_from
        self.security, self.username, self.password, self.timeout = security, username, password, timeout
        self.tls_context = tls_context
        self.local_hostname = local_hostname or socket.getfqdn()
        self._smtp: aiosmtplib.SMTP | None = None

    async def __aenter__(self) -> SmtpSender:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _connection(self) -> aiosmtplib.SMTP:
        if self._smtp is not None and self._smtp.is_connected:
            return self._smtp
        self._smtp = None
        smtp = aiosmtplib.SMTP(
            hostname=self.host,
            port=self.port,
            username=self.username,
            password=self.password,
            timeout=self.timeout,
            use_tls=self.security == "tls",
            start_tls=self.security == "starttls",  # False for "none": never upgrade behind the settings' back
            tls_context=self.tls_context,
            local_hostname=self.local_hostname,
        )
        await smtp.connect()
        if smtp.is_ehlo_or_helo_needed:  # now, so the extensions are known before the first MAIL
            try:
                await smtp.ehlo()
            except aiosmtplib.SMTPHeloError:
                await smtp.helo()
        self._smtp = smtp
        return smtp

    async def close(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None and smtp.is_connected:
            try:
                await smtp.quit()
            except (aiosmtplib.SMTPException, OSError):
                smtp.close()

    def _drop(self) -> None:
        if self._smtp is not None:
            self._smtp.close()
            self._smtp = None

    async def send(self, mail: OutgoingMail) -> SendOutcome:
        """Send one message and return once the server has answered the end of its data (or refused it)."""
        try:
            wire = wire_message(mail, self.mail_from)
        except (ValueError, MessageError) as err:
            return SendOutcome(mail.key, ok=False, error=str(err))
        for attempt in (1, 2):
            reused = self._smtp is not None
            try:
                smtp = await self._connection()
            except aiosmtplib.SMTPAuthenticationError as err:
                self._drop()
                return SendOutcome(mail.key, ok=False, retry=True, error=f"SMTP login refused: {_reply(err.code, err.message)}",
                                   detail={"connect": True})
            except (aiosmtplib.SMTPException, OSError) as err:
                self._drop()
                return SendOutcome(mail.key, ok=False, retry=True,
                                   error=f"cannot reach the SMTP server {self.host}:{self.port}: {err}", detail={"connect": True})
            outcome = await self._transaction(smtp, mail.key, wire)
            # A kept connection the server has closed meanwhile fails at MAIL, before any of the message went
            # out: open a new one and try once more, so an idle timeout or a server restart costs nothing.
            if not (reused and attempt == 1 and outcome.detail.get("lost") and outcome.detail.get("stage") == "mail"):
                return outcome
        return outcome

    async def _transaction(self, smtp: aiosmtplib.SMTP, key: str, wire: tuple[bytes, str, str, bool, str]) -> SendOutcome:
        data, sender, recipient, utf8, mid = wire
        stage = "mail"
        try:
            if utf8 and not smtp.supports_extension("smtputf8"):
                return SendOutcome(key, ok=False, error=f"the SMTP server cannot deliver to a non-ASCII address ({recipient})")
            # One deadline for the whole transaction rather than aiosmtplib's one per command: the same guard
            # against a server that stops answering (a timeout drops the connection, below), with one timer
            # instead of four (each of its per-command waits costs ~8 µs, bench/README.md).
            async with asyncio.timeout(self.timeout):
                # MAIL and RCPT as aiosmtplib's mail() and rcpt() send them, without their parsing the addresses
                # again (about a tenth of a millisecond per message; ours are addr-specs already).
                encoding = "utf-8" if utf8 else "ascii"
                options = b" SMTPUTF8" if utf8 else b""
                if smtp.supports_extension("size"):
                    options += b" SIZE=%d" % len(data)
                reply = await _command(smtp, b"MAIL FROM:<" + sender.encode(encoding) + b">" + options + b"\r\n")
                if reply.code != 250:
                    raise aiosmtplib.SMTPSenderRefused(reply.code, reply.message, sender)
                stage = "rcpt"
                reply = await _command(smtp, b"RCPT TO:<" + recipient.encode(encoding) + b">\r\n")
                if reply.code not in (250, 251):
                    raise aiosmtplib.SMTPRecipientRefused(reply.code, reply.message, recipient)
                stage = "data"
                reply = await _data(smtp, data)
        except aiosmtplib.SMTPResponseException as err:
            # A definite answer: 4xx is worth another try, 5xx is this message's (or address's) end.
            with contextlib.suppress(aiosmtplib.SMTPException, OSError):
                if err.code != 421 and smtp.is_connected:
                    await smtp.rset()
            if err.code == 421 or not smtp.is_connected:
                self._drop()
            transient = 400 <= err.code < 500
            return SendOutcome(key, ok=False, retry=transient, error=_reply(err.code, err.message),
                               detail={"stage": stage, "code": err.code})
        except (aiosmtplib.SMTPException, OSError) as err:  # disconnected, timed out (TimeoutError): no answer
            self._drop()  # after a timeout the server's late answer must not be read as the next command's
            why = str(err) or f"no answer in time ({self.timeout:g} s)"
            return SendOutcome(key, ok=False, retry=True, error=f"SMTP connection lost ({stage}): {why}",
                               detail={"stage": stage, "lost": True, "uncertain": stage == "data"})
        return SendOutcome(key, ok=True, detail={"reply": _reply(reply.code, reply.message), "message_id": mid})

    async def send_batch(self, mails: Sequence[OutgoingMail], on_outcome: OnOutcome | None = None) -> list[SendOutcome]:
        """Send each message in turn over this connection; ``on_outcome`` runs after each reply, before the next send.

        A dropped connection is reopened for the next message; if it cannot be reopened, the rest are ``retry``
        without further attempts (so a server that is down costs one connection attempt, not one per message).
        """
        outcomes: list[SendOutcome] = []
        unreachable: SendOutcome | None = None
        for mail in mails:
            if unreachable is not None:
                outcome = SendOutcome(mail.key, ok=False, retry=True, error=unreachable.error, detail={"connect": True})
            else:
                outcome = await self.send(mail)
                if outcome.detail.get("connect"):
                    unreachable = outcome
            outcomes.append(outcome)
            if on_outcome is not None:
                await on_outcome(outcome)
        return outcomes


class MaildirSender:
    """The embedded default: every message becomes a file in a Maildir, readable by any mail client.

    The file is named after the notification key, and it is linked into ``new/`` (which fails if the name
    exists) after being written and synced in ``tmp/``; so a retry, or two workers delivering the same key,
    never make a second file. A message the reader has already moved to ``cur/`` counts as delivered too.
    """

    def __init__(self, directory: str | os.PathLike[str], *, mail_from: str) -> None:
        import mailbox

        self.directory = Path(directory)
        self.mail_from = mail_from
        self.directory.parent.mkdir(parents=True, exist_ok=True)
        mailbox.Maildir(self.directory, create=True)  # tmp/, new/, cur/
        self._host = socket.gethostname().replace("/", "_").replace(":", "_")

    async def __aenter__(self) -> MaildirSender:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        return None

    def _exists(self, name: str) -> bool:
        """Delivered already: in new/, or in cur/ where a mail client moved it (adding ``:2,S`` flags)."""
        return (self.directory / "new" / name).exists() or any((self.directory / "cur").glob(f"{name}*"))

    def _deliver(self, mail: OutgoingMail) -> SendOutcome:
        try:
            msg = build_message(mail, self.mail_from)
        except (ValueError, MessageError) as err:
            return SendOutcome(mail.key, ok=False, error=str(err))
        name = f"{key_digest(mail.key)}.kamreview"
        target = self.directory / "new" / name
        if self._exists(name):
            return SendOutcome(mail.key, ok=True, detail={"path": str(target), "duplicate": True})
        tmp = self.directory / "tmp" / f"{name}.{os.getpid()}.{self._host}"
        try:
            with open(tmp, "wb") as f:
                f.write(msg.as_bytes(policy=default))  # newline-terminated lines, as Maildir files have
                f.flush()
                os.fsync(f.fileno())
            try:
                os.link(tmp, target)
                duplicate = False
            except FileExistsError:  # another worker delivered this key a moment ago
                duplicate = True
        except OSError as err:
            return SendOutcome(mail.key, ok=False, retry=True, error=f"cannot write to the Maildir {self.directory}: {err}")
        finally:
            with contextlib.suppress(OSError):
                tmp.unlink()
        return SendOutcome(mail.key, ok=True, detail={"path": str(target), "duplicate": duplicate, "message_id": msg["Message-ID"]})

    async def send(self, mail: OutgoingMail) -> SendOutcome:
        return await asyncio.to_thread(self._deliver, mail)

    async def send_batch(self, mails: Sequence[OutgoingMail], on_outcome: OnOutcome | None = None) -> list[SendOutcome]:
        outcomes = []
        for mail in mails:
            outcome = await self.send(mail)
            outcomes.append(outcome)
            if on_outcome is not None:
                await on_outcome(outcome)
        return outcomes
