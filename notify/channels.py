"""The channels a worker delivers with, built from the settings (one place that knows which exist)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from notify.chat import ChatChannel, make_channel
from notify.mail import MaildirSender, SmtpSender, key_digest

# How long one chat send may wait for a slot under the bot's rate limit before it answers "retry later":
# short enough for the delivery activity's heartbeat, long enough to ride out a burst of a few dozen.
CHAT_MAX_WAIT_S = 8.0


def _bots(group: Any, client: httpx.AsyncClient | None) -> tuple[dict[str, ChatChannel], httpx.AsyncClient | None]:
    wanted = {
        "wecom": (group.wecom_webhook_url, None),
        "dingtalk": (group.dingtalk_webhook_url, group.dingtalk_secret),
        "feishu": (group.feishu_webhook_url, group.feishu_secret),
    }
    configured = {name: (url, secret) for name, (url, secret) in wanted.items() if url}
    if configured and client is None:
        client = httpx.AsyncClient(timeout=10.0)
    return {name: make_channel(name, url, client, secret=secret, max_wait=CHAT_MAX_WAIT_S)
            for name, (url, secret) in configured.items()}, client


def chat_couriers(chat: Any) -> dict[str, ChatChannel]:
    """The company-wide group bots that are configured (WeCom, DingTalk, Feishu), sharing one HTTP client."""
    return _bots(chat, None)[0]


def chat_group_couriers(chat: Any) -> dict[str, dict[str, ChatChannel]]:
    """The named groups (``KAMREVIEW_CHAT_GROUPS``) a cycle may send a team's messages to: name -> its bots."""
    client: httpx.AsyncClient | None = None
    groups: dict[str, dict[str, ChatChannel]] = {}
    for name, group in (getattr(chat, "chat_groups", None) or {}).items():
        groups[name], client = _bots(group, client)
    return groups


class SmtpCourier:
    """E-mail over SMTP: each session is one connection (``SmtpSender``) that carries many messages."""

    def __init__(self, mail: Any) -> None:
        self.mail = mail

    def session(self) -> SmtpSender:
        m = self.mail
        return SmtpSender(m.smtp_host, m.smtp_port, mail_from=m.mail_from, security=m.smtp_security,
                          username=m.smtp_username, password=m.smtp_password, timeout=m.smtp_timeout_s)

    def delivered_before(self, key: str) -> bool | None:
        return None  # an SMTP server cannot be asked whether it kept a message


class MaildirCourier:
    """The embedded default: a Maildir under the data directory, which knows what it holds."""

    def __init__(self, directory: Path, mail_from: str) -> None:
        self.sender = MaildirSender(directory, mail_from=mail_from)

    def session(self) -> MaildirSender:
        return self.sender

    def delivered_before(self, key: str) -> bool | None:
        return self.sender._exists(f"{key_digest(key)}.kamreview")


def mail_courier(mail: Any, maildir: Path) -> SmtpCourier | MaildirCourier:
    """SMTP when a host is configured; otherwise the embedded default, a Maildir under the data directory."""
    if mail.smtp_host:
        return SmtpCourier(mail)
    return MaildirCourier(maildir, mail.mail_from)
