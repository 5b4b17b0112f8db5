"""The e-mail channel against a real SMTP server (aiosmtpd) and a real Maildir."""

from __future__ import annotations

import asyncio
import mailbox
import shutil
import ssl
import subprocess
from datetime import UTC, datetime
from email.header import decode_header, make_header
from pathlib import Path

import pytest

from notify.mail import KEY_HEADER, MaildirSender, SmtpSender, build_message, message_id
from notify.message import OutgoingMail, Person, Rendered, SendOutcome
from notify.render import render
from tests.notify.smtp_server import Recorder, SmtpTestServer, free_port
from tests.notify.test_render import NOW, SAMPLES

FROM = "KAM 绩效考核 <review@example.com>"


def _mail(key: str, email: str | None, name: str = "王芳", locale: str = "zh-CN") -> OutgoingMail:
    person = Person(id=key, name=name, locale=locale, email=email)
    return OutgoingMail(key, person, render("task_assigned", locale, {**SAMPLES["task_assigned"], "name": name}, "Asia/Shanghai", now=NOW))


@pytest.fixture
def smtp_server():
    server = SmtpTestServer().start()
    yield server
    server.stop()


def _sender(server: SmtpTestServer, **kwargs) -> SmtpSender:  # noqa: ANN003
    return SmtpSender(server.host, server.port, mail_from=FROM, timeout=5, **kwargs)


async def test_the_message_is_multipart_with_its_headers_in_the_recipients_language(smtp_server: SmtpTestServer) -> None:
    async with _sender(smtp_server) as sender:
        outcome = await sender.send(_mail("n-1", "wang.fang@example.com"))
    assert outcome.ok and outcome.detail["reply"].startswith("250")
    [got] = smtp_server.received
    assert got.mail_from == "review@example.com" and got.rcpt_tos == ["wang.fang@example.com"]
    header_block = got.data.split(b"\r\n\r\n", 1)[0]
    assert header_block.isascii()  # non-ASCII names and subject travel as RFC 2047 encoded words
    raw_to = next(line for line in header_block.decode().splitlines() if line.startswith("To:"))
    assert "=?utf-8?" in raw_to
    msg = got.message
    assert msg.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    assert str(make_header(decode_header(msg["Subject"]))).startswith("请于12月3日前完成自评")
    assert msg["To"].addresses[0].display_name == "王芳"
    assert msg["From"].addresses[0].display_name == "KAM 绩效考核"
    assert msg["Message-ID"] == message_id("n-1", "example.com") and msg[KEY_HEADER] == "n-1"
    assert msg["Date"].datetime.tzinfo is not None
    text, html = (p.get_content() for p in msg.iter_parts())
    assert "2026年12月3日 18:00（北京时间 Asia/Shanghai）" in text and "王芳，您好" in html


def test_message_id_is_stable_per_key_and_the_display_name_defaults_to_the_language() -> None:
    first = build_message(_mail("n-7", "a@example.com", locale="en"), "review@example.com", date=datetime(2026, 1, 1, tzinfo=UTC))
    again = build_message(_mail("n-7", "a@example.com", locale="en"), "review@example.com")
    other = build_message(_mail("n-8", "a@example.com", locale="en"), "review@example.com")
    assert first["Message-ID"] == again["Message-ID"] != other["Message-ID"]
    assert first["Message-ID"].endswith("@kamreview.example.com>")
    assert first["From"].addresses[0].display_name == "Performance Review"
    assert first["Subject"].startswith("Please complete your self-review")


async def test_a_refused_recipient_fails_with_the_reply_and_the_rest_of_the_batch_goes(smtp_server: SmtpTestServer) -> None:
    smtp_server.recorder.reject.add("nobody@example.com")
    seen: list[str] = []

    async def mark(outcome: SendOutcome) -> None:
        seen.append(outcome.key)

    mails = [_mail("a", "a@example.com"), _mail("b", "nobody@example.com"), _mail("c", "c@example.com"), _mail("d", None)]
    async with _sender(smtp_server) as sender:
        outcomes = await sender.send_batch(mails, on_outcome=mark)
    assert [o.ok for o in outcomes] == [True, False, True, False]
    bad = outcomes[1]
    assert not bad.retry and bad.error.startswith("550 5.1.1 <nobody@example.com>: Recipient address rejected")
    assert not outcomes[3].retry and "no e-mail address" in outcomes[3].error
    assert seen == ["a", "b", "c", "d"]
    assert [r.rcpt_tos for r in smtp_server.received] == [["a@example.com"], ["c@example.com"]]


