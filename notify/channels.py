"""The channels a worker delivers with, built from the settings (one place that knows which exist)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from notify.chat import ChatChannel, make_channel

# How long one chat send may wait for a slot under the bot's rate limit before it answers "retry later":
# short enough for the delivery activity's heartbeat, long enough to ride out a burst of a few dozen.
CHAT_MAX_WAIT_S = 20.0


def chat_couriers(chat: Any) -> dict[str, ChatChannel]:
    """The company-wide group bots that are configured (WeCom, DingTalk, Feishu), sharing one HTTP client."""
    wanted = {
        "wecom": (chat.wecom_webhook_url, None),
        "dingtalk": (chat.dingtalk_webhook_url, chat.dingtalk_secret),
        "feishu": (chat.feishu_webhook_url, chat.feishu_secret),
    }
    configured = {name: (url, secret) for name, (url, secret) in wanted.items() if url}
    if not configured:
        return {}
    client = httpx.AsyncClient(timeout=10.0)
    return {name: make_channel(name, url, client, secret=secret, max_wait=CHAT_MAX_WAIT_S)
            for name, (url, secret) in configured.items()}


def mail_courier(mail: Any, maildir: Path) -> Any:
    """SMTP when a host is configured; otherwise the embedded default, a Maildir under the data directory."""
    from notify.mail import MaildirCourier, SmtpCourier

    if mail.smtp_host:
        return SmtpCourier(host=mail.smtp_host, port=mail.smtp_port, security=mail.smtp_security,
                           username=mail.smtp_username, password=mail.smtp_password, sender=mail.mail_from,
                           timeout=mail.smtp_timeout_s)
    return MaildirCourier(maildir, sender=mail.mail_from)