async def test_an_address_with_a_control_character_fails_that_message_only(smtp_server: SmtpTestServer) -> None:
    # MAIL and RCPT are written straight on the protocol: such an address must never reach a command line.
    mails = [_mail("a", "a\tb@example.com"), _mail("b", "x@exa\x00mple.com"), _mail("c", "c@example.com")]
    async with _sender(smtp_server) as sender:
        outcomes = await sender.send_batch(mails)
    assert [o.ok for o in outcomes] == [False, False, True]
    assert all(not o.retry and "is not an e-mail address" in o.error for o in outcomes[:2])
    assert [r.rcpt_tos for r in smtp_server.received] == [["c@example.com"]]


async def test_one_connection_serves_the_whole_batch(smtp_server: SmtpTestServer) -> None:
    async with _sender(smtp_server) as sender:
        await sender.send_batch([_mail(str(i), f"p{i}@example.com") for i in range(5)])
    assert len(smtp_server.received) == 5 and len({r.peer for r in smtp_server.received}) == 1


async def test_server_down_means_retry_for_every_message() -> None:
    sender = SmtpSender("127.0.0.1", free_port(), mail_from=FROM, timeout=2)
    outcomes = await sender.send_batch([_mail(str(i), f"p{i}@example.com") for i in range(3)])
    assert all(not o.ok and o.retry for o in outcomes)
    assert "cannot reach the SMTP server" in outcomes[0].error


async def test_a_server_restart_between_messages_costs_nothing(smtp_server: SmtpTestServer) -> None:
    async with _sender(smtp_server) as sender:
        assert (await sender.send(_mail("1", "a@example.com"))).ok
        smtp_server.stop()  # drops the open connection
        assert (await sender.send(_mail("2", "a@example.com"))).retry
        smtp_server.start()
        assert (await sender.send(_mail("3", "a@example.com"))).ok
    assert [r.message[KEY_HEADER] for r in smtp_server.received] == ["1", "3"]


async def test_a_reply_lost_after_the_data_is_retry_and_marked_uncertain(smtp_server: SmtpTestServer) -> None:
    smtp_server.recorder.hang_up.add("b@example.com")
    async with _sender(smtp_server) as sender:
        a, b, c = await sender.send_batch([_mail("a", "a@example.com"), _mail("b", "b@example.com"), _mail("c", "c@example.com")])
    assert a.ok and c.ok
    assert b.retry and b.detail["uncertain"] and b.detail["stage"] == "data"
    assert len(smtp_server.received) == 3  # the server did keep b: a retry would be the recognisable duplicate


class _SlowFor(Recorder):
    """A server that keeps the message for one recipient but answers its end of data only after 2 s."""

    async def handle_DATA(self, server, session, envelope):  # noqa: ANN001, N802 - aiosmtpd hook
        if "slow@example.com" in envelope.rcpt_tos:
            await asyncio.sleep(2)
        return await super().handle_DATA(server, session, envelope)


async def test_a_server_that_stops_answering_times_out_as_uncertain_and_the_next_message_goes() -> None:
    """One deadline per transaction (not per command): the late answer is never taken for the next message's."""
    server = SmtpTestServer(_SlowFor()).start()
    try:
        async with SmtpSender(server.host, server.port, mail_from=FROM, timeout=0.5) as sender:
            a, slow, c = await sender.send_batch([_mail("a", "a@example.com"), _mail("s", "slow@example.com"),
                                                  _mail("c", "c@example.com")])
    finally:
        server.stop()
    assert a.ok and c.ok and c.detail["message_id"] == message_id("c", "example.com")
    assert not slow.ok and slow.retry and slow.detail["uncertain"] and slow.detail["stage"] == "data"
    assert "no answer in time" in slow.error
    assert {r.message[KEY_HEADER] for r in server.received} >= {"a", "c"}


def test_only_a_message_in_its_wire_form_skips_aiosmtplibs_rewriting() -> None:
    from notify.mail import _on_the_wire, wire_message

    data = wire_message(_mail("w", "a@example.com"), FROM, date=NOW)[0]
    assert _on_the_wire(data)
    assert not _on_the_wire(data.replace(b"\r\n\r\n", b"\r\n\r\n.dot\r\n", 1))  # a line to dot-stuff
    assert not _on_the_wire(data.replace(b"\r\n", b"\n", 1))  # a bare LF
    assert not _on_the_wire(data[:-2])  # no line end at the end


async def test_a_line_starting_with_a_dot_arrives_intact(smtp_server: SmtpTestServer) -> None:
    """The e-mail package's form (a non-ASCII mailbox) may carry such lines: it goes through aiosmtplib's data()."""
    person = Person(id="d", name="王芳", email="王芳@example.com")
    text = "第一行\n.以点开头的一行\n..两个点\n"
    mail = OutgoingMail("d", person, Rendered("主题", text, "<p>html</p>"))
    async with _sender(smtp_server) as sender:
        assert (await sender.send(mail)).ok
    [got] = smtp_server.received
    assert got.message.get_body(("plain",)).get_content().replace("\r\n", "\n") == text


def _self_signed(tmp_path: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server context, client context trusting it), from a throwaway certificate made with openssl."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                   check=True, capture_output=True)
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert, key)
    return server, ssl.create_default_context(cafile=str(cert))


@pytest.mark.parametrize("security", ["starttls", "tls"])
async def test_starttls_and_tls(tmp_path: Path, security: str) -> None:
    server_ctx, client_ctx = _self_signed(tmp_path)
    server = SmtpTestServer(Recorder(), **{security: server_ctx}).start()
    try:
        async with _sender(server, security=security, tls_context=client_ctx) as sender:
            assert (await sender.send(_mail("t", "a@example.com"))).ok
        # Without TLS where the server requires it, nothing is sent (a plain client on the TLS port waits: 0.5 s).
        plain = await SmtpSender(server.host, server.port, mail_from=FROM, timeout=0.5).send(_mail("u", "a@example.com"))
        assert not plain.ok
    finally:
        server.stop()
    assert [r.message[KEY_HEADER] for r in server.received] == ["t"]


async def test_maildir_delivers_once_per_key_and_any_mail_reader_can_open_it(tmp_path: Path) -> None:
    sender = MaildirSender(tmp_path / "mail", mail_from=FROM)
    first = await sender.send(_mail("k-1", "wang.fang@example.com"))
    again = await sender.send(_mail("k-1", "wang.fang@example.com"))
    other, missing = await sender.send_batch([_mail("k-2", "li.lei@example.com", name="Li Lei", locale="en"), _mail("k-3", None)])
    assert first.ok and not first.detail["duplicate"] and again.ok and again.detail["duplicate"] and other.ok
    assert not missing.ok and not missing.retry
    box = mailbox.Maildir(tmp_path / "mail", factory=None, create=False)
    assert len(box) == 2
    by_key = {m[KEY_HEADER]: m for m in box}
    zh = by_key["k-1"]
    assert str(make_header(decode_header(zh["Subject"]))).startswith("请于12月3日前完成自评")
    assert zh.is_multipart() and [p.get_content_type() for p in zh.get_payload()] == ["text/plain", "text/html"]
    assert zh["Message-ID"] == message_id("k-1", "example.com")
    # A reader that has opened the message moves it to cur/ with flags; it still counts as delivered.
    key = next(k for k, m in box.items() if m[KEY_HEADER] == "k-1")
    msg = box[key]
    msg.set_subdir("cur")
    msg.add_flag("S")
    box[key] = msg
    assert (await sender.send(_mail("k-1", "wang.fang@example.com"))).detail["duplicate"]
    assert len(mailbox.Maildir(tmp_path / "mail", create=False)) == 2
    assert not list((tmp_path / "mail" / "tmp").iterdir())


@pytest.mark.parametrize(("name", "locale"), [("王芳", "zh-CN"), ("Anna Schmidt", "en"), ('"Quoted", Name', "en"),
                                             ("欧阳" * 30, "zh-CN")])
def test_the_fast_wire_form_says_exactly_what_the_email_package_builds(name: str, locale: str) -> None:
    """The bytes SMTP sends are written directly (10x faster); parsed, they are the same message."""
    from email import message_from_bytes, policy

    from notify.mail import wire_message

    mail = _mail("reminder:2026-Q3:K01:self_review:1", "wang.fang@example.com", name, locale)
    data, sender, recipient, utf8, mid = wire_message(mail, FROM, date=NOW)
    fast = message_from_bytes(data, policy=policy.default)
    slow = message_from_bytes(build_message(mail, FROM, date=NOW).as_bytes(policy=policy.SMTP), policy=policy.default)
    assert (sender, recipient, utf8, mid) == ("review@example.com", "wang.fang@example.com", False, slow["Message-ID"])
    raw_fast = message_from_bytes(data)  # compat32: the headers as written, decoded word by word below
    raw_slow = message_from_bytes(build_message(mail, FROM, date=NOW).as_bytes(policy=policy.SMTP))
    for header in ("From", "To", "Subject", "Date", "Message-ID", KEY_HEADER, "Content-Language", "Auto-Submitted"):
        decoded = [str(make_header(decode_header(m[header]))) for m in (raw_fast, raw_slow)]
        assert decoded[0] == decoded[1], header
    assert fast.get_content_type() == "multipart/alternative"
    for kind in ("plain", "html"):
        same = [m.get_body((kind,)).get_content().replace("\r\n", "\n") for m in (fast, slow)]  # CRLF either way
        assert same[0] == same[1]
    assert all(len(line) <= 78 for line in data.split(b"\r\n"))
